"""Best global blend weight per image in hindsight (oracle) of the model-guided map vs linear interpolation, on inverse depth.

    python benchmarks/results/s14/oracle_probe.py /tmp/s14_kitti.npz /tmp/s14_synth.npz
"""
import numpy as np, sys
sys.path.insert(0, "benchmarks/results/s14")
from probe_fusion import inv
from completion_s12 import interpolate_points, guided
from mofo.evaluate import depth_metrics
for path in sys.argv[1:]:
    z = np.load(path)
    keys = sorted({k.rsplit("|", 1)[0] for k in z.files if "|estimate" in k})
    res = {}
    for k in keys:
        est, sp, kn, gt, sc, rg = (z[f"{k}|{n}"].astype(np.float64) if n not in ("known","score") else z[f"{k}|{n}"] for n in ("estimate", "sparse", "known", "gt", "score", "range"))
        setn, inp, i = k.split("|")
        yi = inv(sp, kn)
        g = guided(1 / np.maximum(est, 1e-6), yi, kn); l = interpolate_points(yi, kn)
        best = {}
        for w in np.linspace(0, 1, 21):
            p = np.clip(1 / np.maximum(w * g + (1 - w) * l, 1e-9), *rg)
            best[round(w, 2)] = depth_metrics(p[sc], gt[sc])["abs_rel"]
        wb = min(best, key=best.get)
        r = res.setdefault(inp, {"lin": [], "oracle": [], "w": []})
        r["lin"].append(best[0.0]); r["oracle"].append(best[wb]); r["w"].append(wb)
        for w in (0.25, 0.5):
            r.setdefault(f"w={w}", []).append(best[w])
    for inp, r in sorted(res.items()):
        print(path[-10:], inp, {m: round(float(np.mean(v)), 5) for m, v in r.items()})
