"""How red is a photo's colour cast, against the synthetic world's own images, with and without the training jitter.

    python benchmarks/results/s20/casts.py [SPLIT]     (SPLIT: a `mofo data synth` test split, default data/mix96)

Cast of an image: log(channel mean / mean of the three channel means); printed as R-G and R-B. For the split: the
50/95/99th percentiles of R-G, the share of images as red as the slambook2 ch5 room (R-G > 0.35 and R-B > 0.3) by
family, and the same after `jitter` at white-balance ranges 0.1 (the default), 0.3 and 0.5; the 5/50/95th percentiles of
the mean luma of the rendered rooms. Then every realdata frame with its mean luma.
"""
import collections
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, "benchmarks")
from families import families  # noqa: E402
from mofo.data.benchmarks import open_benchmark  # noqa: E402
from mofo.data.photometric import LUMA, jitter  # noqa: E402


def casts(x):
    """x (B, 3, H, W) -> (B, 2): R-G and R-B of log(channel mean / grey mean)."""
    c = x.mean((2, 3)).clamp_min(1e-4).log()
    return torch.stack([c[:, 0] - c[:, 1], c[:, 0] - c[:, 2]], 1)


def red(c):
    """(B, 2) casts -> (B,) bool: as red as the slambook2 ch5 room (R-G > 0.35 and R-B > 0.3)."""
    return (c[:, 0] > 0.35) & (c[:, 1] > 0.3)


def mean_luma(x):
    """x (B, 3, H, W) in [0, 1] -> (B,) mean BT.601 luma."""
    return torch.einsum("bchw,c->b", x, x.new_tensor(LUMA)) / x[0, 0].numel()


if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "data/mix96")
    split, family = open_benchmark("synth", root), families(root)
    samples = [split[i] for i in range(len(split))]
    x = torch.stack([s["image"] for s in samples])
    names = [family[s["key"]] for s in samples]
    for label, images in [("as rendered", x)] + [(f"jitter, white {w}", jitter(x, 0, w)) for w in (0.1, 0.3, 0.5)]:
        c = casts(images)
        pct = np.percentile(c[:, 0].numpy(), [50, 95, 99]).round(3)
        by = collections.Counter(n for n, r in zip(names, red(c).tolist()) if r)
        share = ", ".join(f"{f} {by[f] / names.count(f):.2f}" for f in sorted(set(names)))
        print(f"{label:18s} R-G p50/p95/p99 {pct[0]:.3f} / {pct[1]:.3f} / {pct[2]:.3f}; as red as ch5: "
              f"{red(c).float().mean():.3f} ({share})")
    rooms = mean_luma(x)[[n == "room" for n in names]].numpy()
    print("rooms' mean luma p5/p50/p95", " / ".join(f"{v:.3f}" for v in np.percentile(rooms, [5, 50, 95])))
    real = open_benchmark("realdata")
    for i in range(len(real)):
        s = real[i]
        c, y = casts(s["image"][None])[0], mean_luma(s["image"][None])[0]
        print(f"{s['key']:50s} R-G {c[0]:+.3f}  R-B {c[1]:+.3f}  luma {y:.3f}")
