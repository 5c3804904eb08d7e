"""Synthetic datasets on disk: WebDataset-style tar shards.

Layout of `DIR`: `{split}.json` (the manifest: count, res, seed, shard size, depth scale)
and shards `{split}-{shard:06d}.tar`, shard k holding samples k*S ... (k+1)*S - 1. Sample i
of a split is the group of members sharing the key `{split}-{i:08d}`:
- `.png`: RGB, 8 bit;
- `.depth.png`: z-depth as 16-bit PNG, metres * 256 (KITTI convention; 0 = invalid/sky);
- `.txt`: caption; `.json`: intrinsics (3x3, pixels), scene seed, scene graph;
- `.ids.png`: 8-bit surface ids (`mofo.data.world`: SKY ... PAVEMENT, objects from OBJ0 on;
  shards written before it existed lack it).
Shards are written to a temporary name and renamed, so a shard that exists is complete;
a rerun keeps them. Sample i is rendered from `scene_seed(seed, split, i)` alone, so it is
the same however the work is split into shards or workers. `ShardReader` reads the samples
back as written (datasets.py crops and simulates sensors on top).
"""
from __future__ import annotations

import io
import json
import os
import tarfile
from dataclasses import asdict
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from mofo.data.viz import to_uint8
from mofo.data.world import OBJ0, WorldConfig, render_scenes, scene_seed, world_config
from mofo.files import atomic_write, write_json

DEPTH_SCALE = 256.0  # stored uint16 = round(depth_m * 256)
BATCH = 256  # scenes per render call


def shard_name(split: str, shard: int) -> str:
    return f"{split}-{shard:06d}.tar"


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def encode(out: dict, b: int, key: str) -> dict[str, bytes]:
    """The files of sample b of a `render_scenes` batch."""
    rgb = to_uint8(out["image"][b])
    depth = np.round(out["depth"][b, 0].numpy().astype(np.float64) * DEPTH_SCALE)
    meta = {"key": key, "intrinsics": out["intrinsics"][b].tolist(), "seed": out["graph"][b]["seed"],
            "graph": out["graph"][b]}
    return {f"{key}.png": _png(rgb), f"{key}.depth.png": _png(np.clip(depth, 0, 65535).astype(np.uint16)),
            f"{key}.txt": out["caption"][b].encode(), f"{key}.json": json.dumps(meta).encode(),
            f"{key}.ids.png": _png(out["ids"][b, 0].numpy().astype(np.uint8))}


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 0, 0o644
    tar.addfile(info, io.BytesIO(data))


def write_shard(path: Path, split: str, seed: int, indices: range, cfg: WorldConfig) -> int:
    """Render samples `indices` into the tar `path` atomically; returns the number written."""
    atomic_write(path, lambda tmp: _write_tar(tmp, split, seed, indices, cfg))
    return len(indices)


def _write_tar(path: str, split: str, seed: int, indices: range, cfg: WorldConfig) -> None:
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
        for start in range(indices.start, indices.stop, BATCH):
            batch = range(start, min(start + BATCH, indices.stop))
            out = render_scenes([scene_seed(seed, split, i) for i in batch], cfg)
            for b, i in enumerate(batch):
                for name, data in encode(out, b, f"{split}-{i:08d}").items():
                    _add(tar, name, data)


def _job(args) -> int:
    torch.set_num_threads(1)
    return write_shard(*args)


def _manifest(out: Path, split: str, meta: dict) -> None:
    path = out / f"{split}.json"
    if path.exists():
        if json.loads(path.read_text()) != json.loads(json.dumps(meta)):
            raise ValueError(f"{out} already holds a different {split} set ({path.name}); use another --out")
        return
    write_json(path, meta)


