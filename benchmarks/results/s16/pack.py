"""Package a run's checkpoint as a bundled-style model folder (float16 weights, sampling defaults, provenance).

    python benchmarks/results/s16/pack.py SRC OUT NAME [DEPTH_MAX DEPTH_MU]

SRC: RUN/final or RUN/checkpoints/step_N (EMA weights). The architecture is the bundled one (preset small, x target);
the sampling defaults are the bundled model's, with depth_max / depth_mu overridable for the validation probes.
"""
import sys

from mofo.checkpoint import package

src, out, name = sys.argv[1:4]
depth_max = float(sys.argv[4]) if len(sys.argv) > 4 else 10.0
depth_mu = float(sys.argv[5]) if len(sys.argv) > 5 else 3.0
sampling = {"steps": 20, "cfg": 4.0, "depth_steps": 1, "complete_steps": 1, "depth_max": depth_max, "depth_mu": depth_mu}
stages = ["mofo/assets/default (mix-small-10000-11600, float16, commit fdbebdb)",
          "bash benchmarks/results/s16/cont_post.sh: mofo train --config configs/default_post.toml --stage post "
          "--init mofo/assets/default --data synth:mix --sensor lidar --steps 6000 --lr 2e-4 --set warmup=100 "
          "--set flow.p_joint=0.3 --set flow.p_i2d=0.6 --set flow.p_d2i=0.1 --set photometric=0.5 --set flow.i2d_t1=0.5 "
          "(session 16, DDP 2 processes x 1 thread, compiled)"]
package(src, out, {"name": name, "stages": stages, "docs": "docs/default_model.md"}, sampling=sampling,
        train={"preset": "small", "model": {"image_target": "x"}})
print(out)
