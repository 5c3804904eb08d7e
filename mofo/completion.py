"""Sparse depth at the input's resolution: interpolation of measured points and
fusion of a model's dense estimate and the image with them (depth completion).

Maps are (H, W) float arrays in the measurements' units; `known` is the (H, W)
bool mask of measured pixels. The model runs on its own grid; the fusion here
works at full resolution, so no measurement is pooled away. It works on inverse
depth q = 1 / depth, which is linear in the pixel coordinates on any plane seen
in perspective (so interpolating q, not depth, is exact on planar surfaces):

    L      = interpolate(q)                                    linear, on the Delaunay triangulation
    guided = A + interpolate(q - A),  A = s / estimate + t     least squares on the points
    edge   = edge_aware(q, image)                              normalized convolution that stops at image edges
    fused  = 1 / (L + a (guided - L) + b (edge - L))           a, b, and the edge filter's sigmas fitted on held-out points

The affine fit takes the estimate to metric scale; the interpolated residual
corrects it between the points and makes it exact on them (a flat estimate gives
back plain interpolation). The weights, fitted on measurements left out of every
map, decide how much the estimate and the image are trusted between the points:
where neither predicts the left-out points better than their neighbours, the
fusion falls back to interpolation.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.interpolate import LinearNDInterpolator

from .align import fit_scale_shift

INTERPOLATIONS = ("nearest", "linear")
EDGE_SIGMAS = tuple((s, r) for s in (4.0, 8.0, 16.0, 32.0) for r in (0.1, 0.2, 0.4))  # (pixels, colour): octaves, tried on held-out points
WEIGHTS = np.linspace(0, 1, 11)  # grid of the blend weights a, b (a + b <= 1)


def nearest_points(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Every pixel takes the value of its nearest measured pixel (Euclidean)."""
    _, (rows, cols) = ndimage.distance_transform_edt(~known, return_indices=True)
    return values[rows, cols]


def interpolate_points(values: np.ndarray, known: np.ndarray, method: str = "linear") -> np.ndarray:
    """Dense float64 map from the measured pixels of `values` (H, W), or of several
    maps at once (H, W, K) over one triangulation.

    "nearest": the nearest measurement; "linear": barycentric interpolation on the
    Delaunay triangulation of the measured pixels, nearest outside their convex hull.
    Measured pixels keep their values.
    """
    if method not in INTERPOLATIONS:
        raise ValueError(f"unknown interpolation {method!r}; use one of {', '.join(INTERPOLATIONS)}")
    if not known.any():
        raise ValueError("no measured pixels to interpolate")
    values = values.astype(np.float64)
    nearest = nearest_points(values, known)
    points = np.argwhere(known)
    if method == "nearest" or len(points) < 3 or np.linalg.matrix_rank(points - points[0]) < 2:
        return nearest
    h, w = known.shape
    grid = np.stack(np.meshgrid(np.arange(h), np.arange(w), indexing="ij"), axis=-1).reshape(-1, 2)
    linear = LinearNDInterpolator(points, values[known])(grid).reshape(h, w, *values.shape[2:])
    return np.where(np.isnan(linear), nearest, linear)


def inverse_points(sparse: np.ndarray, known: np.ndarray) -> np.ndarray:
    """1 / depth on the measured pixels, 0 elsewhere: float64 (H, W)."""
    return np.where(known, 1 / np.where(known, sparse, 1).astype(np.float64), 0.0)


def _recursive_filter(f: np.ndarray, step: np.ndarray, sigma: float) -> np.ndarray:
    """One causal and one anti-causal pass along axis 1 of f (H, W, C); step (H, W - 1) is the
    domain-transform distance between neighbours (Gastal & Oliveira 2011, eq. 21)."""
    v = np.exp(-np.sqrt(2) / sigma) ** step
    f = f.copy()
    for j in range(1, f.shape[1]):
        f[:, j] += v[:, j - 1, None] * (f[:, j - 1] - f[:, j])
    for j in range(f.shape[1] - 2, -1, -1):
        f[:, j] += v[:, j, None] * (f[:, j + 1] - f[:, j])
    return f


