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
import shutil
import time
import tomllib
import warnings
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import save_file

from .checkpoint import atomic_write, load_checkpoint, read_safetensors
from .codecs import DepthCodec, make_image_codec
from .config import ModelConfig, get_preset
from .flow import Draws, FlowConfig, drop_captions, training_losses
from .model import ModalityDiT


class TrainingAborted(RuntimeError):
    """Training cannot go on (e.g. the loss diverged); the last good checkpoint is intact."""


@dataclass(frozen=True)
class TrainConfig:
    stage: str = "pretrain"  # "pretrain" (T2I, no depth) or "post" (Modality Forcing)
    preset: str = "tiny"
    model: dict = field(default_factory=dict)  # overrides of the preset's ModelConfig fields
    init: str = ""  # post: the pre-trained T2I checkpoint folder
    vae_path: str = ""  # local VAE folder, for latent-space models (docs/pretrained.md)
    text_path: str = ""  # local text-encoder folder, for encoders that do not ship with a package
    # data
    data: str = "synth"  # "synth" (rendered on the fly), a shard folder, or a folder of RGB-D
    sensor: str = "none"  # depth supervision: "none" (dense), "lidar", "random", "kinect"
    sparse_prob: float = 1.0  # fraction of samples passed through the sensor (1: all, 0: dense)
    no_depth_prob: float = 0.0  # fraction of samples whose depth is withheld (image-only)
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
    _check_keys(flow, FlowConfig, "flow.")
    _check_keys(d.get("model", {}), ModelConfig, "model.")
    return TrainConfig(**d, flow=FlowConfig(**flow))


# ----------------------------------------------------------------------------- systems


def setup_distributed() -> tuple[int, int, torch.device]:
    """(rank, world, device); initialises the process group under torchrun (gloo on CPU, nccl on GPU)."""
    if "RANK" not in os.environ:
        return 0, 1, torch.device("cuda" if torch.cuda.is_available() else "cpu")
    local = int(os.environ.get("LOCAL_RANK", 0))
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size(), device


def bf16_supported(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()) or bool(
        getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
    )


def use_bf16(precision: str, device: torch.device) -> bool:
    if precision == "bf16" and not bf16_supported(device):
        raise ValueError(f"bf16 is not supported on this {device.type} device; use --precision fp32")
    return precision == "bf16" or (precision == "auto" and bf16_supported(device))


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warmup, then constant or cosine decay to `lr * min_lr_ratio`."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    if cfg.schedule == "constant":
        return cfg.lr
    progress = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def shard_model(model: torch.nn.Module):
    """FSDP2: shard every block, then the root."""
    from torch.distributed.fsdp import fully_shard

    for stack in ("double_blocks", "single_blocks", "depth_decoder_blocks"):
        for block in getattr(model, stack, []):
            fully_shard(block)
    fully_shard(model)
    return model


def _sync_context(model, last_micro: bool):
    """Skip the gradient all-reduce on all but the last micro-step of an accumulation."""
    if last_micro or not dist.is_initialized():
        return nullcontext()
    if hasattr(model, "no_sync"):
        return model.no_sync()
    model.set_requires_gradient_sync(False)
    return nullcontext()


# ----------------------------------------------------------------------------- data


class StepBatches(torch.utils.data.Sampler):
    """Index lists for this rank's micro-batches, from micro-batch `start` on, forever.

    Global micro-batch m covers positions [m*M, (m+1)*M), M = micro * world;
    rank r takes its contiguous slice. Datasets are read in a seeded permutation
    per epoch, procedural ones (a fresh scene per index) in order.
    """

    def __init__(self, n: int, micro: int, rank: int, world: int, start: int, seed: int, shuffle: bool = True):
        self.n, self.micro, self.rank, self.world, self.start, self.seed = n, micro, rank, world, start, seed
        self.shuffle = shuffle
        self._perm_epoch, self._perm = -1, None

    def _index(self, pos: int) -> int:
        if not self.shuffle:
            return pos
        epoch, i = divmod(pos, self.n)
        if epoch != self._perm_epoch:
            g = torch.Generator().manual_seed(self.seed * 7919 + epoch)
            self._perm, self._perm_epoch = torch.randperm(self.n, generator=g), epoch
        return int(self._perm[i])

    def __iter__(self):
        m = self.start
        while True:
            base = (m * self.world + self.rank) * self.micro
            yield [self._index(p) for p in range(base, base + self.micro)]
            m += 1


def collate(samples: list[dict]) -> dict:
    out = {k: torch.stack([s[k] for s in samples]) for k in ("image", "depth", "valid_mask")}
    out["caption"] = [s["caption"] for s in samples]
    return out


