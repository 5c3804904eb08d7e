"""Training: text-to-image pre-training and Modality Forcing post-training.

One loop from a laptop CPU to a GPU cluster (DiT / nanoGPT style):

    mofo train --stage pretrain --preset tiny --out runs/t2i --steps 2000
    mofo train --stage post --init runs/t2i/final --out runs/mf --steps 2000
    torchrun --nproc_per_node=8 -m mofo.cli train ... [--fsdp]

Batches: `batch_size` is the global batch of one optimizer step; each of the
`world` processes takes `batch_size / (world * grad_accum)` samples per
micro-step. Sample indices and noise are drawn for the global batch and sliced
per rank, so a run does not depend on how many processes share it, and a
resumed run continues bit for bit (CPU, one process).

Run folder layout:
    RUN/checkpoints/step_0000100/{model,ema,state}.safetensors, state.json, config.json
    RUN/checkpoints/latest        name of the newest complete checkpoint
    RUN/final -> the last checkpoint (a copy of its model files)
    RUN/samples/step_0000100.png  sample grid (rows: modes; columns: image | depth)
    RUN/tb/                       TensorBoard scalars
    RUN/metrics.jsonl             the same scalars, one JSON line per log step
"""
from __future__ import annotations

import copy
import dataclasses
import difflib
import json
import math
import os
import time
import tomllib
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .checkpoint import (
    image_stream, latest_checkpoint, load_checkpoint, load_strict, load_training_state, publish_final,
    save_training_checkpoint,
)
from .codecs import DepthCodec, make_image_codec
from .config import ModelConfig, SamplingConfig, get_preset, upgrade_keys
from .data.loader import make_loader
from .data.photometric import LOG_WHITE, jitter
from .distributed import (
    all_finite, close_distributed, mean_over_ranks, setup_distributed, shard_model, sync_context, use_bf16,
)
from .files import save_image
from .flow import Draws, FlowConfig, drop_captions, training_losses
from .model import ModalityDiT, position_ids
from .seeds import mix_seed


class TrainingAborted(RuntimeError):
    """Training cannot go on (e.g. the loss diverged); the last good checkpoint is intact."""


