"""Depth sensor simulators: dense depth in, sparse depth + validity out (METHOD.md §6).

Every sensor is a callable `sensor(depth, valid, generator=None) -> (sparse, mask)` on
depth (B, 1, H, W) or (1, H, W) in metres with its validity mask of the same shape. The
generator is a `torch.Generator` or an int seed (None: seed 0), so a seed fixes the
pattern. Measured pixels keep the dense value exactly; all others are 0 and False, and a
pixel is never measured where the dense depth is invalid.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


def _generator(generator: torch.Generator | int | None) -> torch.Generator:
    if isinstance(generator, torch.Generator):
        return generator
    return torch.Generator().manual_seed(0 if generator is None else int(generator))


def _apply(depth: torch.Tensor, valid: torch.Tensor, keep: torch.Tensor, near: float, far: float):
    mask = keep & valid & (depth >= near) & (depth <= far)
    return torch.where(mask, depth, torch.zeros_like(depth)), mask


def _batched(fn):
    """Let a sensor written for (B, 1, H, W) accept (1, H, W) as well."""
    def call(self, depth, valid, generator=None, **kwargs):
        if depth.dim() == 3:
            sparse, mask = call(self, depth[None], valid[None], generator, **kwargs)
            return sparse[0], mask[0]
        return fn(self, depth, valid.bool(), _generator(generator), **kwargs)
    return call


@dataclass(frozen=True)
class LidarConfig:
    """A spinning LiDAR seen through the image: scan lines of returns at fixed elevations.

    `lines` scan lines (0: one per ~6 image rows) spread over the rows in `band` (fractions
    of the height, top to bottom), each bent slightly and jittered by `jitter` rows; returns
    along a line every `spacing` pixels of azimuth (0: chosen so that `density` of all pixels
    is measured), with random `dropout`, between `near` and `far` metres.
    """

    density: float = 0.05
    lines: int = 0
    spacing: float = 0.0
    band: tuple[float, float] = (0.2, 1.0)
    jitter: float = 0.5
    bend: float = 0.06
    dropout: float = 0.1
    near: float = 0.3
    far: float = 80.0


class Sensor:
    """A sensor with its config (`Config()` when none is given)."""

    Config: type

    def __init__(self, cfg=None):
        self.cfg = self.Config() if cfg is None else cfg


class Lidar(Sensor):
    Config = LidarConfig

    def layout(self, h: int, w: int) -> tuple[int, float]:
        """Number of lines and azimuth spacing (pixels) at an image size."""
        c = self.cfg
        lines = c.lines or max(1, round(h / 6))
        spacing = c.spacing or lines * (1 - c.dropout) / (h * c.density)
        if spacing < 1:  # denser than one return per pixel along a line: add lines instead
            lines = min(h, math.ceil(h * c.density / (1 - c.dropout)))
            spacing = lines * (1 - c.dropout) / (h * c.density)
        return lines, spacing

    @_batched
    def __call__(self, depth, valid, generator):
        c, (b, _, h, w) = self.cfg, depth.shape
        lines, spacing = self.layout(h, w)
        top, bottom = c.band[0] * h, c.band[1] * h
        base = top + (torch.arange(lines) + 0.5) / lines * (bottom - top)  # (L,)
        jitter = c.jitter * torch.randn(b, lines, 1, generator=generator)
        bend = c.bend * h * torch.rand(b, 1, 1, generator=generator)
        phase = spacing * torch.rand(b, lines, 1, generator=generator)
        cols = torch.arange(0, w, spacing)[: max(1, math.floor(w / spacing))]  # (P,)
        cols = torch.clamp(torch.floor(cols + phase), max=w - 1).long()  # (B, L, P)
        x = (cols.float() + 0.5) / w - 0.5
        rows = torch.round(base[None, :, None] + jitter + bend * x * x).long()
        inside = (rows >= 0) & (rows < h)
        kept = inside & (torch.rand(rows.shape, generator=generator) >= c.dropout)
        flat = torch.arange(b)[:, None, None] * h * w + rows * w + cols
        keep = torch.zeros(b * h * w, dtype=torch.bool)
        keep[flat[kept]] = True
        return _apply(depth, valid, keep.reshape(b, 1, h, w), c.near, c.far)


@dataclass(frozen=True)
class RandomConfig:
    """Uniformly random measured pixels with probability `density`, between near and far."""

    density: float = 0.05
    near: float = 0.0
    far: float = math.inf


class RandomPoints(Sensor):
    Config = RandomConfig

    @_batched
    def __call__(self, depth, valid, generator):
        keep = torch.rand(depth.shape, generator=generator) < self.cfg.density
        return _apply(depth, valid, keep, self.cfg.near, self.cfg.far)


@dataclass(frozen=True)
class KinectConfig:
    """A structured-light sensor: dense within range, holes at depth edges and dark surfaces.

    A pixel is lost where its 3x3 neighbourhood spans more than `edge` x its depth (grown by
    `edge_grow` pixels), where the image (if given) is darker than `dark` (with
    probability `dark_loss`), and at random with probability `dropout`.
    """

    near: float = 0.5
    far: float = 4.5
    edge: float = 0.05
    edge_grow: int = 1
    dark: float = 0.12
    dark_loss: float = 0.8
    dropout: float = 0.02


class Kinect(Sensor):
    Config = KinectConfig

    @_batched
    def __call__(self, depth, valid, generator, image: torch.Tensor | None = None):
        c = self.cfg
        big = torch.where(valid, depth, torch.full_like(depth, 1e6))
        hi = F.max_pool2d(torch.where(valid, depth, 0.0), 3, 1, 1)
        lo = -F.max_pool2d(-big, 3, 1, 1)
        edge = (hi - lo) > c.edge * depth
        if c.edge_grow:
            edge = F.max_pool2d(edge.float(), 2 * c.edge_grow + 1, 1, c.edge_grow) > 0
        keep = ~edge & (torch.rand(depth.shape, generator=generator) >= c.dropout)
        if image is not None:
            image = image if image.dim() == 4 else image[None]
            dark = image.mean(1, keepdim=True) < c.dark
            keep &= ~(dark & (torch.rand(depth.shape, generator=generator) < c.dark_loss))
        return _apply(depth, valid, keep, c.near, c.far)


class NoSensor:
    """The dense depth as it is."""

    @_batched
    def __call__(self, depth, valid, generator):
        return torch.where(valid, depth, torch.zeros_like(depth)), valid


SENSORS = {"lidar": (Lidar, LidarConfig), "random": (RandomPoints, RandomConfig),
           "kinect": (Kinect, KinectConfig), "none": (NoSensor, None)}


def make_sensor(name: str, **kwargs):
    """A sensor by name ('lidar', 'random', 'kinect', 'none'); kwargs set its config fields."""
    if name not in SENSORS:
        raise ValueError(f"unknown sensor {name!r}; choose one of {', '.join(SENSORS)}")
    cls, config = SENSORS[name]
    if config is None:
        if kwargs:
            raise ValueError(f"sensor 'none' takes no options, got {', '.join(kwargs)}")
        return cls()
    return cls(config(**kwargs))
