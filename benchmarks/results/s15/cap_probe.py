"""Probe: cap the decoded depth at K (unit-mean units, i.e. z <= 2 - 1/K), with/without inverse-depth blur 0.75 px."""
import dataclasses
import sys
import numpy as np
from scipy.ndimage import gaussian_filter
from mofo.data.benchmarks import open_benchmark
from mofo.evaluate import evaluate
from mofo.pipeline import Pipeline

pipe = Pipeline.from_pretrained(sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] != "-" else None)
pipe.sampling = dataclasses.replace(pipe.sampling, depth_max=0.0)  # the probe applies its own caps
root = sys.argv[2] if len(sys.argv) > 2 else "data/mixval64"
for bench, root, within in [("synth", root, None), ("synth", root, "object_mask"), ("realdata", None, None)]:
    ds = open_benchmark(bench, root)
    cache = {}
    def raw(img, seed):
        k = (img.shape, img[::5, ::5].tobytes(), seed)
        if k not in cache:
            cache[k] = pipe.depth(img, steps=1, seed=seed)
        return cache[k]
    for blur in (0, 0.75):
        for cap in (None, 5, 10, 15, 25, 50):
            def fn(img, seed):
                d = raw(img, seed)
                d = d if cap is None else np.minimum(d, cap)
                if blur:
                    s = (blur * d.shape[0] / pipe.res, blur * d.shape[1] / pipe.res)
                    d = 1 / gaussian_filter(1 / np.maximum(d, 1e-6), s, mode="nearest")
                return d
            r = evaluate(ds, fn, within=within).summary()
            print(f"{bench} {within or 'all':12s} blur {blur} cap {cap}: {r['abs_rel']:.4f} {r['delta1']:.4f}", flush=True)