@dataclass(frozen=True)
class TrainConfig:
    stage: str = "pretrain"  # "pretrain" (T2I, no depth) or "post" (Modality Forcing)
    preset: str = "tiny"
    model: dict = field(default_factory=dict)  # overrides of the preset's ModelConfig fields
    init: str = ""  # post: a T2I checkpoint folder, a joint one (continued), or "scratch" (random T2I, no teacher);
    # pretrain: optional warm start from a checkpoint's image stream (a joint model's depth stream is dropped)
    grow: bool = False  # block counts in `model` above the init's append identity blocks (`ModalityDiT.grow`)
    vae_path: str = ""  # local VAE folder, for latent-space models (docs/pretrained.md)
    text_path: str = ""  # local text-encoder folder, for encoders that do not ship with a package
    # data
    data: str = "synth"  # "synth" (rendered on the fly), a shard folder, or a folder of RGB-D
    sensor: str = "none"  # depth supervision: "none" (dense), "lidar", "random", "kinect"
    sparse_prob: float = 1.0  # fraction of samples passed through the sensor (1: all, 0: dense)
    no_depth_prob: float = 0.0  # fraction of samples whose depth is withheld (image-only)
    photometric: float = 0.0  # fraction of samples whose image gets a random photometric jitter (sim-to-real)
    photometric_white: float = LOG_WHITE  # the jitter's white-balance gains: exp(U(-w, w)) per channel
    augment: bool = False
    workers: int = 0
    # optimisation
    steps: int = 1000
    batch_size: int = 32
    grad_accum: int = 1
    lr: float = 3e-4
    min_lr_ratio: float = 0.1  # cosine schedule ends at lr * min_lr_ratio
    schedule: str = "cosine"  # "cosine" or "constant" (after warmup)
    warmup: int = 100
    weight_decay: float = 0.0
    beta2: float = 0.99
    grad_clip: float = 1.0
    ema_decay: float = 0.999  # reached after a warm-up: decay_t = min(ema_decay, (1 + t) / (10 + t))
    seed: int = 0
    # systems
    precision: str = "auto"  # "auto" (bf16 where supported), "bf16", "fp32"
    compile: bool = False
    checkpointing: bool = False  # activation checkpointing per block
    fsdp: bool = False
    # bookkeeping
    ckpt_every: int = 500
    keep: int = 2  # checkpoints kept (the newest)
    sample_every: int = 500
    sample_steps: int = 10
    sample_cfg: float = 2.0  # guidance of the sample grid's joint and d2i rows (i2d: SamplingConfig.depth_cfg)
    log_every: int = 10
    max_bad_steps: int = 20  # consecutive non-finite losses before aborting
    flow: FlowConfig = FlowConfig()

    def __post_init__(self):
        checks = {
            "stage": (self.stage, ("pretrain", "post")),
            "schedule": (self.schedule, ("cosine", "constant")),
            "precision": (self.precision, ("auto", "bf16", "fp32")),
            "sensor": (self.sensor, ("none", "lidar", "random", "kinect")),
        }
        for key, (value, allowed) in checks.items():
            if value not in allowed:
                raise ValueError(f"{key} must be one of {', '.join(allowed)}, got {value!r}")
        for key in ("sparse_prob", "no_depth_prob", "photometric"):
            if not 0 <= getattr(self, key) <= 1:
                raise ValueError(f"{key} is a fraction of samples: it must lie in [0, 1], got {getattr(self, key)}")
        if self.photometric_white < 0:
            raise ValueError(f"photometric_white is a log range of white-balance gains: it must be >= 0, got {self.photometric_white}")
        if self.steps < 1 or self.batch_size < 1 or self.grad_accum < 1:
            raise ValueError("steps, batch_size and grad_accum must be >= 1")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _fields(cls) -> dict:
    return {f.name: f for f in dataclasses.fields(cls)}


def _check_keys(d: dict, cls, prefix: str = ""):
    known = _fields(cls)
    for key in d:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {prefix + close[0]!r}?" if close else ""
            raise ValueError(f"unknown config key {prefix + key!r}{hint}")


def make_train_config(file: str | None = None, overrides: dict | None = None) -> TrainConfig:
    """A TrainConfig from an optional TOML file plus overrides (dotted keys: `flow.p_joint`)."""
    d: dict = {}
    if file:
        path = Path(file)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        try:
            d = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as e:
            raise ValueError(f"config file {path} is not valid TOML: {e}") from None
    for key, value in (overrides or {}).items():
        *parents, leaf = key.split(".")
        node = d
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    _check_keys(d, TrainConfig)
    flow = d.pop("flow", {})
    if "mu" in flow:  # the noise-level shift is the model's: `flow.mu` (older configs) sets `model.shift_mu`
        d["model"] = {**d.get("model", {}), "shift_mu": flow.pop("mu")}
    _check_keys(flow, FlowConfig, "flow.")
    if "model" in d:
        d["model"] = upgrade_keys(d["model"])  # [model] tables of older runs use the old block-count names
    _check_keys(d.get("model", {}), ModelConfig, "model.")
    return TrainConfig(**d, flow=FlowConfig(**flow))


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warmup, then constant or cosine decay to `lr * min_lr_ratio`."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    if cfg.schedule == "constant":
        return cfg.lr
    progress = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def supervise(batch: dict, cfg: TrainConfig, rng: Draws, step: int) -> dict:
    """Apply the depth-supervision regime: sensor sparsity for a fraction of
    samples, depth withheld for another, a photometric jitter of the image for a third
    (all drawn per sample, rank-invariant)."""
    depth, valid = batch["depth"], batch["valid_mask"]
    n = depth.shape[0]
    seed = mix_seed(mix_seed(cfg.seed, step), rng.rank, stride=max(1, rng.world))
    if cfg.sensor != "none":
        from .data import make_sensor

        sparse_depth, sparse_valid = make_sensor(cfg.sensor)(depth, valid, seed)
        pick = (rng.rand(n) < cfg.sparse_prob).view(n, 1, 1, 1)
        depth, valid = torch.where(pick, sparse_depth, depth), torch.where(pick, sparse_valid, valid)
    withheld = (rng.rand(n) < cfg.no_depth_prob).view(n, 1, 1, 1)
    batch = dict(batch, depth=depth * ~withheld, valid_mask=valid & ~withheld)
    if cfg.photometric > 0:
        pick = (rng.rand(n) < cfg.photometric).view(n, 1, 1, 1)
        batch["image"] = torch.where(pick, jitter(batch["image"], mix_seed(seed, 1, stride=2), cfg.photometric_white), batch["image"])
    return batch


