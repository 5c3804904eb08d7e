"""Quick validation of a checkpoint with the bundled sampling settings (depth cap 10, depth shift 3), 1 step:
mixval all pixels, object pixels, realdata (photo).   python benchmarks/results/s16/quick.py MODEL [ROOT]"""
import dataclasses
import sys

from mofo.data.benchmarks import open_benchmark
from mofo.evaluate import evaluate
from mofo.pipeline import Pipeline

pipe = Pipeline.from_pretrained(sys.argv[1])
pipe.sampling = dataclasses.replace(pipe.sampling, depth_max=10.0, depth_mu=3.0)
root = sys.argv[2] if len(sys.argv) > 2 else "data/mixval64"
cols = []
for bench, r, within in [("synth", root, None), ("synth", root, "object_mask"), ("realdata", None, None)]:
    s = evaluate(open_benchmark(bench, r), lambda img, seed: pipe.depth(img, steps=1, seed=seed), within=within).summary()
    cols.append(f"{bench}/{within or 'all'} {s['abs_rel']:.4f} ({s['delta1']:.3f})")
print(sys.argv[1], root, " | ".join(cols), flush=True)