def make_loader(cfg: TrainConfig, res: int, micro: int, rank: int, world: int, start: int):
    from .data import SynthDataset, open_dataset

    data = open_dataset(cfg.data, res=res, split="train", seed=cfg.seed, augment=cfg.augment)
    shuffle = not isinstance(data, SynthDataset)
    sampler = StepBatches(len(data), micro, rank, world, start, cfg.seed, shuffle)
    return torch.utils.data.DataLoader(
        data, batch_sampler=sampler, num_workers=cfg.workers, collate_fn=collate,
        persistent_workers=cfg.workers > 0,
    )


def supervise(batch: dict, cfg: TrainConfig, rng: Draws, step: int) -> dict:
    """Apply the depth-supervision regime: sensor sparsity for a fraction of
    samples, depth withheld for another (both drawn per sample, rank-invariant)."""
    depth, valid = batch["depth"], batch["valid_mask"]
    n = depth.shape[0]
    if cfg.sensor != "none":
        from .data import make_sensor

        seed = (cfg.seed * 1_000_003 + step) * max(1, rng.world) + rng.rank
        sparse_depth, sparse_valid = make_sensor(cfg.sensor)(depth, valid, seed)
        pick = (rng.rand(n) < cfg.sparse_prob).view(n, 1, 1, 1)
        depth, valid = torch.where(pick, sparse_depth, depth), torch.where(pick, sparse_valid, valid)
    withheld = (rng.rand(n) < cfg.no_depth_prob).view(n, 1, 1, 1)
    return dict(batch, depth=depth * ~withheld, valid_mask=valid & ~withheld)


# ----------------------------------------------------------------------------- checkpoints


def full_state(module) -> dict:
    """A full (unsharded) CPU state dict of a plain, DDP or FSDP module."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(module, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def _flatten_optimizer(osd: dict) -> tuple[dict, list]:
    tensors = {}
    for name, state in osd["state"].items():
        for key, value in state.items():
            tensors[f"{name}::{key}"] = torch.as_tensor(value)
    return tensors, osd["param_groups"]


def _unflatten_optimizer(tensors: dict, groups: list) -> dict:
    state: dict = {}
    for key, value in tensors.items():
        name, part = key.rsplit("::", 1)
        state.setdefault(name, {})[part] = value
    return {"state": state, "param_groups": groups}


def latest_checkpoint(run: Path) -> Path | None:
    pointer = run / "checkpoints" / "latest"
    if not pointer.is_file():
        return None
    path = run / "checkpoints" / pointer.read_text().strip()
    if not path.is_dir():
        raise ValueError(f"checkpoint pointer {pointer} names a missing folder {path.name}")
    return path


def save_training_checkpoint(run: Path, step: int, model, ema, opt, cfg: TrainConfig, model_cfg: ModelConfig,
                             rank: int, bad_steps: int) -> Path:
    """Write a complete checkpoint atomically (temp folder + rename), then move `latest` to it."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

    weights, ema_weights = full_state(model), full_state(ema)
    osd = get_optimizer_state_dict(model, opt, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    final = run / "checkpoints" / f"step_{step:07d}"
    if rank != 0:
        return final
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(weights, str(tmp / "model.safetensors"))
    save_file(ema_weights, str(tmp / "ema.safetensors"))
    opt_tensors, groups = _flatten_optimizer(osd)
    save_file(opt_tensors, str(tmp / "state.safetensors"))
    (tmp / "state.json").write_text(json.dumps({"step": step, "param_groups": groups, "bad_steps": bad_steps}))
    (tmp / "config.json").write_text(json.dumps({"model": model_cfg.to_dict(), "train": cfg.to_dict()}, indent=2))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    atomic_write(run / "checkpoints" / "latest", lambda tmp: Path(tmp).write_text(final.name))
    for old in sorted(run.glob("checkpoints/step_*"))[: -cfg.keep]:
        if old.is_dir() and not old.name.endswith(".tmp"):
            shutil.rmtree(old)
    return final


def load_training_state(ckpt: Path, model, ema, opt) -> dict:
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions, set_model_state_dict, set_optimizer_state_dict,
    )

    options = StateDictOptions(full_state_dict=True)
    set_model_state_dict(model, read_safetensors(ckpt / "model.safetensors"), options=options)
    set_model_state_dict(ema, read_safetensors(ckpt / "ema.safetensors"), options=options)
    meta = json.loads((ckpt / "state.json").read_text())
    osd = _unflatten_optimizer(read_safetensors(ckpt / "state.safetensors"), meta["param_groups"])
    set_optimizer_state_dict(model, opt, osd, options=options)
    return meta


# ----------------------------------------------------------------------------- the loop