def build_models(cfg: TrainConfig) -> tuple[ModalityDiT, ModalityDiT | None]:
    """(model, teacher): a fresh T2I model, or the post-training start point and its frozen T2I teacher.

    Post-training from a T2I checkpoint adds the depth stream (a copy of the image stream); from
    a joint checkpoint it continues that model, with its image stream as the teacher.

    `init = "scratch"` post-trains a randomly initialised model of the preset (depth stream copied
    from its random image stream, as from a checkpoint) without a teacher: no self-distillation.
    """
    if cfg.stage == "pretrain":
        if cfg.init:  # warm start: new optimiser and schedule, the weights of an earlier model
            return image_stream(load_init(cfg), cfg.init), None
        model_cfg = get_preset(cfg.preset).replace(**cfg.model, with_depth=False)
        return ModalityDiT(model_cfg), None
    if not cfg.init:
        raise ValueError("--stage post needs --init (a pre-trained text-to-image checkpoint folder)")
    if cfg.init == "scratch":  # the from-scratch control: the same start point built on random T2I weights
        model_cfg = get_preset(cfg.preset).replace(**cfg.model, with_depth=False)
        return ModalityDiT(model_cfg).add_depth_stream(copy_image=True), None
    start = load_init(cfg)
    if start.with_depth:  # continue post-training a joint model; its image stream as it is now is the teacher
        return start, image_stream(start, cfg.init).eval().requires_grad_(False)
    teacher = copy.deepcopy(start).eval().requires_grad_(False)
    return start.add_depth_stream(copy_image=True), teacher


BLOCK_COUNTS = ("n_double", "n_single", "n_depth_decoder")


def load_init(cfg: TrainConfig) -> ModalityDiT:
    """The `init` checkpoint as a float32 model in train mode, built from the final config
    (`[model]` overrides applied; with `grow`, larger block counts deepen it), so that the saved
    config describes the weights."""
    start, _ = load_checkpoint(cfg.init)
    counts = {k: v for k, v in cfg.model.items() if k in BLOCK_COUNTS} if cfg.grow else {}
    rest = {k: v for k, v in cfg.model.items() if k not in counts}
    if rest:
        hint = " (to add blocks: --set grow=true)" if any(k in rest for k in BLOCK_COUNTS) else ""
        start = load_strict(start.cfg.replace(**rest), start.state_dict(), f"--init {cfg.init} with the [model] overrides{hint}")
    return start.grow(**counts).float().train()


# ----------------------------------------------------------------------------- the loop


