"""Checkpoints on disk: safetensors only (never pickle), written atomically.

Our format is a folder with `model.safetensors` (the `ModalityDiT` state dict)
and `config.json` (`{"model": ModelConfig.to_dict(), ...}`; the trainer and
converters add their own entries beside "model"). `read_state_dict` also reads
foreign folders: one `*.safetensors` file, or shards listed by a
`*.safetensors.index.json` (Hugging Face / diffusers layout). A training run's
state (weights, EMA, AdamW moments, step) is a checkpoint folder too (last section).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from .config import ModelConfig, SamplingConfig
from .files import atomic_folder, atomic_write, write_json, write_text
from .model import ModalityDiT

WEIGHTS, CONFIG, EMA = "model.safetensors", "config.json", "ema.safetensors"  # EMA: training checkpoints only
EMPTY_TEXT = "text_empty.safetensors"  # optional: the text encoder's encoding of "" (key "empty")


def write_safetensors(path: str | Path, tensors: dict[str, Tensor], metadata: dict | None = None) -> None:
    tensors = {k: v.detach().contiguous() for k, v in tensors.items()}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def save_checkpoint(model: ModalityDiT, out_dir: str | Path, extra: dict | None = None) -> Path:
    """Write `model.safetensors` and `config.json` into `out_dir` (created if needed); returns the folder."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_safetensors(out / WEIGHTS, model.state_dict(), metadata={"format": "pt"})
    write_json(out / CONFIG, {"model": model.cfg.to_dict(), **(extra or {})})
    return out


def load_checkpoint(
    path: str | Path, device: str | torch.device = "cpu", weights: str = WEIGHTS
) -> tuple[ModalityDiT, dict]:
    """Read a folder written by `save_checkpoint` -> (model in eval mode, the whole config.json).

    `weights` picks the file (training checkpoints also hold `ema.safetensors`).
    The model keeps the stored dtypes and is loaded strictly (see `load_strict`).
    """
    path = Path(path)
    info = read_info(path)
    cfg = ModelConfig.from_dict(info["model"])
    model = load_strict(cfg, read_state_dict(path / weights, device), f"checkpoint {path}")
    return model.eval(), info


def sampling_weights(folder: str | Path) -> str:
    """The weights file of a checkpoint folder to sample with: the EMA when the folder has one."""
    return EMA if (Path(folder) / EMA).is_file() else WEIGHTS


def read_info(path: str | Path) -> dict:
    """The whole `config.json` of a checkpoint folder (no weights are read)."""
    path = Path(path)
    if not (path / CONFIG).is_file():
        raise FileNotFoundError(f"no mofo checkpoint in {path} (expected {CONFIG} and {WEIGHTS})")
    try:
        return json.loads((path / CONFIG).read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path / CONFIG} is not valid JSON: {e}") from None


def read_config(path: str | Path) -> ModelConfig:
    """The `ModelConfig` of a checkpoint folder (no weights are read)."""
    return ModelConfig.from_dict(read_info(path)["model"])


def save_empty_text(folder: str | Path, encoder) -> Path:
    """Store `encoder.empty()` in a model folder (`EMPTY_TEXT`, float32 (1, txt_len, txt_dim)), so that
    a pipeline on it loads the text encoder only for non-empty prompts; returns the file."""
    path = Path(folder) / EMPTY_TEXT
    write_safetensors(path, {"empty": encoder.empty().float().cpu()})
    return path


def read_empty_text(folder: str | Path, cfg: ModelConfig) -> Tensor | None:
    """The stored encoding of "" of a model folder, or None without one; it must fit `cfg`."""
    path = Path(folder) / EMPTY_TEXT
    if not path.is_file():
        return None
    empty, shape = read_safetensors(path).get("empty"), (1, cfg.txt_len, cfg.txt_dim)
    if empty is None or empty.dtype != torch.float32 or tuple(empty.shape) != shape:
        found = "no tensor 'empty'" if empty is None else f"{empty.dtype} {tuple(empty.shape)}"
        raise ValueError(f"{path} holds {found}; the model expects float32 {shape} (txt_len, txt_dim): "
                         f"rewrite it with checkpoint.save_empty_text")
    return empty


def package(src: str | Path, out: str | Path, provenance: dict, sampling: dict | None = None,
            train: dict | None = None, text_path: str | Path | None = None) -> Path:
    """A self-contained model folder, laid out as the bundled model, from a checkpoint folder (RUN/final,
    a model folder, or a training checkpoint, whose EMA weights are taken); returns `out`.

    Weights are stored as float16 (loaded strictly first), config.json keeps the source's entries with
    its "sampling" defaults updated by `sampling`, its "train" section by `train` (e.g. the preset and
    [model] overrides that name the architecture of a run continued from a checkpoint) and a
    `provenance` dict added, and the text encoder's encoding of "" is stored (`save_empty_text`) so
    that image-to-depth never loads the encoder.
    """
    from .text import load_text_encoder

    src = Path(src)
    info = read_info(src)
    cfg = ModelConfig.from_dict(info["model"])
    weights = src / sampling_weights(src)
    state = load_strict(cfg, read_state_dict(weights), f"checkpoint {src}").state_dict()
    info["sampling"] = SamplingConfig.from_dict(info.get("sampling", {}) | (sampling or {})).to_dict()
    if train:
        info["train"] = info.get("train", {}) | train
    info["provenance"] = {"weights": f"{src.name}/{weights.name} stored as float16", **provenance}
    encoder = load_text_encoder(cfg.text_encoder, cfg.txt_dim, cfg.txt_len, text_path)
    with atomic_folder(out) as tmp:
        write_safetensors(tmp / WEIGHTS, {k: v.half() if v.is_floating_point() else v for k, v in state.items()},
                          metadata={"format": "pt"})
        (tmp / CONFIG).write_text(json.dumps(info, indent=1))
        save_empty_text(tmp, encoder)
    return Path(out)


