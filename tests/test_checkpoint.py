"""mofo/checkpoint.py and mofo/files.py: atomic writes, strict loads, foreign layouts, training state."""
import json

import pytest
import torch
from safetensors.torch import save_file

from conftest import TINY, randomize
from mofo.checkpoint import (
    latest_checkpoint, load_checkpoint, load_strict, read_config, read_empty_text, read_state_dict, save_checkpoint,
    save_empty_text,
)
from mofo.config import ModelConfig
from mofo.files import atomic_folder, atomic_write
from mofo.model import ModalityDiT


def test_atomic_write_leaves_the_old_file_on_failure(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("old")

    def fail(tmp):
        open(tmp, "w").write("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(path, fail)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["f.txt"]
    with pytest.raises(RuntimeError), atomic_folder(tmp_path / "run") as tmp:
        (tmp / "a").write_text("x")
        raise RuntimeError
    assert not (tmp_path / "run").exists() and [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_written_files_get_the_usual_permissions(tmp_path):
    """Not mkstemp's 0600, also where the writer replaces the file (safetensors does)."""
    import os

    umask = os.umask(0o022)
    try:
        save_checkpoint(ModalityDiT(TINY), tmp_path)
    finally:
        os.umask(umask)
    assert {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()} == {
        "model.safetensors": 0o644, "config.json": 0o644}


def test_save_and_load_roundtrip_strict(tmp_path):
    model = randomize(ModalityDiT(TINY), seed=1)
    save_checkpoint(model, tmp_path / "ck", extra={"note": 1})
    loaded, info = load_checkpoint(tmp_path / "ck")
    assert info["note"] == 1 and read_config(tmp_path / "ck") == TINY
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))
    bad = {k: v for k, v in model.state_dict().items() if k != "img_in.weight"}
    with pytest.raises(ValueError, match=r"missing keys \(1\): img_in.weight"):
        load_strict(TINY, bad, "test")


def test_old_config_names_still_load(tmp_path):
    """A config.json with the old block-count names (depth_double, ...) loads as the same model."""
    model = ModalityDiT(TINY)
    save_checkpoint(model, tmp_path / "ck")
    info = json.loads((tmp_path / "ck" / "config.json").read_text())
    old = {{"n_double": "depth_double", "n_single": "depth_single", "n_depth_decoder": "depth_decoder"}.get(k, k): v
           for k, v in info["model"].items()}
    (tmp_path / "ck" / "config.json").write_text(json.dumps({"model": old}))
    assert load_checkpoint(tmp_path / "ck")[0].cfg == TINY
    with pytest.raises(ValueError, match="both 'depth_double' and its new name"):
        ModelConfig.from_dict({**old, "n_double": 1})


def test_read_state_dict_reads_sharded_folders(tmp_path):
    save_file({"a": torch.ones(2)}, tmp_path / "one.safetensors")
    save_file({"b": torch.zeros(3)}, tmp_path / "two.safetensors")
    (tmp_path / "m.safetensors.index.json").write_text(json.dumps(
        {"weight_map": {"a": "one.safetensors", "b": "two.safetensors"}}))
    state = read_state_dict(tmp_path)
    assert set(state) == {"a", "b"} and state["b"].shape == (3,)


def test_latest_checkpoint_pointer(tmp_path):
    assert latest_checkpoint(tmp_path) is None
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "latest").write_text("step_0000003")
    with pytest.raises(ValueError, match="missing folder step_0000003"):
        latest_checkpoint(tmp_path)
    (tmp_path / "checkpoints" / "step_0000003").mkdir()
    assert latest_checkpoint(tmp_path).name == "step_0000003"


def test_empty_text_roundtrip_and_shape_check(tmp_path):
    """The stored encoding of "" reads back bit for bit; one that does not fit the config is refused."""
    from mofo.text import ByteEncoder

    encoder = ByteEncoder(TINY.txt_dim, TINY.txt_len)
    assert read_empty_text(tmp_path, TINY) is None
    path = save_empty_text(tmp_path, encoder)
    assert path.name == "text_empty.safetensors" and [p.name for p in tmp_path.iterdir()] == [path.name]
    stored = read_empty_text(tmp_path, TINY)
    assert stored.dtype == torch.float32 and torch.equal(stored, encoder([""]))
    for tensors in ({"empty": torch.zeros(1, TINY.txt_len + 1, TINY.txt_dim)},
                    {"empty": torch.zeros(1, TINY.txt_len, TINY.txt_dim, dtype=torch.float16)}, {"x": stored}):
        save_file(tensors, str(path))
        with pytest.raises(ValueError, match="text_empty.safetensors") as e:
            read_empty_text(tmp_path, TINY)
        assert "\n" not in str(e.value)


def test_package_writes_a_float16_model_folder_like_the_bundled_one(tmp_path):
    """`package` takes a training checkpoint's EMA weights, stores them as float16 (strictly loadable),
    keeps config.json with updated sampling defaults and provenance, and adds the encoding of ""."""
    from mofo.checkpoint import package, read_info
    from mofo.config import SamplingConfig
    from mofo.text import ByteEncoder

    src = tmp_path / "step_0000010"
    model, ema = randomize(ModalityDiT(TINY)), randomize(ModalityDiT(TINY), seed=1)
    save_checkpoint(model, src, {"sampling": SamplingConfig().to_dict(), "train": {"steps": 10}})
    save_file({k: v.contiguous() for k, v in ema.state_dict().items()}, str(src / "ema.safetensors"))
    out = package(src, tmp_path / "release", {"name": "test"}, sampling={"depth_steps": 1}, train={"preset": "tiny"})
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors", "text_empty.safetensors"]
    info = read_info(out)
    assert info["train"] == {"steps": 10, "preset": "tiny"} and info["provenance"]["name"] == "test"
    assert "float16" in info["provenance"]["weights"] and "ema" in info["provenance"]["weights"]
    assert info["sampling"] == SamplingConfig(depth_steps=1).to_dict()
    state = read_state_dict(out / "model.safetensors")
    for k, v in ema.state_dict().items():
        assert state[k].dtype == torch.float16 and torch.equal(state[k], v.half())
    loaded, _ = load_checkpoint(out)
    assert loaded.cfg == TINY
    assert torch.equal(read_empty_text(out, TINY), ByteEncoder(TINY.txt_dim, TINY.txt_len)([""]))
    with pytest.raises(FileNotFoundError, match="no mofo checkpoint"):
        package(tmp_path / "missing", tmp_path / "x", {})