def edge_aware(values: np.ndarray, known: np.ndarray, image: np.ndarray, sigma_s: float, sigma_r: float,
               iterations: int = 3) -> np.ndarray:
    """Normalized convolution (Knutsson & Westin 1993) of the measured pixels of `values` (H, W) with the
    domain-transform recursive filter guided by `image` (H, W, 3) uint8 (Gastal & Oliveira 2011, sec. 4-5):
    a local average of the points that does not reach across the image's edges.

    sigma_s: spatial sigma in pixels; sigma_r: colour sigma (image in [0, 1], L1 over channels).
    Returns float64 (H, W), NaN where no point reaches.
    """
    img = image.astype(np.float64) / 255
    step_x = 1 + sigma_s / sigma_r * np.abs(np.diff(img, axis=1)).sum(-1)
    step_y = 1 + sigma_s / sigma_r * np.abs(np.diff(img, axis=0)).sum(-1)
    f = np.stack([np.where(known, values, 0.0), known.astype(np.float64)], axis=-1)
    for i in range(iterations):  # eq. 14: sigmas halving so the passes add up to sigma_s
        sigma = sigma_s * np.sqrt(3) * 2 ** (iterations - i - 1) / np.sqrt(4**iterations - 1)
        f = _recursive_filter(f, step_x, sigma)
        f = _recursive_filter(f.transpose(1, 0, 2), step_y.T, sigma).transpose(1, 0, 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(f[..., 1] > 1e-6, f[..., 0] / f[..., 1], np.nan)


def _linear_guided(x: np.ndarray, q: np.ndarray, known: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(linear, guided) inverse-depth maps (H, W) float64 from the points `q` on `known`.

    x: the estimate as inverse depth. Interpolation is linear in the values, so the
    interpolated residual L(q - A) is L(q) - L(A): one triangulation gives both.
    """
    y = q[known]
    s, t = fit_scale_shift(x[known], y)
    if s <= 0:  # an estimate anti-correlated with the points carries no usable scale
        s, t = 0.0, float(y.mean())
    aligned = s * x + t
    both = interpolate_points(np.stack([np.where(known, q, 0.0), aligned], axis=-1), known, "linear")
    return both[..., 0], aligned + both[..., 0] - both[..., 1]


def _edge(q: np.ndarray, known: np.ndarray, image: np.ndarray, sigma: tuple[float, float],
          linear: np.ndarray) -> np.ndarray:
    """`edge_aware` of the points, `linear` where no point reaches."""
    edge = edge_aware(q, known, image, *sigma)
    return np.where(np.isnan(edge), linear, edge)


def blend_weights(x: np.ndarray, q: np.ndarray, known: np.ndarray, image: np.ndarray | None, holdout: float,
                  seed: int) -> tuple[float, float, tuple[float, float]]:
    """(a, b, edge sigmas) of `fuse`, fitted on held-out measurements: every map is rebuilt from the
    other points, and the weights (grid `WEIGHTS`, a + b <= 1) and sigmas (`EDGE_SIGMAS`) minimise the
    mean relative error |p - q| / q of the held-out points (the AbsRel of depth, to first order)."""
    points = np.argwhere(known)
    held = np.random.default_rng(seed).random(len(points)) < holdout
    fit_mask = known.copy()
    fit_mask[tuple(points[held].T)] = False
    rows, cols = points[held].T
    y = q[rows, cols]
    pairs = np.array([(a, b) for a in WEIGHTS for b in (WEIGHTS if image is not None else [0.0]) if a + b <= 1 + 1e-9])
    best = (np.inf, 1.0, 0.0, EDGE_SIGMAS[0])
    linear, guided = _linear_guided(x, q, fit_mask)
    lin, g = linear[rows, cols], guided[rows, cols]
    for sigma in EDGE_SIGMAS if image is not None else EDGE_SIGMAS[:1]:
        e = lin if image is None else _edge(q, fit_mask, image, sigma, linear)[rows, cols]
        err = (np.abs(lin + pairs[:, :1] * (g - lin) + pairs[:, 1:] * (e - lin) - y) / y).mean(axis=1)
        k = int(np.argmin(err))
        if err[k] < best[0]:
            best = (float(err[k]), float(pairs[k, 0]), float(pairs[k, 1]), sigma)
    return best[1:]


def fuse(estimate: np.ndarray, sparse: np.ndarray, known: np.ndarray, image: np.ndarray | None = None,
         holdout: float = 0.2, seed: int = 0, smooth: float | tuple[float, float] = 0.0
         ) -> tuple[np.ndarray, tuple[float, float]]:
    """Fuse a relative (H, W) depth estimate and the (H, W, 3) uint8 image with measurements (module docstring).

    smooth: Gaussian sigma in pixels (one, or (rows, cols)) by which the estimate is blurred
    first, e.g. a fraction of a model's patch against the steps at patch edges; 0: as is.

    On inverse depth, linear interpolation of the points plus a times the model-guided
    map's and b times the edge-aware map's difference from it, (a, b) and the edge
    filter's sigmas fitted on a held-out share of the points (`blend_weights`), so an
    estimate or image that does not help the points falls back to interpolating them.
    Without `image`, b = 0. With fewer than 10 points everything goes to the guided map.
    Exact on the measured pixels; clipped to [0.5, 2] times the measured range.
    Returns (fused (H, W) float64, (a, b)).
    """
    y = sparse[known].astype(np.float64)
    if np.any(np.asarray(smooth) > 0):
        estimate = ndimage.gaussian_filter(estimate.astype(np.float64), smooth, mode="nearest")
    x = 1 / np.maximum(estimate.astype(np.float64), 1e-6)
    q = inverse_points(sparse, known)
    if len(y) * holdout < 2 or len(y) < 10:
        a, b, sigma = 1.0, 0.0, EDGE_SIGMAS[0]
    else:
        a, b, sigma = blend_weights(x, q, known, image, holdout, seed)
    linear, guided = _linear_guided(x, q, known)
    edge = _edge(q, known, image, sigma, linear) if b > 0 else linear
    fused = linear + a * (guided - linear) + b * (edge - linear)
    fused = 1 / np.clip(fused, 0.5 / y.max(), 2 / y.min())
    return np.where(known, sparse, fused), (a, b)
