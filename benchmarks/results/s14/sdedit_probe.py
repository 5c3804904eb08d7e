"""Completion that lets the model see the measurements (session 14 probe).

`complete` at its default 1 step starts the depth from pure noise, where the imposed points are
noise too, so the model's estimate ignores them. Here the depth state starts instead from the
inverse-depth linear interpolation of the points (pooled to the model grid, normalised like the
points), noised to t0, and one Euler step (t0 -> 0) gives the model's estimate; the fusion is the
shipped one. t0 = 1 is the shipped `complete`.

    python benchmarks/results/s14/sdedit_probe.py --limit 50 --t0 1 0.8 0.5 --json benchmarks/results/s14/sdedit_probe.json
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from completion import kitti_inputs, run_set, synth_inputs  # noqa: E402
from mofo.codecs import contract, patchify  # noqa: E402
from mofo.completion import fuse, interpolate_points, inverse_points  # noqa: E402
from mofo.data.benchmarks import RealData, open_benchmark  # noqa: E402
from mofo.pipeline import COMPLETE_SMOOTH, Pipeline, pool_sparse, unfit  # noqa: E402
from mofo.sampling import denoise  # noqa: E402


def complete_from(pipe, t0):
    shipped = pipe.complete

    @torch.no_grad()
    def complete(image, sparse, steps=None, seed=0, prompt=""):
        if t0 >= 1:
            return shipped(image, sparse, steps=steps, seed=seed)
        tokens, box = pipe._encode_image(image)
        sparse = np.asarray(sparse, dtype=np.float32)
        known = sparse > 0
        dense = 1 / interpolate_points(inverse_points(sparse, known), known)
        pooled, valid = pool_sparse(sparse, pipe.res)
        start = F.adaptive_avg_pool2d(torch.from_numpy(dense).float()[None, None], (pipe.res, pipe.res))
        z = patchify(contract(start / pooled[valid].mean()), pipe.depth_codec.patch_size)
        g = pipe._generator(seed)
        x = (1 - t0) * z + t0 * torch.randn(z.shape, generator=g)
        txt, unc = pipe._text([prompt])
        t_depth = torch.tensor([t0, 0.0])
        _, depth = denoise(pipe.model, "i2d", tokens, x, torch.zeros(2), t_depth, txt, unc, pipe.grid)
        estimate = unfit(pipe.decode_depth(depth).float(), box, sparse.shape[:2])[0, 0].numpy()
        per_patch = COMPLETE_SMOOTH * pipe.depth_codec.patch_size
        smooth = (per_patch * sparse.shape[0] / box[2], per_patch * sparse.shape[1] / box[3])
        return fuse(estimate, sparse, known, np.asarray(image), seed=seed, smooth=smooth)[0].astype(np.float32)
    return complete


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--t0", type=float, nargs="+", default=[1.0, 0.8, 0.5])
    p.add_argument("--json", default="benchmarks/results/s14/sdedit_probe.json")
    args = p.parse_args()
    torch.set_num_threads(1)
    pipe = Pipeline.from_pretrained(None)
    kitti = open_benchmark("kitti_velodyne", RealData.default_root / "kitti_object_velodyne")
    synth = open_benchmark("synth", "data/synth64")
    rows = []
    for t0 in args.t0:
        pipe.complete = complete_from(Pipeline.from_pretrained(None), t0)
        for data, inputs, limit in ((synth, synth_inputs, args.limit), (kitti, kitti_inputs, 3)):
            for r in run_set(pipe, data, inputs, limit, None):
                if r["method"] in ("complete", "linear", "linear (inverse depth)"):
                    rows.append({"t0": t0, **r})
                    print(f"t0 {t0}  {r['set']:15s} {r['input']:11s} {r['method']:24s} {r['abs_rel']:.5f}", flush=True)
    Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
