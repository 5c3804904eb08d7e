"""Depth completion (image + sparse depth -> dense) against i2d + alignment and plain interpolation.

    python benchmarks/completion.py --model mofo/assets/default --root data/synth64 --limit 100

Two sets:
- `synth`: test images of the synthetic world; sparse input simulated from the dense
  ground truth (uniform random points at several densities, LiDAR-like scan lines);
  scored on every valid ground-truth pixel.
- `kitti`: the KITTI frames with projected Velodyne scans in ../shared/realdata; a
  random share of the scan's pixels is the input and the *other* scan pixels are
  scored (held out), so keeping the measurements earns nothing.
Methods: `complete` (metric depth, scored as is); i2d with scale and shift fitted to
the same points (least squares), as a user without completion would, with and
without the measured pixels pasted in; nearest and linear (Delaunay) interpolation of
the points alone, and linear interpolation of their inverse (exact on planes seen in perspective,
what `complete` fuses on). AbsRel, delta1, RMSE (mean over images), clipped to the set's range.
Writes benchmarks/results/completion.json.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from mofo.completion import interpolate_points, inverse_points
from mofo.data import make_sensor, to_uint8
from mofo.data.benchmarks import RealData, open_benchmark
from mofo.align import fit_scale_shift
from mofo.evaluate import depth_metrics, eval_mask
from mofo.pipeline import Pipeline
from report import publish

METHODS = ("complete", "i2d + alignment", "i2d + alignment + pasted", "nearest", "linear", "linear (inverse depth)")


def predictions(pipe, image, sparse, known, i2d, steps, seed) -> dict[str, np.ndarray]:
    """Every method's dense metric depth for one input."""
    s, t = fit_scale_shift(i2d[known].astype(np.float64), sparse[known].astype(np.float64))
    aligned = s * i2d + t
    return {
        "complete": pipe.complete(image, sparse, steps=steps, seed=seed),
        "i2d + alignment": aligned,
        "i2d + alignment + pasted": np.where(known, sparse, aligned),
        "nearest": interpolate_points(sparse, known, "nearest"),
        "linear": interpolate_points(sparse, known, "linear"),
        "linear (inverse depth)": 1 / interpolate_points(inverse_points(sparse, known), known),
    }


def synth_inputs(sample, i):
    """(name, sparse, known, score mask) for the simulated sensors on a synthetic test image."""
    sensors = {f"random {d:.0%}": make_sensor("random", density=d) for d in (0.01, 0.05, 0.2)}
    sensors["lidar 5%"] = make_sensor("lidar")
    for name, sensor in sensors.items():
        sparse, known = sensor(sample["depth"], sample["valid_mask"], i)
        yield name, sparse[0].numpy(), known[0].numpy(), None


def kitti_inputs(sample, i):
    """(name, sparse, known, score mask): a share of the scan as input, the rest held out."""
    depth, scan = sample["depth"][0].numpy(), sample["valid_mask"][0].numpy()
    draw = np.random.default_rng(i).random(depth.shape)
    for share in (0.05, 0.2, 0.5):
        known = scan & (draw < share)
        yield f"scan {share:.0%}", np.where(known, depth, 0).astype(np.float32), known, scan & ~known


def run_set(pipe, data, inputs, limit, steps) -> list[dict]:
    scores, fraction = {}, {}
    for i in range(min(limit, len(data))):
        s = data[i]
        image, gt = to_uint8(s["image"]), s["depth"][0].numpy().astype(np.float64)
        spec = data.spec_of(i)
        mask = eval_mask(gt, s["valid_mask"][0].numpy(), spec)
        i2d = pipe.depth(image, steps=steps, seed=i)
        for name, sparse, known, held_out in inputs(s, i):
            if known.sum() < 3:
                continue
            score_on = mask if held_out is None else mask & held_out
            fraction.setdefault(name, []).append(known.mean())
            for method, pred in predictions(pipe, image, sparse, known, i2d, steps, i).items():
                pred = np.clip(pred, spec.min_depth, spec.max_depth)
                scores.setdefault((name, method), []).append(depth_metrics(pred[score_on], gt[score_on]))
    return [{"set": data.name, "input": name, "measured_fraction": float(np.mean(fraction[name])), "method": method,
             "n_images": len(per_image), **{k: float(np.mean([m[k] for m in per_image])) for k in ("abs_rel", "delta1", "rmse")}}
            for (name, method), per_image in scores.items()]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=None)
    p.add_argument("--root", default="data/synth64", help="synthetic test shards")
    p.add_argument("--realdata", default=None, help="../shared/realdata (default: next to the project); 'none' skips KITTI")
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default="benchmarks/results/completion.json")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    pipe = Pipeline.from_pretrained(args.model)
    rows = run_set(pipe, open_benchmark("synth", args.root), synth_inputs, args.limit, args.steps)
    if args.realdata != "none":
        root = Path(args.realdata) if args.realdata else RealData.default_root
        rows += run_set(pipe, open_benchmark("kitti_velodyne", root / "kitti_object_velodyne"), kitti_inputs,
                        args.limit, args.steps)
    publish(rows, args.json, title="depth completion vs i2d + alignment and interpolation", model=pipe.name,
            steps=args.steps)

if __name__ == "__main__":
    main()
