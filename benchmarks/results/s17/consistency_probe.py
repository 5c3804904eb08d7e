"""Joint consistency on more samples than the ablation's 16: per model, the 4 gallery prompts x N seeds, mean AbsRel
of the joint depth against 1-step i2d of the joint image (ablation.py's `joint`), with its standard error.

    python benchmarks/results/s17/consistency_probe.py N LABEL=MODEL ...     (FIRST=K: seeds K .. K+N-1)
"""
import os
import sys

import numpy as np

sys.path.insert(0, "benchmarks")
from ablation import UNBOUNDED  # noqa: E402
from gallery import PROMPTS  # noqa: E402
from mofo.evaluate import score_sample  # noqa: E402
from mofo.pipeline import Pipeline  # noqa: E402

n = int(sys.argv[1])
for arg in sys.argv[2:]:
    label, path = arg.split("=", 1)
    pipe = Pipeline.from_pretrained(None if path == "-" else path)
    scores = []
    for prompt in PROMPTS:
        for seed in range(int(os.environ.get("FIRST", 0)), int(os.environ.get("FIRST", 0)) + n):
            rgb, depth = pipe.generate(prompt, seed=seed)
            ref = pipe.depth(rgb, steps=1, seed=seed).astype(np.float64)
            scores.append(score_sample([depth.astype(np.float64)], ref, ref > 0, UNBOUNDED, "affine")["abs_rel"])
    s = np.array(scores)
    np.save(f"benchmarks/results/s17/consistency_{label}_{os.environ.get('FIRST', 0)}.npy", s)
    per_prompt = " ".join(f"{v:.3f}" for v in s.reshape(len(PROMPTS), n).mean(1))
    print(f"{label}: {s.mean():.4f} +- {s.std(ddof=1) / np.sqrt(len(s)):.4f} ({len(s)} samples; per prompt {per_prompt})", flush=True)
