"""Schedules and the Euler sampler for every mode (METHOD §7).

Modes: `joint` (image and depth from noise), `i2d` (image held clean, t = 0),
`d2i` (depth held clean). A modality held clean is never touched. The depth
head predicts x0; it becomes a velocity `(x_t - x0) / max(t, 0.05)`.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from .flow import depth_input
from .model import position_ids, x0_to_velocity

MODES = ("joint", "i2d", "d2i")


def shift_times(t: Tensor, mu: float) -> Tensor:
    """Warp a grid towards noise: `t' = e^mu / (e^mu + (1/t - 1))`, written finite at t = 0."""
    a = math.exp(mu)
    return a * t / (a * t + (1 - t))


def tilt(t: Tensor, log2_alpha: float) -> Tensor:
    """Joint tilt `f(t) = a t / (1 + (a - 1) t)`, `a = 2^log2_alpha`; a > 1 keeps depth noisier."""
    a = 2.0**log2_alpha
    return a * t / (1 + (a - 1) * t)


def timesteps(num_steps: int, mode: str, mu: float, log2_alpha: float | None = None) -> tuple[Tensor, Tensor]:
    """(t_img, t_depth), each (num_steps + 1,) float64, from 1 (noise) to 0 (clean).

    `num_steps + 1` linear points warped by `shift_times`; the clean modality
    of `i2d` / `d2i` stays at 0; in `joint` mode `log2_alpha` tilts depth.
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    t = shift_times(torch.linspace(1, 0, num_steps + 1, dtype=torch.float64), mu)
    zero = torch.zeros_like(t)
    if mode == "i2d":
        return zero, t
    if mode == "d2i":
        return t, zero
    return t, (t if log2_alpha is None else tilt(t, log2_alpha))


@torch.no_grad()
def sample(model, mode: str, txt: Tensor, txt_uncond: Tensor, grid: tuple[int, int], *,
           image: Tensor | None = None, depth: Tensor | None = None, known: tuple[Tensor, Tensor] | None = None,
           steps: int, cfg_scale: float = 1.0, depth_cfg_scale: float | None = None, mu: float | None = None,
           log2_alpha: float | None = None, refine: bool = False, generator: torch.Generator | None = None,
           callback=None) -> tuple[Tensor, Tensor]:
    """Euler sampling of image and depth tokens in `steps` steps (no default here: a mode's default
    lives in `SamplingConfig`, which `Pipeline` reads).

    txt: (B, L, D) conditional text states; txt_uncond: (1, L, D), the encoding of "".
    grid: (h, w) token grid. image: (B, N, C_img) clean tokens for `i2d`;
    depth: (B, N, p*p) clean normalised tokens for `d2i`. known: optional
    (values, mask), each (B, N, p*p), imposed on the depth state at every step
    (depth completion: the known part is replaced by its noised measurement); the
    returned depth is the model's own final estimate everywhere, known part included
    (`Pipeline.complete` fits it to the measurements).
    refine (joint only): re-estimate depth by an i2d pass on the generated image.
    callback: called as `callback(i, t_img, t_depth, v_img, x0_depth)` after each model
    evaluation (inspecting the trajectory; the model's clean-depth estimate at step i; v_img is None in i2d).
    mu: the grid's shift (`shift_times`); default the model's `cfg.shift_mu`, the shift it was trained with.
    cfg_scale guides the image stream; depth_cfg_scale the depth stream (None: cfg_scale; 1: the
    conditional estimate, what `Pipeline.generate` uses: guided depth disagrees with its own image).
    Returns (image tokens, depth tokens); the clean input is returned as given.
    A model without a depth stream samples images only (`joint`); its depth stays noise.
    """
    mu = model.cfg.shift_mu if mu is None else mu
    t_img, t_depth = (t.to(txt.device, torch.float32) for t in timesteps(steps, mode, mu, log2_alpha))
    x_img, x_depth = initial_state(model.cfg, mode, txt.shape[0], grid, image, depth, generator, txt.device)
    x_img, x_depth = denoise(model, mode, x_img, x_depth, t_img, t_depth, txt, txt_uncond, grid,
                             known=known, cfg_scale=cfg_scale, depth_cfg_scale=depth_cfg_scale, callback=callback)
    if refine and mode == "joint":
        _, x_depth = sample(model, "i2d", txt, txt_uncond, grid, image=x_img, steps=steps, mu=mu, generator=generator)
    return x_img, x_depth


