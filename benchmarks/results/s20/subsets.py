"""Are red or dark rendered rooms hard? AbsRel of per-image CSVs of the mix test split on the indoor images as red as
the slambook2 ch5 room (`casts.red`), as dark (mean luma < 0.3), and both (luma < 0.33).

    python benchmarks/results/s20/subsets.py NAME=eval.csv ...     (CSVs of `mofo eval --benchmark synth --root data/mix64`)
"""
import csv
import sys
from pathlib import Path

import numpy as np

sys.path[:0] = ["benchmarks", str(Path(__file__).parent)]
from casts import casts, mean_luma, red  # noqa: E402
from families import families  # noqa: E402
from mofo.data.benchmarks import open_benchmark  # noqa: E402

root = Path("data/mix64")
family, split = families(root), open_benchmark("synth", root)
scores = {name: {r["key"]: float(r["abs_rel"]) for r in csv.DictReader(open(path))}
          for name, path in (a.split("=", 1) for a in sys.argv[1:])}
rows = []
for i in range(len(split)):
    s = split[i]
    x = s["image"][None]
    rows.append((s["key"], family[s["key"]], bool(red(casts(x))[0]), float(mean_luma(x)[0])))
for fam in ("room", "open indoor"):
    groups = {"all": [r for r in rows if r[1] == fam]}
    groups |= {"red": [r for r in groups["all"] if r[2]], "dark": [r for r in groups["all"] if r[3] < 0.3],
               "red and dark": [r for r in groups["all"] if r[2] and r[3] < 0.33]}
    for label, g in groups.items():
        cols = "  ".join(f"{name} {np.mean([s[r[0]] for r in g]):.4f}" for name, s in scores.items())
        print(f"{fam:12s} {label:13s} n={len(g):4d}  {cols}")
