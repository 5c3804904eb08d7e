"""Session 15 probe: i2d AbsRel vs steps under stronger time shifts of the sampler's grid (mu), bundled model
(capped), on the validation split; the model estimates badly at low t (docs/default_model.md, "Sampling steps").

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 python benchmarks/results/s15/shift_probe.py [ROOT] [LIMIT] [MODEL] [MUS]

MUS: comma-separated shifts (default 1.1,2.0,3.0).

MODEL (default: the bundled one) keeps its own `depth_max`; choose that first (cap_probe.py).
"""
import sys

import numpy as np
import torch

from mofo.data import to_uint8
from mofo.data.benchmarks import open_benchmark
from mofo.evaluate import evaluate
from mofo.pipeline import Pipeline, _to_tensor, fit, unfit

root = sys.argv[1] if len(sys.argv) > 1 else "data/mixval64"
limit = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2] != "-" else None
pipe = Pipeline.from_pretrained(sys.argv[3] if len(sys.argv) > 3 else None)
ds = open_benchmark("synth", root)
txt, unc = pipe._text([""])


def depth(image, seed, steps, mu):
    x, box = fit(_to_tensor(image), pipe.res, "resize")
    _, d = pipe._sample("i2d", txt, unc, pipe.grid, image=pipe.image_codec.encode(x), steps=steps, mu=mu,
                        generator=pipe._generator(seed))
    return unfit(pipe.decode_depth(d), box, image.shape[:2])[0, 0].numpy()


mus = [float(m) for m in (sys.argv[4] if len(sys.argv) > 4 else "1.1,2.0,3.0").split(",")]
for mu in mus:
    for steps in (1, 2, 4, 10):
        if steps == 1 and mu != mus[0]:
            continue  # one step evaluates t = 1 whatever the shift
        r = evaluate(ds, lambda img, seed: depth(img, seed, steps, mu), limit=limit).summary()
        print(f"mu {mu} steps {steps}: {r['abs_rel']:.4f} {r['delta1']:.4f}", flush=True)
