"""Tests for mofo/evaluate.py, the benchmark loaders (mofo/data/benchmarks.py) and `mofo eval`.

Every expected number is recomputed here independently in float64 NumPy.
"""
import json
import math
import sys
import types

import h5py
import numpy as np
import pytest
from PIL import Image

from conftest import assert_refuses_huge, png_header
from mofo.cli import main
from mofo.data import benchmarks as bm
from mofo.evaluate import (METRICS, align, baseline_depth, depth_metrics, eval_mask, evaluate, evaluate_saved, load_prediction,
                           score_sample)
from mofo.export import load_depth

REALDATA = bm.RealData.default_root
rng = np.random.default_rng(0)


# --------------------------------------------------------------------------- independent reference


def ref_metrics(d, g):
    log_ratio = np.log(d / g)
    thresh = np.maximum(d / g, g / d)
    return {
        "abs_rel": np.abs(d / g - 1).mean(),
        "sq_rel": (((d - g) / g) * (d - g)).mean(),
        "rmse": np.linalg.norm(d - g) / math.sqrt(d.size),
        "rmse_log": np.linalg.norm(log_ratio) / math.sqrt(d.size),
        "delta1": (thresh < 1.25).sum() / d.size,
        "delta2": (thresh < 1.5625).sum() / d.size,
        "delta3": (thresh < 1.953125).sum() / d.size,
        "silog": 100 * np.std(log_ratio),
    }


def ref_score(pred, gt, mask, lo, hi):
    A = np.stack([pred[mask], np.ones(mask.sum())], 1)
    (s, t), *_ = np.linalg.lstsq(A, gt[mask], rcond=None)
    return ref_metrics(np.clip(s * pred[mask] + t, lo, hi), gt[mask])


def assert_metrics_close(got, want):
    assert set(METRICS) <= set(got)
    for m in METRICS:
        assert got[m] == pytest.approx(want[m], rel=1e-9, abs=1e-12), m


# --------------------------------------------------------------------------- metrics and alignment


def test_metrics_match_reference():
    g = rng.uniform(0.5, 10, 1000)
    d = g * rng.uniform(0.6, 1.6, 1000)
    assert_metrics_close(depth_metrics(d, g), ref_metrics(d, g))


@pytest.mark.parametrize("alignment", ["affine", "disparity", "median"])
def test_alignment_recovers_known_transform(alignment):
    gt = rng.uniform(1, 9, (24, 32))
    pred = {"affine": (gt - 0.7) / 2.5, "disparity": 3.0 / gt + 0.2, "median": gt / 4.0}[alignment]
    mask = np.ones_like(gt, bool)
    out = align(pred, gt, mask, alignment, bm.EvalSpec(1e-3, 10.0))
    np.testing.assert_allclose(out, gt, rtol=1e-10)
    assert depth_metrics(out.ravel(), gt.ravel())["abs_rel"] < 1e-10


def test_score_sample_fits_on_valid_pixels_then_clips():
    gt = rng.uniform(0.5, 12, (30, 40))  # some ground truth beyond max_depth = 10
    valid = rng.random((30, 40)) > 0.3
    pred = 0.5 * gt + rng.normal(0, 0.8, gt.shape)
    pred[~valid] = 1e6  # garbage off the mask must not affect the fit
    spec = bm.EvalSpec(1.0, 10.0)
    mask = valid & (gt > 1.0) & (gt < 10.0)
    assert_metrics_close(score_sample([pred], gt, valid, spec), ref_score(pred, gt, mask, 1.0, 10.0))


def test_score_within_a_region_aligns_on_the_whole_mask():
    gt = rng.uniform(1.5, 9, (30, 40))
    valid = rng.random((30, 40)) > 0.2
    region = np.zeros((30, 40), bool)
    region[5:15, 10:30] = True
    pred = 0.5 * gt + rng.normal(0, 0.8, gt.shape)
    spec = bm.EvalSpec(1.0, 10.0)
    mask = valid & (gt > 1.0) & (gt < 10.0)
    A = np.stack([pred[mask], np.ones(mask.sum())], 1)
    (s, t), *_ = np.linalg.lstsq(A, gt[mask], rcond=None)
    inside = mask & region
    want = ref_metrics(np.clip(s * pred[inside] + t, 1.0, 10.0), gt[inside])
    assert_metrics_close(score_sample([pred], gt, valid, spec, within=region), want)
    with pytest.raises(ValueError, match="region"):
        score_sample([pred], gt, valid, spec, within=np.zeros_like(region))