def build_models(cfg: TrainConfig) -> tuple[ModalityDiT, ModalityDiT | None]:
    """(model, teacher): a fresh T2I model, or the post-training start point and its frozen T2I teacher."""
    if cfg.stage == "pretrain":
        model_cfg = get_preset(cfg.preset).replace(**cfg.model, with_depth=False)
        return ModalityDiT(model_cfg), None
    if not cfg.init:
        raise ValueError("--stage post needs --init (a pre-trained text-to-image checkpoint folder)")
    t2i, _ = load_checkpoint(cfg.init)
    t2i.train()
    if t2i.with_depth:
        raise ValueError(f"--init {cfg.init} already has a depth stream; pass a text-to-image checkpoint")
    if cfg.model:
        t2i.cfg = t2i.cfg.replace(**cfg.model)
    teacher = copy.deepcopy(t2i).eval().requires_grad_(False)
    return t2i.add_depth_stream(copy_image=True), teacher


def train(cfg: TrainConfig, out: str | Path, resume: bool = False) -> Path:
    """Run (or continue) a training run; returns the final checkpoint folder."""
    from torch.nn.parallel import DistributedDataParallel
    from tqdm import tqdm

    from .text import load_text_encoder

    rank, world, device = setup_distributed()
    run = Path(out)
    previous = latest_checkpoint(run) if run.exists() else None
    if previous is not None and not resume:
        raise ValueError(f"{run} already holds checkpoints; pass --resume to continue or choose another --out")
    if rank == 0:
        run.mkdir(parents=True, exist_ok=True)
        if not os.access(run, os.W_OK):
            raise PermissionError(f"run folder is not writable: {run}")
    micro, rem = divmod(cfg.batch_size, world * cfg.grad_accum)
    if rem or micro < 1:
        raise ValueError(f"batch_size {cfg.batch_size} is not divisible by processes x grad_accum = {world * cfg.grad_accum}")

    torch.manual_seed(cfg.seed)
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
    depth_codec = DepthCodec(model_cfg.patch_size)

    if cfg.fsdp:
        if world == 1:
            raise ValueError("--fsdp needs several processes (run under torchrun)")
        model, ema = shard_model(model), shard_model(ema)
        if teacher is not None:
            teacher = shard_model(teacher)
    elif world > 1:
        model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    core = getattr(model, "module", model)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, cfg.beta2), weight_decay=cfg.weight_decay)
    step, bad = 0, 0
    if previous is not None:
        meta = load_training_state(previous, model, ema, opt)
        step, bad = meta["step"], meta.get("bad_steps", 0)
    forward = torch.compile(model) if cfg.compile else model

    grid = (model_cfg.resolution // image_codec.downsample,) * 2
    loader = iter(make_loader(cfg, model_cfg.resolution, micro, rank, world, step * cfg.grad_accum))
    writer = None
    if rank == 0:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(run / "tb"))
    fixed = None
    log: dict[str, float] = {}
    t_log, seen = time.perf_counter(), 0
    bar = tqdm(total=cfg.steps, initial=step, disable=rank != 0, desc=f"{cfg.stage}", dynamic_ncols=True)
    last_ckpt = previous
    while step < cfg.steps:
        lr = lr_at(step, cfg)
        for group in opt.param_groups:
            group["lr"] = lr
        parts: dict[str, torch.Tensor] = {}
        for a in range(cfg.grad_accum):
            m = step * cfg.grad_accum + a
            rng = Draws(torch.Generator(device).manual_seed(cfg.seed * 1_000_003 + m), rank, world)
            batch = supervise(next(loader), cfg, rng, m)
            if fixed is None:
                fixed = {k: v[:4] for k, v in batch.items()}
            tokens = encode_batch(batch, cfg, rng, text, image_codec, depth_codec, grid, device)
            with _sync_context(model, a == cfg.grad_accum - 1), torch.autocast(device.type, torch.bfloat16, enabled=bf16):
                out = training_losses(forward, tokens, cfg.flow, rng, teacher)
            (out["loss"] / cfg.grad_accum).backward()
            for k, v in out.items():
                parts[k] = parts.get(k, 0) + v.detach().float() / cfg.grad_accum
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        if hasattr(grad_norm, "full_tensor"):  # FSDP2: a DTensor
            grad_norm = grad_norm.full_tensor()
        finite = torch.isfinite(parts["loss"]) & torch.isfinite(grad_norm)
        if dist.is_initialized():
            flag = finite.float().to(device)
            dist.all_reduce(flag, op=dist.ReduceOp.MIN)
            finite = flag > 0
        if not bool(finite):
            opt.zero_grad(set_to_none=True)
            bad += 1
            warnings.warn(f"step {step}: non-finite loss or gradient, step skipped ({bad} in a row)")
            if bad >= cfg.max_bad_steps:
                where = f"; last good checkpoint: {last_ckpt}" if last_ckpt else ""
                raise TrainingAborted(f"aborting: {bad} non-finite losses in a row at step {step}{where}")
            step += 1
            continue
        bad = 0
        opt.step()
        opt.zero_grad(set_to_none=True)
        update_ema(ema, core, min(cfg.ema_decay, (1 + step) / (10 + step)))  # warm-up: short runs average recent weights
        step += 1
        seen += cfg.batch_size
        for k, v in parts.items():
            log[k] = log.get(k, 0.0) + float(v)
        log["grad_norm"] = log.get("grad_norm", 0.0) + float(grad_norm)
        bar.update(1)
        if step % cfg.log_every == 0 or step == cfg.steps:
            n_log = cfg.log_every if step % cfg.log_every == 0 else step % cfg.log_every
            means = mean_over_ranks({k: v / n_log for k, v in log.items()}, device)
            means.update(lr=lr, samples_per_s=seen / (time.perf_counter() - t_log))
            bar.set_postfix(loss=f"{means['loss']:.4f}", samples_s=f"{means['samples_per_s']:.0f}")
            if rank == 0:
                for k, v in means.items():
                    writer.add_scalar(f"train/{k}", v, step)
                with open(run / "metrics.jsonl", "a") as f:
                    f.write(json.dumps({"step": step, **means}) + "\n")
            log, t_log, seen = {}, time.perf_counter(), 0
        if step % cfg.sample_every == 0 or step == cfg.steps:
            grid_png = sample_grid(ema, fixed, cfg, text, image_codec, depth_codec, grid, device)
            if rank == 0:
                (run / "samples").mkdir(exist_ok=True)
                save_png_atomic(grid_png, run / "samples" / f"step_{step:07d}.png")
        if step % cfg.ckpt_every == 0 or step == cfg.steps:
            last_ckpt = save_training_checkpoint(run, step, model, ema, opt, cfg, model_cfg, rank, bad)
    bar.close()
    if writer is not None:
        writer.close()
    final = latest_checkpoint(run) if rank == 0 else run / "checkpoints"
    if rank == 0:
        publish_final(final, run / "final")
    if dist.is_initialized():  # end cleanly: every rank waits for rank 0's files, then the group closes
        dist.barrier()
        dist.destroy_process_group()
    return run / "final"


