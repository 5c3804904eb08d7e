# mofo/completion.py as of session 12 (before s14), kept so probe_fusion.py can score the old fusion.
"""Sparse depth at the input's resolution: interpolation of measured points and
fusion of a model's dense estimate with them (depth completion).

Maps are (H, W) float arrays in the measurements' units; `known` is the (H, W)
bool mask of measured pixels. The model runs on its own grid; the fusion here
works at full resolution, so no measurement is pooled away:

    guided = A + interpolate(sparse - A),   A = s * estimate + t  (least squares on the points)
    fused  = w * guided + (1 - w) * interpolate(sparse),  w fitted on held-out points

The affine fit takes the estimate to metric scale; the interpolated residual
corrects it between the points and makes it exact on them (a flat estimate gives
back plain interpolation: the residual interpolation reproduces constants). The
blend weight, fitted on measurements left out of both maps, decides how much the
estimate is trusted between the points: an estimate that does not predict the
left-out points better than their neighbours falls back to interpolation.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from mofo.align import fit_scale_shift
from mofo.completion import interpolate_points  # unchanged since session 12


def _guided_and_linear(estimate: np.ndarray, sparse: np.ndarray, known: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(guided, linear), each (H, W) float64, from one triangulation of the points.

    Interpolation is linear in the values, so the interpolated residual
    L(sparse - aligned) is L(sparse) - L(aligned): both maps come from interpolating
    the points and the aligned estimate together.
    """
    est = estimate.astype(np.float64)
    y = sparse[known].astype(np.float64)
    s, t = fit_scale_shift(est[known], y)
    if s <= 0:  # an estimate anti-correlated with the points carries no usable scale
        s, t = 0.0, float(y.mean())
    aligned = s * est + t
    both = interpolate_points(np.stack([np.where(known, sparse, 0.0), aligned], axis=-1), known, "linear")
    return aligned + both[..., 0] - both[..., 1], both[..., 0]


def guided(estimate: np.ndarray, sparse: np.ndarray, known: np.ndarray) -> np.ndarray:
    """A relative (H, W) estimate made metric by the points: affine fit, plus the
    linearly interpolated residual, so it is exact on the measured pixels. float64."""
    return _guided_and_linear(estimate, sparse, known)[0]


def blend_weight(estimate: np.ndarray, sparse: np.ndarray, known: np.ndarray, holdout: float, seed: int) -> float:
    """Weight w in [0, 1] of `guided` against plain linear interpolation, fitted on
    held-out measurements: both are rebuilt from the other points and w minimises the
    squared relative error of `w * guided + (1 - w) * linear` on the held-out ones."""
    points = np.argwhere(known)
    held = np.random.default_rng(seed).random(len(points)) < holdout
    fit_mask = known.copy()
    fit_mask[tuple(points[held].T)] = False
    rows, cols = points[held].T
    y = sparse[rows, cols].astype(np.float64)
    g, lin = (m[rows, cols] for m in _guided_and_linear(estimate, sparse, fit_mask))
    diff = (g - lin) / y
    denom = float(diff @ diff)
    return 1.0 if denom == 0 else float(np.clip(diff @ ((y - lin) / y) / denom, 0.0, 1.0))


def fuse(estimate: np.ndarray, sparse: np.ndarray, known: np.ndarray, holdout: float = 0.2,
         seed: int = 0, smooth: float | tuple[float, float] = 0.0) -> tuple[np.ndarray, float]:
    """Fuse a relative (H, W) estimate with measurements (module docstring).

    smooth: Gaussian sigma in pixels (one, or (rows, cols)) by which the estimate is blurred
    first, e.g. a fraction of a model's patch against the steps at patch edges; 0: as is.

    The model-guided map (`guided`) is blended with plain linear interpolation of the
    points by a weight fitted on a held-out share of them (`blend_weight`), so an
    estimate that does not help the points falls back to interpolating them. With
    fewer than 10 points everything goes to the guided map. Exact on the measured
    pixels; clipped below at half the smallest measurement.
    Returns (fused (H, W) float64, the weight of the guided map).
    """
    y = sparse[known].astype(np.float64)
    if np.any(np.asarray(smooth) > 0):
        estimate = ndimage.gaussian_filter(estimate.astype(np.float64), smooth, mode="nearest")
    w = 1.0 if len(y) * holdout < 2 or len(y) < 10 else blend_weight(estimate, sparse, known, holdout, seed)
    fused, linear = _guided_and_linear(estimate, sparse, known)
    fused = w * fused + (1 - w) * linear
    return np.maximum(np.where(known, sparse, fused), 0.5 * float(y.min())), w
