"""Sampling steps vs. i2d depth quality on the synthetic test split, and why.

    python benchmarks/depth_steps.py --model mofo/assets/default --root data/synth64 --limit 200

Four measurements, each AbsRel / delta1 after affine alignment (mean over images):
1. `i2d`: the sampler at each step count (one seed), plus a median ensemble of
   `--ensemble` seeds at each count: a sampler draws from the posterior, and one
   draw has about twice the squared error of the posterior mean that 1 step returns;
   the ensemble tells that variance apart from a worse model.
2. `trajectory`: along one `--trajectory-steps` run, the model's clean-depth
   estimate at every step (from t = 1 down): does it improve as t falls?
3. `oracle dense`: the model's estimate from the *true* depth noised to level t,
   x_t = (1 - t) z + t eps on every pixel (the state a sampler visits if all went well).
4. `oracle sparse`: the same with only LiDAR-like pixels at level t and pure noise
   elsewhere: the inputs a model post-trained with noise fill of sparse depth saw.
A model that reads partly denoised states well gets better as t falls in 3; one
whose estimate at small t from a dense state (3) is worse than at t = 1 cannot use
what a multi-step sampler feeds it. Writes benchmarks/results/depth_steps.json.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from mofo.data import make_sensor
from mofo.data.benchmarks import open_benchmark
from mofo.evaluate import score_sample
from mofo.flow import interpolate
from mofo.model import position_ids
from mofo.pipeline import Pipeline
from mofo.sampling import predict, sample
from report import publish

LEVELS = (1.0, 0.9, 0.7, 0.5, 0.3, 0.1, 0.02)


def load(data, n):
    """(images (n, 3, R, R) float, depth (n, 1, R, R), valid (n, 1, R, R), eval specs) of the first n samples."""
    samples = [data[i] for i in range(n)]
    return (torch.stack([s["image"] for s in samples]), torch.stack([s["depth"] for s in samples]),
            torch.stack([s["valid_mask"] for s in samples]), [data.spec_of(i) for i in range(n)])


def score(maps: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor, specs, members: int = 1) -> dict:
    """Mean AbsRel / delta1 of relative maps (members * n, 1, R, R), members of an image aligned then medianed."""
    n = gt.shape[0]
    rows = []
    for i in range(n):
        preds = [maps[k * n + i, 0].double().numpy() for k in range(members)]
        g, v = gt[i, 0].double().numpy(), valid[i, 0].numpy()
        rows.append(score_sample(preds, g, v, specs[i], "affine"))
    return {k: float(np.mean([r[k] for r in rows])) for k in ("abs_rel", "delta1")}


class Probe:
    """The pipeline's model, codecs and an empty prompt, for batched i2d evaluations."""

    def __init__(self, pipe: Pipeline, images: torch.Tensor):
        self.pipe, self.b = pipe, images.shape[0]
        self.tokens = pipe.image_codec.encode(images)
        self.txt, self.unc = pipe.text([""] * self.b), pipe.text.empty()
        self.ids = position_ids(*pipe.grid, self.txt.shape[1])

    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.pipe.decode_depth(tokens)

    def sample(self, steps: int, seed: int, callback=None) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        _, depth = sample(self.pipe.model, "i2d", self.txt, self.unc, self.pipe.grid, image=self.tokens,
                          steps=steps, generator=g, callback=callback)
        return self.decode(depth)

    def estimate(self, x_depth: torch.Tensor, t: float) -> torch.Tensor:
        """The model's clean-depth estimate from the depth state x_depth at level t (image clean)."""
        _, x0 = predict(self.pipe.model, self.tokens, x_depth, torch.zeros(self.b), torch.full((self.b,), t),
                        self.txt, self.ids)
        return self.decode(x0)


@torch.no_grad()
def run(pipe, data, args) -> list[dict]:
    images, gt, valid, specs = load(data, min(args.limit, len(data)))
    probe = Probe(pipe, images)
    rows = []
    for steps in args.steps:
        start = time.perf_counter()
        maps = [probe.sample(steps, seed) for seed in range(args.ensemble)]
        seconds = (time.perf_counter() - start) / (args.ensemble * probe.b)
        rows.append({"probe": "i2d", "steps": steps, "seconds_per_image": seconds, **score(maps[0], gt, valid, specs)})
        if args.ensemble > 1:
            rows.append({"probe": f"i2d ensemble {args.ensemble}", "steps": steps,
                         **score(torch.cat(maps), gt, valid, specs, args.ensemble)})
    estimates = []
    probe.sample(args.trajectory_steps, 0, lambda i, t_img, t_depth, v, x0: estimates.append((t_depth, probe.decode(x0))))
    rows += [{"probe": "trajectory", "step": i, "t": t, **score(m, gt, valid, specs)} for i, (t, m) in enumerate(estimates)]

    z, known = pipe.depth_codec.encode(gt, valid)
    lidar = pipe.depth_codec.encode(*make_sensor("lidar")(gt, valid, 0))[1] & known
    eps = torch.randn(z.shape, generator=torch.Generator().manual_seed(0))
    for t in LEVELS:
        x_t = interpolate(z, eps, torch.full((probe.b,), t))
        rows.append({"probe": "oracle dense", "t": t, **score(probe.estimate(x_t, t), gt, valid, specs)})
        rows.append({"probe": "oracle sparse", "t": t, **score(probe.estimate(torch.where(lidar, x_t, eps), t), gt, valid, specs)})
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=None)
    p.add_argument("--root", default="data/synth64")
    p.add_argument("--limit", type=int, default=200)
    p.add_argument("--steps", type=int, nargs="+", default=[1, 2, 4, 10])
    p.add_argument("--ensemble", type=int, default=5, help="seeds per image for the ensemble rows")
    p.add_argument("--trajectory-steps", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default="benchmarks/results/depth_steps.json")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    pipe = Pipeline.from_pretrained(args.model)
    data = open_benchmark("synth", args.root)
    rows = run(pipe, data, args)
    publish(rows, args.json, title="i2d depth vs sampling steps, trajectory and oracle states", model=pipe.name,
            root=args.root, n_images=min(args.limit, len(data)))

if __name__ == "__main__":
    main()
