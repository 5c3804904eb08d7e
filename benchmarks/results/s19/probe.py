"""Zero-shot test-time probes on realdata (and a synthetic split): the model's grid and photometric normalisation.

    python benchmarks/results/s19/probe.py MODEL [VARIANT ...] [--real-only]

VARIANT: resR (run at R px instead of the trained grid), auto (global 1-99 % contrast stretch), gw (grey-world white
balance), gwauto (both), bright (x 1.5), soft96 (through 96 x 96 px and back: 96-px detail). Prints AbsRel (delta1) on
realdata and on data/mixval96 (all pixels), 1 step; --real-only skips the synthetic split.
"""
import sys

import numpy as np
from PIL import Image

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


def soft(img, side=96):
    """The photo through a side x side square and back: the detail a 96-px grid sees, at the original size."""
    small = Image.fromarray(img).resize((side, side), Image.BILINEAR, reducing_gap=None)
    return np.asarray(small.resize((img.shape[1], img.shape[0]), Image.BILINEAR))


def bright(img):
    return np.clip(img.astype(np.float32) * 1.5, 0, 255).astype(np.uint8)


TRANSFORMS = {"none": lambda i: i, "auto": auto, "gw": gw, "gwauto": lambda i: auto(gw(i)), "bright": bright, "soft96": soft}
args = [a for a in sys.argv[1:] if a != "--real-only"]
benches = [("realdata", None)] + ([] if "--real-only" in sys.argv else [("synth", "data/mixval96")])
pipe = Pipeline.from_pretrained(args[0])
trained = pipe.res
for v in args[1:] or ["none"]:
    res = int(v[3:]) if v.startswith("res") else trained
    f = TRANSFORMS["none" if v.startswith("res") else v]
    pipe.res, pipe.grid = res, (res // pipe.image_codec.downsample,) * 2
    cols = []
    for bench, root in benches:
        report = evaluate(open_benchmark(bench, root), lambda img, seed: pipe.depth(f(img), steps=1, seed=seed))
        s = report.summary()
        cols.append(f"{bench} {s['abs_rel']:.4f} ({s['delta1']:.3f})")
        if bench == "realdata":  # the five slambook2 ch5 frames (one room, a strong red cast) apart
            room = [r["abs_rel"] for r in report.rows if "slambook2_rgbd/ch5" in r["key"]]
            rest = [r["abs_rel"] for r in report.rows if "slambook2_rgbd/ch5" not in r["key"]]
            cols.append(f"ch5 {np.mean(room):.4f}, other {np.mean(rest):.4f}")
    print(args[0], v, " | ".join(cols), flush=True)
