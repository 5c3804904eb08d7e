"""benchmarks/speed.py (issue #16) and the speed fixes it measures: the FLOP count by hand and
against torch's counter, a smoke run of the cheap sections, the fused RMSNorm, range-wise
modulation of the single blocks, and the bf16 pipeline against float32."""
import argparse
import importlib.util
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from conftest import TINY, randomize
from mofo.cli import main
from mofo.config import get_preset
from mofo.layers import RMSNorm, RoPE, SingleStreamBlock
from mofo.model import ModalityDiT, per_token
from mofo.pipeline import Pipeline

sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))
import speed  # noqa: E402


def tiny_inputs(b=2, depth=True):
    """TINY on a 4x4 grid: 8 text, 16 image and 16 depth tokens per sample."""
    return speed.inputs(TINY, b, (4, 4), TINY.txt_len, depth=depth)


# ----------------------------------------------------------------------------- FLOP count


def test_forward_flops_by_hand():
    """TINY: C = 32, h = 96, 1 double + 1 single + 1 depth-decoder block; 8 + 16 + 16 tokens."""
    block = 2 * 32 * (4 * 32 + 3 * 96)  # QKV 3C + out C + MLP 2h + h, per token
    linear = (
        2 * 32 * (8 * 16 + 16 * 48 + 16 * 16)  # txt_in, img_in, depth_in
        + 2 * 2 * (256 * 32 + 32 * 32)  # time_in, time_in_depth
        + 2 * 32 * 32 * (6 + 6 + 6 + 3 + 3 + 3)  # double txt / img / depth, single, single depth, decoder
        + 2 * 2 * 32 * 64  # the two final AdaLNs
        + 2 * 40 * block + 16 * block  # two joint blocks over 40 tokens, the decoder over 16
        + 2 * 16 * 32 * 48 + 2 * 16 * 32 * 16  # image head, depth head
    )
    attention = 2 * 4 * 40**2 * 32 + 4 * 16**2 * 32
    assert speed.forward_flops(TINY, 8, 16, 16) == (linear, attention) == (2_795_520, 442_368)
    t2i_linear = 2 * 32 * (8 * 16 + 16 * 48) + 2 * (256 * 32 + 32 * 32) + 2 * 32 * 32 * 17 + 2 * 24 * block \
        + 2 * 16 * 32 * 48
    assert speed.forward_flops(TINY, 8, 16) == (t2i_linear, 2 * 4 * 24**2 * 32)
    assert speed.step_flops(TINY, 8, 16, 16, train=True) == 3 * (linear + attention)


@pytest.mark.parametrize("depth", [True, False])
def test_linear_flops_match_torch_flop_counter(depth):
    """torch counts every matrix product of a forward pass (not the attention of CPU SDPA): the same number."""
    cfg = TINY if depth else TINY.replace(with_depth=False)
    model = ModalityDiT(cfg)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(**tiny_inputs(depth=depth))
    assert counter.get_total_flops() == 2 * speed.forward_flops(cfg, 8, 16, 16 if depth else 0)[0]


# ----------------------------------------------------------------------------- the script


def compiles(monkeypatch) -> list:
    """Replace torch.compile by the identity (compilation takes minutes); the list of models it got."""
    seen = []
    monkeypatch.setattr(torch, "compile", lambda model: seen.append(model) or model)
    return seen


def test_quick_run_of_the_cheap_sections(tmp_path, monkeypatch):
    compiled = compiles(monkeypatch)
    data = speed.main(["--quick", "--threads", "1", "--only", "modes", "growth", "roofline", "--json",
                       str(tmp_path / "speed.json")])
    saved = json.loads((tmp_path / "speed.json").read_text())
    assert saved == data and saved["quick"] and saved["sections"] == ["modes", "growth", "roofline"]
    assert {"commit", "torch", "threads", "machine", "reps", "notes", "rows"} <= saved.keys() and saved["threads"] == 1
    rows = saved["rows"]
    assert {r["section"] for r in rows} == {"modes", "growth", "roofline"}
    assert all(r["ms"] > 0 and list(r) == [k for k in speed.COLUMNS if k in r] for r in rows)
    cases = {r["case"]: r for r in rows}
    assert {"tiny i2d step", "tiny i2d estimate (20 steps)", "tiny joint train step bf16"} <= cases.keys()
    assert cases["tiny joint step"]["flop_ratio"] > 1 and cases["tiny joint step"]["ref"] == "t2i step"
    growth = [r for r in rows if r["section"] == "growth"]
    assert len(growth) == len(speed.GROWTH) and growth[0]["ratio"] == 1
    assert all(a["attn_share"] < b["attn_share"] for a, b in zip(growth, growth[1:]))  # the quadratic term grows
    assert all(0 < r["frac_peak"] for r in rows if "frac_peak" in r)
    assert {"tiny joint step's products alone fp32", "tiny joint step's products alone bf16"} <= cases.keys()
    assert len(compiled) == 1 and {"tiny joint train step compiled fp32", "tiny joint train step compiled bf16"} <= cases.keys()
    assert all(cases[f"tiny joint train step compiled {d}"]["frac_peak"] > 0 for d in ("fp32", "bf16"))


