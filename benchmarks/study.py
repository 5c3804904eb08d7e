"""The paper's four claims in miniature (issue #12): a study anyone can re-run on a CPU.

    OMP_NUM_THREADS=1 python benchmarks/study.py --part pretrain --jobs 2   # data + the recipe model (first)
    OMP_NUM_THREADS=1 python benchmarks/study.py --part scaling --jobs 2    # then any part, in any order
    python benchmarks/study.py --report      # tables, benchmarks/results/study.json, docs/study_*.png, docs/results.md
    python benchmarks/study.py --smoke --root /tmp/s --data-dir /tmp/s/data --part all --report --out-dir /tmp/s

Every arm starts from `RECIPE` (the bundled-model recipe; change it there and only there) and
trains with the library's trainer (`mofo.train`) in its own run folder `ROOT/<part>/<arm>`,
always resuming: a re-run continues a stopped arm and skips finished ones. An arm's results
are cached in `RESULTS/<part>/<arm>.json` (default `benchmarks/results/study_arms`, tracked by
git: a study spans sessions, and a fresh checkout has no `runs/`), so `--report` is cheap and
needs no run folder. An arm whose checkpoint another arm starts from is trained again when
that checkpoint is gone (same seed, same batches); its cached result is kept. `--jobs 2` runs two
arms side by side, each a one-thread process (two one-thread jobs beat one two-thread job on
this 2-core CPU). Arms a part needs from another part (the recipe model of `pretrain`) run
first, wherever they are listed.

Data: the synthetic world's scene mix (rooms, streets, open), written once as shards under
`--data-dir`: `train` (as many images as pre-training draws samples, so the recipe model
sees each once), `train_1x` / `train_4x` (its first 1/16 and 4/16, linked), and `test`
(held-out scenes, dense depth, an object mask per image). Depth is scored with the zero-shot
protocol (`mofo.evaluate`: per-image affine alignment on all valid pixels), on every valid
pixel and separately on the object pixels, and on `../shared/realdata`; the constant and ramp
baselines are rows of every depth table. Sampling probes reuse benchmarks/depth_steps.py,
joint consistency benchmarks/ablation.py, completion benchmarks/completion.py.

Parts (docs/results.md states the budgets and commands):
  pretrain    the data, the recipe T2I model and its post-training (the reference arm)
  scaling     three widths (>= 8x parameters), same pre- and post-training samples
  data        the recipe size pre-trained on 1x, 4x, 16x distinct images, same steps
  sparse      LiDAR-like (~5 %) vs dense depth supervision, same steps, several seeds
  scratch     the same post-training from random weights (no teacher)
  regression  the same backbone trained to regress depth in one forward pass (flow.regression)
  fill        sparse-input fill noise / mean / nearest, with and without the mask input
  sampling    AbsRel vs i2d steps and ensemble size; joint consistency vs log2_alpha
  completion  `complete` vs i2d + alignment vs nearest / linear interpolation, several sparsities
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

ROOT_DIR = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Recipe:
    """What every arm starts from: the current best guess of the bundled-model recipe."""

    preset: str = "small"  # 64 px, 8-px pixel-space tokens
    width: int = 192  # the preset's; the scaling part varies it (heads = width / head_dim)
    model: dict = field(default_factory=lambda: {"image_target": "x"})  # ModelConfig overrides
    flow: dict = field(default_factory=lambda: {"sparse_fill": "noise", "p_joint": 0.3, "p_i2d": 0.6,
                                                "p_d2i": 0.1})  # FlowConfig overrides (the bundled model's shares)
    sensor: str = "lidar"  # post-training depth supervision
    depth_steps: int = 1  # i2d sampling steps of every depth number
    family: str = "mix"  # synthetic scene family (rooms, streets, open)
    pre: dict = field(default_factory=lambda: {"lr": 5e-4, "warmup": 200, "ema_decay": 0.999})
    post: dict = field(default_factory=lambda: {"lr": 3e-4, "warmup": 100, "ema_decay": 0.999,
                                                "photometric": 0.5})  # jitter: the bundled model's since session 12


RECIPE = Recipe()


@dataclass(frozen=True)
class Budget:
    """Sizes and step counts of the study; `SMOKE` is the test suite's tiny version."""

    pre_steps: int = 1000  # pre-training steps of every T2I model (x batch_size samples)
    post_steps: int = 500  # post-training steps of every depth arm
    batch_size: int = 32
    widths: tuple = (96, 192, 288)  # scaling part: 1.3 M / 5.2 M / 11.5 M T2I parameters
    head_dim: int = 32
    multiples: tuple = (1, 4, 16)  # data part: distinct pre-training images, 16x = pre_steps * batch_size
    seeds: int = 2  # seeds of the parts whose differences may be small (sparse, scratch, regression)
    fill_seeds: int = 2  # the fill variants differ by under 0.02 at one seed (issue #12: then >= 2 seeds)
    curve_seeds: int = 2  # post-training seeds of each scaling / data point (one pre-training per point)
    test_images: int = 1000
    real_images: int | None = None  # None: all of ../shared/realdata
    sampling_images: int = 200
    steps_grid: tuple = (1, 2, 4, 10, 50)
    ensembles: tuple = (1, 4, 10)
    alphas: tuple = (0.0, 2.0, 5.0, 8.0)
    joint_seeds: int = 4
    joint_steps: int = 20
    completion_images: int = 100
    ckpt_every: int = 100
    log_every: int = 25
    model: dict = field(default_factory=dict)  # extra ModelConfig overrides (SMOKE: a tiny model)
    warmup: int | None = None  # None: the recipe's