def test_evaluate_within_skips_images_without_the_region(tmp_path):
    import torch

    from mofo.evaluate import evaluate_baseline

    class Two(bm.Benchmark):
        name, spec = "two", bm.EvalSpec(1e-3, 80.0)

        def __init__(self):
            self.items = [0, 1]

        def _load(self, i):
            depth = torch.linspace(1, 5, 64).reshape(1, 8, 8)
            region = torch.zeros(1, 8, 8, dtype=torch.bool)
            region[:, :4] = i == 1
            return {"image": torch.rand(3, 8, 8), "depth": depth, "valid_mask": depth > 0, "key": str(i),
                    "caption": "", "object_mask": region}

    data = Two()
    assert len(evaluate_baseline(data, "constant").rows) == 2
    rows = evaluate_baseline(data, "constant", within="object_mask").rows
    assert [r["key"] for r in rows] == ["1"]
    pred_dir = tmp_path / "preds"
    pred_dir.mkdir()
    for i in range(2):
        np.save(pred_dir / f"{i}.npy", np.ones((8, 8), np.float32))
    saved = evaluate_saved(data, pred_dir, within="object_mask").rows
    assert [r["key"] for r in saved] == ["1"] and saved[0]["abs_rel"] == rows[0]["abs_rel"]
    with pytest.raises(ValueError, match="no 'nothing'"):
        evaluate_baseline(data, "constant", within="nothing")


def test_ensemble_takes_median_of_aligned_members():
    gt = rng.uniform(1, 5, (16, 16))
    noisy = [gt + rng.normal(0, 0.3, gt.shape) for _ in range(3)]
    members = [2 * noisy[0] + 1, noisy[1] / 3, 5 * noisy[2] - 2]  # each an affine map of a noisy map
    mask = np.ones_like(gt, bool)
    spec = bm.EvalSpec(1e-3, 10.0)
    aligned = []
    for p in members:
        (s, t), *_ = np.linalg.lstsq(np.stack([p.ravel(), np.ones(p.size)], 1), gt.ravel(), rcond=None)
        aligned.append(s * p + t)
    want = ref_metrics(np.clip(np.median(aligned, 0), 1e-3, 10).ravel(), gt.ravel())
    assert_metrics_close(score_sample(members, gt, mask, spec), want)


def test_crops_and_depth_range():
    h, w = 375, 1242
    m = bm.GARG_CROP.mask(h, w)
    rows, cols = np.where(m)
    assert (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1) == (153, 371, 44, 1197)
    m = bm.EIGEN_CROP_NYU.mask(480, 640)
    rows, cols = np.where(m)
    assert (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1) == (45, 471, 41, 601)
    gt = np.full((h, w), 20.0)
    gt[200, 100], gt[200, 101], gt[10, 100] = 85.0, 0.0005, 20.0
    mask = eval_mask(gt, gt > 0, bm.KITTI_SPEC)
    assert not mask[200, 100] and not mask[200, 101] and not mask[10, 100] and mask[200, 102]
    assert mask.sum() == (371 - 153) * (1197 - 44) - 2


def test_all_invalid_image_is_a_clear_error():
    gt = np.zeros((8, 8))
    with pytest.raises(ValueError, match="no valid ground-truth pixels"):
        score_sample([np.ones((8, 8))], gt, gt > 0, bm.NYU_SPEC)


def test_constant_prediction_scores_like_the_mean():
    gt = rng.uniform(1, 5, (10, 10))
    got = score_sample([np.full((10, 10), 7.0)], gt, gt > 0, bm.EvalSpec(1e-3, 10.0))
    assert_metrics_close(got, ref_metrics(np.full(100, gt.mean()), gt.ravel()))


# --------------------------------------------------------------------------- file writers in the real formats


def write_png16(path, values):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(values, np.uint16)).save(path)


def write_rgb(path, rgb):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path)