def initial_state(cfg, mode: str, b: int, grid: tuple[int, int], image: Tensor | None, depth: Tensor | None,
                  generator: torch.Generator | None, device) -> tuple[Tensor, Tensor]:
    """(image, depth) tokens at the start: the clean input of `i2d` / `d2i` as given, noise for the
    rest (drawn image first, then depth, from `generator`)."""
    if (mode == "i2d" and image is None) or (mode == "d2i" and depth is None):
        raise ValueError(f"mode {mode} needs its clean input")
    n = grid[0] * grid[1]
    x_img = image if mode == "i2d" else torch.randn(b, n, cfg.image_channels, generator=generator, device=device)
    x_depth = depth if mode == "d2i" else torch.randn(b, n, cfg.depth_out_channels, generator=generator, device=device)
    return x_img, x_depth


def denoise(model, mode: str, x_img: Tensor, x_depth: Tensor, t_img: Tensor, t_depth: Tensor, txt: Tensor,
            txt_uncond: Tensor, grid: tuple[int, int], *, known: tuple[Tensor, Tensor] | None = None,
            cfg_scale: float = 1.0, depth_cfg_scale: float | None = None, callback=None) -> tuple[Tensor, Tensor]:
    """The Euler loop over the grids `t_img`, `t_depth` (S + 1,), from the states x_img, x_depth
    (`sample` documents `known` and `callback`). Returns the states at the last grid point."""
    b = txt.shape[0]
    eps_known = x_depth.clone() if known is not None else None  # the known part's noise: the initial draw
    scales = (cfg_scale, cfg_scale if depth_cfg_scale is None else depth_cfg_scale)
    txt_in = torch.cat([txt, txt_uncond.expand(b, -1, -1)]) if scales != (1.0, 1.0) else txt
    ids = position_ids(*grid, txt.shape[1], txt.device)
    for i in range(len(t_img) - 1):
        if known is not None:
            values, mask = known
            x_depth = torch.where(mask, (1 - t_depth[i]) * values + t_depth[i] * eps_known, x_depth)
        v, x0 = predict(model, x_img, x_depth, t_img[i].expand(b), t_depth[i].expand(b), txt_in, ids, *scales,
                        image_head=mode != "i2d")
        if callback is not None:
            callback(i, float(t_img[i]), float(t_depth[i]), v, x0)
        x_img, x_depth = euler_step(mode, x_img, x_depth, v, x0, t_img[i:i + 2], t_depth[i:i + 2])
    return x_img, x_depth


def euler_step(mode: str, x_img: Tensor, x_depth: Tensor, v: Tensor, x0: Tensor | None, t_img: Tensor,
               t_depth: Tensor) -> tuple[Tensor, Tensor]:
    """One Euler step from t[0] to t[1] of each stream not held clean; depth moves along the velocity
    implied by its x0 estimate (none without a depth stream: depth stays as it is)."""
    if mode != "i2d":
        x_img = x_img + (t_img[1] - t_img[0]) * v.float()
    if mode != "d2i" and x0 is not None:
        v_depth = x0_to_velocity(x_depth, x0.float(), t_depth[0].expand(x_depth.shape[0]))
        x_depth = x_depth + (t_depth[1] - t_depth[0]) * v_depth
    return x_img, x_depth


def predict(model, x_img, x_depth, t_img, t_depth, txt, ids, cfg_scale: float = 1.0,
            depth_cfg_scale: float | None = None, image_head: bool = True) -> tuple[Tensor | None, Tensor | None]:
    """One (classifier-free guided) model evaluation: (v_img or None, x0_depth or None).

    image_head=False skips the image velocity (None; i2d holds the image clean).
    With guidance, `txt` holds the conditional then the unconditional states
    (2B, L, D) and each stream's prediction is `uncond + s (cond - uncond)`, s = cfg_scale for
    the image, depth_cfg_scale (None: cfg_scale) for depth.
    """
    txt_ids, img_ids, depth_ids = ids
    depth_cfg_scale = cfg_scale if depth_cfg_scale is None else depth_cfg_scale
    guided = (cfg_scale, depth_cfg_scale) != (1.0, 1.0)
    twice = (lambda x: torch.cat([x, x])) if guided else (lambda x: x)
    depth_args = ()
    if model.with_depth:
        depth_args = (twice(depth_input(x_depth, None, model.cfg.depth_mask_input)), depth_ids, twice(t_depth))
    v, x0 = model(twice(x_img), img_ids, txt, txt_ids, twice(t_img), *depth_args, image_head=image_head)
    if guided:
        v, x0 = (None if p is None else guide(p, s) for p, s in ((v, cfg_scale), (x0, depth_cfg_scale)))
    return v, x0


def guide(pred: Tensor, scale: float) -> Tensor:
    """Classifier-free guidance of a (2B, ...) prediction, conditional half first: `u + s (c - u)`
    (s = 1: the conditional half exactly)."""
    cond, uncond = pred.chunk(2)
    return cond if scale == 1.0 else uncond + scale * (cond - uncond)