BUDGET = Budget()
SMOKE = Budget(
    pre_steps=4, post_steps=2, batch_size=4, widths=(16, 32, 48), head_dim=16, seeds=2, fill_seeds=1, curve_seeds=1,
    test_images=4, real_images=2,
    sampling_images=3, steps_grid=(1, 2), ensembles=(1, 2), alphas=(0.0, 5.0), joint_seeds=1, joint_steps=2,
    completion_images=2, ckpt_every=2, log_every=1, warmup=1,
    model={"n_double": 1, "n_single": 1, "n_depth_decoder": 1, "resolution": 16, "patch_size": 4,
           "image_channels": 48, "text_encoder": "bytes", "txt_dim": 16, "txt_len": 8},
)
# Measured on this 2-core CPU with 4 other trainings running (so conservative): samples/s of one
# one-thread process, bf16, batch 32, 64 px, a few steps each (docs/results.md, "Budgets").
THROUGHPUT = {("pretrain", 96): 38.0, ("pretrain", 192): 24.0, ("pretrain", 288): 16.0,
              ("post", 192): 13.5, ("scratch", 192): 15.5, ("regression", 192): 15.0}


@dataclass(frozen=True)
class Study:
    """Where the study lives and how big it is."""

    root: Path = Path("runs/study")
    data_dir: Path = Path("data/study")
    results: Path = Path("benchmarks/results/study_arms")
    realdata: str = ""  # "" = ../shared/realdata next to the project, "none" = skip
    smoke: bool = False
    recipe: Recipe = RECIPE
    budget: Budget = BUDGET

    @property
    def width(self) -> int:
        return self.budget.widths[1] if self.smoke else self.recipe.width

    def real_root(self) -> Path | None:
        from mofo.data.benchmarks import RealData

        if self.realdata == "none":
            return None
        root = Path(self.realdata) if self.realdata else RealData.default_root
        return root if root.is_dir() else None

    def argv(self) -> list[str]:
        """The flags that rebuild this study in a child process."""
        out = ["--root", str(self.root), "--data-dir", str(self.data_dir), "--results", str(self.results),
               "--realdata", self.realdata or ""]
        return out + (["--smoke"] if self.smoke else [])


# ----------------------------------------------------------------------------- arms


@dataclass(frozen=True)
class Arm:
    """One unit of work: a training run (pretrain / post) or a probe of a trained arm (sampling, joint, completion).

    id "part/name" is also its folder under the study root; `init` the id of the pre-training
    arm a post arm starts from, or "scratch"; `needs` the ids that must finish first.
    """

    id: str
    kind: str  # "pretrain" | "post" | "sampling" | "joint" | "completion"
    width: int = 0
    multiple: int = 16  # pretrain: distinct images, in 1/16 of pre_steps * batch_size
    init: str = ""
    seed: int = 0
    overrides: dict = field(default_factory=dict)  # TrainConfig overrides beyond the recipe (dotted keys)

    @property
    def needs(self) -> tuple[str, ...]:
        if self.kind in ("sampling", "joint", "completion"):
            return (REF,)
        return (self.init,) if self.kind == "post" and self.init != "scratch" else ()


T2I, REF = "pretrain/t2i", "pretrain/ref"


def seeded(prefix: str, n: int, **kw) -> list[Arm]:
    """Arms `prefix-s0 .. prefix-s{n-1}` (seed 0 of a lidar post arm on the recipe model is `REF`)."""
    return [Arm(f"{prefix}-s{s}", "post", seed=s, **kw) for s in range(n)]


def all_arms(study: Study) -> dict[str, Arm]:
    """Every arm of every part, by id."""
    b, w = study.budget, study.width
    arms = [Arm(T2I, "pretrain", w), Arm(REF, "post", w, init=T2I)]
    for width in b.widths:
        if width != w:
            arms += [Arm(f"scaling/t2i-w{width}", "pretrain", width)]
            arms += curve_arms(study, f"scaling/post-w{width}", width, f"scaling/t2i-w{width}")
    for m in b.multiples[:-1]:
        arms += [Arm(f"data/t2i-{m}x", "pretrain", w, multiple=m)] + curve_arms(study, f"data/post-{m}x", w, f"data/t2i-{m}x")
    arms += seeded("sparse/lidar", b.seeds, width=w, init=T2I)[1:]
    arms += seeded("sparse/dense", b.seeds, width=w, init=T2I, overrides={"sensor": "none"})
    arms += seeded("scratch/scratch", b.seeds, width=w, init="scratch")
    arms += seeded("regression/t2i", b.seeds, width=w, init=T2I, overrides={"flow.regression": True})
    arms += [Arm("regression/scratch-s0", "post", w, init="scratch", overrides={"flow.regression": True})]
    for fill in ("noise", "mean", "nearest"):
        for mask in (False, True):
            if (fill, mask) != ("noise", False):
                arms += seeded(f"fill/{fill}{'-mask' if mask else ''}", b.fill_seeds, width=w, init=T2I,
                               overrides={"flow.sparse_fill": fill, "model.depth_mask_input": mask})
    arms += [Arm("sampling/steps", "sampling"), Arm("sampling/joint", "joint"), Arm("completion/all", "completion")]
    return {a.id: a for a in arms}


def curve_ids(study: Study, name: str) -> list[str]:
    """The post-training seeds of one scaling / data point: `name`, then `name-s1`, ..."""
    return [name] + [f"{name}-s{s}" for s in range(1, study.budget.curve_seeds)]


def curve_arms(study: Study, name: str, width: int, init: str) -> list[Arm]:
    """The post arms (one per seed) of one scaling / data point, from its pre-training arm `init`."""
    return [Arm(i, "post", width, init=init, seed=s) for s, i in enumerate(curve_ids(study, name))]


def lidar_seeds(study: Study) -> list[str]:
    """The recipe arm's seeds: REF and the sparse part's lidar arms."""
    return [REF] + [f"sparse/lidar-s{s}" for s in range(1, study.budget.seeds)]


PARTS = ("pretrain", "scaling", "data", "sparse", "scratch", "regression", "fill", "sampling", "completion")


def part_arms(study: Study, part: str) -> list[str]:
    """Ids a part runs, dependencies first (each once)."""
    arms = all_arms(study)
    wanted = [i for i in arms if i.startswith(part + "/")]
    if part in ("scratch", "regression"):
        wanted = lidar_seeds(study) + wanted
    if part in ("scaling", "data"):
        wanted = lidar_seeds(study)[: study.budget.curve_seeds] + wanted
    order: list[str] = []

    def visit(i: str):
        for dep in arms[i].needs:
            visit(dep)
        if i not in order:
            order.append(i)

    for i in wanted:
        visit(i)
    return order


