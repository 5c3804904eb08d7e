"""Aligning a relative depth map to metric depth: least-squares scale and shift (METHOD §8).

Used by the evaluation protocol (`evaluate`) and by depth completion (fitting the
model's estimate to the measurements); imports nothing of mofo.
"""
from __future__ import annotations

import numpy as np

ALIGNMENTS = ("affine", "disparity", "median")


def fit_scale_shift(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least squares (s, t) = argmin sum (s x + t - y)^2 over 1-D float64 arrays.

    A constant x has no scale to fit: s = 0 and t = mean(y).
    """
    xc = x - x.mean()
    var = float(xc @ xc)
    s = float(xc @ (y - y.mean())) / var if var > 0 else 0.0
    return s, float(y.mean() - s * x.mean())


def align(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, alignment: str, spec) -> np.ndarray:
    """Prediction (H, W) aligned to metric depth (H, W), fitted on `mask`; not yet clipped.

    spec: the benchmark's `EvalSpec` (its `max_depth` bounds the disparity alignment).
    """
    p, g = pred[mask], gt[mask]
    if alignment == "affine":
        s, t = fit_scale_shift(p, g)
        return s * pred + t
    if alignment == "disparity":
        s, t = fit_scale_shift(p, 1.0 / g)
        return 1.0 / np.maximum(s * pred + t, max(1.0 / spec.max_depth, 1e-8))
    if alignment == "median":
        if np.median(p) == 0:
            raise ValueError("median scaling is undefined: the prediction's median on valid pixels is 0")
        return pred * (np.median(g) / np.median(p))
    raise ValueError(f"unknown alignment {alignment!r}; known: {', '.join(ALIGNMENTS)}")
