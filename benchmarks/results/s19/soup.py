"""Average the weights of model folders of one architecture (a "model soup", Wortsman et al. 2022).

    python benchmarks/results/s19/soup.py OUT A=0.5 B=0.5 [--mu MU]

Each argument FOLDER=WEIGHT names a packaged model folder (model.safetensors + config.json). Weights are averaged in
float32 with the given coefficients (normalised to sum 1) and written as float16; config.json and the empty-prompt
encoding come from the first folder, with the soup's recipe appended to its provenance.
"""
import argparse
import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

p = argparse.ArgumentParser()
p.add_argument("out"), p.add_argument("parts", nargs="+")
p.add_argument("--mu", type=float, default=None, help="override sampling.depth_mu")
a = p.parse_args()
parts = [(Path(s.rsplit("=", 1)[0]), float(s.rsplit("=", 1)[1])) for s in a.parts]
total = sum(w for _, w in parts)
soup = {}
for folder, w in parts:
    for k, v in load_file(folder / "model.safetensors").items():
        soup[k] = soup.get(k, 0) + v.float() * (w / total)
out = Path(a.out)
out.mkdir(parents=True, exist_ok=True)
save_file({k: v.half().contiguous() for k, v in soup.items()}, out / "model.safetensors")
shutil.copy(parts[0][0] / "text_empty.safetensors", out / "text_empty.safetensors")
cfg = json.loads((parts[0][0] / "config.json").read_text())
cfg.setdefault("provenance", {}).setdefault("stages", []).append(
    "weight average (soup): " + ", ".join(f"{f} x {w / total:.3f}" for f, w in parts))
if a.mu is not None:
    cfg["sampling"]["depth_mu"] = a.mu
(out / "config.json").write_text(json.dumps(cfg, indent=1))
print(out)
