"""Modality <-> tokens (METHOD §3-4).

Images: a pixel-space codec (values in [-1, 1], `p x p x 3` patches) for small
models; a VAE codec (later) for large ones. Depth: unit-mean over valid pixels,
`contract` to [0, 2), `p x p` patches on the image token grid, with the
validity mask carried along. Token order is row-major over the grid.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from einops import rearrange
from torch import Tensor


def contract(d: Tensor) -> Tensor:
    """mip-NeRF 360 contraction: identity for d <= 1, `2 - 1/d` above; maps [0, inf) to [0, 2)."""
    return torch.where(d <= 1, d, 2 - 1 / d.clamp_min(1))


def uncontract(z: Tensor) -> Tensor:
    """Inverse of `contract`: identity for z <= 1, `1 / (2 - z)` for 1 < z < 2 (z >= 2 is clamped just below 2)."""
    return torch.where(z <= 1, z, 1 / (2 - z.clamp(1, 2 - 1e-4)))


def measured(depth: Tensor, valid: Tensor) -> Tensor:
    """Pixels that carry a usable measurement: flagged valid, finite and positive."""
    return valid.bool() & torch.isfinite(depth) & (depth > 0)


def patchify(x: Tensor, p: int) -> Tensor:
    """(B, C, H, W) -> (B, H/p * W/p, p*p*C), row-major tokens, values ordered (row, col, channel)."""
    return rearrange(x, "B C (h p) (w q) -> B (h w) (p q C)", p=p, q=p)


def unpatchify(tokens: Tensor, p: int, h: int, w: int) -> Tensor:
    """(B, h*w, p*p*C) -> (B, C, h*p, w*p); h, w are the token grid sizes."""
    return rearrange(tokens, "B (h w) (p q C) -> B C (h p) (w q)", h=h, w=w, p=p, q=p)


@dataclass(frozen=True)
class ImageCodec:
    """Pixel-space image codec. Images (B, 3, H, W) in [0, 1] <-> tokens (B, N, p*p*3) in [-1, 1]."""

    patch_size: int = 4

    @property
    def channels(self) -> int:
        return 3 * self.patch_size**2

    @property
    def downsample(self) -> int:
        """Pixels per token side."""
        return self.patch_size

    def encode(self, image: Tensor) -> Tensor:
        return patchify(image * 2 - 1, self.patch_size)

    def decode(self, tokens: Tensor, h: int, w: int) -> Tensor:
        """tokens (B, h*w, C) on an h x w grid -> images (B, 3, h*p, w*p) in [0, 1]."""
        return (unpatchify(tokens, self.patch_size, h, w).clamp(-1, 1) + 1) / 2


@dataclass(frozen=True)
class DepthCodec:
    """Depth normalisation and patchification (METHOD §4).

    `normalize`: d / mean(d over valid pixels), then `contract`; the output is
    in [0, 2) and 0 where invalid. The inverse gives depth relative to the
    unit mean (unknown global scale).
    """

    patch_size: int = 4

    def normalize(self, depth: Tensor, valid: Tensor) -> Tensor:
        """depth, valid: (B, 1, H, W) -> normalised depth (B, 1, H, W), 0 at invalid pixels.

        Samples without any valid pixel stay all 0.
        """
        valid = measured(depth, valid)
        d = torch.where(valid, depth, torch.zeros_like(depth))
        count = valid.sum(dim=(1, 2, 3), keepdim=True)
        mean = d.sum(dim=(1, 2, 3), keepdim=True) / count.clamp_min(1)
        unit = d / torch.where(count > 0, mean, torch.ones_like(mean))
        return torch.where(valid, contract(unit), torch.zeros_like(unit))

    def denormalize(self, z: Tensor) -> Tensor:
        """Normalised depth -> relative depth (unit mean), any shape."""
        return uncontract(z.clamp_min(0))

    def encode(self, depth: Tensor, valid: Tensor) -> tuple[Tensor, Tensor]:
        """depth, valid (B, 1, H, W) -> (tokens (B, N, p*p), valid tokens (B, N, p*p) bool)."""
        z = self.normalize(depth, valid)
        return patchify(z, self.patch_size), patchify(measured(depth, valid), self.patch_size)

    def decode(self, tokens: Tensor, h: int, w: int) -> Tensor:
        """tokens (B, h*w, p*p) -> relative depth (B, 1, h*p, w*p)."""
        return self.denormalize(unpatchify(tokens, self.patch_size, h, w))


def make_image_codec(cfg, path=None):
    """The image codec a model config names: pixel patches, or a VAE loaded from a local folder."""
    if cfg.image_codec == "pixel":
        return ImageCodec(cfg.patch_size)
    raise ValueError(f"image codec {cfg.image_codec!r} needs a VAE folder (see docs/pretrained.md)")
