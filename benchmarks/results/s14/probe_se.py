"""python benchmarks/results/s14/probe_se.py /tmp/s14_kitti.npz /tmp/s14_synth.npz (caches of cache_estimates.py).

Shipped fusion vs a significance rule: keep plain inverse-depth interpolation unless the best blend beats it
on the held-out points by more than z standard errors."""
import sys
import numpy as np
import mofo.completion as C
from mofo.evaluate import depth_metrics

orig = C.blend_weights
def blend_se(z):
    def bw(x, q, known, image, holdout, seed):
        points = np.argwhere(known)
        held = np.random.default_rng(seed).random(len(points)) < holdout
        fit_mask = known.copy(); fit_mask[tuple(points[held].T)] = False
        rows, cols = points[held].T
        y = q[rows, cols]
        pairs = np.array([(a, b) for a in C.WEIGHTS for b in (C.WEIGHTS if image is not None else [0.0]) if a + b <= 1 + 1e-9])
        linear, guided = C._linear_guided(x, q, fit_mask)
        lin, g = linear[rows, cols], guided[rows, cols]
        e0 = np.abs(lin - y) / y
        best = (np.inf, 0.0, 0.0, C.EDGE_SIGMAS[0], e0)
        for sigma in C.EDGE_SIGMAS if image is not None else C.EDGE_SIGMAS[:1]:
            e = lin if image is None else C._edge(q, fit_mask, image, sigma, linear)[rows, cols]
            errs = np.abs(lin + pairs[:, :1] * (g - lin) + pairs[:, 1:] * (e - lin) - y) / y
            k = int(np.argmin(errs.mean(1)))
            if errs[k].mean() < best[0]:
                best = (errs[k].mean(), float(pairs[k, 0]), float(pairs[k, 1]), sigma, errs[k])
        d = e0 - best[4]
        if len(d) < 3 or d.mean() <= z * d.std(ddof=1) / np.sqrt(len(d)):
            return 0.0, 0.0, C.EDGE_SIGMAS[0]
        return best[1:4]
    return bw

variants = {"shipped": orig, "se1": blend_se(1.0), "se2": blend_se(2.0)}
for path in sys.argv[1:]:
    z = np.load(path)
    keys = sorted({k.rsplit("|", 1)[0] for k in z.files if "|estimate" in k and "estimate_fit" not in k})
    res = {}
    for k in keys:
        est, sp, kn, gt, sc, rg = (z[f"{k}|{n}"] for n in ("estimate", "sparse", "known", "gt", "score", "range"))
        setn, inp, i = k.split("|")
        image = z[f"{setn}|image|{i}"]
        for name, bw in variants.items():
            C.blend_weights = bw
            p = np.clip(C.fuse(est.astype(np.float64), sp.astype(np.float64), kn, image, seed=int(i))[0], *rg)
            res.setdefault((setn, inp), {}).setdefault(name, []).append(depth_metrics(p[sc], gt[sc].astype(np.float64))["abs_rel"])
    for key, r in sorted(res.items()):
        print(key, {n: round(float(np.mean(v)), 5) for n, v in r.items()})
