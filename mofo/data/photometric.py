"""Photometric jitter of RGB batches: rendered images made to look less alike (sim-to-real).

The world's room and street scenes carry mild camera effects of their own (exposure, noise and a
4-neighbour blur drawn per scene: `scenes.sensor_effects`, applied by the renderer); open scenes
carry none, and no scene varies contrast, saturation, white balance or tone curve, as real cameras
do. This jitter is applied at training time to any data source, wider. `jitter` draws, per image, an exposure gain,
a contrast and a saturation factor, per-channel white-balance gains, a gamma, a Gaussian blur
and sensor noise (`draw_jitter`), and `apply_jitter` applies them in that order. Depth is never
touched: the geometry of a jittered image is the geometry of the render.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

# Ranges per image (uniform); log-uniform around 1 for the multiplicative factors.
LOG_GAIN, LOG_CONTRAST, LOG_WHITE, LOG_GAMMA = 0.4, 0.4, 0.1, 0.35
SATURATION = (0.4, 1.4)
MAX_BLUR = 1.2  # Gaussian sigma in pixels
MAX_NOISE = 0.03  # standard deviation, in units of the [0, 1] range
LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 weights


def draw_jitter(n: int, gen: torch.Generator, log_white: float = LOG_WHITE) -> dict[str, Tensor]:
    """Parameters for n images: gain, contrast, saturation, gamma, blur (n,); white (n, 3); noise (n,).

    `log_white`: the white-balance gains are exp(U(-log_white, log_white)) per channel."""
    u = lambda lo, hi, *shape: lo + (hi - lo) * torch.rand(n, *shape, generator=gen)  # noqa: E731
    return {"gain": u(-LOG_GAIN, LOG_GAIN).exp(), "contrast": u(-LOG_CONTRAST, LOG_CONTRAST).exp(),
            "saturation": u(*SATURATION), "white": u(-log_white, log_white, 3).exp(),
            "gamma": u(-LOG_GAMMA, LOG_GAMMA).exp(), "blur": u(0, MAX_BLUR), "noise": u(0, MAX_NOISE)}


def gaussian_blur(images: Tensor, sigma: Tensor) -> Tensor:
    """images (B, C, H, W), sigma (B,) in pixels (0: unchanged) -> blurred per image, separable,
    kernel radius ceil(3 * max sigma), mirrored borders (d c b | a b c d)."""
    b, c, h, w = images.shape
    radius = min(math.ceil(3 * float(sigma.max())), h - 1, w - 1)
    if radius < 1:
        return images
    x = torch.arange(-radius, radius + 1, dtype=images.dtype)
    kernel = torch.exp(-0.5 * (x / sigma.clamp_min(1e-6)[:, None].to(images.dtype)) ** 2)
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(c, 0)  # (B*C, K)
    out = F.pad(images.reshape(1, b * c, h, w), (radius,) * 4, mode="reflect")
    out = F.conv2d(out, kernel[:, None, None, :], groups=b * c)
    out = F.conv2d(out, kernel[:, None, :, None], groups=b * c)
    return out.reshape(b, c, h, w)


def apply_jitter(images: Tensor, p: dict[str, Tensor], gen: torch.Generator | None = None) -> Tensor:
    """images (B, 3, H, W) in [0, 1] and `draw_jitter` parameters -> jittered images in [0, 1].

    x * gain; contrast about each image's mean luma; saturation about each pixel's luma; x * white;
    x ** gamma; blur; + noise (drawn from `gen`, skipped without one)."""
    col = lambda v: v.to(images.dtype).view(-1, 1, 1, 1)  # noqa: E731
    luma = lambda x: torch.einsum("bchw,c->bhw", x, x.new_tensor(LUMA))[:, None]  # noqa: E731
    x = images * col(p["gain"])
    mean = luma(x).mean((2, 3), keepdim=True)
    x = mean + (x - mean) * col(p["contrast"])
    grey = luma(x)
    x = grey + (x - grey) * col(p["saturation"])
    x = (x * p["white"].to(images.dtype)[:, :, None, None]).clamp(0, 1) ** col(p["gamma"])
    x = gaussian_blur(x, p["blur"])
    if gen is not None:
        x = x + col(p["noise"]) * torch.randn(x.shape, generator=gen, dtype=x.dtype)
    return x.clamp(0, 1)


def jitter(images: Tensor, seed: int, log_white: float = LOG_WHITE) -> Tensor:
    """images (B, 3, H, W) in [0, 1] -> each with its own random photometric change (fixed by seed)."""
    gen = torch.Generator().manual_seed(seed % 2**63)
    return apply_jitter(images, draw_jitter(images.shape[0], gen, log_white), gen)
