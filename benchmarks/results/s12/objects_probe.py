"""Where the object error sits: object pixels split by distance to the object's outline, and by object size.

    OMP_NUM_THREADS=1 python benchmarks/results/s12/objects_probe.py MODEL [--limit 500]

1-step i2d (seed 0) on the first `--limit` mix test images, aligned on the whole image (the protocol),
then AbsRel over object pixels: on the outline (a 4-neighbour, wrapping at the image border, is not an object
pixel), one pixel in,
two or more in; and per object by its pixel area. Ramp and a per-object oracle (each object's pixels
set to the object's true median depth: what a model that gets every object's distance right but its
shape flat would score) and the model's objects rescaled each to its true median depth (the model's
shape, the right distance) as references. Objects are connected regions of `object_mask`.
"""
import argparse, json
import numpy as np
from scipy import ndimage
from mofo.data import to_uint8
from mofo.data.benchmarks import open_benchmark
from mofo.evaluate import baseline_depth, eval_mask
from mofo.align import align
from mofo.pipeline import Pipeline

p = argparse.ArgumentParser()
p.add_argument("model"); p.add_argument("--root", default="data/mix64"); p.add_argument("--limit", type=int, default=500)
p.add_argument("--json")
a = p.parse_args()
pipe = Pipeline.from_pretrained(a.model)
data = open_benchmark("synth", a.root)
OBJ0 = 8
rows = []  # (name, ring, area, relative error) over object pixels, per image
logr = []  # per object: log(median model depth / median true depth), and its pixel count
for i in range(min(a.limit, len(data))):
    s = data[i]
    gt = s["depth"][0].numpy().astype(np.float64); valid = s["valid_mask"][0].numpy()
    obj = s["object_mask"][0].numpy().astype(bool)
    spec = data.spec_of(i); mask = eval_mask(gt, valid, spec)
    on = mask & obj
    if not on.any():
        continue
    lab, n = ndimage.label(obj)  # connected object regions (ids would split touching parts; labels are enough here)
    edge = np.zeros_like(obj)
    for ax in (0, 1):
        for sh in (1, -1):
            edge |= obj & ~np.roll(obj, sh, axis=ax)
    ring = np.where(edge, 0, np.where(ndimage.binary_erosion(obj) & ~ndimage.binary_erosion(obj, iterations=2), 1, 2))
    pred = align(pipe.depth(to_uint8(s["image"]), steps=1, seed=0).astype(np.float64), gt, mask, "affine", spec)
    ramp = align(baseline_depth("ramp", gt.shape), gt, mask, "affine", spec)
    oracle, shifted = pred.copy(), pred.copy()
    for k in range(1, n + 1):
        m = (lab == k) & mask
        if m.any():
            oracle[lab == k] = np.median(gt[m])
            shifted[lab == k] *= np.median(gt[m]) / np.median(pred[m])
            logr.append((np.log(np.median(np.clip(pred[m], spec.min_depth, None)) / np.median(gt[m])), m.sum()))
    area = np.bincount(lab.ravel())[lab]
    for name, d in (("model", pred), ("ramp", ramp), ("oracle", oracle), ("shifted", shifted)):
        e = np.abs(np.clip(d, spec.min_depth, spec.max_depth) - gt) / np.maximum(gt, 1e-9)
        rows.append((name, ring[on], area[on], e[on]))
out = {}
for name in ("model", "ramp", "oracle", "shifted"):
    r = [x for x in rows if x[0] == name]
    ring = np.concatenate([x[1] for x in r]); area = np.concatenate([x[2] for x in r]); e = np.concatenate([x[3] for x in r])
    out[name] = {"all": float(e.mean()), "n_pixels": int(e.size),
                 **{f"ring {k}": float(e[ring == k].mean()) for k in (0, 1, 2)},
                 **{f"share ring {k}": float((ring == k).mean()) for k in (0, 1, 2)},
                 **{f"area {lo}-{hi}": float(e[(area >= lo) & (area < hi)].mean()) for lo, hi in ((1, 16), (16, 64), (64, 256), (256, 4097))},
                 **{f"share area {lo}-{hi}": float(((area >= lo) & (area < hi)).mean()) for lo, hi in ((1, 16), (16, 64), (64, 256), (256, 4097))}}
lr, w = np.array(logr).T
out["objects"] = {"n": len(lr), "share predicted farther (pixel-weighted)": float(w[lr > 0].sum() / w.sum()),
                  "mean |log ratio| (pixel-weighted)": float((np.abs(lr) * w).sum() / w.sum()),
                  "mean log ratio (pixel-weighted)": float((lr * w).sum() / w.sum())}
print(json.dumps(out, indent=1))
if a.json:
    open(a.json, "w").write(json.dumps(out, indent=1))