def _writable_dir(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {out} exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PermissionError(f"cannot create --out {out}: {e.strerror}") from None
    if not os.access(out, os.W_OK):
        raise PermissionError(f"cannot write to --out {out}")
    return out


def world_meta(cfg: WorldConfig) -> dict:
    """The world settings a manifest records (the open family's as before families existed, so
    that older shard folders stay resumable)."""
    meta = asdict(cfg)
    if cfg.family == "open":
        for key in ("family", "mix", "stretch"):
            meta.pop(key)
    return meta


def write_split(out, count: int, *, res: int = 64, seed: int = 0, split: str = "train",
                shard_size: int = 1000, workers: int = 1, progress: bool = True, family: str = "open") -> list[Path]:
    """Write `count` samples of `split` to shards under `out` (resumable); returns the shard paths.

    family: the scene family, "open", "room", "street", "closeup", "mix", or mix weights
    "NAME=W,NAME=W" (`world.world_config`)."""
    if count <= 0:
        raise ValueError(f"--count must be positive, got {count}")
    if shard_size <= 0:
        raise ValueError(f"--shard-size must be positive, got {shard_size}")
    scene_seed(seed, split, 0)  # validates the split
    cfg = world_config(family, res=res)  # validates the family
    out = _writable_dir(Path(out))
    _manifest(out, split, {"format": "mofo-synth/1", "split": split, "count": count, "seed": seed,
                           "shard_size": shard_size, "depth_scale": DEPTH_SCALE, "world": world_meta(cfg)})
    paths = [out / shard_name(split, k) for k in range((count + shard_size - 1) // shard_size)]
    jobs = [(p, split, seed, range(k * shard_size, min((k + 1) * shard_size, count)), cfg)
            for k, p in enumerate(paths) if not p.exists()]
    bar = tqdm(total=count, initial=count - sum(len(j[3]) for j in jobs), unit="sample",
               disable=not progress, desc=f"{split} -> {out}")
    if workers > 1 and len(jobs) > 1:
        with get_context("fork").Pool(min(workers, len(jobs))) as pool:
            for n in pool.imap_unordered(_job, jobs):
                bar.update(n)
    else:
        for job in jobs:
            bar.update(write_shard(*job))
    bar.close()
    return paths


def _decode_png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


class ShardReader:
    """The samples of one split's shards under `root`, as written (full size, no sensor):
    `reader[i]` is sample i in the common schema (`mofo.data.datasets`), read from its tar."""

    def __init__(self, root, split: str = "train"):
        self.root = Path(root)
        self.shards = sorted(self.root.glob(f"{split}-*.tar"))
        if not self.shards:
            raise FileNotFoundError(f"no {split}-*.tar shards in {self.root}")
        meta = json.loads((self.root / f"{split}.json").read_text())
        self.depth_scale, self.res = meta["depth_scale"], meta["world"]["res"]
        self.members = []  # per sample: {suffix: (shard index, offset, size)}
        for s, path in enumerate(self.shards):
            with tarfile.open(path) as tar:
                groups: dict[str, dict] = {}
                for m in tar.getmembers():
                    key, suffix = m.name.split(".", 1)
                    groups.setdefault(key, {})[suffix] = (s, m.offset_data, m.size)
            self.members += [groups[k] for k in sorted(groups)]

    def __len__(self) -> int:
        return len(self.members)

    def _read(self, where: tuple[int, int, int]) -> bytes:
        s, offset, size = where
        with open(self.shards[s], "rb") as f:
            f.seek(offset)
            return f.read(size)

    def meta(self, i: int) -> dict:
        """Sample i's JSON record (key, intrinsics, seed, the scene graph), without decoding its images."""
        return json.loads(self._read(self.members[i]["json"]))

    def __getitem__(self, i: int) -> dict:
        files = self.members[i]
        meta = self.meta(i)
        depth = torch.from_numpy(_decode_png(self._read(files["depth.png"])).astype(np.float32) / self.depth_scale)
        sample = {"image": torch.from_numpy(_decode_png(self._read(files["png"])).copy()).permute(2, 0, 1).float() / 255,
                  "depth": depth[None], "valid_mask": depth[None] > 0, "caption": self._read(files["txt"]).decode(),
                  "intrinsics": torch.tensor(meta["intrinsics"], dtype=torch.float32), "key": meta["key"]}
        if "ids.png" in files:
            sample["object_mask"] = torch.from_numpy(_decode_png(self._read(files["ids.png"])) >= OBJ0)[None]
        return sample