def train(cfg: TrainConfig, out: str | Path, resume: bool = False) -> Path:
    """Run (or continue) a training run; returns the final checkpoint folder."""
    rank, world, device = setup_distributed()
    run, previous = open_run(Path(out), resume, rank)
    micro = micro_batch(cfg, world)
    torch.manual_seed(cfg.seed)
    s = build_setup(cfg, device, world)
    step, bad = resume_state(previous, s, cfg.compile)
    loader = iter(make_loader(cfg.data, s.model_cfg.resolution, micro, rank, world, step * cfg.grad_accum,
                              seed=cfg.seed, augment=cfg.augment, workers=cfg.workers))
    log, last_ckpt = Log(run, cfg, rank, step), previous
    while step < cfg.steps:
        lr = lr_at(step, cfg)
        for group in s.opt.param_groups:
            group["lr"] = lr
        parts = accumulate_gradients(s, cfg, loader, step, rank, world, device)
        grad_norm = torch.nn.utils.clip_grad_norm_(s.model.parameters(), cfg.grad_clip)
        if hasattr(grad_norm, "full_tensor"):  # FSDP2: a DTensor
            grad_norm = grad_norm.full_tensor()
        if not all_finite(parts["loss"], grad_norm, device):
            bad = skip_step(s.opt, step, bad + 1, cfg.max_bad_steps, last_ckpt)
            step += 1
            continue
        bad = 0
        s.opt.step()
        s.opt.zero_grad(set_to_none=True)
        update_ema(s.ema, s.core, min(cfg.ema_decay, (1 + step) / (10 + step)))  # warm-up: short runs average recent weights
        step += 1
        log.add(parts, grad_norm)
        if due(step, cfg.log_every, cfg.steps):
            log.write(step, lr, device)
        if due(step, cfg.sample_every, cfg.steps):
            save_samples(run / "samples" / f"step_{step:07d}.png", s, cfg, device, rank)
        if due(step, cfg.ckpt_every, cfg.steps):
            last_ckpt = save_training_checkpoint(run, step, s.model, s.ema, s.opt, cfg, s.model_cfg, rank, bad)
    log.close()
    if rank == 0:
        publish_final(latest_checkpoint(run), run / "final")
    close_distributed()
    return run / "final"


def due(step: int, every: int, last: int) -> bool:
    return step % every == 0 or step == last


def open_run(run: Path, resume: bool, rank: int) -> tuple[Path, Path | None]:
    """(the run folder, its latest checkpoint or None); refuses to overwrite a run without `resume`."""
    previous = latest_checkpoint(run) if run.exists() else None
    if previous is not None and not resume:
        raise ValueError(f"{run} already holds checkpoints; pass --resume to continue or choose another --out")
    if rank == 0:
        run.mkdir(parents=True, exist_ok=True)
        if not os.access(run, os.W_OK):
            raise PermissionError(f"run folder is not writable: {run}")
    return run, previous


def micro_batch(cfg: TrainConfig, world: int) -> int:
    """Samples per process and micro-step: batch_size / (world * grad_accum), which must divide."""
    micro, rem = divmod(cfg.batch_size, world * cfg.grad_accum)
    if rem or micro < 1:
        raise ValueError(f"batch_size {cfg.batch_size} is not divisible by processes x grad_accum = {world * cfg.grad_accum}")
    return micro


@dataclass
class Setup:
    """What a run trains with, built in the same order on every start (so resumes are bit-exact)."""

    model: torch.nn.Module  # what the optimizer steps: the model, under DDP or FSDP when distributed
    core: ModalityDiT  # the model itself (EMA source)
    forward: torch.nn.Module  # `model`, or its torch.compile
    ema: torch.nn.Module
    teacher: torch.nn.Module | None  # frozen T2I model for self-distillation (post-training)
    opt: torch.optim.Optimizer
    model_cfg: ModelConfig
    text: torch.nn.Module
    image_codec: object
    depth_codec: DepthCodec
    grid: tuple[int, int]
    bf16: bool
    fixed: dict | None = None  # the first batch's first samples: the sample grid's inputs


