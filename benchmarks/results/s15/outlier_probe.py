"""Probe: are far outliers what the inverse-depth blur removes? clamp / median filter / blur on the 1-step estimate."""
import dataclasses

import numpy as np
from scipy.ndimage import gaussian_filter, median_filter
from mofo.data.benchmarks import open_benchmark
from mofo.evaluate import evaluate
from mofo.pipeline import Pipeline

pipe = Pipeline.from_pretrained()
pipe.sampling = dataclasses.replace(pipe.sampling, depth_max=0.0)  # uncapped, as measured
ds = open_benchmark("synth", "data/mixval64")
cache = {}
def raw(img, seed):
    k = (img[::5, ::5].tobytes(), seed)
    if k not in cache:
        cache[k] = pipe.depth(img, steps=1, seed=seed)
    return cache[k]
stats = []
def clamp(k):
    return lambda img, seed: np.minimum(raw(img, seed), k * np.median(raw(img, seed)))
variants = {"raw": raw, "clamp 3": clamp(3), "clamp 5": clamp(5), "clamp 10": clamp(10),
            "median 3": lambda img, seed: median_filter(raw(img, seed), 3, mode="nearest"),
            "median 5": lambda img, seed: median_filter(raw(img, seed), 5, mode="nearest"),
            "clamp 5 + depth blur 0.75": lambda img, seed: gaussian_filter(clamp(5)(img, seed), 0.75, mode="nearest"),
            "inv blur 0.75": lambda img, seed: 1 / gaussian_filter(1 / np.maximum(raw(img, seed), 1e-6), 0.75, mode="nearest")}
for name, fn in variants.items():
    for within in (None, "object_mask"):
        r = evaluate(ds, fn, within=within).summary()
        print(f"{name:28s} {within or 'all':12s} {r['abs_rel']:.4f} {r['delta1']:.4f}", flush=True)
d = np.stack([raw(np.asarray(ds[i]["image"]), 0) for i in range(0)] or [np.zeros(1)])
ratios = [v.max() / np.median(v) for v in cache.values()]
print("max/median of the estimates: median", np.median(ratios), "90%", np.percentile(ratios, 90), "max", max(ratios))
