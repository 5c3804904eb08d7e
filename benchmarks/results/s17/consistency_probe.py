"""Joint consistency on more samples than the ablation's 16: per model, the 4 gallery prompts x N seeds, mean AbsRel
of the joint depth against 1-step i2d of the joint image (ablation.py's `joint`, one sample at a time), with its
standard error; the per-sample scores go to R/consistency_LABEL_FIRST.npy (R: env, default benchmarks/results/s17).

    python benchmarks/results/s17/consistency_probe.py N LABEL=MODEL ...     (FIRST=K: seeds K .. K+N-1)
"""
import os
import sys

import numpy as np

sys.path.insert(0, "benchmarks")
from ablation import joint  # noqa: E402
from gallery import PROMPTS  # noqa: E402
from mofo.pipeline import Pipeline  # noqa: E402

n, first = int(sys.argv[1]), int(os.environ.get("FIRST", 0))
out = os.environ.get("R", "benchmarks/results/s17")
for arg in sys.argv[2:]:
    label, path = arg.split("=", 1)
    pipe = Pipeline.from_pretrained(None if path == "-" else path)
    s = np.array([joint(pipe, [prompt], [seed])[0] for prompt in PROMPTS for seed in range(first, first + n)])
    np.save(f"{out}/consistency_{label}_{first}.npy", s)
    per_prompt = " ".join(f"{v:.3f}" for v in s.reshape(len(PROMPTS), n).mean(1))
    print(f"{label}: {s.mean():.4f} +- {s.std(ddof=1) / np.sqrt(len(s)):.4f} ({len(s)} samples; per prompt {per_prompt})", flush=True)