def test_step_products_count_the_step_flops():
    """The products recorded from one forward hold exactly the training step's counted FLOPs
    (3x the forward: every product has two in backward), six per attention call."""
    model = ModalityDiT(TINY)
    x = tiny_inputs(depth=True)
    products = speed.step_products(model, lambda: model(**x))
    _, flops = speed.products_alone(products, torch.float32)
    counted = speed.step_flops(TINY, TINY.txt_len, 16, 16, train=True) * 2  # batch 2
    assert flops == counted
    attention = [p for p in products if p[0] > 1]
    assert len(attention) == 6 * (TINY.n_double + TINY.n_single + TINY.n_depth_decoder)


def test_peer_section(tmp_path, monkeypatch):
    pytest.importorskip("diffusers", minversion="0.42")
    compiled = compiles(monkeypatch)
    data = speed.main(["--quick", "--threads", "1", "--only", "peer", "--reps", "1", "--json", str(tmp_path / "s.json")])
    rows = data["rows"]
    assert [r["case"] for r in rows] == [f"tiny {d} {k}" for d in ("fp32", "bf16")
                                         for k in ("fwd", "fwd+bwd", "fwd+bwd compiled")]
    assert all(r["ms"] > 0 and r["ref_ms"] > 0 and r["ref"] == "diffusers" for r in rows if "compiled" not in r["case"])
    assert all(r["ref"] == "diffusers compiled" for r in rows if "compiled" in r["case"])
    assert len(compiled) == 2 and type(compiled[0]).__name__ == "ModalityDiT"  # ours, then the peer
    assert all(r["mb"] > 0 and r["ref_mb"] > 0 for r in rows if r["case"].endswith("fwd+bwd"))
    gap = float(data["notes"]["tiny fp32 fwd"].rsplit(" ", 1)[1])  # the two models compute the same function
    assert gap < 1e-4


def test_peer_is_skipped_without_diffusers(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "diffusers", None)  # import diffusers -> ImportError
    assert speed.peer(None) == []
    assert "peer: skipped, diffusers is not installed" in capsys.readouterr().out


def test_peak_memory_counts_live_storage_once():
    def step():
        a = torch.empty(1000, 250)  # 1 MB
        b = a.view(-1)  # a view: no new storage
        del a, b
        c = torch.empty(500, 250)  # 0.5 MB, after the first is freed
        return c

    with speed.PeakMemory() as mem:
        kept = step()
    assert mem.peak == 1_000_000 and mem.now == 500_000 and kept.numel() == 125_000


# ----------------------------------------------------------------------------- RMSNorm


def test_rms_norm_float32_is_the_unfused_formula():
    norm = randomize(RMSNorm(32))
    x = 3 * torch.randn(2, 4, 50, 32)
    ref = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * norm.scale
    torch.testing.assert_close(norm(x), ref, rtol=1e-6, atol=0)  # bit-equal on our CPUs; 1 ulp of slack


def test_rms_norm_under_autocast_hits_the_fused_kernel():
    norm = randomize(RMSNorm(32))
    x = torch.randn(2, 4, 50, 32)
    with warnings.catch_warnings(), torch.autocast("cpu", dtype=torch.bfloat16):
        warnings.simplefilter("error")  # "Mismatch dtype ... Cannot dispatch to fused implementation"
        y = norm(x.bfloat16())
    assert y.dtype == torch.bfloat16
    torch.testing.assert_close(y.float(), norm(x), rtol=1e-2, atol=1e-2)  # bf16 keeps 8 significant bits


# ----------------------------------------------------------------------------- range-wise modulation


def expanded(first: tuple, second: tuple, n_first: int, n_second: int) -> tuple:
    """The former `per_token`: both triples copied out to (B, n_first + n_second, C)."""
    return tuple(torch.cat([a.expand(-1, n_first, -1), b.expand(-1, n_second, -1)], dim=1)
                 for a, b in zip(first, second))


def test_single_block_ranges_equal_per_token_tensors():
    block = randomize(SingleStreamBlock(32, 2, 3.0))
    g = torch.Generator().manual_seed(0)
    first, second = ([torch.randn(3, 1, 32, generator=g) for _ in range(3)] for _ in range(2))
    x = torch.randn(3, 10, 32, generator=g)
    pe = RoPE((4, 4, 4, 4), 2000)(torch.arange(40, dtype=torch.float32).reshape(10, 4))
    assert torch.equal(block(x, per_token(first, second, 6, 4), pe), block(x, expanded(first, second, 6, 4), pe))


