"""Is one model really better than another on the same images? Paired differences with bootstrap intervals.

    python benchmarks/paired.py REF=ref.csv NAME=other.csv [NAME=...] [--metric abs_rel]
        [--cluster REGEX] [--resamples 10000] [--json OUT.json]

Each CSV is the per-image file `mofo eval --json X.json` writes beside its summary (X.csv); every
model must have scored the same images (rows are matched by key). For each model after the
first (the reference) the table gives its mean, the mean per-image difference to the reference
(model - reference), a 95 % percentile interval of that difference from a bootstrap over images,
and the share of images on which the model is better. An interval that excludes 0 is a
difference the images support; one that straddles 0 is not.

Frames of one scene are not independent: `--cluster REGEX` resamples whole groups instead, the
group of an image being the regex's first match in its key (images without a match stay alone).
For `../shared/realdata`, `--cluster 'slambook2_rgbd/ch\\d'` pools the two posed sequences.
"""
from __future__ import annotations

import argparse
import csv
import re
from pathlib import Path

import numpy as np

from report import named_files, publish

HIGHER_IS_BETTER = {"delta1", "delta2", "delta3"}


def load(path: str | Path, metric: str) -> dict[str, float]:
    """Image key -> `metric` of a per-image CSV."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or metric not in rows[0]:
        raise SystemExit(f"{path} has no column {metric!r} (columns: {', '.join(rows[0]) if rows else 'none'})")
    return {r["key"]: float(r[metric]) for r in rows}


def clusters(keys: list[str], pattern: str | None) -> np.ndarray:
    """(N,) group index of each key: the first match of `pattern` in it, or the key itself."""
    names = [(m.group(0) if pattern and (m := re.search(pattern, k)) else k) for k in keys]
    return np.unique(names, return_inverse=True)[1]


def bootstrap_interval(diff: np.ndarray, group: np.ndarray, resamples: int, seed: int = 0,
                       level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of mean(diff) when whole groups are drawn with replacement.

    diff: (N,) per-image differences; group: (N,) group index in [0, G). Each resample draws
    G groups and takes the mean over all their images (so large groups weigh by their size)."""
    n_groups = int(group.max()) + 1
    sums = np.bincount(group, weights=diff, minlength=n_groups)
    sizes = np.bincount(group, minlength=n_groups).astype(float)
    draws = np.random.default_rng(seed).integers(0, n_groups, size=(resamples, n_groups))
    means = sums[draws].sum(1) / sizes[draws].sum(1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def compare(scores: dict[str, dict[str, float]], metric: str, pattern: str | None, resamples: int) -> list[dict]:
    """One row per model: mean, and for all but the first, the paired difference to the first."""
    (ref_name, ref), *others = scores.items()
    keys = sorted(ref)
    for name, s in others:
        if set(s) != set(ref):
            odd = sorted(set(s) ^ set(ref))
            raise SystemExit(f"{name} and {ref_name} scored different images ({len(odd)} differ, first: {odd[0]})")
    group = clusters(keys, pattern)
    base = np.array([ref[k] for k in keys])
    sign = 1.0 if metric in HIGHER_IS_BETTER else -1.0
    rows = [{"model": ref_name, "n": len(keys), "groups": int(group.max()) + 1, metric: float(base.mean())}]
    for name, s in others:
        diff = np.array([s[k] for k in keys]) - base
        low, high = bootstrap_interval(diff, group, resamples)
        rows.append({"model": name, "n": len(keys), "groups": rows[0]["groups"], metric: float(base.mean() + diff.mean()),
                     "diff": float(diff.mean()), "ci95 low": low, "ci95 high": high,
                     "better on": float(np.mean(sign * diff > 0))})
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("results", nargs="+", help="NAME=per-image CSV of `mofo eval`; the first is the reference")
    p.add_argument("--metric", default="abs_rel")
    p.add_argument("--cluster", default=None, help="regex: images whose keys share its first match resample together")
    p.add_argument("--resamples", type=int, default=10000)
    p.add_argument("--json", default=None, help="write the table here")
    args = p.parse_args()
    if len(args.results) < 2:
        raise SystemExit("give at least two NAME=CSV: a reference and a model to compare with it")
    if args.resamples < 100:
        raise SystemExit(f"--resamples must be >= 100, got {args.resamples}")
    scores = {name: load(path, args.metric) for name, path in named_files(args.results).items()}
    rows = compare(scores, args.metric, args.cluster, args.resamples)
    publish(rows, args.json, title=f"{args.metric}: paired differences to {rows[0]['model']} (95 % bootstrap interval)",
            metric=args.metric, cluster=args.cluster, resamples=args.resamples)


if __name__ == "__main__":
    main()