def random_rgb(h, w):
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def make_folder(root, n=3, h=12, w=16):
    """Folder benchmark: rgb/rgb_0000i.png + depth/rgb_0000i.png in mm; returns the metric depths."""
    depths = []
    for i in range(n):
        mm = rng.integers(500, 9000, (h, w))
        mm[0, :3] = 0  # holes
        write_rgb(root / "rgb" / f"rgb_{i:05d}.png", random_rgb(h, w))
        write_png16(root / "depth" / f"rgb_{i:05d}.png", mm)
        depths.append(mm / 1000.0)
    return depths


# --------------------------------------------------------------------------- loaders


def check_schema(s, h, w):
    assert s["image"].shape == (3, h, w) and s["image"].dtype.is_floating_point
    assert 0 <= s["image"].min() and s["image"].max() <= 1
    assert s["depth"].shape == (1, h, w) and s["valid_mask"].shape == (1, h, w)
    assert s["caption"] == "" and isinstance(s["key"], str)
    assert (s["depth"][~s["valid_mask"]] == 0).all()


def test_nyuv2_labeled_mat(tmp_path):
    n, h, w = 5, 6, 8
    rgb = random_rgb(h, w)
    depth = rng.uniform(0.5, 9, (h, w)).astype(np.float32)
    with h5py.File(tmp_path / "nyu_depth_v2_labeled.mat", "w") as f:  # h5py's view of MATLAB v7.3: transposed
        f["images"] = np.repeat(rgb.transpose(2, 1, 0)[None], n, 0)  # (N, 3, W, H)
        f["depths"] = np.stack([depth.T * (i + 1) for i in range(n)])  # (N, W, H)
    with h5py.File(tmp_path / "splits.mat", "w") as f:
        f["testNdxs"] = np.array([[2], [5]], dtype=np.float64)  # 1-based
    ds = bm.open_benchmark("nyuv2", tmp_path)
    assert len(ds) == 2 and ds.spec == bm.NYU_SPEC
    s = ds[1]
    check_schema(s, h, w)
    assert s["key"] == "0005"
    np.testing.assert_array_equal((s["image"].permute(1, 2, 0).numpy() * 255).round(), rgb)
    np.testing.assert_allclose(s["depth"][0].numpy(), depth * 5, rtol=1e-6)
    assert len(bm.open_benchmark("nyuv2", tmp_path, split="all")) == n


def test_nyuv2_splits_mat_v5(tmp_path):
    scipy_io = pytest.importorskip("scipy.io")
    scipy_io.savemat(tmp_path / "splits.mat", {"testNdxs": np.array([[3], [1]])})
    assert bm.read_test_indices(tmp_path / "splits.mat") == [3, 1]


def test_nyuv2_bts_folder(tmp_path):
    mm = rng.integers(700, 9999, (10, 14))
    mm[2, 3] = 0
    write_rgb(tmp_path / "bathroom" / "rgb_00045.jpg", random_rgb(10, 14))
    write_png16(tmp_path / "bathroom" / "sync_depth_00045.png", mm)
    s = bm.open_benchmark("nyuv2_bts", tmp_path)[0]
    check_schema(s, 10, 14)
    assert s["key"] == "rgb_00045" and not s["valid_mask"][0, 2, 3]
    np.testing.assert_allclose(s["depth"][0].numpy(), mm / 1000.0, rtol=1e-6)


def test_kitti_eigen(tmp_path):
    drive = "2011_09_26_drive_0002_sync"
    raw = tmp_path / "raw" / "2011_09_26"
    gt = rng.integers(0, 80 * 256, (9, 20))
    gt[::2] = 0  # sparse: 0 = no measurement
    for frame in ("0000000069", "0000000070"):
        write_rgb(raw / drive / "image_02" / "data" / f"{frame}.png", random_rgb(9, 20))
        write_png16(tmp_path / "depth" / "val" / drive / "proj_depth" / "groundtruth" / "image_02" / f"{frame}.png", gt)
    (raw / "calib_cam_to_cam.txt").write_text("calib_time: 09-Jan-2012 13:57:47\nP_rect_02: 721.5 0 609.5 44.8 0 721.5 172.8 0.2 0 0 1 0.003\n")
    assert len(bm.open_benchmark("kitti", tmp_path)) == 2
    (tmp_path / "eigen_test_files_with_gt.txt").write_text(
        f"2011_09_26/{drive}/image_02/data/0000000070.png {drive}/proj_depth/groundtruth/image_02/0000000070.png 721.5377\n"
        f"2011_09_26/{drive}/image_02/data/0000000069.png None 721.5377\n")
    ds = bm.open_benchmark("kitti", tmp_path)
    assert len(ds) == 1 and ds.spec == bm.KITTI_SPEC
    s = ds[0]
    check_schema(s, 9, 20)
    assert s["key"] == f"{drive}/0000000070"
    np.testing.assert_allclose(s["depth"][0].numpy(), gt / 256.0, rtol=1e-6)
    np.testing.assert_array_equal(s["valid_mask"][0].numpy(), gt > 0)
    np.testing.assert_allclose(s["intrinsics"].numpy(), [[721.5, 0, 609.5], [0, 721.5, 172.8], [0, 0, 1]], rtol=1e-6)


