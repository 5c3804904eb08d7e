"""Zero-shot depth evaluation: align, clip, score, aggregate (METHOD.md §8).

The protocol of Marigold / Depth Anything / MoGe, per image:
1. evaluation mask = valid ground truth, min_depth < gt < max_depth, inside the
   dataset's crop (KITTI: Garg, NYUv2: Eigen), see `mofo.data.benchmarks.EvalSpec`;
2. align the prediction to the ground truth on that mask: least-squares scale and
   shift in depth space ("affine", default), in disparity space ("disparity": the
   prediction is an affine-invariant disparity, fitted to 1/gt), or scale only by
   the ratio of medians ("median");
3. clip to [min_depth, max_depth]; with an ensemble, the K aligned predictions
   are combined by their per-pixel median before clipping;
4. metrics on the mask pixels.
A benchmark's number is the mean over images of the per-image metrics (not a
mean over all pixels pooled), so every image weighs the same.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from mofo.align import ALIGNMENTS, align, fit_scale_shift  # noqa: F401  (fit_scale_shift: older imports)
from mofo.data.benchmarks import Benchmark, EvalSpec
from mofo.data.viz import to_uint8
from mofo.files import write_json, write_text

METRICS = ("abs_rel", "sq_rel", "rmse", "rmse_log", "delta1", "delta2", "delta3", "silog")
BASELINES = ("constant", "ramp")


def baseline_depth(name: str, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) float64 prediction of a trivial baseline that never looks at the image.

    "constant": 1 everywhere (aligned, it becomes the image's mean or median depth);
    "ramp": depth rising linearly from 1 at the bottom row to 2 at the top row, the
    layout of a ground plane seen from above it. Scored through the same alignment
    as a model, they tell whether a model reads anything from the image.
    """
    h, w = shape
    if name == "constant":
        return np.ones((h, w))
    if name == "ramp":
        rows = np.linspace(2.0, 1.0, h) if h > 1 else np.ones(1)
        return np.repeat(rows[:, None], w, axis=1)
    raise ValueError(f"unknown baseline {name!r}; known: {', '.join(BASELINES)}")


def eval_mask(gt: np.ndarray, valid: np.ndarray, spec: EvalSpec) -> np.ndarray:
    """(H, W) bool: pixels that count, i.e. valid and min_depth < gt < max_depth and inside the crop."""
    mask = valid & (gt > spec.min_depth) & (gt < spec.max_depth)
    return mask & spec.crop.mask(*gt.shape) if spec.crop is not None else mask


