"""Checkpoints on disk: safetensors only (never pickle), written atomically.

Our format is a folder with `model.safetensors` (the `ModalityDiT` state dict)
and `config.json` (`{"model": ModelConfig.to_dict(), ...}`; the trainer and
converters add their own entries beside "model"). `read_state_dict` also reads
foreign folders: one `*.safetensors` file, or shards listed by a
`*.safetensors.index.json` (Hugging Face / diffusers layout).
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from .config import ModelConfig
from .model import ModalityDiT

WEIGHTS, CONFIG = "model.safetensors", "config.json"


def atomic_write(path: str | Path, write) -> None:
    """Call `write(tmp_path)`, then move the result onto `path` (readers never see half a file)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a written file gets the usual permissions
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json(path: str | Path, data: dict) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(data, indent=2) + "\n"))


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
    if not (path / CONFIG).is_file():
        raise FileNotFoundError(f"no mofo checkpoint in {path} (expected {CONFIG} and {WEIGHTS})")
    try:
        info = json.loads((path / CONFIG).read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path / CONFIG} is not valid JSON: {e}") from None
    cfg = ModelConfig.from_dict(info["model"])
    model = load_strict(cfg, read_state_dict(path / weights, device), f"checkpoint {path}")
    return model.eval(), info


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