def test_eth3d(tmp_path):
    h, w = 6, 9
    depth = rng.uniform(1, 30, (h, w)).astype("<f4")
    depth[1, 1] = np.inf
    write_rgb(tmp_path / "courtyard" / "images" / "dslr_images_undistorted" / "DSC_0286.JPG", random_rgb(h, w))
    (tmp_path / "courtyard" / "ground_truth_masked" / "dslr_images").mkdir(parents=True)
    depth.tofile(tmp_path / "courtyard" / "ground_truth_masked" / "dslr_images" / "DSC_0286.JPG")
    s = bm.open_benchmark("eth3d", tmp_path)[0]
    check_schema(s, h, w)
    assert s["key"] == "courtyard/DSC_0286" and not s["valid_mask"][0, 1, 1]
    np.testing.assert_allclose(s["depth"][0].numpy(), np.where(np.isinf(depth), 0, depth))


def test_scannet_resizes_colour_to_depth(tmp_path):
    mm = rng.integers(0, 5000, (6, 8))
    write_rgb(tmp_path / "scene0000_00" / "color" / "000100.jpg", random_rgb(12, 16))
    write_png16(tmp_path / "scene0000_00" / "depth" / "000100.png", mm)
    s = bm.open_benchmark("scannet", tmp_path)[0]
    check_schema(s, 6, 8)
    assert s["key"] == "scene0000_00/000100"
    np.testing.assert_allclose(s["depth"][0].numpy(), mm / 1000.0, rtol=1e-6)


def test_diode(tmp_path):
    scan = tmp_path / "val" / "outdoor" / "scene_00022" / "scan_00193"
    depth = rng.uniform(0.5, 300, (5, 7, 1)).astype(np.float32)
    mask = (rng.random((5, 7)) > 0.4).astype(np.float32)
    write_rgb(scan / "00022_00193_outdoor_000_010.png", random_rgb(5, 7))
    np.save(scan / "00022_00193_outdoor_000_010_depth.npy", depth)
    np.save(scan / "00022_00193_outdoor_000_010_depth_mask.npy", mask)
    s = bm.open_benchmark("diode", tmp_path)[0]
    check_schema(s, 5, 7)
    np.testing.assert_array_equal(s["valid_mask"][0].numpy(), mask > 0)
    np.testing.assert_allclose(s["depth"][0].numpy(), depth[..., 0] * (mask > 0))


def test_folder_png_scale_and_npy(tmp_path):
    write_rgb(tmp_path / "rgb" / "a.png", random_rgb(4, 5))
    write_png16(tmp_path / "depth" / "a.png", np.full((4, 5), 512))
    write_rgb(tmp_path / "rgb" / "b.jpg", random_rgb(4, 5))
    np.save(tmp_path / "depth" / "b.npy", np.full((4, 5), np.nan, np.float32))
    ds = bm.open_benchmark("folder", tmp_path, depth_scale=1 / 256)  # metres = value * depth_scale
    assert [ds[i]["key"] for i in range(2)] == ["a", "b"]
    assert (ds[0]["depth"] == 2.0).all() and not ds[1]["valid_mask"].any()