# ----------------------------------------------------------------------------- data


def train_dir(study: Study, multiple: int) -> Path:
    return study.data_dir / ("train" if multiple == study.budget.multiples[-1] else f"train_{multiple}x")


def ensure_data(study: Study, workers: int = 1) -> None:
    """Write the train shards (16x), link the 1x / 4x subsets, write the test split; all resumable."""
    from mofo.data.shards import shard_name, write_split

    b, res = study.budget, model_config(study, study.width).resolution
    total = b.pre_steps * b.batch_size
    unit = max(1, total // b.multiples[-1])
    common = dict(res=res, seed=0, family=study.recipe.family, progress=not study.smoke)
    write_split(study.data_dir / "train", unit * b.multiples[-1], shard_size=unit, workers=workers, **common)
    for m in b.multiples[:-1]:
        out = train_dir(study, m)
        out.mkdir(parents=True, exist_ok=True)
        for k in range(m):
            link = out / shard_name("train", k)
            if not link.exists():
                link.symlink_to(Path("..") / "train" / shard_name("train", k))
        write_split(out, unit * m, shard_size=unit, **common)  # the shards exist: writes the manifest only
    write_split(study.data_dir / "test", b.test_images, split="test", shard_size=1000, workers=workers, **common)


# ----------------------------------------------------------------------------- training


def model_config(study: Study, width: int):
    """The ModelConfig of an arm of this width (recipe model, budget overrides, heads from the head dim)."""
    from mofo.config import get_preset

    return get_preset(study.recipe.preset).replace(**model_overrides(study, width))


def model_overrides(study: Study, width: int) -> dict:
    hd = study.budget.head_dim
    return {**study.recipe.model, **study.budget.model, "hidden_size": width, "num_heads": width // hd,
            "axes_dim": (hd // 4,) * 4}


def train_overrides(study: Study, arm: Arm) -> dict:
    """TrainConfig overrides (dotted keys) of a training arm: the recipe, the budget, then the arm's own."""
    r, b = study.recipe, study.budget
    stage = r.pre if arm.kind == "pretrain" else r.post
    steps = b.pre_steps if arm.kind == "pretrain" else b.post_steps
    o = {"preset": r.preset, "batch_size": b.batch_size, "steps": steps, "seed": arm.seed, "ckpt_every": b.ckpt_every,
         "keep": 1, "sample_every": steps, "log_every": b.log_every, **stage,
         **{f"model.{k}": v for k, v in model_overrides(study, arm.width).items()}}
    if b.warmup is not None:
        o["warmup"] = b.warmup
    if arm.kind == "pretrain":
        o.update(stage="pretrain", data=str(train_dir(study, arm.multiple)))
    else:
        init = "scratch" if arm.init == "scratch" else str(study.root / arm.init / "checkpoints" / f"step_{b.pre_steps:07d}")
        o.update(stage="post", data=str(train_dir(study, b.multiples[-1])), init=init, sensor=r.sensor,
                 **{f"flow.{k}": v for k, v in r.flow.items()})
    return {**o, **arm.overrides}


def train_arm(study: Study, arm: Arm) -> Path:
    """Train (or resume, or skip when finished) one arm; returns its run folder.

    Post arms start from the pre-training's last online weights (not its EMA, which lags
    after a short run), as the bundled model did."""
    from mofo.checkpoint import latest_checkpoint
    from mofo.train import make_train_config, train

    run = study.root / arm.id
    cfg = make_train_config(None, train_overrides(study, arm))
    last = latest_checkpoint(run) if run.is_dir() else None
    if last is None or not (run / "final").is_dir() or last.name != f"step_{cfg.steps:07d}":
        start = time.perf_counter()
        train(cfg, run, resume=True)
        log_time(run, time.perf_counter() - start)
    return run


def log_time(run: Path, seconds: float) -> None:
    """Add this call's wall seconds to RUN/study_time.json (resumed runs add up)."""
    from mofo.files import write_json

    path = run / "study_time.json"
    before = json.loads(path.read_text())["seconds"] if path.is_file() else 0.0
    write_json(path, {"seconds": before + seconds})


def train_summary(run: Path) -> dict:
    """Wall minutes of training and the mean samples/s of the run's log."""
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    speeds = [r["samples_per_s"] for r in rows if "samples_per_s" in r]
    seconds = json.loads((run / "study_time.json").read_text())["seconds"] if (run / "study_time.json").is_file() else 0
    return {"train_minutes": seconds / 60, "samples_per_s": sum(speeds) / max(1, len(speeds)),
            "final_loss": rows[-1]["loss"] if rows else float("nan")}


# ----------------------------------------------------------------------------- evaluation

DEPTH_KEYS = ("abs_rel", "delta1")


def brief(report) -> dict:
    """AbsRel, delta1 and the image count of a `mofo.evaluate.Report`."""
    s = report.summary() if report.rows else {k: float("nan") for k in DEPTH_KEYS}
    return {k: s[k] for k in DEPTH_KEYS} | {"n": len(report.rows)}


def save_predictions(pipe, data, out: Path, n: int, steps: int, chunk: int = 100) -> None:
    """i2d maps of the first n images as `out/<key>.npy` (batched through `Pipeline.depths`)."""
    import numpy as np

    from mofo.data import to_uint8

    out.mkdir(parents=True, exist_ok=True)
    for start in range(0, n, chunk):
        samples = [data[i] for i in range(start, min(n, start + chunk))]
        maps = pipe.depths([to_uint8(s["image"]) for s in samples], steps=steps, seed=start)
        for s, m in zip(samples, maps):
            np.save(out / f"{s['key']}.npy", m.astype(np.float32))


def depth_scores(study: Study, pipe) -> dict:
    """synth (every pixel), objects (object pixels of the same images) and real: AbsRel / delta1."""
    from mofo.data.benchmarks import open_benchmark
    from mofo.evaluate import evaluate, evaluate_saved

    b, steps = study.budget, study.recipe.depth_steps
    synth = open_benchmark("synth", study.data_dir / "test")
    n = min(b.test_images, len(synth))
    preds = study.root / ".predictions" / str(os.getpid())
    try:
        save_predictions(pipe, synth, preds, n, steps)
        out = {"synth": brief(evaluate_saved(synth, preds, limit=n)),
               "objects": brief(evaluate_saved(synth, preds, limit=n, within="object_mask"))}
    finally:
        shutil.rmtree(preds, ignore_errors=True)
    real = study.real_root()
    if real is not None:
        data = open_benchmark("realdata", real)
        out["real"] = brief(evaluate(data, lambda img, seed: pipe.depth(img, steps=steps, seed=seed), limit=b.real_images))
    return out


def post_result(study: Study, arm: Arm, run: Path) -> dict:
    from mofo.model import parameter_counts
    from mofo.pipeline import Pipeline

    pipe = Pipeline.from_pretrained(run / "final")
    counts = parameter_counts(pipe.model.cfg)
    return {"params": counts["backbone"] + counts["depth"], "backbone_params": counts["backbone"],
            **train_summary(run), **depth_scores(study, pipe)}


def sampling_result(study: Study) -> dict:
    """AbsRel / delta1 of i2d at every step count and ensemble size (depth_steps.py's probe)."""
    import torch
    from depth_steps import Probe, load, score

    from mofo.data.benchmarks import open_benchmark
    from mofo.pipeline import Pipeline

    b = study.budget
    pipe = Pipeline.from_pretrained(study.root / REF / "final")
    data = open_benchmark("synth", study.data_dir / "test")
    images, gt, valid, specs = load(data, min(b.sampling_images, len(data)))
    probe, rows = Probe(pipe, images), []
    with torch.no_grad():
        for steps in b.steps_grid:
            maps = [probe.sample(steps, seed) for seed in range(max(b.ensembles))]
            rows += [{"steps": steps, "ensemble": k, **score(torch.cat(maps[:k]), gt, valid, specs, k)}
                     for k in b.ensembles]
    return {"rows": rows, "n_images": images.shape[0]}


def joint_result(study: Study) -> dict:
    """Joint consistency (AbsRel of jointly generated depth against 1-step i2d of the generated image) per tilt."""
    from ablation import joint
    from gallery import PROMPTS

    from mofo.pipeline import Pipeline

    b = study.budget
    pipe = Pipeline.from_pretrained(study.root / REF / "final")
    rows = [{"log2_alpha": a, "consistency_abs_rel": joint(pipe, PROMPTS, range(b.joint_seeds), a, b.joint_steps)[0]}
            for a in b.alphas]
    return {"rows": rows, "prompts": PROMPTS, "seeds": b.joint_seeds, "steps": b.joint_steps}


def completion_result(study: Study) -> dict:
    """benchmarks/completion.py's sets and methods on the reference arm."""
    from completion import kitti_inputs, run_set, synth_inputs

    from mofo.data.benchmarks import open_benchmark
    from mofo.pipeline import Pipeline

    b, steps = study.budget, study.recipe.depth_steps
    pipe = Pipeline.from_pretrained(study.root / REF / "final")
    rows = run_set(pipe, open_benchmark("synth", study.data_dir / "test"), synth_inputs, b.completion_images, steps)
    real = study.real_root()
    if real is not None and (real / "kitti_object_velodyne").is_dir():
        kitti = open_benchmark("kitti_velodyne", real / "kitti_object_velodyne")
        rows += run_set(pipe, kitti, kitti_inputs, b.completion_images if not study.smoke else 1, steps)
    return {"rows": rows}


def result_path(study: Study, arm_id: str) -> Path:
    return study.results / f"{arm_id}.json"


def have(study: Study, arm: Arm) -> bool:
    """Whether the artefact other arms start from is on disk: a pre-training arm's last checkpoint,
    a post arm's final model (probe arms leave none)."""
    if arm.kind == "pretrain":
        return (study.root / arm.id / "checkpoints" / f"step_{study.budget.pre_steps:07d}").is_dir()
    return arm.kind != "post" or (study.root / arm.id / "final").is_dir()


def run_arm(study: Study, arm: Arm) -> dict:
    """Train and evaluate one arm unless its result is cached; returns the result. A training arm
    with a cached result but no artefact on disk is trained again (its result is kept)."""
    from mofo.files import write_json

    path = result_path(study, arm.id)
    if path.is_file() and have(study, arm):
        return json.loads(path.read_text())
    if arm.kind in ("pretrain", "post"):
        run = train_arm(study, arm)
        if path.is_file():
            return json.loads(path.read_text())
        result = train_summary(run) if arm.kind == "pretrain" else post_result(study, arm, run)
        result["config"] = train_overrides(study, arm)
    else:
        result = {"sampling": sampling_result, "joint": joint_result, "completion": completion_result}[arm.kind](study)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, {"arm": arm.id, **result})
    return result


def baselines(study: Study) -> dict:
    """Constant and ramp baselines on synth, its object pixels and realdata (cached in RESULTS/baselines.json)."""
    from mofo.data.benchmarks import open_benchmark
    from mofo.evaluate import evaluate_baseline
    from mofo.files import write_json

    path = study.results / "baselines.json"
    if path.is_file():
        return json.loads(path.read_text())
    synth, b, out = open_benchmark("synth", study.data_dir / "test"), study.budget, {}
    real = study.real_root()
    for name in ("constant", "ramp"):
        n = min(b.test_images, len(synth))
        out[name] = {"synth": brief(evaluate_baseline(synth, name, limit=n)),
                     "objects": brief(evaluate_baseline(synth, name, limit=n, within="object_mask"))}
        if real is not None:
            out[name]["real"] = brief(evaluate_baseline(open_benchmark("realdata", real), name, limit=b.real_images))
    write_json(path, out)
    return out


# ----------------------------------------------------------------------------- scheduling


def done(study: Study, arm_id: str) -> bool:
    return result_path(study, arm_id).is_file()


def plan(study: Study, parts: list[str]) -> list[str]:
    """Arms to run, dependencies first: those without a result, and the arms whose artefact one of
    them starts from but is not on disk (a lost run folder), recursively."""
    arms = all_arms(study)
    order = list(dict.fromkeys(i for part in parts for i in part_arms(study, part)))
    todo = {i for i in order if not done(study, i)}
    grew = True
    while grew:
        lost = {d for i in todo for d in arms[i].needs if d not in todo and not have(study, arms[d])}
        todo |= lost
        grew = bool(lost)
    return [i for i in order if i in todo]


def run_parts(study: Study, parts: list[str], jobs: int) -> None:
    """Every arm of `parts` that `plan` lists; with jobs > 1 as one-thread child processes side
    by side, one pool for all parts (an arm starts as soon as its needs are done and on disk)."""
    arms = all_arms(study)
    todo = plan(study, parts)
    if jobs <= 1:
        for i in todo:
            print(f"[study] {i}", flush=True)
            run_arm(study, arms[i])
        return
    running: dict[str, subprocess.Popen] = {}
    while todo or running:
        for i, proc in list(running.items()):
            if proc.poll() is not None:
                del running[i]
                if proc.returncode:
                    raise RuntimeError(f"arm {i} failed (exit {proc.returncode}); see {study.root / i / 'study.log'}")
        ready = [i for i in todo if all(done(study, d) and have(study, arms[d]) for d in arms[i].needs)]
        while ready and len(running) < jobs:
            i = ready.pop(0)
            todo.remove(i)
            running[i] = launch(study, i)
        time.sleep(0.2 if study.smoke else 5)


def launch(study: Study, arm_id: str) -> subprocess.Popen:
    """`study.py --arm ID` in a one-thread child process, its output in ROOT/ID/study.log."""
    log = study.root / arm_id / "study.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    print(f"[study] {arm_id} -> {log}", flush=True)
    with open(log, "a") as f:
        return subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--arm", arm_id, *study.argv()],
                                stdout=f, stderr=subprocess.STDOUT, env=env, cwd=os.getcwd())


# ----------------------------------------------------------------------------- tables

SETS = ("synth", "objects", "real")
MARGIN = 0.02  # AbsRel difference a verdict needs (below it: at least 2 seeds, else inconclusive)


def results(study: Study, ids: list[str]) -> list[dict]:
    return [json.loads(result_path(study, i).read_text()) for i in ids if done(study, i)]


def depth_row(label: str, found: list[dict]) -> dict | None:
    """One table row: means over the seeds found (and the seed spread of synth AbsRel)."""
    if not found:
        return None
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    row = {"arm": label, "seeds": len(found), "params (M)": found[0]["params"] / 1e6}
    for s in SETS:
        for k, name in (("abs_rel", "AbsRel"), ("delta1", "delta1")):
            if all(s in r for r in found):
                row[f"{s} {name}"] = mean([r[s][k] for r in found])
    values = [r["synth"]["abs_rel"] for r in found]
    if len(values) > 1:
        row["synth AbsRel sd"] = math.sqrt(sum((v - mean(values)) ** 2 for v in values) / (len(values) - 1))
    return row


def baseline_rows(base: dict) -> list[dict]:
    rows = []
    for name, sets in base.items():
        row = {"arm": f"{name} baseline"}
        for s, v in sets.items():
            row[f"{s} AbsRel"], row[f"{s} delta1"] = v["abs_rel"], v["delta1"]
        rows.append(row)
    return rows


def groups(study: Study, part: str) -> list[tuple[str, list[str]]]:
    """(label, arm ids averaged into one row) of a depth part's table."""
    b, w, lidar = study.budget, study.width, lidar_seeds(study)
    unit = max(1, b.pre_steps * b.batch_size // b.multiples[-1])
    ids = lambda prefix, n: [f"{prefix}-s{s}" for s in range(n)]  # noqa: E731
    table = {
        "pretrain": [("recipe (reference arm)", [REF])],
        "scaling": [(f"width {x}", lidar[: b.curve_seeds] if x == w else curve_ids(study, f"scaling/post-w{x}"))
                    for x in b.widths],
        "data": [(f"{m}x ({m * unit} images)", lidar[: b.curve_seeds] if m == b.multiples[-1]
                  else curve_ids(study, f"data/post-{m}x")) for m in b.multiples],
        "sparse": [("LiDAR-like ~5 %", lidar), ("dense", ids("sparse/dense", b.seeds))],
        "scratch": [("from the T2I model", lidar), ("from random weights", ids("scratch/scratch", b.seeds))],
        "regression": [("generative (recipe)", lidar), ("regression, T2I init", ids("regression/t2i", b.seeds)),
                       ("regression, random init", ["regression/scratch-s0"])],
        "fill": [(f"{fill}{', mask input' if mask else ''}",
                  lidar[: b.fill_seeds] if (fill, mask) == ("noise", False)
                  else ids(f"fill/{fill}{'-mask' if mask else ''}", b.fill_seeds))
                 for fill in ("noise", "mean", "nearest") for mask in (False, True)],
    }
    return table.get(part, [])


def part_rows(study: Study, part: str, base: dict | None) -> dict[str, list[dict]]:
    """The tables of a part (name -> rows); empty when nothing of it has run."""
    if part == "sampling":
        out = {}
        for name, arm in (("sampling", "sampling/steps"), ("joint", "sampling/joint")):
            found = results(study, [arm])
            if found:
                out[name] = found[0]["rows"]
        return out
    if part == "completion":
        found = results(study, ["completion/all"])
        return {"completion": found[0]["rows"]} if found else {}
    rows = [r for label, ids in groups(study, part) if (r := depth_row(label, results(study, ids)))]
    return {part: rows + baseline_rows(base or {})} if rows else {}


# ----------------------------------------------------------------------------- verdicts


def cell(rows: list[dict], arm: str, col: str = "synth AbsRel") -> float | None:
    for r in rows:
        if r.get("arm") == arm and col in r:
            return r[col]
    return None


def best_baseline(rows: list[dict]) -> float | None:
    values = [r["synth AbsRel"] for r in rows if r["arm"].endswith("baseline") and "synth AbsRel" in r]
    return min(values) if values else None


def lower_by(a: float | None, b: float | None) -> str:
    """'yes' if AbsRel a is below b by more than MARGIN, 'no' if above by more, 'tie' within, '?' if missing."""
    if a is None or b is None:
        return "?"
    return "yes" if b - a > MARGIN else "no" if a - b > MARGIN else "tie"


def verdict(checks: list[str]) -> str:
    if "?" in checks:
        return "not yet run"
    if all(c == "yes" for c in checks):
        return "held"
    return "did not hold" if "no" in checks else "inconclusive at this scale"


def claim_a(t: dict) -> tuple[str, str]:
    rows, comp = t.get("pretrain", []), t.get("completion", [])
    ref = cell(rows, "recipe (reference arm)")
    lidar = {r["method"]: r["abs_rel"] for r in comp if r.get("set") == "synth" and r.get("input") == "lidar 5%"}
    checks = [lower_by(ref, best_baseline(rows)),
              lower_by(lidar.get("complete"), lidar.get("i2d + alignment")) if lidar else "?"]
    joint = t.get("joint", [])
    checks.append("yes" if joint and all(math.isfinite(r["consistency_abs_rel"]) for r in joint) else "?")
    return verdict(checks), (f"one checkpoint: i2d synth AbsRel {fmt(ref)} vs best baseline {fmt(best_baseline(rows))}; "
                             f"complete {fmt(lidar.get('complete'))} vs i2d + alignment {fmt(lidar.get('i2d + alignment'))} "
                             "from LiDAR-like 5 %; joint generation runs at every tilt (d2i: the run's sample grid)")


def claim_b(t: dict) -> tuple[str, str]:
    rows = t.get("sparse", [])
    lidar, dense = cell(rows, "LiDAR-like ~5 %"), cell(rows, "dense")
    near = "?" if lidar is None or dense is None else ("yes" if lidar - dense <= MARGIN else "no")
    return (verdict([lower_by(lidar, best_baseline(rows)), near]),
            f"sparse {fmt(lidar)} vs dense {fmt(dense)} vs best baseline {fmt(best_baseline(rows))} (synth AbsRel; held: "
            f"sparse beats the baselines by > {MARGIN} and is within {MARGIN} of dense)")


def step(a: dict, b: dict) -> str:
    """Does AbsRel not rise from row a to row b (by more than MARGIN / 2)? A rise under MARGIN
    seen with one seed is '1 seed' (the issue: differences under MARGIN need >= 2 seeds)."""
    up = b["synth AbsRel"] - a["synth AbsRel"]
    if up <= MARGIN / 2:
        return "yes"
    return "no" if up > MARGIN or min(a["seeds"], b["seeds"]) >= 2 else "1 seed"


def trend(rows: list[dict]) -> list[str]:
    """Checks that AbsRel falls along `rows` (the smallest model or data first)."""
    if len(rows) < 2 or any("synth AbsRel" not in r for r in rows):
        return ["?"]
    return [lower_by(rows[-1]["synth AbsRel"], rows[0]["synth AbsRel"])] + [step(a, b) for a, b in zip(rows, rows[1:])]


def claim_c(t: dict) -> tuple[str, str]:
    size, data = ([r for r in t.get(part, []) if not r["arm"].endswith("baseline")] for part in ("scaling", "data"))
    checks = trend(size) + trend(data)
    values = lambda rows: ", ".join(fmt(r.get("synth AbsRel")) for r in rows) or "-"  # noqa: E731
    caveat = f"; a rise under {MARGIN} seen with one seed needs a second" if "1 seed" in checks else ""
    return (verdict(checks),
            f"synth AbsRel by width {values(size)}; by pre-training images {values(data)} "
            f"(held: largest beats smallest by > {MARGIN} on both axes, no step up by more than {MARGIN / 2}{caveat})")


def claim_d(t: dict) -> tuple[str, str]:
    s, r = t.get("scratch", []), t.get("regression", [])
    ref = cell(s, "from the T2I model")
    scratch, reg = cell(s, "from random weights"), cell(r, "regression, T2I init")
    return (verdict([lower_by(ref, scratch), lower_by(cell(r, "generative (recipe)"), reg)]),
            f"T2I init {fmt(ref)} vs random init {fmt(scratch)}; generative {fmt(cell(r, 'generative (recipe)'))} vs "
            f"regression {fmt(reg)} (random-init regression {fmt(cell(r, 'regression, random init'))})")


CLAIMS = {"a": ("per-modality noise levels give one model for every permutation", claim_a),
          "b": ("per-modality decoders make sparse real-world depth enough to train on", claim_b),
          "c": ("depth improves with the pre-trained model's size and its pre-training images", claim_c),
          "d": ("the generative prior beats training from scratch and a plain regressor", claim_d)}


def fmt(x) -> str:
    return "-" if x is None else f"{x:.4f}" if isinstance(x, float) else str(x)


# ----------------------------------------------------------------------------- budgets

EVAL_MINUTES = {"post": 1.0, "sampling": 12.0, "joint": 3.0, "completion": 6.0}  # rough, per arm


def arm_minutes(study: Study, arm: Arm) -> float:
    """Estimated one-thread minutes of an arm from `THROUGHPUT` (other widths scaled like pre-training)."""
    b = study.budget
    if arm.kind not in ("pretrain", "post"):
        return EVAL_MINUTES[arm.kind]
    kind = "pretrain" if arm.kind == "pretrain" else "scratch" if arm.init == "scratch" else \
        "regression" if arm.overrides.get("flow.regression") else "post"
    speed = THROUGHPUT.get((kind, arm.width)) or THROUGHPUT.get((kind, 192), 13.5) * \
        THROUGHPUT.get(("pretrain", arm.width), 24.0) / THROUGHPUT[("pretrain", 192)]
    steps = b.pre_steps if arm.kind == "pretrain" else b.post_steps
    return steps * b.batch_size / speed / 60 + EVAL_MINUTES.get(arm.kind, 0)


def part_minutes(study: Study, part: str, jobs: int = 2) -> float:
    """Wall minutes of a part on its own (arms of `pretrain` taken as done): max(longest chain, total / jobs)."""
    arms = all_arms(study)
    own = [i for i in part_arms(study, part) if part == "pretrain" or not i.startswith("pretrain/")]
    chain = {}
    for i in own:  # dependencies come first
        chain[i] = arm_minutes(study, arms[i]) + max([chain.get(d, 0) for d in arms[i].needs], default=0)
    total = sum(arm_minutes(study, arms[i]) for i in own)
    return max(max(chain.values(), default=0), total / jobs) + (12 if part == "pretrain" else 0)  # + rendering


# ----------------------------------------------------------------------------- plots


def plot_all(tables: dict, out_dir: Path) -> list[Path]:
    """docs/study_{scaling,ablations,sampling}.png from the tables that exist; returns the paths written."""
    import matplotlib

    from mofo.files import atomic_write

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for name, draw in (("scaling", plot_scaling), ("ablations", plot_ablations), ("sampling", plot_sampling)):
        fig = draw(plt, tables)
        if fig is not None:
            path = out_dir / f"study_{name}.png"
            atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight"))
            plt.close(fig)
            written.append(path)
    return written


def model_rows(rows: list[dict]) -> list[dict]:
    return [r for r in rows if not r["arm"].endswith("baseline")]


def baseline_lines(ax, rows: list[dict]) -> None:
    for r in rows:
        if r["arm"].endswith("baseline") and "synth AbsRel" in r:
            ax.axhline(r["synth AbsRel"], ls=":", color="grey")
            ax.text(ax.get_xlim()[0], r["synth AbsRel"], r["arm"], va="bottom", fontsize=7, color="grey")


def plot_scaling(plt, t: dict):
    size, data = model_rows(t.get("scaling", [])), model_rows(t.get("data", []))
    if not size and not data:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, rows, x, label in ((axes[0], size, lambda r: r["params (M)"], "parameters (M, T2I + depth)"),
                               (axes[1], data, lambda r: float(r["arm"].split("(")[1].split()[0]), "pre-training images")):
        for s in SETS:
            pts = [(x(r), r[f"{s} AbsRel"]) for r in rows if f"{s} AbsRel" in r]
            if pts:
                ax.plot(*zip(*pts), "o-", label=s)
        ax.set_xscale("log")
        ax.set_xticks([x(r) for r in rows], [f"{x(r):.3g}" for r in rows])
        ax.xaxis.set_minor_formatter(plt.NullFormatter())
        ax.set_xlabel(label)
        ax.set_ylabel("AbsRel (lower is better)")
        baseline_lines(ax, t.get("scaling" if ax is axes[0] else "data", []))
        ax.legend(fontsize=8)
    axes[0].set_title("model size, same samples")
    axes[1].set_title("distinct pre-training images, same steps")
    return fig


def plot_ablations(plt, t: dict):
    parts = [p for p in ("sparse", "scratch", "regression", "fill") if t.get(p)]
    if not parts:
        return None
    fig, axes = plt.subplots(1, len(parts), figsize=(3.2 * len(parts), 3.8), squeeze=False)
    for ax, p in zip(axes[0], parts):
        rows = model_rows(t[p])
        ax.bar(range(len(rows)), [r["synth AbsRel"] for r in rows], yerr=[r.get("synth AbsRel sd", 0) for r in rows])
        ax.set_xticks(range(len(rows)), [r["arm"] for r in rows], rotation=40, ha="right", fontsize=7)
        ax.set_title(p)
        ax.set_ylabel("synth AbsRel")
        baseline_lines(ax, t[p])
    return fig


def plot_sampling(plt, t: dict):
    steps, joint = t.get("sampling", []), t.get("joint", [])
    if not steps and not joint:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for k in sorted({r["ensemble"] for r in steps}):
        pts = [(r["steps"], r["abs_rel"]) for r in steps if r["ensemble"] == k]
        axes[0].plot(*zip(*pts), "o-", label=f"ensemble {k}")
    axes[0].set(xscale="log", xlabel="i2d steps", ylabel="synth AbsRel", title="sampling steps and ensemble size")
    if steps:
        axes[0].legend(fontsize=8)
    if joint:
        axes[1].plot([r["log2_alpha"] for r in joint], [r["consistency_abs_rel"] for r in joint], "o-")
    axes[1].set(xlabel="log2_alpha (tilt)", ylabel="AbsRel, joint depth vs i2d of the image", title="joint consistency")
    return fig


# ----------------------------------------------------------------------------- report

PART_TEXT = {
    "pretrain": "The data (train shards of the scene mix, the 1x / 4x subsets, 1 000 held-out test scenes), the "
                "recipe T2I model and its post-training: the reference arm every other part compares with.",
    "scaling": "Claim (c), size: widths {widths} (heads of {head_dim} dims), each pre-trained for {pre_steps} steps x "
               "{batch_size} samples and post-trained for {post_steps} steps the same way ({curve_seeds} post-training "
               "seed(s) per point; one pre-training each).",
    "data": "Claim (c), data: the recipe size pre-trained for the same {pre_steps} steps on {multiples} x 1/16 of "
            "the train shards (16x: every sample a new image; 1x: each image seen 16 times); {curve_seeds} "
            "post-training seed(s) per point, one pre-training each.",
    "sparse": "Claim (b): post-training on LiDAR-like sparse depth (~5 % of pixels) vs dense depth, same steps, "
              "{seeds} seeds.",
    "scratch": "Claim (d): the same post-training from random weights (`init = \"scratch\"`: no T2I prior, no "
               "teacher), {seeds} seeds.",
    "regression": "Claim (d): the same backbone trained to regress depth from the image in one forward pass "
                  "(`flow.regression`: i2d at t_depth = 1), same data and steps, from the T2I model ({seeds} "
                  "seeds) and from random weights.",
    "fill": "METHOD §6: the missing pixels of sparse depth in the noisy input filled with noise / the mean / the "
            "nearest measurement, with and without the validity mask as input ({fill_seeds} seed(s)).",
    "sampling": "Claim (a) / sampler: AbsRel vs i2d steps {steps_grid} and ensemble size {ensembles} on the first "
                "{sampling_images} test images; joint consistency (AbsRel of the jointly generated depth against "
                "1-step i2d of the generated image) vs the tilt `log2_alpha` {alphas}, {joint_steps} steps.",
    "completion": "Claim (a): `complete` vs i2d + least-squares alignment vs nearest / linear interpolation of the "
                  "points, from random 1 / 5 / 20 % and LiDAR-like input on {completion_images} test images, and "
                  "held-out scan points of the KITTI frames in ../shared/realdata.",
}


def markdown_table(rows: list[dict]) -> str:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    fmt_cell = lambda v: (f"{v:.2f}" if abs(v) >= 10 else f"{v:.4f}") if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(fmt_cell(r.get(k, "")) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def command(part: str) -> str:
    return f"OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/study.py --part {part} --jobs 2"


def budget_section(study: Study) -> list[str]:
    b = study.budget
    lines = ["## Budgets", "",
             f"Pre-training: {b.pre_steps} steps x {b.batch_size} = {b.pre_steps * b.batch_size} samples per T2I model; "
             f"post-training: {b.post_steps} steps x {b.batch_size} = {b.post_steps * b.batch_size} samples per arm; "
             f"depth scored at {study.recipe.depth_steps} i2d step(s) on {b.test_images} test images.", "",
             "Throughput (samples/s of one one-thread process, bf16, batch 32, 64 px, scenes rendered on the fly; "
             "measured over 5 steps while four other trainings shared the 2 cores, so an idle machine, and the "
             "study's pre-rendered shards, are faster; estimates below use these figures):", "",
             "| arm kind | width | samples/s |", "|---|---|---|"]
    lines += [f"| {k} | {w} | {v:.1f} |" for (k, w), v in THROUGHPUT.items()]
    lines += ["", "| part | estimated wall time, 2 jobs |", "|---|---|"]
    lines += [f"| `{p}` | {part_minutes(study, p):.0f} min |" for p in PARTS]
    return lines + [""]


def write_markdown(study: Study, tables: dict, claims: dict, plots: list[Path], path: Path) -> None:
    from mofo.files import write_text

    b = study.budget
    lines = ["# Results: the paper's four claims in miniature", "",
             "<!-- generated by `python benchmarks/study.py --report` from benchmarks/results/study.json; "
             "edit the text in benchmarks/study.py -->", "",
             "Issue #12: each claim of the paper at small scale, with our own trainer, on this project's 2-core CPU. "
             "Every arm starts from `RECIPE` in `benchmarks/study.py`; numbers are AbsRel / delta1 after per-image "
             "affine alignment (mean over images) on the held-out synthetic test split (all valid pixels, and the "
             "object pixels alone), and on `../shared/realdata`. Verdicts follow the stated rules with a margin of "
             f"{MARGIN} AbsRel; negative results are results.", "", "## Claims", "", "| claim | verdict | evidence |",
             "|---|---|---|"]
    lines += [f"| ({k}) {text} | **{claims[k][0]}** | {claims[k][1]} |" for k, (text, _) in CLAIMS.items()]
    lines += ["", "## Recipe", "", "```", json.dumps(asdict(study.recipe), indent=1), "```", ""]
    lines += budget_section(study)
    for part in PARTS:
        lines += [f"## `{part}`", "", PART_TEXT[part].format(**asdict(b)), "", "```bash", command(part), "```", ""]
        found = {name: rows for name, rows in tables.items() if name == part or (part == "sampling" and name == "joint")}
        lines += [markdown_table(rows) + "\n" for rows in found.values()] or ["*Not yet run.*", ""]
    lines += ["## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots] + [""]
    lines += ["Report: `python benchmarks/study.py --report` (tables, benchmarks/results/study.json, the plots, "
              "this file). Smoke version (every part, tiny sizes): `tests/test_study.py`.", ""]
    write_text(path, "\n".join(lines))


def report(study: Study, json_path: Path, docs: Path) -> dict:
    """Tables of every part that has results (printed through report.publish), JSON, plots and docs/results.md."""
    from report import publish

    base = baselines(study) if (study.data_dir / "test" / "test.json").is_file() else {}
    tables = {}
    for part in PARTS:
        tables.update(part_rows(study, part, base))
    for name, rows in tables.items():
        publish(rows, None, title=f"\n== {name}")
    claims = {k: fn(tables) for k, (_, fn) in CLAIMS.items()}
    data = publish(None, json_path, recipe=asdict(study.recipe), budget=asdict(study.budget), baselines=base,
                   parts=tables, claims={k: {"verdict": v, "evidence": e} for k, (v, e) in claims.items()})
    docs.mkdir(parents=True, exist_ok=True)
    plots = plot_all(tables, docs)
    write_markdown(study, tables, claims, plots, docs / "results.md")
    print(f"wrote {docs / 'results.md'} and {len(plots)} plot(s)")
    return data


# ----------------------------------------------------------------------------- command line


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--part", action="append", default=[], help=f"one of {', '.join(PARTS)}, or all (repeatable)")
    p.add_argument("--arm", help="run one arm by id (what --jobs launches)")
    p.add_argument("--report", action="store_true", help="tables, JSON, plots and docs/results.md from cached results")
    p.add_argument("--jobs", type=int, default=1, help="arms side by side, one thread each")
    p.add_argument("--root", default="runs/study", help="run folders: ROOT/<part>/<arm>")
    p.add_argument("--data-dir", default="data/study", help="train / test shards (written when missing)")
    p.add_argument("--results", default="benchmarks/results/study_arms", help="cached results: RESULTS/<part>/<arm>.json")
    p.add_argument("--realdata", default="", help="../shared/realdata by default; 'none' skips it")
    p.add_argument("--smoke", action="store_true", help="tiny sizes and a few steps (the test suite's study)")
    p.add_argument("--json", default="benchmarks/results/study.json")
    p.add_argument("--out-dir", default="docs", help="where results.md and study_*.png go")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    import torch

    args = parse(argv)
    torch.set_num_threads(1)
    study = Study(Path(args.root), Path(args.data_dir), Path(args.results), args.realdata, args.smoke, RECIPE,
                  SMOKE if args.smoke else BUDGET)
    parts = list(PARTS) if "all" in args.part else args.part
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        sys.exit(f"unknown part(s) {', '.join(unknown)}; known: {', '.join(PARTS)}, all")
    if args.arm:
        run_arm(study, all_arms(study)[args.arm])
    if parts:
        ensure_data(study, workers=max(1, args.jobs))
    run_parts(study, parts, args.jobs)
    if args.report or not (parts or args.arm):
        report(study, Path(args.json), Path(args.out_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
