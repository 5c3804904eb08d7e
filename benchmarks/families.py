"""Per-family scores of a synthetic test split: where a model's error comes from.

    python benchmarks/families.py --root data/mix64 NAME=RESULT.csv [NAME=RESULT.csv ...] --json OUT.json

Each CSV is the per-image file `mofo eval --benchmark synth --json X.json` writes beside its
summary (X.csv). The split's scene graphs name each image's family (`room`, `street`, `open`;
open scenes are indoor or outdoor), and each row of the table is the mean AbsRel / delta1
of one family, one column pair per CSV; `all` is the whole split.
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from mofo.data.shards import ShardReader
from report import named_files, publish


def families(root: Path) -> dict[str, str]:
    """Image key -> scene family (`open` split into `open indoor` / `open outdoor`) of a test split."""
    try:
        reader = ShardReader(root, split="test")
    except FileNotFoundError as e:
        raise SystemExit(str(e))
    out = {}
    for i in range(len(reader)):
        meta = reader.meta(i)
        if "graph" not in meta:
            raise SystemExit(f"{meta['key']} in {root} has no scene graph: not a split written by `mofo data synth`")
        family = meta["graph"]["family"]
        if family == "open":
            family += " indoor" if meta["graph"].get("indoor") else " outdoor"
        out[meta["key"]] = family
    return out


def by_family(rows: list[dict], family: dict[str, str]) -> dict[str, dict]:
    """{family: {n, abs_rel, delta1}} means over the rows of a per-image CSV, plus `all`."""
    missing = [r["key"] for r in rows if r["key"] not in family]
    if missing:
        raise SystemExit(f"{len(missing)} images of the CSV are not in the split (first: {missing[0]}): wrong --root?")
    groups: dict[str, list[dict]] = {"all": rows}
    for r in rows:
        groups.setdefault(family[r["key"]], []).append(r)
    return {name: {"n": len(g), **{m: float(np.mean([float(r[m]) for r in g])) for m in ("abs_rel", "delta1")}}
            for name, g in groups.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("results", nargs="+", help="NAME=per-image CSV of `mofo eval --benchmark synth`")
    p.add_argument("--root", required=True, help="the test split the CSVs were scored on (e.g. data/mix64)")
    p.add_argument("--json", default=None, help="write the table here")
    args = p.parse_args()
    family = families(Path(args.root))
    scores = {}
    for name, path in named_files(args.results).items():
        with open(path, newline="") as f:
            scores[name] = by_family(list(csv.DictReader(f)), family)
    names = sorted({g for s in scores.values() for g in s}, key=lambda g: (g != "all", g))
    rows = [{"family": g, "n": next(s[g]["n"] for s in scores.values() if g in s),
             **{f"{name} {m}": s[g][m] for name, s in scores.items() if g in s for m in ("abs_rel", "delta1")}}
            for g in names]
    publish(rows, args.json, title=f"per-family scores on {args.root}", root=args.root)


if __name__ == "__main__":
    main()
