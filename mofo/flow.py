"""The Modality Forcing objective (METHOD §6): per-sample noise levels, losses.

Rectified flow: `x_t = (1 - t) x0 + t eps`, t = 1 is noise, t = 0 clean; the
image head predicts the velocity `eps - x0`, the depth head the clean depth x0.
Each sample draws a regime: joint (both noisy), image->depth (image clean) or
depth->image (depth clean); a modality held clean gets no loss.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .codecs import patchify, unpatchify

JOINT, I2D, D2I = 0, 1, 2
REGIMES = ("joint", "i2d", "d2i")


@dataclass(frozen=True)
class FlowConfig:
    p_joint: float = 0.6
    p_i2d: float = 0.2
    p_d2i: float = 0.2
    # the logit-normal shift of the noise levels, t = sigmoid(mu + n), is the model's
    # `ModelConfig.shift_mu` (the sampler warps its grid by the same number)
    depth_weight: float = 1.0
    distill_hi: float = 1.0  # self-distillation weight at t_depth = 1 ...
    distill_lo: float = 0.1  # ... and at t_depth = 0 (linear in between)
    caption_dropout: float = 0.1
    t_uniform: float = 0.0  # share of noise levels drawn uniformly from (0, 1) instead (covers the low-noise end)
    sparse_fill: str = "noise"  # missing depth pixels in the noisy input: "noise" | "mean" | "nearest"
    # "mse": squared error of the contracted depth; "relative": each pixel weighted by
    # `relative_weight`, the squared error of log depth to first order (what AbsRel measures)
    depth_loss: str = "mse"
    # the regression baseline: every sample with depth is i2d at t_depth = 1 (the depth input is
    # pure noise), so the depth head regresses E[depth | image] in one forward pass (1-step i2d)
    regression: bool = False
    # share of i2d samples drawn at t_depth = 1 exactly, the regime of the 1-step depth estimate
    # (between the recipe, 0, and `regression`, which puts every depth sample there)
    i2d_t1: float = 0.0

    def __post_init__(self):
        probs = (self.p_joint, self.p_i2d, self.p_d2i)
        if min(probs) < 0 or abs(sum(probs) - 1) > 1e-6:
            raise ValueError(f"regime probabilities must be >= 0 and sum to 1, got {probs}")
        for name in ("t_uniform", "i2d_t1"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.sparse_fill not in ("noise", "mean", "nearest"):
            raise ValueError(f"unknown sparse_fill {self.sparse_fill!r}; use noise, mean or nearest")
        if self.depth_loss not in ("mse", "relative"):
            raise ValueError(f"unknown depth_loss {self.depth_loss!r}; use mse or relative")


@dataclass
class Draws:
    """Random draws for one rank's shard of a global batch.

    Every rank draws for the whole global batch and keeps its own slice, so a
    run's noise does not depend on how many processes share the batch.
    """

    generator: torch.Generator
    rank: int = 0
    world: int = 1

    def _slice(self, x: Tensor) -> Tensor:
        n = x.shape[0] // self.world
        return x[self.rank * n : (self.rank + 1) * n]

    def randn(self, shape, device=None) -> Tensor:
        shape = (shape[0] * self.world, *shape[1:])
        return self._slice(torch.randn(shape, generator=self.generator, device=device))

    def rand(self, n: int, device=None) -> Tensor:
        return self._slice(torch.rand(n * self.world, generator=self.generator, device=device))


def as_draws(rng: Draws | torch.Generator) -> Draws:
    return rng if isinstance(rng, Draws) else Draws(rng)


def logit_normal(n: int, mu: float, rng: Draws, device=None) -> Tensor:
    """(n,) noise levels `sigmoid(mu + N(0, 1))` in (0, 1)."""
    return torch.sigmoid(mu + rng.randn((n,), device))


def noise_levels(n: int, mu: float, uniform: float, rng: Draws, device=None) -> Tensor:
    """(n,) noise levels: logit-normal, each replaced with probability `uniform` by a U(0, 1) draw.

    The logit-normal with mu = 1.1 puts ~2.5 % of its mass below t = 0.3, the levels a
    sampler's last steps visit; the uniform share trains them. uniform = 0 draws no
    extra numbers (runs without it are unchanged).
    """
    t = logit_normal(n, mu, rng, device)
    if uniform > 0:
        t = torch.where(rng.rand(n, device) < uniform, rng.rand(n, device).clamp_min(1e-4), t)
    return t


def forcing_times(has_depth: Tensor, cfg: FlowConfig, rng: Draws | torch.Generator, mu: float
                  ) -> tuple[Tensor, Tensor, Tensor]:
    """Draw (t_img, t_depth, regime), each (B,), for a batch; noise levels `sigmoid(mu + N(0, 1))`.

    Samples without depth train the image alone: t_depth = 1 and regime -1. A share `cfg.i2d_t1`
    of the i2d samples has t_depth = 1; with `cfg.regression` every sample with depth is i2d at
    t_depth = 1 (the same draws are made).
    """
    rng, n, device = as_draws(rng), has_depth.shape[0], has_depth.device
    edges = torch.tensor([cfg.p_joint, cfg.p_joint + cfg.p_i2d], device=device)
    regime = torch.bucketize(rng.rand(n, device), edges, right=True)
    t_img = noise_levels(n, mu, cfg.t_uniform, rng, device)
    t_depth = noise_levels(n, mu, cfg.t_uniform, rng, device)
    t_img = torch.where((regime == I2D) & has_depth, torch.zeros_like(t_img), t_img)
    t_depth = torch.where(regime == D2I, torch.zeros_like(t_depth), t_depth)
    if cfg.i2d_t1 > 0:  # drawn only when asked for, so that other recipes keep their draws
        t_depth = torch.where((regime == I2D) & (rng.rand(n, device) < cfg.i2d_t1), torch.ones_like(t_depth), t_depth)
    if cfg.regression:  # image clean, depth pure noise: the one forward pass of a regressor
        regime = torch.full_like(regime, I2D)
        t_img = torch.where(has_depth, torch.zeros_like(t_img), t_img)
        t_depth = torch.ones_like(t_depth)
    t_depth = torch.where(has_depth, t_depth, torch.ones_like(t_depth))
    regime = torch.where(has_depth, regime, torch.full_like(regime, -1))
    return t_img, t_depth, regime


RELATIVE_MAX_WEIGHT = 25.0  # caps `relative_weight` at unit-mean depth 0.2 and 5


def relative_weight(z: Tensor) -> Tensor:
    """Per-pixel loss weight (d log u / dz)^2 for contracted depth z, u = uncontract(z) the
    unit-mean depth: 1 / z^2 for z <= 1, 1 / (2 - z)^2 above, capped at RELATIVE_MAX_WEIGHT.

    Weighted, the squared error of z is the squared error of log u to first order, so near and
    far pixels count by their relative error, as AbsRel counts them; unweighted, the
    contraction counts an error at depth u by u (below the mean) or 1 / u (above it)."""
    return torch.minimum(z, 2 - z).pow(-2).clamp_max(RELATIVE_MAX_WEIGHT)


def interpolate(x0: Tensor, eps: Tensor, t: Tensor) -> Tensor:
    """x_t = (1 - t) x0 + t eps; t: (B,) broadcast over the token dims of x0 (B, N, C)."""
    t = t.view(-1, *([1] * (x0.dim() - 1)))
    return (1 - t) * x0 + t * eps


def nearest_fill(z: Tensor, valid: Tensor, grid: tuple[int, int], patch: int) -> Tensor:
    """Fill missing depth from measured neighbours by repeated 3x3 propagation.

    Each pass gives every unknown pixel next to known ones the mean of those
    neighbours (chessboard-nearest, ties averaged). z, valid: (B, N, p*p) tokens.
    """
    h, w = grid
    x = unpatchify(z * valid, patch, h, w)
    known = unpatchify(valid.to(z.dtype), patch, h, w)
    kernel = torch.ones(1, 1, 3, 3, dtype=z.dtype, device=z.device)
    for _ in range(max(x.shape[-2:])):
        total = F.conv2d(x, kernel, padding=1)
        count = F.conv2d(known, kernel, padding=1)
        new = (known == 0) & (count > 0)
        x = torch.where(new, total / count.clamp_min(1), x)
        known = torch.where(new, torch.ones_like(known), known)
    return patchify(x, patch)


def noisy_depth(
    z: Tensor, valid: Tensor, eps: Tensor, t: Tensor, fill: str, grid: tuple[int, int], patch: int
) -> Tensor:
    """Noisy depth state from (possibly sparse) normalised depth tokens (METHOD §6).

    "noise": missing pixels are treated as t = 1 (pure noise); "mean": filled
    with the sample's valid mean; "nearest": filled from measured neighbours.
    z, valid, eps: (B, M, p*p); t: (B,).
    """
    if fill == "mean":
        mean = (z * valid).sum((1, 2), keepdim=True) / valid.sum((1, 2), keepdim=True).clamp_min(1)
        z = torch.where(valid, z, mean)
    elif fill == "nearest":
        z = torch.where(valid, z, nearest_fill(z, valid, grid, patch))
    x = interpolate(z, eps, t)
    return torch.where(valid, x, eps) if fill == "noise" else x


def depth_input(x: Tensor, valid: Tensor | None, with_mask: bool) -> Tensor:
    """Depth tokens as the model reads them: values, plus the validity mask when configured."""
    if not with_mask:
        return x
    mask = torch.ones_like(x) if valid is None else valid.to(x.dtype)
    return torch.cat([x, mask], dim=-1)


def drop_captions(captions: list[str], p: float, rng: Draws | torch.Generator) -> list[str]:
    """Replace each caption by "" with probability p (the CFG unconditional input)."""
    keep = as_draws(rng).rand(len(captions)) >= p
    return [c if k else "" for c, k in zip(captions, keep.tolist())]


def distillation(teacher, v: Tensor, x_img: Tensor, txt: Tensor, img_ids: Tensor, txt_ids: Tensor, t_img: Tensor,
                 t_depth: Tensor, cfg: FlowConfig) -> Tensor:
    """Self-distillation term (METHOD §6): mean over the batch of `w(t_depth) |v - v_teacher|^2`,
    w = distill_hi t_depth + distill_lo (1 - t_depth), on the samples whose image is noisy.

    The frozen T2I teacher runs on those samples only: a clean image (i2d, most of a
    post-training batch) has weight 0. Without any, it still runs once, on the first sample at
    weight 0, so that every rank calls a sharded (FSDP) teacher equally often.
    v, x_img: (B, N, C); txt: (B, L, D); t_img, t_depth: (B,).
    """
    noisy = t_img > 0
    rows = noisy.nonzero().squeeze(1)
    if rows.numel() == 0:
        rows = rows.new_zeros(1)
    with torch.no_grad():
        v_teacher, _ = teacher(x_img[rows], img_ids, txt[rows], txt_ids, t_img[rows])
    weight = (cfg.distill_hi * t_depth[rows] + cfg.distill_lo * (1 - t_depth[rows])) * noisy[rows]
    return ((v[rows].float() - v_teacher.float()).pow(2).mean((1, 2)) * weight).sum() / v.shape[0]


def training_losses(
    model,
    batch: dict,
    cfg: FlowConfig,
    rng: Draws | torch.Generator,
    teacher=None,
    model_cfg=None,
) -> dict[str, Tensor]:
    """Losses of one batch of tokens.

    batch: `img` (B, N, C_img) clean image tokens, `txt` (B, L, D) text states,
    `ids` (txt_ids, img_ids, depth_ids), `grid` (h, w); for a depth model also
    `depth` (B, N, p*p) normalised depth tokens and `valid` (B, N, p*p) bool.
    rng: a generator, or `Draws` for one rank's shard of a global batch.
    teacher: a frozen T2I model for self-distillation (or None).
    model_cfg: the model's `ModelConfig` (default `model.cfg`; pass it for a wrapped model, e.g. DDP).
    Returns `loss` (scalar, to minimise) and detached per-part / per-regime means.
    """
    img, txt = batch["img"], batch["txt"]
    txt_ids, img_ids, depth_ids = batch["ids"]
    rng, device, n = as_draws(rng), img.device, img.shape[0]
    model_cfg = model.cfg if model_cfg is None else model_cfg
    eps_img = rng.randn(img.shape, device)
    if not model_cfg.with_depth:
        t_img = noise_levels(n, model_cfg.shift_mu, cfg.t_uniform, rng, device)
        v, _ = model(interpolate(img, eps_img, t_img), img_ids, txt, txt_ids, t_img)
        loss = (v.float() - (eps_img - img)).pow(2).mean()
        return {"loss": loss, "loss_img": loss.detach()}

    z, valid = batch["depth"], batch["valid"]
    has_depth = valid.flatten(1).any(dim=1)
    t_img, t_depth, regime = forcing_times(has_depth, cfg, rng, model_cfg.shift_mu)
    eps_depth = rng.randn(z.shape, device)
    x_img = interpolate(img, eps_img, t_img)
    x_depth = noisy_depth(z, valid, eps_depth, t_depth, cfg.sparse_fill, batch["grid"], model_cfg.patch_size)
    x_depth = depth_input(x_depth, valid, model_cfg.depth_mask_input)
    v, x0 = model(x_img, img_ids, txt, txt_ids, t_img, x_depth, depth_ids, t_depth)

    img_on = (t_img > 0).float()
    depth_on = ((t_depth > 0) & has_depth).float()
    per_img = (v.float() - (eps_img - img)).pow(2).mean((1, 2)) * img_on
    weight = valid * relative_weight(z) if cfg.depth_loss == "relative" else valid.float()
    per_depth = ((x0.float() - z).pow(2) * weight).sum((1, 2)) / weight.sum((1, 2)).clamp_min(1e-12) * depth_on
    loss = per_img.mean() + cfg.depth_weight * per_depth.mean()
    out = {"loss_img": per_img.mean().detach(), "loss_depth": per_depth.mean().detach()}
    if teacher is not None:
        loss_distill = distillation(teacher, v, x_img, txt, img_ids, txt_ids, t_img, t_depth, cfg)
        loss = loss + loss_distill
        out["loss_distill"] = loss_distill.detach()
    for r, name in enumerate(REGIMES):
        sel = (regime == r).float()
        out[f"loss_{name}"] = ((per_img + per_depth) * sel).sum().detach() / sel.sum().clamp_min(1)
    out["loss"] = loss
    return out
