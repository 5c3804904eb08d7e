"""Datasets in the common sample schema, from the synthetic world, shards or a folder.

A sample is a dict: `image` float32 (3, H, W) in [0, 1]; `depth` float32 (1, H, W) z-depth
in metres, 0 where invalid; `valid_mask` bool (1, H, W); `caption` str; `intrinsics` float32
(3, 3) in pixels of the returned (cropped, resized) image, when known; `key` str; for the
synthetic world `object_mask` bool (1, H, W), the pixels that show an object (not floor, walls,
ground or sky), when known. A sample without depth has depth all 0 and valid_mask all False.

Randomness per sample (sensor pattern, crop, flip) comes from the sample's own seed, so a
sample is the same in any DataLoader worker, batch or order.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from mofo.data.benchmarks import BENCHMARKS, open_benchmark
from mofo.data.sensors import make_sensor
from mofo.data.shards import ShardReader
from mofo.data.world import OBJ0, WorldConfig, render_scenes, scene_seed, world_config
from mofo.files import IMAGE_SUFFIXES, is_image_file, open_image
from mofo.seeds import mix_seed


def crop_resize(sample: dict, res: int, box: tuple[int, int, int], flip: bool) -> dict:
    """Crop the square (top, left, side), resize to res x res and maybe mirror, keeping depth exact.

    Depth and mask are resampled by nearest neighbour (never blended across edges); the
    intrinsics follow the crop (principal point shift), the resize (scale) and the flip
    (cx -> W - cx).
    """
    top, left, side = box
    crop = lambda x: x[..., top:top + side, left:left + side]  # noqa: E731
    image = F.interpolate(crop(sample["image"])[None], size=(res, res), mode="bilinear",
                          antialias=True, align_corners=False)[0].clamp(0, 1)
    near = lambda x: F.interpolate(crop(x)[None].float(), size=(res, res), mode="nearest-exact")[0]  # noqa: E731
    depth, valid = near(sample["depth"]), near(sample["valid_mask"]) > 0
    out = {**sample, "image": image, "depth": depth, "valid_mask": valid}
    if "object_mask" in sample:
        out["object_mask"] = near(sample["object_mask"]) > 0
    if "intrinsics" in sample:
        k = sample["intrinsics"].clone()
        k[0, 2] -= left
        k[1, 2] -= top
        k[:2] *= res / side
        out["intrinsics"] = k
    if flip:
        out.update(image=image.flip(-1), depth=depth.flip(-1), valid_mask=valid.flip(-1))
        if "object_mask" in out:
            out["object_mask"] = out["object_mask"].flip(-1)
        if "intrinsics" in out:
            out["intrinsics"][0, 2] = res - out["intrinsics"][0, 2]
    return out


class Transform:
    """Square crop + resize to `res` (random crop and flip when `augment`), then the sensor."""

    def __init__(self, res: int, sensor: str | None = None, augment: bool = False, min_crop: float = 0.75):
        self.res, self.augment, self.min_crop = res, augment, min_crop
        self.sensor = make_sensor(sensor) if sensor else None

    def __call__(self, sample: dict, seed: int) -> dict:
        gen = torch.Generator().manual_seed(seed % 2**63)
        h, w = sample["image"].shape[-2:]
        side = min(h, w)
        if self.augment:
            side = math.ceil(side * (self.min_crop + (1 - self.min_crop) * torch.rand(1, generator=gen).item()))
            top = int(torch.randint(0, h - side + 1, (1,), generator=gen))
            left = int(torch.randint(0, w - side + 1, (1,), generator=gen))
            flip = bool(torch.rand(1, generator=gen) < 0.5)
        else:
            top, left, flip = (h - side) // 2, (w - side) // 2, False
        if (h, w, side, flip) != (self.res, self.res, self.res, False):
            sample = crop_resize(sample, self.res, (top, left, side), flip)
        if self.sensor is not None:
            depth, valid = self.sensor(sample["depth"], sample["valid_mask"], gen)
            sample = {**sample, "depth": depth, "valid_mask": valid}
        return sample


class SynthDataset(Dataset):
    """Fresh scenes rendered on the fly: sample i is fixed by (seed, split, i), nothing on disk.

    `__getitems__` renders a whole DataLoader batch in one vectorised call. family: "open"
    (the default, the original world), "room", "street", "closeup", "mix", or mix weights
    "NAME=W,NAME=W" (`world.world_config`).
    """

    def __init__(self, res: int = 64, split: str = "train", seed: int = 0, sensor: str | None = None,
                 augment: bool = False, length: int = 10**7, config: WorldConfig | None = None,
                 family: str = "open"):
        scene_seed(seed, split, 0)  # validates the split
        self.split, self.seed, self.length = split, seed, length
        self.config = config or world_config(family, res=res)
        self.transform = Transform(res, sensor, augment)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict:
        return self.__getitems__([i])[0]

    def __getitems__(self, indices: list[int]) -> list[dict]:
        seeds = [scene_seed(self.seed, self.split, int(i)) for i in indices]
        out = render_scenes(seeds, self.config)
        return [self.transform({"image": out["image"][b], "depth": out["depth"][b], "valid_mask": out["valid"][b],
                                "caption": out["caption"][b], "intrinsics": out["intrinsics"][b],
                                "object_mask": out["ids"][b] >= OBJ0, "key": f"{self.split}-{int(i):08d}"}, s)
                for b, (i, s) in enumerate(zip(indices, seeds))]


class ShardDataset(Dataset):
    """Samples of `mofo data synth` tar shards (`mofo.data.shards.ShardReader`), through `Transform`."""

    def __init__(self, root, split: str = "train", res: int | None = None, seed: int = 0,
                 sensor: str | None = None, augment: bool = False):
        self.reader = ShardReader(root, split)
        self.split, self.seed = split, seed
        self.transform = Transform(res or self.reader.res, sensor, augment)

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, i: int) -> dict:
        return self.transform(self.reader[i], scene_seed(self.seed, self.split, i))


class FolderDataset(Dataset):
    """Any folder of RGB-D pairs: an image `x.png|jpg|...` (`files.IMAGE_SUFFIXES`) with `x.npy` (metres)
    or `x_depth.png` (uint16 * depth_scale).

    An optional `x.txt` holds the caption. Images without depth get an all-invalid depth.
    """

    def __init__(self, root, res: int = 64, seed: int = 0, sensor: str | None = None, augment: bool = False,
                 depth_scale: float = 1e-3):
        self.root, self.seed, self.depth_scale = Path(root), seed, depth_scale
        self.images = sorted(p for p in self.root.rglob("*") if is_image_file(p))
        if not self.images:
            raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {self.root}")
        self.transform = Transform(res, sensor, augment)

    def __len__(self) -> int:
        return len(self.images)

    def _depth(self, path: Path, shape: tuple[int, int]) -> torch.Tensor:
        npy, png = path.with_suffix(".npy"), path.with_name(path.stem + "_depth.png")
        if npy.exists():
            depth = np.load(npy).astype(np.float32)
        elif png.exists():
            depth = np.asarray(open_image(png)).astype(np.float32) * self.depth_scale
        else:
            depth = np.zeros(shape, np.float32)
        return torch.from_numpy(np.nan_to_num(depth.squeeze(), nan=0.0, posinf=0.0))[None]

    def __getitem__(self, i: int) -> dict:
        path = self.images[i]
        image = torch.from_numpy(np.asarray(open_image(path).convert("RGB")).copy()).permute(2, 0, 1).float() / 255
        depth = self._depth(path, image.shape[-2:])
        text = path.with_suffix(".txt")
        sample = {"image": image, "depth": depth.clamp(min=0), "valid_mask": depth > 0,
                  "caption": text.read_text().strip() if text.exists() else "",
                  "key": str(path.relative_to(self.root).with_suffix(""))}
        return self.transform(sample, mix_seed(self.seed, i))


class BenchmarkDataset(Dataset):
    """A benchmark loader (`mofo.data.benchmarks`) brought to the training resolution by `Transform`."""

    def __init__(self, benchmark: Dataset, res: int, seed: int = 0, sensor: str | None = None, augment: bool = False):
        self.benchmark, self.seed = benchmark, seed
        self.transform = Transform(res, sensor, augment)

    def __len__(self) -> int:
        return len(self.benchmark)

    def __getitem__(self, i: int) -> dict:
        return self.transform(self.benchmark[i], mix_seed(self.seed, i))


def open_dataset(spec: str, *, res: int, split: str = "train", seed: int = 0, sensor: str | None = None,
                 augment: bool = False) -> Dataset:
    """'synth' or 'synth:FAMILY' (rendered on the fly; FAMILY open (the default), room, street,
    closeup, mix, or weights such as room=0.3,closeup=0.2,street=0.4,open=0.1), a directory of
    `mofo data synth` shards, a folder of RGB-D files, or `NAME:ROOT` for a benchmark loader
    (e.g. `nyuv2_bts:/data/nyu`, `kitti:/data/kitti`)."""
    if spec == "synth" or spec.startswith("synth:"):
        return SynthDataset(res, split, seed, sensor, augment, family=spec.partition(":")[2] or "open")
    name, sep, bench_root = spec.partition(":")
    if sep and name in BENCHMARKS:
        return BenchmarkDataset(open_benchmark(name, bench_root), res, seed, sensor, augment)
    root = Path(spec)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset directory {spec} does not exist (or pass 'synth')")
    if any(root.glob("*.tar")):
        return ShardDataset(root, split, res, seed, sensor, augment)
    return FolderDataset(root, res, seed, sensor, augment)