def test_cli_depth_scale_multiplies_like_mofo_image(tmp_path, monkeypatch):
    """`mofo eval --benchmark folder --depth-scale S` reads PNG value v as v * S metres, as
    `mofo image --depth-scale S` (`export.load_depth`) does."""
    values = rng.integers(1, 4000, (12, 16))
    write_rgb(tmp_path / "rgb" / "a.png", random_rgb(12, 16))
    write_png16(tmp_path / "depth" / "a.png", values)
    opened, real = [], bm.open_benchmark
    monkeypatch.setattr(bm, "open_benchmark", lambda *a, **kw: opened.append(real(*a, **kw)) or opened[-1])
    assert main(["eval", "--benchmark", "folder", "--root", str(tmp_path), "--baseline", "constant",
                 "--depth-scale", "0.004"]) == 0
    depth = opened[0][0]["depth"][0].numpy()
    np.testing.assert_allclose(depth, values * 0.004, rtol=1e-6)
    np.testing.assert_allclose(depth, load_depth(tmp_path / "depth" / "a.png", 0.004), rtol=1e-6)


def test_readers_refuse_huge_images_without_a_pil_warning(tmp_path):
    (tmp_path / "huge.png").write_bytes(png_header(10_000, 10_000))
    for read in (bm.read_rgb, bm.read_png16):
        assert_refuses_huge(lambda: read(tmp_path / "huge.png"))


def test_folder_exr(tmp_path):
    OpenEXR = pytest.importorskip("OpenEXR")
    depth = rng.uniform(1, 5, (4, 5)).astype(np.float32)
    write_rgb(tmp_path / "rgb" / "a.png", random_rgb(4, 5))
    (tmp_path / "depth").mkdir()
    OpenEXR.File({"type": OpenEXR.scanlineimage}, {"Z": depth}).write(str(tmp_path / "depth" / "a.exr"))
    np.testing.assert_allclose(bm.open_benchmark("folder", tmp_path)[0]["depth"][0].numpy(), depth)


def write_kitti_object(root, points, h, w):
    """KITTI object frame: velodyne N x 4 float32, calib with the camera looking along velodyne x."""
    t = root / "training"
    write_rgb(t / "image_2" / "000000.png", random_rgb(h, w))
    (t / "velodyne").mkdir(parents=True)
    np.asarray(points, "<f4").tofile(t / "velodyne" / "000000.bin")
    (t / "calib").mkdir()
    (t / "calib" / "000000.txt").write_text(
        "P0: 1 0 0 0 0 1 0 0 0 0 1 0\n"
        "P2: 10 0 4 0.5 0 10 3 0 0 0 1 0.1\n"  # fx=fy=10, cx=4, cy=3, small offset column
        "R0_rect: 1 0 0 0 1 0 0 0 1\n"
        "Tr_velo_to_cam: 0 -1 0 0 0 0 -1 0 1 0 0 0\n"  # x_cam = -y, y_cam = -z, z_cam = x
        "Tr_imu_to_velo: 1 0 0 0 0 1 0 0 0 0 1 0\n\n")


def test_velodyne_projection(tmp_path):
    # (x forward, y left, z up, reflectance); camera: u = (10 x_c + 4 z + 0.5) / (z + 0.1) with z = x
    points = [[9.9, 0.0, 0.0, 0.5],  # centre: u = (40 + .5)/10 = 4.05 -> 4, v = 3, depth 10
              [4.9, -1.0, 0.5, 0.1],  # u = (10*1 + 4*4.9 + .5)/5 = 6.02 -> 6, v = (10*-0.5 + 3*4.9)/5 = 1.94 -> 2
              [19.9, 0.0, 0.0, 0.2],  # same pixel as the first, farther: dropped
              [-5.0, 0.0, 0.0, 0.3],  # behind the camera
              [9.9, -20.0, 0.0, 0.1]]  # outside the image
    write_kitti_object(tmp_path, points, 7, 9)
    s = bm.open_benchmark("kitti_velodyne", tmp_path)[0]
    check_schema(s, 7, 9)
    want = np.zeros((7, 9))
    want[3, 4], want[2, 6] = 10.0, 5.0
    np.testing.assert_allclose(s["depth"][0].numpy(), want, rtol=1e-6)
    np.testing.assert_allclose(s["intrinsics"].numpy(), [[10, 0, 4], [0, 10, 3], [0, 0, 1]])


