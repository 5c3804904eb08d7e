"""A gallery of every mode from one model, with timings (docs/gallery_*.png).

    python benchmarks/gallery.py --model mofo/assets/default --root data/synth64

Rows: joint (text -> image | depth), i2d (image | predicted depth | true depth),
d2i (true depth | generated image | true image), complete (image | LiDAR-like
sparse input | completed depth | true depth). Test images come from the synthetic
test split; prompts include ones outside the caption templates. Prints seconds
per call and writes benchmarks/results/gallery.json.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from mofo.data import colorize_depth, make_sensor, to_uint8
from mofo.data.benchmarks import open_benchmark
from mofo.pipeline import Pipeline
from report import publish

PROMPTS = [
    "a small red sphere in front of a blue striped box on a wooden floor",
    "two green cylinders on the grass under a clear sky",
    "a room with brick walls and a yellow ball",
    "an orange cube next to a tall pillar on a sandy beach",
]


def tile(rows: list[list[np.ndarray]], zoom: int = 3) -> Image.Image:
    grid = np.concatenate([np.concatenate(r, axis=1) for r in rows], axis=0)
    return Image.fromarray(grid).resize((grid.shape[1] * zoom, grid.shape[0] * zoom), Image.NEAREST)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=None)
    p.add_argument("--root", default="data/synth64")
    p.add_argument("--out", default="docs")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--json", default="benchmarks/results/gallery.json")
    args = p.parse_args()
    torch.set_num_threads(1)
    pipe = Pipeline.from_pretrained(args.model)
    data = open_benchmark("synth", args.root)
    lidar = make_sensor("lidar")
    rows, seconds = {k: [] for k in ("joint", "i2d", "d2i", "complete")}, {k: [] for k in ("joint", "i2d", "d2i", "complete")}

    def timed(mode, fn, *a, **kw):
        t = time.perf_counter()
        out = fn(*a, **kw)
        seconds[mode].append(time.perf_counter() - t)
        return out

    for i, prompt in enumerate(PROMPTS):
        rgb, depth = timed("joint", pipe.generate, prompt, steps=args.steps, seed=i)
        rows["joint"].append([rgb, colorize_depth(depth)])
        s = data[i]
        image, gt = to_uint8(s["image"]), s["depth"][0].numpy()
        pred = timed("i2d", pipe.depth, image, steps=args.steps, seed=i)
        rows["i2d"].append([image, colorize_depth(pred), colorize_depth(gt)])
        made = timed("d2i", pipe.image, gt, s["caption"], steps=args.steps, seed=i)
        rows["d2i"].append([colorize_depth(gt), made, image])
        sparse, known = lidar(s["depth"], s["valid_mask"], i)
        dense = timed("complete", pipe.complete, image, sparse[0].numpy(), steps=args.steps, seed=i)
        rows["complete"].append([image, colorize_depth(sparse[0], known[0]), colorize_depth(dense), colorize_depth(gt)])
    Path(args.out).mkdir(parents=True, exist_ok=True)
    for mode, r in rows.items():
        tile(r).save(Path(args.out) / f"gallery_{mode}.png")
    summary = {mode: float(np.mean(t)) for mode, t in seconds.items()}
    keys = {"joint": "steps", "i2d": "depth_steps", "d2i": "steps", "complete": "complete_steps"}
    steps = {mode: args.steps or getattr(pipe.sampling, key) for mode, key in keys.items()}
    rows = [{"mode": mode, "seconds_per_call": t, "steps": steps[mode]} for mode, t in summary.items()]
    publish(rows, args.json, title="seconds per call (1 thread)", model=pipe.name, seconds_per_call=summary,
            steps=steps, prompts=PROMPTS)


if __name__ == "__main__":
    main()