def test_model_with_ranges_equals_the_per_token_formula(monkeypatch):
    """The same outputs bit for bit; the same gradients up to the order of the sums over tokens."""
    model = randomize(ModalityDiT(TINY.replace(n_single=2)))
    x = tiny_inputs(b=3)

    def run():
        v, x0 = model(**x)
        (v.square().mean() + x0.square().mean()).backward()
        grads = [p.grad.clone() for p in model.parameters()]
        model.zero_grad(set_to_none=True)
        return v.detach(), x0.detach(), grads

    new = run()
    monkeypatch.setattr("mofo.model.per_token", expanded)
    old = run()
    assert torch.equal(new[0], old[0]) and torch.equal(new[1], old[1]) and new[1].abs().max() > 0.1
    for a, b in zip(new[2], old[2]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-8)


# ----------------------------------------------------------------------------- the bf16 pipeline


def test_bf16_pipeline_is_close_to_float32(tiny_ckpt):
    """bf16 rounds every matrix product's inputs to 8 significant bits (relative error 2^-9); over
    the 3 blocks and the sampler the depth map moves by well under 2 % of its spread on average."""
    fp32, bf16 = Pipeline.from_pretrained(tiny_ckpt), Pipeline.from_pretrained(tiny_ckpt, dtype="bf16")
    images = [np.random.default_rng(i).integers(0, 255, (30, 40, 3), dtype=np.uint8) for i in range(3)]
    a, b = np.stack(fp32.depths(images, steps=3)), np.stack(bf16.depths(images, steps=3))
    gap = np.abs(a - b)
    assert 0 < gap.mean() < 0.02 * a.std() and gap.max() < 0.1 * a.std()  # bf16 did run, and stays close
    with pytest.raises(ValueError, match="unknown dtype 'fp16'"):
        Pipeline.from_pretrained(tiny_ckpt, dtype="fp16")


def test_depth_command_takes_a_dtype(tiny_ckpt, tmp_path, capsys):
    from PIL import Image

    Image.fromarray(np.random.default_rng(0).integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    assert main(["depth", str(tmp_path / "a.png"), "--model", str(tiny_ckpt), "--dtype", "bf16", "--out",
                 str(tmp_path / "out")]) == 0
    (folder,) = (tmp_path / "out").iterdir()
    assert json.loads((folder / "metadata.json").read_text())["dtype"] == "bf16"
    with pytest.raises(SystemExit):
        main(["depth", str(tmp_path / "a.png"), "--dtype", "fp16"])
    assert "invalid choice: 'fp16'" in capsys.readouterr().err


def test_gpu_section_runs_its_code_on_the_cpu(tmp_path):
    """The accelerator section on `--gpu-device cpu` (no compile): peak, joint and T2I rows, MFU from the FLOP count."""
    data = speed.main(["--quick", "--threads", "1", "--only", "gpu", "--gpu-device", "cpu", "--no-compile", "--reps", "1",
                       "--json", str(tmp_path / "s.json")])
    rows = {r["case"]: r for r in data["rows"]}
    assert list(rows)[:3] == ["matmul bf16 256x256", "tiny joint bf16 fwd+bwd eager", "tiny t2i bf16 fwd+bwd eager"]
    peak = rows["matmul bf16 256x256"]["gflops"]
    cfg = get_preset("tiny")
    n = (cfg.resolution // cfg.patch_size) ** 2
    flops = speed.step_flops(cfg, cfg.txt_len, n, n, train=True)  # per sample
    joint = rows["tiny joint bf16 fwd+bwd eager"]
    assert joint["gflops"] == pytest.approx(flops / (joint["ms"] / 1000) / 1e9, rel=1e-6)
    assert joint["frac_peak"] == pytest.approx(joint["gflops"] / peak, rel=1e-6)
    if importlib.util.find_spec("diffusers") is not None:
        assert rows["tiny t2i bf16 fwd+bwd eager"]["ref"] == "diffusers"


def test_gpu_section_is_skipped_without_cuda(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    opts = argparse.Namespace(gpu_device="cuda", quick=True)
    assert speed.gpu(opts) == []
    assert "gpu: skipped, no CUDA device" in capsys.readouterr().out


def test_gpu_section_drops_a_failing_peer(monkeypatch, capsys):
    class Broken(torch.nn.Module):
        def forward(self, **kwargs):
            raise RuntimeError("no kernel")

    monkeypatch.setattr(speed, "peer_twin", lambda model: Broken())
    opts = argparse.Namespace(gpu_device="cpu", quick=True, compile=False, reps=1, warmup=0)
    rows = speed.gpu(opts)
    assert [r["case"] for r in rows][1:] == ["tiny joint bf16 fwd+bwd eager", "tiny t2i bf16 fwd+bwd eager"]
    assert all("ref" not in r for r in rows)
    assert "gpu: no peer rows, it failed: RuntimeError: no kernel" in capsys.readouterr().out
