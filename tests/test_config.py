import json
import subprocess
import sys

import pytest
import torch

from mofo.config import ModelConfig, SamplingConfig, get_preset, presets
from mofo.model import ModalityDiT


def count(cfg, with_depth):
    with torch.device("meta"):
        return sum(p.numel() for p in ModalityDiT(cfg.replace(with_depth=with_depth)).parameters())


def test_json_roundtrip():
    for cfg in presets.values():
        assert ModelConfig.from_json(cfg.to_json()) == cfg


def test_unknown_keys_and_bad_sizes_raise():
    with pytest.raises(ValueError, match="unknown model config keys: typo"):
        ModelConfig.from_dict({"typo": 1})
    with pytest.raises(ValueError, match="divisible"):
        ModelConfig(hidden_size=100, num_heads=3)
    with pytest.raises(ValueError, match="unknown preset"):
        get_preset("nope")


def test_sampling_config_checks_its_values():
    assert SamplingConfig(depth_max=10).depth_max == 10 and SamplingConfig().depth_max == 0
    for bad, match in (({"depth_max": 0.5}, "depth_max must be 0 .no cap. or above 1"), ({"depth_max": -2}, "depth_max"),
                       ({"depth_steps": 0}, "depth_steps must be >= 1"), ({"cfg": -1}, "cfg must be >= 0")):
        with pytest.raises(ValueError, match=match):
            SamplingConfig(**bad)
    with pytest.raises(ValueError, match="unknown sampling"):
        SamplingConfig.from_dict({"depth_maximum": 10})


@pytest.mark.parametrize("name,target", [("mf-370m", 370e6), ("mf-780m", 780e6), ("mf-1.6b", 1.6e9), ("mf-3.3b", 3.3e9)])
def test_family_backbone_within_10_percent(name, target):
    assert abs(count(presets[name], False) / target - 1) < 0.10


def test_tiny_preset_trains_on_a_laptop():
    assert 1e6 <= count(presets["tiny"], True) <= 5e6


def test_release_v2_exact_count():
    """Independent count of the released architecture from METHOD §5 (h=4096, mlp 3h)."""
    h, m = 4096, 3 * 4096
    stream = 3 * h * h + h * h + 2 * m * h + m * h + 2 * 128  # qkv, proj, mlp, qk-norm scales
    single = h * (3 * h + 2 * m) + (h + m) * h + 2 * 128
    time_mlp = 256 * h + h * h
    expected = (
        128 * h + 12288 * h + 256 * h  # img_in, txt_in, depth_in
        + 4 * time_mlp + 2  # time_in, time_in_depth, two mixing MLPs, two gates
        + 8 * 3 * stream + 24 * single + 4 * single
        + 3 * 6 * h * h + 3 * 3 * h * h  # double modulations (img, txt, depth), single x2 + decoder
        + 2 * (2 * h * h) + h * 128 + h * 256  # final layers
    )
    assert count(presets["release-v2"], True) == expected


def test_mofo_info_json():
    out = subprocess.run([sys.executable, "-m", "mofo.cli", "info", "--preset", "release-v2", "--json"],
                         capture_output=True, text=True, check=True).stdout
    info = json.loads(out)
    assert info["total"] == sum(info["parts"].values())
    assert info["parts"]["backbone"] + info["parts"]["depth"] == count(presets["release-v2"], True)
    assert isinstance(info["total"], int)
