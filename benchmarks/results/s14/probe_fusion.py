"""Fusion variants of `mofo complete` scored on cached model estimates (cache_estimates.py), AbsRel as in
benchmarks/completion.py (clipped to the set's range, mean over images).

    python benchmarks/results/s14/probe_fusion.py /tmp/s14_kitti.npz /tmp/s14_synth.npz
"""
import sys

import numpy as np

from mofo.align import fit_scale_shift
import mofo.completion
sys.path.insert(0, str(__import__('pathlib').Path(__file__).parent))
from completion_s12 import fuse, guided, interpolate_points  # noqa: E402
from mofo.evaluate import depth_metrics


inv = mofo.completion.inverse_points


def lin_inv(est, sp, kn, seed):
    return 1 / interpolate_points(inv(sp, kn), kn)


def fuse_inv(est, sp, kn, seed):
    """The current fusion run on disparities: 1 / fuse(1 / estimate, 1 / points)."""
    return 1 / fuse(1 / np.maximum(est, 1e-6), inv(sp, kn), kn, seed=seed)[0]


def fuse_inv_depth_fit(est, sp, kn, seed):
    """Affine fit in depth first, then the fusion on disparities."""
    s, t = fit_scale_shift(est[kn].astype(np.float64), sp[kn].astype(np.float64))
    a = s * est + t if s > 0 else np.full(est.shape, sp[kn].mean())
    return 1 / fuse(1 / np.maximum(a, 0.5 * sp[kn].min()), inv(sp, kn), kn, seed=seed)[0]


def guided_inv(est, sp, kn, seed):
    return 1 / guided(1 / np.maximum(est, 1e-6), inv(sp, kn), kn)


ESTIMATE_FIT = [None]  # the model's estimate without the points the weight is fitted on
VARIANTS = {"linear": lambda e, s, k, seed: interpolate_points(s, k), "fuse": lambda e, s, k, seed: fuse(e, s, k, seed=seed)[0],
            "linear inv": lin_inv, "fuse inv": fuse_inv, "fuse inv (depth fit)": fuse_inv_depth_fit, "guided inv": guided_inv}


def main(paths, names):
    for path in paths:
        z = np.load(path)
        keys = sorted({k.rsplit("|", 1)[0] for k in z.files if "|estimate" in k})
        res = {}
        for k in keys:
            est, sp, kn, gt, sc, rg = (z[f"{k}|{n}"] for n in ("estimate", "sparse", "known", "gt", "score", "range"))
            setn, inp, i = k.split("|")
            est, sp, gt = est.astype(np.float64), sp.astype(np.float64), gt.astype(np.float64)
            IMAGE[0] = z[f"{setn}|image|{k.split('|')[2]}"]
            ESTIMATE_FIT[0] = z[f"{k}|estimate_fit"].astype(np.float64)
            for m in names:
                p = np.clip(VARIANTS[m](est, sp, kn, int(i)), *rg)
                res.setdefault((setn, inp), {}).setdefault(m, []).append(depth_metrics(p[sc], gt[sc])["abs_rel"])
        for (setn, inp), r in sorted(res.items()):
            print(f"{setn:6s} {inp:10s}", "  ".join(f"{m}: {np.mean(v):.5f}" for m, v in r.items()), flush=True)



from scipy import ndimage  # noqa: E402

from completion_s12 import _guided_and_linear  # noqa: E402


def fuse_inv_dist(est, sp, kn, seed, holdout=0.2, bins=4):
    """Fusion on disparities with the blend weight a function of the distance to the nearest point: fitted per
    quantile bin of that distance on held-out points, interpolated between bin medians (so a pixel far from the
    points takes the weight fitted on held-out points equally far from the remaining ones)."""
    x, y = 1 / np.maximum(est, 1e-6), inv(sp, kn)
    points = np.argwhere(kn)
    if len(points) < 10:
        return 1 / guided(x, y, kn)
    held = np.random.default_rng(seed).random(len(points)) < holdout
    fit_mask = kn.copy()
    fit_mask[tuple(points[held].T)] = False
    rows, cols = points[held].T
    g, l = (m[rows, cols] for m in _guided_and_linear(x, y, fit_mask))
    yh = y[rows, cols]
    dist = ndimage.distance_transform_edt(~fit_mask)[rows, cols]
    edges = np.quantile(dist, np.linspace(0, 1, bins + 1))
    which = np.clip(np.searchsorted(edges, dist, side="right") - 1, 0, bins - 1)
    centres, weights = [], []
    for b in range(bins):
        m = which == b
        diff, err = (g[m] - l[m]) / yh[m], (yh[m] - l[m]) / yh[m]
        if m.sum() < 2 or diff @ diff == 0:
            continue
        centres.append(np.median(dist[m]))
        weights.append(float(np.clip(diff @ err / (diff @ diff), 0, 1)))
    gf, lf = _guided_and_linear(x, y, kn)
    if not centres:
        return 1 / gf
    w = np.interp(ndimage.distance_transform_edt(~kn), centres, weights)
    return 1 / np.maximum(lf + w * (gf - lf), 1e-9)


