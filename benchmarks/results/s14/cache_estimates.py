"""Cache what `Pipeline.complete` hands to `completion.fuse` (blurred estimate, sparse, known), plus ground truth and
score mask, for the inputs of benchmarks/completion.py, so fusion variants can be scored without rerunning the model.

    python benchmarks/results/s14/cache_estimates.py --limit 100 --out /tmp/s14_cache.npz
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

sys.path.insert(0, "benchmarks")
import mofo.pipeline as pl
from completion import kitti_inputs, synth_inputs
from mofo.data import to_uint8
from mofo.data.benchmarks import RealData, open_benchmark
from mofo.evaluate import eval_mask

p = argparse.ArgumentParser()
p.add_argument("--limit", type=int, default=100)
p.add_argument("--sets", default="synth,kitti")
p.add_argument("--out", default="/tmp/s14_cache.npz")
args = p.parse_args()
torch.set_num_threads(1)
seen = {}
real_fuse = pl.fuse


def record(estimate, sparse, known, seed=0, smooth=0.0):
    seen["estimate"] = ndimage.gaussian_filter(estimate.astype(np.float64), smooth, mode="nearest")
    return real_fuse(estimate, sparse, known, seed=seed, smooth=smooth)


pl.fuse = record
pipe = pl.Pipeline.from_pretrained(None)
sets = {"synth": (open_benchmark("synth", "data/synth64"), synth_inputs),
        "kitti": (open_benchmark("kitti_velodyne", RealData.default_root / "kitti_object_velodyne"), kitti_inputs)}
out = {}
for name in args.sets.split(","):
    data, inputs = sets[name]
    for i in range(min(args.limit, len(data))):
        s = data[i]
        image, gt = to_uint8(s["image"]), s["depth"][0].numpy().astype(np.float64)
        spec = data.spec_of(i)
        mask = eval_mask(gt, s["valid_mask"][0].numpy(), spec)
        for inp, sparse, known, held_out in inputs(s, i):
            if known.sum() < 3:
                continue
            pipe.complete(image, sparse, seed=i)
            key = f"{name}|{inp}|{i}"
            out[key + "|estimate"] = seen["estimate"].astype(np.float32)
            points = np.argwhere(known)  # the model again without the points `fuse` holds out (its split, 20 %)
            held = np.random.default_rng(i).random(len(points)) < 0.2
            fit = known.copy()
            fit[tuple(points[held].T)] = False
            pipe.complete(image, np.where(fit, sparse, 0), seed=i)
            out[key + "|estimate_fit"] = seen["estimate"].astype(np.float32)
            out[key + "|sparse"], out[key + "|known"] = sparse, known
            out[key + "|gt"] = gt.astype(np.float32)
            out[key + "|score"] = mask if held_out is None else mask & held_out
            out[key + "|range"] = np.array([spec.min_depth, spec.max_depth])
        out[f"{name}|image|{i}"] = image
        print(name, i, flush=True)
np.savez_compressed(args.out, **out)
