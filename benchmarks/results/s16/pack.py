"""Package a run's checkpoint as a bundled-style model folder (float16 weights, sampling defaults, provenance).

    python benchmarks/results/s16/pack.py SRC OUT NAME [DEPTH_MAX DEPTH_MU] [--stage "how the run was made"]

SRC: RUN/final or RUN/checkpoints/step_N (EMA weights). The architecture is the bundled one (preset small, x target;
the resolution is the run's own); the sampling defaults are the bundled model's, with depth_max / depth_mu overridable
for the validation probes. `--stage` names the run (default: session 16's `cont_post.sh`); the stages before it are the
provenance of the run's `--init` folder (its `train.init`), read now, so pack before that folder changes.
"""
import argparse

from pathlib import Path

from mofo.checkpoint import CONFIG, package, read_info

CONT = ("bash benchmarks/results/s16/cont_post.sh: mofo train --config configs/default_post.toml --stage post "
        "--init mofo/assets/default --data synth:mix --sensor lidar --steps 6000 --lr 2e-4 --set warmup=100 "
        "--set flow.p_joint=0.3 --set flow.p_i2d=0.6 --set flow.p_d2i=0.1 --set photometric=0.5 --set flow.i2d_t1=0.5 "
        "(session 16, DDP 2 processes x 1 thread, compiled)")
ARCHITECTURE = "train.preset and train.model name the architecture (preset small, x target); the stages say how it was trained"
p = argparse.ArgumentParser()
p.add_argument("src"), p.add_argument("out"), p.add_argument("name")
p.add_argument("depth_max", nargs="?", type=float, default=10.0)
p.add_argument("depth_mu", nargs="?", type=float, default=3.0)
p.add_argument("--stage", default=CONT)
a = p.parse_args()
sampling = {"steps": 20, "cfg": 4.0, "depth_steps": 1, "complete_steps": 1, "depth_max": a.depth_max, "depth_mu": a.depth_mu}
train = read_info(a.src).get("train", {})
init = train.get("init", "")
before = read_info(init).get("provenance", {}) if init and (Path(init) / CONFIG).is_file() else {}
stages = [*before.get("stages", []), f"{init}: {before.get('name', 'no provenance')}", a.stage]
package(a.src, a.out, {"name": a.name, "stages": stages, "architecture": ARCHITECTURE, "docs": "docs/default_model.md"},
        sampling=sampling, train={"preset": "small", "model": train.get("model", {}) | {"image_target": "x"}})
print(a.out)
