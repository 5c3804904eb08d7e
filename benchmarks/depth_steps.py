"""Sampling steps vs. i2d depth quality on the synthetic test split.

    python benchmarks/depth_steps.py --model mofo/assets/default --root data/synth64 --limit 200

Prints a table (AbsRel, delta1 per step count, plus a mean-depth baseline: a
constant prediction, which affine alignment turns into the mean of the ground
truth) and writes benchmarks/results/depth_steps.json.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from mofo.data.benchmarks import open_benchmark
from mofo.evaluate import evaluate
from mofo.pipeline import Pipeline


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=None)
    p.add_argument("--root", default="data/synth64")
    p.add_argument("--limit", type=int, default=200)
    p.add_argument("--steps", type=int, nargs="+", default=[1, 2, 4, 10, 20, 50])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default="benchmarks/results/depth_steps.json")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    pipe = Pipeline.from_pretrained(args.model)
    data = open_benchmark("synth", args.root)
    rows = [{"steps": 0, "method": "mean-depth baseline",
             **evaluate(data, lambda img, seed: np.ones(img.shape[:2], np.float32), limit=args.limit).summary()}]
    for steps in args.steps:
        t = time.perf_counter()
        report = evaluate(data, lambda img, seed: pipe.depth(img, steps=steps, seed=seed), limit=args.limit)
        rows.append({"steps": steps, "method": "i2d", "seconds_per_image": (time.perf_counter() - t) / args.limit,
                     **report.summary()})
    print(f"{'method':<22}{'steps':>6}{'abs_rel':>9}{'delta1':>9}{'s/img':>8}")
    for r in rows:
        print(f"{r['method']:<22}{r['steps']:>6}{r['abs_rel']:>9.4f}{r['delta1']:>9.4f}{r.get('seconds_per_image', 0):>8.3f}")
    out = {"model": pipe.name, "root": args.root, "n_images": args.limit, "threads": args.threads, "rows": rows}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
