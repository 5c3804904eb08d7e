"""Realdata per scene: the slambook2 ch5 frames (one room) and the ch7 frames (one desk) count as one scene each, every
other frame as its own, so the mean weighs each scene once. For information; the protocol is the per-image mean.

    python benchmarks/results/s20/per_scene.py
"""
import csv
import re

import numpy as np

R = "benchmarks/results"
for name, path in [("bundled", f"{R}/s18/real_bundled.csv"), ("L128", f"{R}/s20/real_L128.csv"),
                   ("R128c", f"{R}/s19/real_R128c.csv"), ("ramp", f"{R}/s18/real_ramp.csv"),
                   ("constant", f"{R}/s18/real_constant.csv")]:
    scenes: dict[str, list[float]] = {}
    for row in csv.DictReader(open(path)):
        m = re.search(r"slambook2_rgbd/ch\d", row["key"])
        scenes.setdefault(m.group(0) if m else row["key"], []).append(float(row["abs_rel"]))
    per_image = np.mean([v for s in scenes.values() for v in s])
    per_scene = np.mean([np.mean(s) for s in scenes.values()])
    print(f"{name:9s} per image {per_image:.4f}  per scene ({len(scenes)}) {per_scene:.4f}")