def test_open_benchmark_errors(tmp_path):
    with pytest.raises(ValueError, match="known: .*nyuv2"):
        bm.open_benchmark("nope", tmp_path)
    with pytest.raises(FileNotFoundError, match="root folder not found"):
        bm.open_benchmark("kitti", tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no samples found"):
        bm.open_benchmark("scannet", tmp_path)
    with pytest.raises(FileNotFoundError, match="splits.mat"):
        h5py.File(tmp_path / "nyu_depth_v2_labeled.mat", "w").close()
        bm.open_benchmark("nyuv2", tmp_path)


def test_depth_decoders_of_realdata_formats():
    mm = np.array([1234, 9870, 0], dtype=np.uint16)
    rotated = (mm << 3) | (mm >> 13)  # how SUN RGB-D stores millimetres
    np.testing.assert_allclose(bm._sun_bit_rotated_to_metres(rotated), mm / 1000.0)
    raw = np.array([839, 1000, 2047])
    np.testing.assert_allclose(bm._nyu_raw_disparity_to_metres(raw), [351.3 / 253.5, 351.3 / 92.5, 0.0])


# --------------------------------------------------------------------------- evaluation loop


def test_evaluate_with_fake_affine_predictor(tmp_path):
    make_folder(tmp_path)
    ds = bm.open_benchmark("folder", tmp_path)
    gts = {ds[i]["image"].numpy().tobytes(): ds[i]["depth"][0].numpy() for i in range(len(ds))}
    seeds = []

    def predict(image, seed):  # an affine map of the ground truth, different per seed
        seeds.append(seed)
        gt = gts[(image.astype(np.float32) / 255).transpose(2, 0, 1).tobytes()]
        return (gt - 0.3) / (seed + 1.5)

    report = evaluate(ds, predict, ensemble=2, seed=7)
    assert seeds == [7, 8] * 3
    summary = report.summary()
    assert summary["n_images"] == 3 and summary["abs_rel"] < 1e-6 and summary["delta1"] == 1.0


def test_evaluate_error_names_the_sample(tmp_path):
    write_rgb(tmp_path / "rgb" / "empty.png", random_rgb(4, 4))
    write_png16(tmp_path / "depth" / "empty.png", np.zeros((4, 4)))
    ds = bm.open_benchmark("folder", tmp_path)
    with pytest.raises(ValueError, match="'empty'.*no valid ground-truth"):
        evaluate(ds, lambda image, seed: np.ones(image.shape[:2]))


def test_saved_predictions_by_key_or_stem(tmp_path):
    (tmp_path / "scene0000_00").mkdir()
    np.save(tmp_path / "scene0000_00" / "000100.npy", np.ones((1, 3, 4), np.float32))
    np.save(tmp_path / "000200.npy", np.zeros((3, 4), np.float32))
    assert load_prediction(tmp_path, "scene0000_00/000100").shape == (3, 4)  # leading 1 squeezed
    assert (load_prediction(tmp_path, "scene0000_00/000200") == 0).all()  # flat file named by stem
    with pytest.raises(FileNotFoundError, match="scene0000_00/000300.npy"):
        load_prediction(tmp_path, "scene0000_00/000300")
    make_folder(tmp_path / "bench", n=1)
    with pytest.raises(FileNotFoundError, match="predictions folder not found"):
        evaluate_saved(bm.open_benchmark("folder", tmp_path / "bench"), tmp_path / "none")


# --------------------------------------------------------------------------- realdata


@pytest.mark.skipif(not REALDATA.is_dir(), reason=f"real RGB-D samples not found at {REALDATA}")
def test_realdata_reads_the_real_files():
    ds = bm.open_benchmark("realdata")
    assert len(ds) == 14
    valid_fraction = {}
    for i in range(len(ds)):
        s = ds[i]
        d = s["depth"][s["valid_mask"]]
        outdoor = ds.spec_of(i) == bm.OUTDOOR_SPEC
        lo, hi = (4.0, 80.0) if outdoor else (0.7, 10.6)  # ranges stated in the folders' READMEs
        assert lo <= float(d.min()) and float(d.max()) <= hi, s["key"]
        valid_fraction[s["key"]] = float(s["valid_mask"].float().mean())
    # spot checks against the READMEs: NYU raw 92.8 % valid, SUN 81.8 %, KITTI 000000 4.46 %
    assert valid_fraction["open3d_rgbd_formats/other_formats/NYU_color"] == pytest.approx(0.928, abs=1e-3)
    assert valid_fraction["open3d_rgbd_formats/other_formats/SUN_color"] == pytest.approx(0.818, abs=1e-3)
    assert valid_fraction["kitti_object_velodyne/training/image_2/000000"] == pytest.approx(0.0446, abs=1e-4)


@pytest.mark.skipif(not REALDATA.is_dir(), reason=f"real RGB-D samples not found at {REALDATA}")
def test_cli_realdata_constant_baseline(tmp_path, capsys):
    ds = bm.open_benchmark("realdata")
    for i in range(len(ds)):
        s = ds[i]
        out = tmp_path / "pred" / f"{s['key']}.npy"
        out.parent.mkdir(parents=True, exist_ok=True)
        np.save(out, np.ones(s["depth"].shape[1:], np.float32))
    assert main(["eval", "--benchmark", "realdata", "--predictions", str(tmp_path / "pred"), "--json", str(tmp_path / "r.json")]) == 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["n_images"] == 14 and 0.1 < result["abs_rel"] < 1.0


# --------------------------------------------------------------------------- CLI


def test_cli_folder_predictions_end_to_end(tmp_path, capsys):
    depths = make_folder(tmp_path / "bench")
    (tmp_path / "pred").mkdir()
    preds = [(rng.uniform(0.5, 2, g.shape) * (1 + g)).astype(np.float32) for g in depths]  # noisy relative depth
    for i, p in enumerate(preds):
        np.save(tmp_path / "pred" / f"rgb_{i:05d}.npy", p)
    out = tmp_path / "out" / "r.json"
    assert main(["eval", "--benchmark", "folder", "--root", str(tmp_path / "bench"),
                 "--predictions", str(tmp_path / "pred"), "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result) == {*METRICS, "n_images"} and result["n_images"] == 3
    per_image = [ref_score(p.astype(np.float64), g, (g > 1e-3), 1e-3, math.inf) for p, g in zip(preds, depths)]
    for m in METRICS:
        assert result[m] == pytest.approx(np.mean([r[m] for r in per_image]), rel=1e-6), m
    csv_lines = out.with_suffix(".csv").read_text().splitlines()
    assert csv_lines[0].split(",") == ["key", *METRICS] and csv_lines[1].startswith("rgb_00000,")
    assert "abs_rel" in capsys.readouterr().out


@pytest.mark.parametrize("case, message", [
    ("missing_root", "root folder not found"),
    ("missing_prediction", "no prediction for sample 'rgb_00002'"),
    ("unknown_benchmark", "unknown benchmark 'nope'"),
])
def test_cli_bad_input_is_one_line_exit_2(tmp_path, capsys, case, message):
    make_folder(tmp_path / "bench")
    (tmp_path / "pred").mkdir()
    for i in range(2):
        np.save(tmp_path / "pred" / f"rgb_{i:05d}.npy", np.ones((12, 16), np.float32))
    root, name, source = str(tmp_path / "bench"), "folder", ["--predictions", str(tmp_path / "pred")]
    if case == "missing_root":
        root = str(tmp_path / "nowhere")
    elif case == "unknown_benchmark":
        name = "nope"
    assert main(["eval", "--benchmark", name, "--root", root, *source]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("mofo eval: error:") and message in err


def test_cli_model_runs_the_pipeline(tmp_path, monkeypatch, capsys):
    depths = make_folder(tmp_path / "bench")
    images = [np.asarray(Image.open(tmp_path / "bench" / "rgb" / f"rgb_{i:05d}.png")) for i in range(3)]
    calls = []

    class FakePipeline:  # stands in for mofo.pipeline.Pipeline: relative depth = affine map of the truth
        @classmethod
        def from_pretrained(cls, path):
            calls.append(("load", path))
            return cls()

        def depth(self, image, steps=None, seed=0, flip=None):
            calls.append(("depth", steps, seed, flip))
            i = next(i for i, im in enumerate(images) if np.array_equal(im, image))
            return (3 * depths[i] + seed).astype(np.float32)

    monkeypatch.setitem(sys.modules, "mofo.pipeline", types.SimpleNamespace(Pipeline=FakePipeline))
    out = tmp_path / "r.json"
    assert main(["eval", "--benchmark", "folder", "--root", str(tmp_path / "bench"), "--model", "ckpt",
                 "--steps", "5", "--ensemble", "2", "--seed", "3", "--limit", "2", "--json", str(out)]) == 0
    assert calls == [("load", "ckpt")] + [("depth", 5, 3, None), ("depth", 5, 4, None)] * 2  # None: the model's flip
    result = json.loads(out.read_text())
    assert result["n_images"] == 2 and result["abs_rel"] < 1e-6 and result["delta1"] == 1.0
    for flag, flip in (("--flip", True), ("--no-flip", False)):
        calls.clear()
        assert main(["eval", "--benchmark", "folder", "--root", str(tmp_path / "bench"), "--model", "ckpt",
                     "--limit", "1", flag]) == 0
        assert calls == [("load", "ckpt"), ("depth", None, 0, flip)]


def test_baselines_ignore_the_image_and_score_like_their_definition():
    ramp = baseline_depth("ramp", (5, 3))
    np.testing.assert_allclose(ramp[:, 0], [2.0, 1.75, 1.5, 1.25, 1.0])  # rises toward the top row
    assert (ramp == ramp[:, :1]).all() and (baseline_depth("constant", (4, 6)) == 1).all()
    # a ground truth that is an affine map of the rows is explained exactly by the ramp
    rows = np.arange(10, dtype=np.float64)[:, None].repeat(8, axis=1)
    gt = 9.0 - 0.5 * rows
    assert score_sample([baseline_depth("ramp", gt.shape)], gt, gt > 0, bm.EvalSpec(1e-3, 10.0))["abs_rel"] < 1e-12
    with pytest.raises(ValueError, match="unknown baseline 'tilt'"):
        baseline_depth("tilt", (2, 2))


def test_cli_baselines_end_to_end(tmp_path, capsys):
    depths = make_folder(tmp_path / "bench")
    for name in ("constant", "ramp"):
        out = tmp_path / f"{name}.json"
        assert main(["eval", "--benchmark", "folder", "--root", str(tmp_path / "bench"), "--baseline", name,
                     "--json", str(out)]) == 0
        result = json.loads(out.read_text())
        h, w = depths[0].shape
        base = baseline_depth(name, (h, w))
        want = [ref_score(base, g, g > 1e-3, 1e-3, math.inf)["abs_rel"] for g in depths]
        assert result["abs_rel"] == pytest.approx(np.mean(want), rel=1e-6) and result["n_images"] == 3
    assert main(["eval", "--benchmark", "folder", "--root", str(tmp_path / "bench"), "--baseline", "ramp",
                 "--grey-input"]) == 2
    assert "--grey-input applies when the model runs" in capsys.readouterr().err


def test_cli_eval_defaults_to_the_bundled_model(tmp_path, monkeypatch, capsys):
    """Like every other command, `eval` without --model / --predictions / --baseline runs the bundled model."""
    make_folder(tmp_path / "bench", n=1)
    loaded = []

    class FakePipeline:
        @classmethod
        def from_pretrained(cls, path):
            loaded.append(path)
            return cls()

        def depth(self, image, steps=None, seed=0, flip=None):
            return np.ones(image.shape[:2], np.float32)

    monkeypatch.setitem(sys.modules, "mofo.pipeline", types.SimpleNamespace(Pipeline=FakePipeline))
    assert main(["eval", "--benchmark", "folder", "--root", str(tmp_path / "bench")]) == 0
    assert loaded == [None]


def test_cli_grey_input_feeds_a_flat_image_of_the_same_size(tmp_path, monkeypatch):
    make_folder(tmp_path / "bench", n=2)
    seen = []

    class FakePipeline:
        @classmethod
        def from_pretrained(cls, path):
            return cls()

        def depth(self, image, steps=None, seed=0, flip=None):
            seen.append(image.copy())
            return np.ones(image.shape[:2], np.float32)

    monkeypatch.setitem(sys.modules, "mofo.pipeline", types.SimpleNamespace(Pipeline=FakePipeline))
    assert main(["eval", "--benchmark", "folder", "--root", str(tmp_path / "bench"), "--model", "m", "--grey-input"]) == 0
    assert len(seen) == 2 and all(im.shape == (12, 16, 3) and im.dtype == np.uint8 and (im == 128).all() for im in seen)