def depth_metrics(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """Standard metrics over 1-D arrays of positive depths (metres).

    abs_rel = mean |d-g|/g, sq_rel = mean (d-g)^2/g, rmse, rmse_log (natural log),
    delta_k = fraction with max(d/g, g/d) < 1.25^k, silog = 100 sqrt(mean e^2 - (mean e)^2)
    with e = log d - log g (Eigen et al. 2014 with lambda = 1, x100 as in the KITTI benchmark).
    """
    d, g = pred.astype(np.float64), gt.astype(np.float64)
    e = np.log(d) - np.log(g)
    ratio = np.maximum(d / g, g / d)
    return {
        "abs_rel": float(np.mean(np.abs(d - g) / g)),
        "sq_rel": float(np.mean((d - g) ** 2 / g)),
        "rmse": float(np.sqrt(np.mean((d - g) ** 2))),
        "rmse_log": float(np.sqrt(np.mean(e**2))),
        "delta1": float(np.mean(ratio < 1.25)),
        "delta2": float(np.mean(ratio < 1.25**2)),
        "delta3": float(np.mean(ratio < 1.25**3)),
        "silog": float(100 * np.sqrt(max(np.mean(e**2) - np.mean(e) ** 2, 0.0))),
    }


def score_sample(preds: list[np.ndarray], gt: np.ndarray, valid: np.ndarray, spec: EvalSpec,
                 alignment: str = "affine", within: np.ndarray | None = None) -> dict[str, float]:
    """Metrics of one image: K predictions (H, W), each aligned, per-pixel median, clipped, scored on the mask.

    within: optional (H, W) bool region (e.g. a synthetic sample's `object_mask`): the alignment is
    still fitted on the whole mask, the metrics are taken on the mask pixels inside the region.
    """
    mask = eval_mask(gt, valid, spec)
    if not mask.any():
        raise ValueError("no valid ground-truth pixels inside the depth range and crop")
    scored = mask if within is None else mask & within
    if not scored.any():
        raise ValueError("no valid ground-truth pixels inside the scored region")
    for p in preds:
        if p.shape != gt.shape:
            raise ValueError(f"prediction of shape {p.shape} does not match the ground truth's {gt.shape}")
        if not np.isfinite(p[mask]).all():
            raise ValueError("prediction has non-finite values on valid pixels")
    aligned = np.median([align(p.astype(np.float64), gt, mask, alignment, spec) for p in preds], axis=0)
    return depth_metrics(np.clip(aligned[scored], spec.min_depth, spec.max_depth), gt[scored])


@dataclass
class Report:
    """Per-image rows (`key` + METRICS) of one benchmark run."""

    benchmark: str
    rows: list[dict]

    def summary(self) -> dict[str, float]:
        """Mean over images of each metric, plus `n_images`."""
        out = {m: float(np.mean([r[m] for r in self.rows])) for m in METRICS}
        return {**out, "n_images": len(self.rows)}

    def table(self) -> str:
        """Two-line text table of the summary, for stdout."""
        s = self.summary()
        head = f"{'benchmark':<14}{'n':>6}" + "".join(f"{m:>10}" for m in METRICS)
        row = f"{self.benchmark:<14}{s['n_images']:>6}" + "".join(f"{s[m]:>10.4f}" for m in METRICS)
        return f"{head}\n{row}"

    def write(self, json_path: str | Path) -> Path:
        """Summary to `json_path` and per-image rows to the same path with `.csv`; both atomic. Returns the CSV path."""
        json_path = Path(json_path)
        json_path.parent.mkdir(parents=True, exist_ok=True)
        write_json(json_path, self.summary())
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=["key", *METRICS], lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        csv_path = json_path.with_suffix(".csv")
        write_text(csv_path, buf.getvalue())
        return csv_path


def load_prediction(pred_dir: str | Path, key: str) -> np.ndarray:
    """Saved prediction `<pred_dir>/<key>.npy` (or `<pred_dir>/<stem of key>.npy`), squeezed to (H, W)."""
    pred_dir = Path(pred_dir)
    for path in (pred_dir / f"{key}.npy", pred_dir / f"{Path(key).name}.npy"):
        if path.is_file():
            return np.load(path).squeeze()
    raise FileNotFoundError(f"no prediction for sample {key!r}: expected {pred_dir / f'{key}.npy'}")


def evaluate(dataset: Benchmark, predict: Callable[[np.ndarray, int], np.ndarray], *, ensemble: int = 1,
             seed: int = 0, limit: int | None = None, alignment: str = "affine", within: str | None = None) -> Report:
    """Score `predict(image (H, W, 3) uint8, seed) -> (H, W) depth` on `dataset`.

    Ensembling runs seeds seed .. seed+ensemble-1 on each image. within: a sample key holding
    a (1, H, W) bool region (`"object_mask"` of synthetic samples) to score on (`score_sample`);
    images without a scored pixel in it are left out.
    """
    if ensemble < 1:
        raise ValueError(f"ensemble must be >= 1, got {ensemble}")
    return _score(dataset, lambda s: [predict(to_uint8(s["image"]), seed + k) for k in range(ensemble)], limit,
                  alignment, within)


def evaluate_baseline(dataset: Benchmark, name: str, *, limit: int | None = None,
                      alignment: str = "affine", within: str | None = None) -> Report:
    """Score a trivial baseline (`baseline_depth`) at each ground truth's size (`within`: as `evaluate`)."""
    baseline_depth(name, (1, 1))  # unknown names fail before any image is read
    return _score(dataset, lambda s: [baseline_depth(name, tuple(s["depth"].shape[-2:]))], limit, alignment, within)


def evaluate_saved(dataset: Benchmark, pred_dir: str | Path, *, limit: int | None = None,
                   alignment: str = "affine", within: str | None = None) -> Report:
    """Score saved predictions of any method (`load_prediction`) with the same protocol (`within`: as `evaluate`)."""
    if not Path(pred_dir).is_dir():
        raise FileNotFoundError(f"predictions folder not found: {pred_dir}")
    return _score(dataset, lambda s: [load_prediction(pred_dir, s["key"])], limit, alignment, within)


def region_of(sample: dict, within: str | None) -> np.ndarray | None:
    """The (H, W) bool region `sample[within]` (None for no region); a sample without it is an error."""
    if within is None:
        return None
    if within not in sample:
        raise ValueError(f"sample {sample['key']!r} has no {within!r} (synthetic shards written before it lack it)")
    return sample[within][0].numpy().astype(bool)


def _score(dataset: Benchmark, predictions: Callable[[dict], list[np.ndarray]], limit: int | None,
           alignment: str, within: str | None = None) -> Report:
    if alignment not in ALIGNMENTS:
        raise ValueError(f"unknown alignment {alignment!r}; known: {', '.join(ALIGNMENTS)}")
    n = len(dataset) if limit is None else min(limit, len(dataset))
    if n < 1:
        raise ValueError(f"nothing to evaluate: limit must be >= 1, got {limit}")
    rows = []
    for i in tqdm(range(n), desc=f"eval {dataset.name}", disable=None):  # disable=None: no bar unless a terminal
        sample = dataset[i]
        gt, valid = sample["depth"][0].numpy().astype(np.float64), sample["valid_mask"][0].numpy()
        region = region_of(sample, within)
        if region is not None and not (region & eval_mask(gt, valid, dataset.spec_of(i))).any():
            continue  # nothing of the region in this image (e.g. no object in view)
        try:
            metrics = score_sample(predictions(sample), gt, valid, dataset.spec_of(i), alignment, region)
        except ValueError as e:
            raise ValueError(f"{dataset.name} sample {sample['key']!r}: {e}") from None
        rows.append({"key": sample["key"], **metrics})
    return Report(dataset.name, rows)
