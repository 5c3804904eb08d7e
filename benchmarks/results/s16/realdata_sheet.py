"""Contact sheet of ../shared/realdata: photo | ground truth | each model's 1-step estimate aligned to it (affine, as
scored), all at 160x120, near bright. Rows are frames, labelled by key and per-model AbsRel.

    python benchmarks/results/s16/realdata_sheet.py OUT.png LABEL=MODEL [LABEL=MODEL ...]
"""
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from mofo.align import align
from mofo.data import colorize_depth, to_uint8
from mofo.data.benchmarks import open_benchmark
from mofo.evaluate import eval_mask, score_sample
from mofo.pipeline import Pipeline

W, H = 160, 120


def small(x: np.ndarray, nearest: bool = False) -> np.ndarray:
    t = torch.from_numpy(np.ascontiguousarray(x)).float()
    t = t.permute(2, 0, 1)[None] if t.ndim == 3 else t[None, None]
    t = F.interpolate(t, size=(H, W), mode="nearest" if nearest else "area")
    return t[0].permute(1, 2, 0).numpy() if x.ndim == 3 else t[0, 0].numpy()


out, models = sys.argv[1], [a.split("=", 1) for a in sys.argv[2:]]
pipes = [(label, Pipeline.from_pretrained(path)) for label, path in models]
data = open_benchmark("realdata", None)
rows = []
for i in range(len(data)):
    s = data[i]
    image, gt, valid = to_uint8(s["image"]), s["depth"][0].numpy(), s["valid_mask"][0].numpy() > 0
    tiles, notes = [small(image).astype(np.uint8), colorize_depth(small(gt * valid, True), small(valid * 1.0, True) > 0.5)], []
    for label, pipe in pipes:
        pred = pipe.depth(image, steps=1, seed=0)
        spec = data.spec_of(i)
        notes.append(f"{label} {score_sample([pred], gt, valid, spec)['abs_rel']:.3f}")
        aligned = align(pred.astype(np.float64), gt, eval_mask(gt, valid, spec), "affine", spec)
        tiles.append(colorize_depth(small(np.maximum(aligned, 1e-3)), None))
    row = Image.fromarray(np.concatenate(tiles, axis=1))
    ImageDraw.Draw(row).text((2, 2), f"{s['key'][-40:]}  " + "  ".join(notes), fill=(255, 255, 255))
    rows.append(np.asarray(row))
Image.fromarray(np.concatenate(rows, axis=0)).save(out)
print(out)
