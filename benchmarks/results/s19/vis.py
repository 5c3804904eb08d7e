"""Panels: photo | ground truth | prediction aligned (affine in depth) for the realdata frames, 1 step.   python benchmarks/results/s19/vis.py MODEL OUT.png"""
import sys
import numpy as np
from PIL import Image
from mofo.data.benchmarks import open_benchmark
from mofo.data.viz import colormap, to_uint8
from mofo import Pipeline
ds = open_benchmark("realdata")
pipe = Pipeline.from_pretrained(sys.argv[1])
rows = []
for i in range(len(ds)):
    s = ds[i]
    im = to_uint8(s["image"]); gt = s["depth"][0].numpy(); m = s["valid_mask"][0].numpy().astype(bool) & (gt > 0)
    pred = pipe.depth(im, steps=1, seed=0)
    a, b = np.linalg.lstsq(np.stack([pred[m], np.ones(m.sum())], 1), gt[m], rcond=None)[0]
    al = np.maximum(a * pred + b, 1e-3)
    lo, hi = np.percentile(1 / gt[m], [2, 98])
    g = colormap((1 / np.maximum(gt, 1e-3) - lo) / (hi - lo)); g[~m] = 0
    panel = np.concatenate([im, g, colormap((1 / al - lo) / (hi - lo))], 1)
    h = 150; w = int(panel.shape[1] * h / panel.shape[0])
    rows.append(np.asarray(Image.fromarray(panel).resize((min(w, 1400), h))))
W = max(r.shape[1] for r in rows)
rows = [np.pad(r, ((0, 0), (0, W - r.shape[1]), (0, 0))) for r in rows]
Image.fromarray(np.concatenate(rows, 0)).save(sys.argv[2])