def build_setup(cfg: TrainConfig, device: torch.device, world: int) -> Setup:
    from torch.nn.parallel import DistributedDataParallel

    from .text import load_text_encoder

    model, teacher = build_models(cfg)
    model_cfg = model.cfg
    model.checkpointing = cfg.checkpointing
    model.to(device)
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    if teacher is not None:
        teacher.to(device)
    bf16 = use_bf16(cfg.precision, device)
    text = load_text_encoder(model_cfg.text_encoder, model_cfg.txt_dim, model_cfg.txt_len,
                             path=cfg.text_path or None).to(device)
    image_codec = make_image_codec(model_cfg, cfg.vae_path or None)
    if cfg.fsdp:
        if world == 1:
            raise ValueError("--fsdp needs several processes (run under torchrun)")
        model, ema = shard_model(model), shard_model(ema)
        teacher = shard_model(teacher) if teacher is not None else None
    elif world > 1:
        model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, cfg.beta2), weight_decay=cfg.weight_decay)
    grid = (model_cfg.resolution // image_codec.downsample,) * 2
    return Setup(model, getattr(model, "module", model), model, ema, teacher, opt, model_cfg, text, image_codec,
                 DepthCodec(model_cfg.patch_size), grid, bf16)


def resume_state(previous: Path | None, s: Setup, compile: bool) -> tuple[int, int]:
    """(step, consecutive bad steps) of the checkpoint loaded into `s`, (0, 0) for a fresh run; then compiles."""
    step, bad = 0, 0
    if previous is not None:
        meta = load_training_state(previous, s.model, s.ema, s.opt)
        step, bad = meta["step"], meta.get("bad_steps", 0)
    if compile:
        s.forward = torch.compile(s.model)
    return step, bad


def accumulate_gradients(s: Setup, cfg: TrainConfig, loader, step: int, rank: int, world: int, device
                         ) -> dict[str, torch.Tensor]:
    """Forward and backward over the `grad_accum` micro-batches of one step -> mean loss parts."""
    parts: dict[str, torch.Tensor] = {}
    for a in range(cfg.grad_accum):
        m = step * cfg.grad_accum + a
        rng = Draws(torch.Generator(device).manual_seed(mix_seed(cfg.seed, m)), rank, world)
        batch = supervise(next(loader), cfg, rng, m)
        if s.fixed is None:
            s.fixed = {k: v[:4] for k, v in batch.items()}
        tokens = encode_batch(batch, cfg, rng, s.text, s.image_codec, s.depth_codec, s.grid, device, s.bf16)
        with sync_context(s.model, a == cfg.grad_accum - 1), torch.autocast(device.type, torch.bfloat16, enabled=s.bf16):
            out = training_losses(s.forward, tokens, cfg.flow, rng, s.teacher, s.model_cfg)
        (out["loss"] / cfg.grad_accum).backward()
        for k, v in out.items():
            parts[k] = parts.get(k, 0) + v.detach().float() / cfg.grad_accum
    return parts


def skip_step(opt, step: int, bad: int, max_bad: int, last_ckpt: Path | None) -> int:
    """Drop a step whose loss or gradient is not finite; abort after `max_bad` in a row. Returns `bad`."""
    opt.zero_grad(set_to_none=True)
    warnings.warn(f"step {step}: non-finite loss or gradient, step skipped ({bad} in a row)")
    if bad >= max_bad:
        where = f"; last good checkpoint: {last_ckpt}" if last_ckpt else ""
        raise TrainingAborted(f"aborting: {bad} non-finite losses in a row at step {step}{where}")
    return bad


class Log:
    """Scalars averaged over log steps and ranks -> RUN/metrics.jsonl, TensorBoard and the progress bar."""

    def __init__(self, run: Path, cfg: TrainConfig, rank: int, step: int):
        from tqdm import tqdm

        self.run, self.rank, self.every, self.batch_size = run, rank, cfg.log_every, cfg.batch_size
        self.writer = None
        if rank == 0:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(run / "tb"))
        self.sums: dict[str, float] = {}
        self.t, self.seen = time.perf_counter(), 0
        self.bar = tqdm(total=cfg.steps, initial=step, disable=rank != 0, desc=f"{cfg.stage}", dynamic_ncols=True)

    def add(self, parts: dict[str, torch.Tensor], grad_norm: torch.Tensor):
        self.seen += self.batch_size
        for k, v in parts.items():
            self.sums[k] = self.sums.get(k, 0.0) + float(v)
        self.sums["grad_norm"] = self.sums.get("grad_norm", 0.0) + float(grad_norm)
        self.bar.update(1)

    def write(self, step: int, lr: float, device):
        n = self.every if step % self.every == 0 else step % self.every
        means = mean_over_ranks({k: v / n for k, v in self.sums.items()}, device)
        means.update(lr=lr, samples_per_s=self.seen / (time.perf_counter() - self.t))
        self.bar.set_postfix(loss=f"{means['loss']:.4f}", samples_s=f"{means['samples_per_s']:.0f}")
        if self.rank == 0:
            for k, v in means.items():
                self.writer.add_scalar(f"train/{k}", v, step)
            with open(self.run / "metrics.jsonl", "a") as f:
                f.write(json.dumps({"step": step, **means}) + "\n")
        self.sums, self.t, self.seen = {}, time.perf_counter(), 0

    def close(self):
        self.bar.close()
        if self.writer is not None:
            self.writer.close()