def read_safetensors(path: str | Path, device: str | torch.device = "cpu") -> dict[str, Tensor]:
    """One safetensors file; a truncated or corrupt file becomes one clear ValueError."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file missing: {path}")
    try:
        return load_file(path, device=str(device))
    except Exception as e:  # safetensors raises several error types for damaged files
        raise ValueError(f"checkpoint file {path} is corrupt or truncated ({type(e).__name__}: {e})") from None


def read_state_dict(path: str | Path, device: str | torch.device = "cpu") -> dict[str, Tensor]:
    """Tensors of a `.safetensors` file, or of a folder holding one file or an index of shards."""
    path = Path(path)
    if path.is_file():
        return read_safetensors(path, device)
    if not path.is_dir():
        raise FileNotFoundError(f"no safetensors file or folder at {path}")
    indexes = sorted(path.glob("*.safetensors.index.json"))
    if len(indexes) > 1:
        raise ValueError(f"{path} holds several shard indexes: {', '.join(p.name for p in indexes)}")
    if indexes:
        shards = sorted(set(json.loads(indexes[0].read_text())["weight_map"].values()))
    else:
        shards = [p.name for p in sorted(path.glob("*.safetensors"))]
        if len(shards) != 1:
            raise FileNotFoundError(f"expected one .safetensors file or a *.safetensors.index.json in {path}, "
                                    f"found {len(shards)} files")
    state = {}
    for shard in shards:
        state.update(read_safetensors(path / shard, device))
    return state


def image_stream(model: ModalityDiT, source: str) -> ModalityDiT:
    """The text-to-image part of `model` (a joint model's depth stream dropped; image stream, text
    path and heads as they are) as a new float32 model in train mode sharing no storage with it."""
    cfg = model.cfg.replace(with_depth=False)
    with torch.device("meta"):
        expected = ModalityDiT(cfg).state_dict()
    state = model.state_dict()
    return load_strict(cfg, {k: state[k].clone() for k in expected}, f"the image stream of {source}").float().train()


def load_strict(cfg: ModelConfig, state: dict[str, Tensor], source: str) -> ModalityDiT:
    """Build `ModalityDiT(cfg)` without allocating it and take `state`'s tensors as its parameters.

    Every name and shape must match (`check_state_dict`); dtypes are kept as stored.
    """
    with torch.device("meta"):
        model = ModalityDiT(cfg)
    check_state_dict(model.state_dict(), state, source)
    model.load_state_dict(state, strict=True, assign=True)
    return model


def check_state_dict(expected: dict[str, Tensor], state: dict[str, Tensor], source: str, show: int = 5) -> None:
    """Raise one ValueError naming the first few missing, unexpected and mis-shaped keys of `state`."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k} {tuple(state[k].shape)} (expected {tuple(v.shape)})"
              for k, v in expected.items() if k in state and state[k].shape != v.shape]
    problems = [f"{what} ({len(keys)}): {', '.join(keys[:show])}{', ...' if len(keys) > show else ''}"
                for what, keys in (("missing keys", missing), ("unexpected keys", unexpected),
                                   ("shape mismatches", shapes)) if keys]
    if problems:
        raise ValueError(f"{source} does not fit the model: " + "; ".join(problems))


# ----------------------------------------------------------------------------- training state
# RUN/checkpoints/step_NNNNNNN/{model,ema,state}.safetensors, state.json, config.json; RUN/checkpoints/latest


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


def save_training_checkpoint(run: Path, step: int, model, ema, opt, cfg, model_cfg: ModelConfig,
                             rank: int, bad_steps: int) -> Path:
    """Write a complete checkpoint atomically (temp folder + rename), then move `latest` to it.

    cfg: the run's TrainConfig (saved; `cfg.keep` newest checkpoints are kept). Every rank
    takes part in gathering the state; rank 0 writes.
    """
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

    weights, ema_weights = full_state(model), full_state(ema)
    osd = get_optimizer_state_dict(model, opt, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    final = run / "checkpoints" / f"step_{step:07d}"
    if rank != 0:
        return final
    with atomic_folder(final) as tmp:
        save_file(weights, str(tmp / WEIGHTS))
        save_file(ema_weights, str(tmp / EMA))
        opt_tensors, groups = _flatten_optimizer(osd)
        save_file(opt_tensors, str(tmp / "state.safetensors"))
        (tmp / "state.json").write_text(json.dumps({"step": step, "param_groups": groups, "bad_steps": bad_steps}))
        info = {"model": model_cfg.to_dict(), "sampling": SamplingConfig().to_dict(), "train": cfg.to_dict()}
        (tmp / CONFIG).write_text(json.dumps(info, indent=2))
    write_text(run / "checkpoints" / "latest", final.name)
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
    set_model_state_dict(ema, read_safetensors(ckpt / EMA), options=options)
    meta = json.loads((ckpt / "state.json").read_text())
    osd = _unflatten_optimizer(read_safetensors(ckpt / "state.safetensors"), meta["param_groups"])
    set_optimizer_state_dict(model, opt, osd, options=options)
    return meta


def publish_final(ckpt: Path, final: Path):
    """Copy a checkpoint's inference files (EMA weights as `model.safetensors`, config) to RUN/final."""
    with atomic_folder(final) as tmp:
        shutil.copy(ckpt / EMA, tmp / WEIGHTS)
        shutil.copy(ckpt / CONFIG, tmp / CONFIG)
