"""Compare trained models side by side: depth on the synthetic split and real photos, and joint generation.

    python benchmarks/ablation.py --model v=runs/abl_v/post/final --model x=runs/abl_x/post/final \
        --root data/synth64 --limit 500 --json benchmarks/results/ablation_target.json --gallery docs/ablation_target.png

Per model (AbsRel / delta1 after affine alignment, mean over images):
- `synth@1`, `synth@10`: i2d on the first `--limit` synthetic test images at 1 and 10 steps;
- `objects@1`: the same 1-step maps scored on object pixels alone (`object_mask`; aligned on the
  whole image first), the issue's "objects are mostly missed" number;
- `LABEL@1` for each `--extra LABEL=ROOT`: another synthetic split (e.g. the open family beside the mix);
- `real`, `real grey`: i2d on ../shared/realdata, with the photo and with a flat grey
  image of the same size (does the model read the image?);
- `joint consistency`: for each prompt, AbsRel of the jointly generated depth against
  i2d (1 step) of the jointly generated image, the latter taken as the reference;
- `image loss`: the last logged image-velocity loss of the run (v-space MSE for both
  image targets, so comparable), when the model folder sits in a run.
The gallery shows each model's joint samples (image | depth) for the same prompts and seeds.
Constant and ramp baselines are added as rows for the depth columns.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gallery import PROMPTS, tile
from mofo.data import colorize_depth
from mofo.data.benchmarks import EvalSpec, open_benchmark
from mofo.evaluate import evaluate, evaluate_baseline, score_sample
from mofo.pipeline import Pipeline
from report import publish

UNBOUNDED = EvalSpec(min_depth=1e-6, max_depth=1e6)


def depth_scores(pipe, synth, real, limit, extra=()) -> dict:
    """Depth columns of one model (`extra`: (label, benchmark) pairs scored at 1 step)."""
    out = {}
    runs = [("synth@1", synth, 1, limit, False, None), ("objects@1", synth, 1, limit, False, "object_mask"),
            ("synth@10", synth, 10, limit, False, None), ("real", real, 1, None, False, None),
            ("real grey", real, 1, None, True, None)] + [(f"{label}@1", data, 1, limit, False, None)
                                                         for label, data in extra]
    for name, data, steps, n, grey, within in runs:
        def predict(image, seed, steps=steps, grey=grey):
            return pipe.depth(image * 0 + 128 if grey else image, steps=steps, seed=seed)

        summary = evaluate(data, predict, limit=n, within=within).summary()
        out[f"{name} abs_rel"], out[f"{name} delta1"] = summary["abs_rel"], summary["delta1"]
    return out


def joint(pipe, prompts, seeds, log2_alpha=None, steps=None) -> tuple[float, list[list[np.ndarray]]]:
    """(mean consistency AbsRel, gallery rows) of joint generation (tilt and steps: None = the model's)."""
    scores, rows = [], []
    for prompt in prompts:
        row = []
        for seed in seeds:
            rgb, depth = pipe.generate(prompt, seed=seed, log2_alpha=log2_alpha, steps=steps)
            ref = pipe.depth(rgb, steps=1, seed=seed).astype(np.float64)
            scores.append(score_sample([depth.astype(np.float64)], ref, ref > 0, UNBOUNDED, "affine")["abs_rel"])
            row += [rgb, colorize_depth(depth, np.ones_like(depth, dtype=bool))]
        rows.append(row)
    return float(np.mean(scores)), rows


def last_image_loss(model_dir: Path) -> float | None:
    metrics = model_dir.parent / "metrics.jsonl"
    if not metrics.is_file():
        return None
    lines = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    return lines[-1].get("loss_img") if lines else None


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", action="append", required=True, metavar="LABEL=PATH")
    p.add_argument("--root", default="data/synth64", help="synthetic test shards")
    p.add_argument("--extra", action="append", default=[], metavar="LABEL=ROOT",
                   help="another synthetic test split scored at 1 step (repeatable)")
    p.add_argument("--realdata", default=None, help="../shared/realdata (default: next to the project)")
    p.add_argument("--limit", type=int, default=500)
    p.add_argument("--seeds", type=int, default=2, help="joint samples per prompt")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default="benchmarks/results/ablation.json")
    p.add_argument("--gallery", default=None, help="PNG of every model's joint samples")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    synth, real = open_benchmark("synth", args.root), open_benchmark("realdata", args.realdata)
    extra = [(label, open_benchmark("synth", root)) for label, root in (item.split("=", 1) for item in args.extra)]
    rows, gallery = [], []
    for label, path in (item.split("=", 1) for item in args.model):
        pipe = Pipeline.from_pretrained(path)
        consistency, cells = joint(pipe, PROMPTS, range(args.seeds))
        rows.append({"model": label, **depth_scores(pipe, synth, real, args.limit, extra),
                     "joint consistency": consistency, "image loss": last_image_loss(Path(path))})
        gallery += cells
    for name in ("ramp", "constant"):
        row = {"model": f"{name} baseline"}
        cols = [("synth@1", synth, args.limit, None), ("objects@1", synth, args.limit, "object_mask"),
                ("real", real, None, None)] + [(f"{label}@1", data, args.limit, None) for label, data in extra]
        for col, data, n, within in cols:
            summary = evaluate_baseline(data, name, limit=n, within=within).summary()
            row[f"{col} abs_rel"], row[f"{col} delta1"] = summary["abs_rel"], summary["delta1"]
        rows.append(row)
    publish(rows, args.json, title="models side by side", models=args.model, limit=args.limit, prompts=PROMPTS)
    if args.gallery:
        tile(gallery).save(args.gallery)
        print(f"wrote {args.gallery}: rows = models x prompts, columns = seeds x (image | depth)")


if __name__ == "__main__":
    main()