VARIANTS["fuse inv dist"] = fuse_inv_dist



def crossfit(x, y, kn, x_fit, seed, holdout=0.2):
    """(fused, w): `fuse` with the blend weight fitted on an estimate `x_fit` made without the held-out points."""
    from completion_s12 import blend_weight
    w = blend_weight(x_fit, y, kn, holdout, seed) if len(y[kn]) >= 10 else 1.0
    g, l = _guided_and_linear(x, y, kn)
    return l + w * (g - l), w


def fuse_crossfit(est, sp, kn, seed):
    return crossfit(est, sp, kn, ESTIMATE_FIT[0], seed)[0]


def fuse_inv_crossfit(est, sp, kn, seed):
    f = crossfit(1 / np.maximum(est, 1e-6), inv(sp, kn), kn, 1 / np.maximum(ESTIMATE_FIT[0], 1e-6), seed)[0]
    return 1 / np.maximum(f, 1e-9)


VARIANTS.update({"fuse crossfit": fuse_crossfit, "fuse inv crossfit": fuse_inv_crossfit})



def weight_l1(x, y, kn, seed, holdout=0.2):
    """Blend weight minimising the mean absolute relative error (the benchmark's AbsRel) of the held-out points,
    on a grid of 0, 0.05, ..., 1."""
    points = np.argwhere(kn)
    if len(points) < 10 or len(points) * holdout < 2:
        return 1.0
    held = np.random.default_rng(seed).random(len(points)) < holdout
    fit_mask = kn.copy()
    fit_mask[tuple(points[held].T)] = False
    rows, cols = points[held].T
    g, l = (m[rows, cols] for m in _guided_and_linear(x, y, fit_mask))
    yh = y[rows, cols]
    ws = np.linspace(0, 1, 21)
    return float(ws[np.argmin([np.mean(np.abs(l + w * (g - l) - yh) / yh) for w in ws])])


def fuse_inv_l1(est, sp, kn, seed):
    x, y = 1 / np.maximum(est, 1e-6), inv(sp, kn)
    w = weight_l1(x, y, kn, seed)
    g, l = _guided_and_linear(x, y, kn)
    return 1 / np.maximum(l + w * (g - l), 1e-9)


VARIANTS["fuse inv l1"] = fuse_inv_l1

IMAGE = [None]
SIGMAS = [(s, r) for s in (4.0, 8.0, 16.0, 32.0) for r in (0.1, 0.2, 0.4)]


def three_maps(x, y, kn, image, sigma):
    g, l = _guided_and_linear(x, y, kn)
    c = mofo.completion.edge_aware(y, kn, image, *sigma)  # the filter as shipped
    return l, g, np.where(np.isnan(c), l, c)


def fuse_inv_image(est, sp, kn, seed, use_model=True, use_image=True, sigmas=SIGMAS, holdout=0.2):
    """Disparity: lin + wm (guided - lin) + wi (edge-aware NC - lin); (wm, wi, sigma) minimise the held-out AbsRel."""
    x, y, image = 1 / np.maximum(est, 1e-6), inv(sp, kn), IMAGE[0]
    points = np.argwhere(kn)
    held = np.random.default_rng(seed).random(len(points)) < holdout
    fm = kn.copy()
    fm[tuple(points[held].T)] = False
    rows, cols = points[held].T
    yh = y[rows, cols]
    ws = np.linspace(0, 1, 11)
    grid = [(a, b) for a in (ws if use_model else [0]) for b in (ws if use_image else [0]) if a + b <= 1]
    best = (np.inf, 0, 0, sigmas[0])
    for sigma in (sigmas if use_image else sigmas[:1]):
        l, g, c = (m[rows, cols] for m in three_maps(x, y, fm, image, sigma))
        for a, b in grid:
            e = np.mean(np.abs(l + a * (g - l) + b * (c - l) - yh) / yh)
            best = min(best, (e, a, b, sigma), key=lambda t: t[0])
    _, a, b, sigma = best
    l, g, c = three_maps(x, y, kn, image, sigma)
    return 1 / np.maximum(l + a * (g - l) + b * (c - l), 1e-9)


VARIANTS.update({"inv+model+image": fuse_inv_image,
                 "inv+image": lambda e, s, k, seed: fuse_inv_image(e, s, k, seed, use_model=False),
                 "inv+model": lambda e, s, k, seed: fuse_inv_image(e, s, k, seed, use_image=False),
                 "inv+model+image fixed": lambda e, s, k, seed: fuse_inv_image(e, s, k, seed, sigmas=[(8.0, 0.2)])})



VARIANTS["shipped (mofo.completion.fuse)"] = lambda e, s, k, seed: mofo.completion.fuse(e, s, k, IMAGE[0], seed=seed)[0]


if __name__ == "__main__":
    paths = [a for a in sys.argv[1:] if a.endswith(".npz")]
    main(paths, [a for a in sys.argv[1:] if not a.endswith(".npz")] or list(VARIANTS))