def publish_final(ckpt: Path, final: Path):
    """Copy a checkpoint's inference files (EMA weights as `model.safetensors`, config) to RUN/final."""
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    shutil.copy(ckpt / "ema.safetensors", tmp / "model.safetensors")
    shutil.copy(ckpt / "config.json", tmp / "config.json")
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)


def mean_over_ranks(values: dict[str, float], device) -> dict[str, float]:
    """Average logged scalars over processes (each rank logs its local batch)."""
    if not dist.is_initialized():
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return {k: v / dist.get_world_size() for k, v in zip(keys, t.tolist())}


@torch.no_grad()
def update_ema(ema, model, decay: float):
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p.detach(), 1 - decay)


def encode_batch(batch: dict, cfg: TrainConfig, rng: Draws, text, image_codec, depth_codec, grid, device) -> dict:
    """Samples -> model tokens: image tokens, text states (captions dropped to ""), depth tokens."""
    image = batch["image"].to(device)
    captions = drop_captions(batch["caption"], cfg.flow.caption_dropout, rng)
    with torch.no_grad():
        txt = text(captions)
    tokens = {"img": image_codec.encode(image), "txt": txt, "grid": grid}
    h, w = grid
    from .model import position_ids

    tokens["ids"] = position_ids(h, w, txt.shape[1], device)
    depth, valid = depth_codec.encode(batch["depth"].to(device), batch["valid_mask"].to(device))
    tokens["depth"], tokens["valid"] = depth, valid
    return tokens


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
                                cfg_scale=1.0 if mode == "i2d" else 2.0, **inputs)
        rgb = image_codec.decode(img_t.float(), *grid)
        cells = []
        for i in range(rgb.shape[0]):
            cells.append(to_uint8(rgb[i]))
            if ema.with_depth:
                d = depth_codec.decode(depth_t[i : i + 1].float(), *grid)[0, 0].cpu().numpy()
                cells.append(colorize_depth(d, np.ones_like(d, dtype=bool)))
        rows.append(np.concatenate(cells, axis=1))
    return np.concatenate(rows, axis=0)


def save_png_atomic(array, path: Path):
    from PIL import Image

    tmp = path.with_name(path.name + ".tmp")
    Image.fromarray(array).save(tmp, format="PNG")
    os.replace(tmp, path)
