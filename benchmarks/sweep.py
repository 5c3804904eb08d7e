"""Model size and token layout at equal training compute: which small model gives the best synth AbsRel?

    OMP_NUM_THREADS=1 python benchmarks/sweep.py --run small-64-8     # one arm (resumable; run arms side by side)
    python benchmarks/sweep.py --report                               # table + benchmarks/results/sweep.json

Each arm is the bundled model's recipe (configs/default_pretrain.toml, then
configs/default_post.toml with LiDAR-like sparse depth) at its own size and token
layout. The step counts give every arm the same compute: ~33 minutes of one CPU thread,
from throughputs probed on this 2-core machine (pre-training samples/s, 1 thread, bf16:
tiny-32/4 75, small-32/4 47, small-64/8 46, base-64/8 29; post-training costs ~1.8x more
per sample). Every arm is scored on the same 64-px synthetic test split (1 step, affine
alignment): 32-px models see the image resized to 32 px and their depth is resized back,
as `mofo depth` does for any input size.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from mofo.files import write_json
from report import publish

ARMS = {  # name -> preset, model overrides, steps per stage (pre-training = post-training)
    "tiny-32-4": ("tiny", {}, 1600),
    "small-32-4": ("small", {"resolution": 32, "patch_size": 4, "image_channels": 48}, 1000),
    "small-64-8": ("small", {}, 1000),
    "base-64-8": ("base", {}, 630),
}


def train(stage_args: list[str], out: Path) -> float:
    """Run (or resume) one `mofo train`; returns its wall seconds in this call."""
    if (out / "final").is_dir():
        return 0.0
    cmd = [str(Path(sys.executable).with_name("mofo")), "train", "--out", str(out), *stage_args]
    if any((out / "checkpoints").glob("step_*")):
        cmd.append("--resume")
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    return time.perf_counter() - start


def train_seconds(run: Path, batch: int = 32) -> float:
    """Training time from the run's own throughput log (robust to resumes and pauses)."""
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if "samples_per_s" in r]
    total = 0.0
    for prev, row in zip([{"step": 0}, *rows], rows):
        total += (row["step"] - prev["step"]) * batch / row["samples_per_s"]
    return total


def run_arm(name: str, root: str, realdata: str):
    preset, model, steps = ARMS[name]
    base = Path("runs/sweep") / name
    overrides = [f"--set=model.{k}={v}" for k, v in model.items()]
    train(["--config", "configs/default_pretrain.toml", "--preset", preset, "--data", root,
           "--steps", str(steps), *overrides], base / "pretrain")
    init = base / "pretrain" / "checkpoints" / f"step_{steps:07d}"
    train(["--config", "configs/default_post.toml", "--init", str(init), "--data", root,
           "--sensor", "lidar", "--steps", str(steps)], base / "post")
    result = {"arm": name, "preset": preset, "model": model, "steps": steps,
              "train_minutes": (train_seconds(base / "pretrain") + train_seconds(base / "post")) / 60,
              **score(base / "post" / "final", root, realdata)}
    write_json(base / "result.json", result)
    print(json.dumps(result, indent=2))


def score(model: Path, root: str, realdata: str) -> dict:
    from mofo.data.benchmarks import open_benchmark
    from mofo.evaluate import evaluate
    from mofo.pipeline import Pipeline

    pipe = Pipeline.from_pretrained(str(model))
    out = {"params": sum(p.numel() for p in pipe.model.parameters())}
    sets = [("synth", open_benchmark("synth", root))]
    if Path(realdata).is_dir():
        sets.append(("realdata", open_benchmark("realdata", realdata)))
    for label, data in sets:
        s = evaluate(data, lambda img, seed: pipe.depth(img, steps=1, seed=seed)).summary()
        out[label] = {"abs_rel": s["abs_rel"], "delta1": s["delta1"], "n": s["n_images"]}
    return out


def table_row(r: dict) -> dict:
    """One arm's result as a flat table row."""
    return {"arm": r["arm"], "params (M)": r["params"] / 1e6, "steps": r["steps"], "train min": r["train_minutes"],
            "synth AbsRel": r["synth"]["abs_rel"], "delta1": r["synth"]["delta1"],
            "real AbsRel": r.get("realdata", {}).get("abs_rel", float("nan"))}


def report(path: str) -> dict:
    """The table of finished arms; the JSON holds their results as "arms"."""
    arms = [json.loads(p.read_text()) for p in sorted(Path("runs/sweep").glob("*/result.json"))]
    if not arms:
        sys.exit("no finished arms under runs/sweep; run some with --run NAME first")
    publish([table_row(r) for r in arms], None, title="model size and token layout at equal compute")
    return publish(None, path, arms=arms)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", choices=ARMS, help="train (or resume) and score one arm")
    p.add_argument("--report", action="store_true", help="print the table of finished arms and write JSON")
    p.add_argument("--root", default="data/synth64", help="shards from `mofo data synth` (train + test)")
    p.add_argument("--realdata", default="../shared/realdata")
    p.add_argument("--json", default="benchmarks/results/sweep.json")
    args = p.parse_args()
    if args.run:
        run_arm(args.run, args.root, args.realdata)
    if args.report or not args.run:
        report(args.json)


if __name__ == "__main__":
    main()
