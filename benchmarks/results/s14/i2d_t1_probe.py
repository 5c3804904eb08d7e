"""The study's recipe arm (`pretrain/ref`: 500 post-training steps from the study's T2I model) with a share of its
i2d samples at t_depth = 1 (`flow.i2d_t1`), scored like every study arm (session 14 probe).

    mkdir -p runs/s14/probe && ln -sfn ../../study/pretrain runs/s14/probe/pretrain
    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 python benchmarks/results/s14/i2d_t1_probe.py 0.5 [seed]
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import study as S  # noqa: E402

share, seed = float(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 0
st = S.Study(root=Path("runs/s14/probe"))
arm = S.Arm(f"probe/i2d-t1-{share}-s{seed}", "post", st.width, init=S.T2I, seed=seed, overrides={"flow.i2d_t1": share})
result = S.run_arm(st, arm)
print(json.dumps({k: result[k] for k in ("synth", "objects", "real") if k in result}))
