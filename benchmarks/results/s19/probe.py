"""Zero-shot test-time probes on realdata (and a synthetic split): the model's grid and photometric normalisation.

    python benchmarks/results/s19/probe.py MODEL [VARIANT ...]

VARIANT: resR (run at R px instead of the trained grid), auto (global 1-99 % contrast stretch), gw (grey-world white
balance), gwauto (both). Prints AbsRel (delta1) on realdata and on data/mixval96 (all pixels), 1 step.
"""
import sys

import numpy as np

from mofo.data.benchmarks import open_benchmark
from mofo.evaluate import evaluate
from mofo.pipeline import Pipeline


def auto(img):
    x = img.astype(np.float32)
    lo, hi = np.percentile(x, [1, 99])
    return np.clip((x - lo) / max(hi - lo, 1) * 255, 0, 255).astype(np.uint8)


def gw(img):
    x = img.astype(np.float32)
    m = x.reshape(-1, 3).mean(0)
    return np.clip(x * (m.mean() / np.maximum(m, 1)), 0, 255).astype(np.uint8)


TRANSFORMS = {"none": lambda i: i, "auto": auto, "gw": gw, "gwauto": lambda i: auto(gw(i))}
pipe = Pipeline.from_pretrained(sys.argv[1])
trained = pipe.res
for v in sys.argv[2:] or ["none"]:
    res = int(v[3:]) if v.startswith("res") else trained
    f = TRANSFORMS["none" if v.startswith("res") else v]
    pipe.res, pipe.grid = res, (res // pipe.image_codec.downsample,) * 2
    cols = []
    for bench, root in [("realdata", None), ("synth", "data/mixval96")]:
        s = evaluate(open_benchmark(bench, root), lambda img, seed: pipe.depth(f(img), steps=1, seed=seed)).summary()
        cols.append(f"{bench} {s['abs_rel']:.4f} ({s['delta1']:.3f})")
    print(sys.argv[1], v, " | ".join(cols), flush=True)