@torch.no_grad()
def update_ema(ema, model, decay: float):
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p.detach(), 1 - decay)


def encode_batch(batch: dict, cfg: TrainConfig, rng: Draws, text, image_codec, depth_codec, grid, device,
                 bf16: bool = False) -> dict:
    """Samples -> model tokens: image tokens, text states (captions dropped to ""), depth tokens.

    bf16: run the frozen text encoder under bf16 autocast (states returned as float32). The DiT's
    `txt_in` rounds them to bf16 under autocast anyway; on MiniLM it halves a quarter of a
    pre-training step (docs/performance.md)."""
    image = batch["image"].to(device)
    captions = drop_captions(batch["caption"], cfg.flow.caption_dropout, rng)
    with torch.no_grad(), torch.autocast(device.type, torch.bfloat16, enabled=bf16):
        txt = text(captions).float()
    tokens = {"img": image_codec.encode(image), "txt": txt, "grid": grid}
    h, w = grid
    tokens["ids"] = position_ids(h, w, txt.shape[1], device)
    depth, valid = depth_codec.encode(batch["depth"].to(device), batch["valid_mask"].to(device))
    tokens["depth"], tokens["valid"] = depth, valid
    return tokens


def save_samples(path: Path, s: Setup, cfg: TrainConfig, device, rank: int):
    """The EMA model's sample grid of the fixed batch -> `path` (PNG, rank 0 writes)."""
    grid_png = sample_grid(s.ema, s.fixed, cfg, s.text, s.image_codec, s.depth_codec, s.grid, device)
    if rank == 0:
        path.parent.mkdir(exist_ok=True)
        save_image(grid_png, path)


@torch.no_grad()
def sample_grid(ema, fixed: dict, cfg: TrainConfig, text, image_codec, depth_codec, grid, device):
    """A PNG-ready uint8 array: one row per mode (T2I only when pre-training), image | depth per sample."""
    import numpy as np

    from .data.viz import colorize_depth, to_uint8
    from .sampling import sample

    g = torch.Generator(device).manual_seed(cfg.seed)
    txt = text(fixed["caption"])
    unc = text.empty()
    tokens, valid = depth_codec.encode(fixed["depth"].to(device), fixed["valid_mask"].to(device))
    image = image_codec.encode(fixed["image"].to(device))
    rows = []
    modes = [("joint", {})]
    if ema.with_depth:
        modes += [("i2d", {"image": image}), ("d2i", {"depth": tokens})]
    for mode, inputs in modes:
        img_t, depth_t = sample(ema, mode, txt, unc, grid, steps=cfg.sample_steps, generator=g,
                                cfg_scale=SamplingConfig.depth_cfg if mode == "i2d" else cfg.sample_cfg, **inputs)
        rgb = image_codec.decode(img_t.float(), *grid)
        cells = []
        for i in range(rgb.shape[0]):
            cells.append(to_uint8(rgb[i]))
            if ema.with_depth:
                d = depth_codec.decode(depth_t[i : i + 1].float(), *grid)[0, 0].cpu().numpy()
                cells.append(colorize_depth(d, np.ones_like(d, dtype=bool)))
        rows.append(np.concatenate(cells, axis=1))
    return np.concatenate(rows, axis=0)
