"""Depth completion (image + sparse depth -> dense) vs. i2d with the sparse points used only for alignment.

    python benchmarks/completion.py --model mofo/assets/default --root data/synth64 --limit 100

For each test image and input sparsity, sparse depth is simulated from the
dense ground truth (uniform random points at several densities, and LiDAR-like
scan lines). `complete` imposes the measured pixels at every sampling step, fits
its estimate to them and keeps them, and returns metric depth (scored as is); the
baselines run i2d and fit scale and shift to the same sparse points (least
squares), as a user without completion would, then optionally paste the measured
pixels too. Metrics on all valid ground-truth pixels (AbsRel, delta1; mean over images).
Writes benchmarks/results/completion.json.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from mofo.data import make_sensor, to_uint8
from mofo.data.benchmarks import open_benchmark
from mofo.evaluate import depth_metrics, eval_mask, fit_scale_shift
from mofo.pipeline import Pipeline


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=None)
    p.add_argument("--root", default="data/synth64")
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default="benchmarks/results/completion.json")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    pipe = Pipeline.from_pretrained(args.model)
    data = open_benchmark("synth", args.root)
    sensors = {f"random {d:.0%}": make_sensor("random", density=d) for d in (0.01, 0.05, 0.2)}
    sensors["lidar 5%"] = make_sensor("lidar")
    methods = ("complete", "i2d + sparse alignment", "i2d + alignment + pasted")
    scores = {name: {m: [] for m in methods} for name in sensors}
    fraction = {name: [] for name in sensors}
    for i in range(min(args.limit, len(data))):
        s = data[i]
        image, gt, valid = to_uint8(s["image"]), s["depth"][0].numpy().astype(np.float64), s["valid_mask"][0].numpy()
        mask = eval_mask(gt, valid, data.spec)
        i2d = pipe.depth(image, steps=args.steps, seed=i)
        for name, sensor in sensors.items():
            sparse, known = sensor(s["depth"], s["valid_mask"], i)
            sparse, known = sparse[0].numpy(), known[0].numpy()
            if known.sum() < 2:
                continue
            fraction[name].append(known.mean())
            dense = pipe.complete(image, sparse, steps=args.steps, seed=i)
            sc, sh = fit_scale_shift(i2d[known].astype(np.float64), sparse[known].astype(np.float64))
            aligned = sc * i2d + sh
            for method, pred in zip(methods, (dense, aligned, np.where(known, sparse, aligned))):
                pred = np.clip(pred, data.spec.min_depth, data.spec.max_depth)
                scores[name][method].append(depth_metrics(pred[mask], gt[mask]))
    rows = []
    for name, methods in scores.items():
        for method, per_image in methods.items():
            rows.append({"input": name, "measured_fraction": float(np.mean(fraction[name])), "method": method,
                         "n_images": len(per_image),
                         **{k: float(np.mean([m[k] for m in per_image])) for k in ("abs_rel", "delta1", "rmse")}})
    print(f"{'input':<12}{'measured':>9}  {'method':<26}{'abs_rel':>9}{'delta1':>9}{'rmse':>9}")
    for r in rows:
        print(f"{r['input']:<12}{r['measured_fraction']:>9.3f}  {r['method']:<26}{r['abs_rel']:>9.4f}{r['delta1']:>9.4f}{r['rmse']:>9.3f}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"model": pipe.name, "steps": args.steps, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
