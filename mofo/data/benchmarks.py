"""Depth benchmarks read from each dataset's own on-disk format.

Every loader is a `torch.utils.data.Dataset` yielding the common sample schema
    image       float32 (3, H, W) in [0, 1]
    depth       float32 (1, H, W) metres, 0 where invalid
    valid_mask  bool    (1, H, W)
    caption     str     ("")
    key         str     the image's file stem, prefixed by its sub-folders where
                        stems repeat (KITTI drive, ScanNet scene, ...); `--predictions`
                        files are named `<key>.npy`
    intrinsics  float32 (3, 3), only where the calibration is known
so the same classes serve evaluation and training. Each class also carries the
`EvalSpec` of the zero-shot protocol (depth range and crop, METHOD.md §8;
values follow Marigold's evaluation configs). Point `root` at an unpacked copy
of the public download; `docs/evaluation.md` lists the expected layouts.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from mofo.data.shards import ShardReader
from mofo.files import IMAGE_SUFFIXES, open_image


# --------------------------------------------------------------------------- protocol


@dataclass(frozen=True)
class Crop:
    """Evaluation box as fractions of the image size: rows [top, bottom), columns [left, right).

    Fractions (not pixels) because KITTI frames differ in size; each edge is
    `int(fraction * size)`, as in the reference implementations.
    """

    top: float
    bottom: float
    left: float
    right: float

    def mask(self, h: int, w: int) -> np.ndarray:
        """(H, W) bool, True inside the box."""
        m = np.zeros((h, w), dtype=bool)
        m[int(self.top * h) : int(self.bottom * h), int(self.left * w) : int(self.right * w)] = True
        return m


GARG_CROP = Crop(0.40810811, 0.99189189, 0.03594771, 0.96405229)  # Garg et al. 2016, KITTI
EIGEN_CROP_NYU = Crop(45 / 480, 471 / 480, 41 / 640, 601 / 640)  # Eigen et al. 2014: rows 45:471, cols 41:601 of 480x640


@dataclass(frozen=True)
class EvalSpec:
    """Per-dataset protocol: ground truth counts where min_depth < depth < max_depth (and inside `crop`)."""

    min_depth: float
    max_depth: float
    crop: Crop | None = None


NYU_SPEC = EvalSpec(1e-3, 10.0, EIGEN_CROP_NYU)
KITTI_SPEC = EvalSpec(1e-3, 80.0, GARG_CROP)
ETH3D_SPEC = EvalSpec(1e-3, math.inf)
SCANNET_SPEC = EvalSpec(1e-3, 10.0)
DIODE_SPEC = EvalSpec(0.6, 350.0)
INDOOR_SPEC = EvalSpec(1e-3, 10.0)  # uncropped frames of indoor RGB-D sensors
OUTDOOR_SPEC = EvalSpec(1e-3, 80.0, GARG_CROP)  # LiDAR frames of KITTI


# --------------------------------------------------------------------------- readers


def read_rgb(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """(H, W, 3) uint8; `size` = (W, H) resizes bilinearly (ScanNet colour to depth resolution)."""
    img = open_image(path).convert("RGB")
    if size is not None and img.size != size:
        img = img.resize(size, Image.BILINEAR)
    return np.asarray(img)


def read_png16(path: Path) -> np.ndarray:
    """Raw values of a 16-bit PNG/PGM as (H, W) float64 (PIL decodes PGM big-endian, as the spec says)."""
    return np.asarray(open_image(path)).astype(np.float64)


def read_exr(path: Path) -> np.ndarray:
    """First channel of an OpenEXR file as (H, W) float64; needs the optional `OpenEXR` package."""
    try:
        import OpenEXR
    except ImportError as e:
        raise ValueError(f"{path}: reading .exr needs the optional package OpenEXR (pip install OpenEXR)") from e
    with OpenEXR.File(str(path)) as f:
        channels = f.channels()
        name = next((c for c in ("Y", "Z", "R", "depth") if c in channels), next(iter(channels)))
        pixels = np.asarray(channels[name].pixels, dtype=np.float64)
    return pixels[..., 0] if pixels.ndim == 3 else pixels


def read_calib(path: Path) -> dict[str, np.ndarray]:
    """KITTI calibration text (`key: v1 v2 ...`) as flat float arrays; non-numeric lines are skipped."""
    out = {}
    for line in Path(path).read_text().splitlines():
        key, _, values = line.partition(":")
        try:
            out[key.strip()] = np.array(values.split(), dtype=np.float64)
        except ValueError:
            continue  # e.g. `calib_time: 09-Jan-2012 13:57:47`
    return out


def _homogeneous(m: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Flat KITTI matrix -> 4x4 with identity padding (R0_rect is 3x3, Tr_velo_to_cam 3x4)."""
    out = np.eye(4)
    out[:rows, :cols] = m.reshape(rows, cols)
    return out


def project_velodyne(points: np.ndarray, calib: dict[str, np.ndarray], h: int, w: int) -> np.ndarray:
    """Sparse depth (H, W) float64 metres from a Velodyne scan (N, >=3), 0 where no point lands.

    p = P2 · R0_rect · Tr_velo_to_cam · (x, y, z, 1); depth = p_z, pixel = round(p_xy / p_z)
    (nearest pixel). Points behind the camera or outside the image are dropped;
    where several land on one pixel the nearest wins, as in KITTI depth completion.
    """
    proj = calib["P2"].reshape(3, 4) @ _homogeneous(calib["R0_rect"], 3, 3) @ _homogeneous(calib["Tr_velo_to_cam"], 3, 4)
    xyz1 = np.concatenate([points[:, :3].astype(np.float64), np.ones((len(points), 1))], axis=1)
    p = xyz1 @ proj.T
    front = p[:, 2] > 0
    z = p[front, 2]
    u = np.round(p[front, 0] / z).astype(np.int64)
    v = np.round(p[front, 1] / z).astype(np.int64)
    inside = (u >= 0) & (u < w) & (v >= 0) & (v < h)
    depth = np.full((h, w), np.inf)
    np.minimum.at(depth, (v[inside], u[inside]), z[inside])
    depth[np.isinf(depth)] = 0.0
    return depth


def make_sample(key: str, rgb: np.ndarray, depth: np.ndarray, valid: np.ndarray | None = None,
                intrinsics: np.ndarray | None = None) -> dict:
    """Common schema from (H, W, 3) uint8 rgb and (H, W) metric depth.

    Valid = finite and > 0 (and `valid`, when the dataset ships its own mask); depth is 0 elsewhere.
    """
    if rgb.shape[:2] != depth.shape:
        raise ValueError(f"{key}: image {rgb.shape[:2]} and depth {depth.shape} differ in size")
    ok = np.isfinite(depth) & (depth > 0)
    if valid is not None:
        ok &= valid
    sample = {
        "image": torch.from_numpy(rgb.astype(np.float32) / 255.0).permute(2, 0, 1).contiguous(),
        "depth": torch.from_numpy(np.where(ok, depth, 0.0).astype(np.float32))[None],
        "valid_mask": torch.from_numpy(ok)[None],
        "caption": "",
        "key": key,
    }
    if intrinsics is not None:
        sample["intrinsics"] = torch.as_tensor(intrinsics, dtype=torch.float32).reshape(3, 3)
    return sample


# --------------------------------------------------------------------------- datasets


class Benchmark(Dataset):
    """Base loader: `_index()` lists items once (paths only), `_load(item)` reads one sample."""

    name: str = ""
    spec: EvalSpec = INDOOR_SPEC
    layout: str = ""  # expected folder layout, quoted when nothing is found

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.name}: root folder not found: {self.root}")
        self.items = self._index()
        if not self.items:
            raise FileNotFoundError(f"{self.name}: no samples found under {self.root} (expected {self.layout})")

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self._load(self.items[i])

    def spec_of(self, i: int) -> EvalSpec:
        """Protocol for sample i (one spec per dataset, except mixtures like `realdata`)."""
        return self.spec

    def _index(self) -> list:
        raise NotImplementedError

    def _load(self, item) -> dict:
        raise NotImplementedError


class NYUv2Labeled(Benchmark):
    """NYU Depth v2 labelled set (`nyu_depth_v2_labeled.mat`, MATLAB v7.3 = HDF5).

    h5py sees MATLAB's column-major arrays transposed: `images` (N, 3, W, H) uint8,
    `depths` (N, W, H) float32 metres (hole-filled). split="test" keeps the 654
    Eigen test frames listed by `testNdxs` (1-based) in NYU's `splits.mat`;
    key = the 1-based index, zero-padded to 4 digits.
    """

    name, spec = "nyuv2", NYU_SPEC
    layout = "nyu_depth_v2_labeled.mat and splits.mat (or pass split='all'); for the BTS test folder use nyuv2_bts"

    def __init__(self, root: str | Path, split: str = "test"):
        if split not in ("test", "all"):
            raise ValueError(f"nyuv2: split must be 'test' or 'all', got {split!r}")
        self.split, self.mat, self._file = split, Path(root) / "nyu_depth_v2_labeled.mat", None
        super().__init__(root)

    def _index(self) -> list[int]:
        if not self.mat.is_file():
            return []
        if self.split == "all":
            import h5py

            with h5py.File(self.mat, "r") as f:
                return list(range(1, f["depths"].shape[0] + 1))
        return read_test_indices(self.root / "splits.mat")

    def _load(self, index: int) -> dict:
        if self._file is None:  # opened lazily: h5py handles do not survive DataLoader worker forks
            import h5py

            self._file = h5py.File(self.mat, "r")
        rgb = self._file["images"][index - 1].transpose(2, 1, 0)
        depth = self._file["depths"][index - 1].T.astype(np.float64)
        return make_sample(f"{index:04d}", np.ascontiguousarray(rgb), depth)


def read_test_indices(path: Path) -> list[int]:
    """1-based `testNdxs` of NYU's splits.mat (MATLAB v5 via scipy, or v7.3 via h5py)."""
    if not path.is_file():
        raise FileNotFoundError(f"nyuv2: {path} not found; the Eigen test split needs NYU's splits.mat (or pass split='all')")
    import h5py

    if h5py.is_hdf5(path):
        with h5py.File(path, "r") as f:
            ndx = f["testNdxs"][()]
    else:
        from scipy.io import loadmat

        ndx = loadmat(path)["testNdxs"]
    return [int(i) for i in np.asarray(ndx).ravel()]


class NYUv2Folder(Benchmark):
    """BTS-style NYUv2 test folder: `<scene>/rgb_XXXXX.jpg` + `sync_depth_XXXXX.png` (uint16 mm, 0 = invalid)."""

    name, spec = "nyuv2_bts", NYU_SPEC
    layout = "<scene>/rgb_XXXXX.jpg with sync_depth_XXXXX.png beside it"

    def _index(self) -> list[tuple[Path, Path]]:
        pairs = ((p, p.with_name(p.name.replace("rgb_", "sync_depth_")).with_suffix(".png")) for p in self.root.rglob("rgb_*.jpg"))
        return sorted((rgb, d) for rgb, d in pairs if d.is_file())

    def _load(self, item: tuple[Path, Path]) -> dict:
        rgb, depth = item
        return make_sample(rgb.stem, read_rgb(rgb), read_png16(depth) / 1000.0)


class KITTIEigen(Benchmark):
    """KITTI Eigen test: raw `image_02` frames + projected ground truth of KITTI depth.

    Ground truth: `<drive>/proj_depth/groundtruth/image_02/<frame>.png`, uint16,
    depth = value / 256 m, 0 = invalid. Images: `<date>/<drive>/image_02/data/<frame>.png`
    anywhere under root. With `eigen_test_files_with_gt.txt` (the BTS list) in root,
    only its frames are used (652); otherwise every frame with ground truth.
    Intrinsics from `<date>/calib_cam_to_cam.txt` (P_rect_02) when present.
    """

    name, spec = "kitti", KITTI_SPEC
    layout = "<date>/<drive>/image_02/data/*.png and <drive>/proj_depth/groundtruth/image_02/*.png"

    def _index(self) -> list[tuple[Path, Path]]:
        images = {_drive_frame(p): p for p in self.root.rglob("image_02/data/*.png")}
        gts = {(p.parents[3].name, p.stem): p for p in self.root.rglob("proj_depth/groundtruth/image_02/*.png")}
        keys = sorted(images.keys() & gts.keys())
        split = self.root / "eigen_test_files_with_gt.txt"
        if split.is_file():
            listed = {_drive_frame(Path(line.split()[0])) for line in split.read_text().splitlines()
                      if line.strip() and line.split()[1] != "None"}
            keys = [k for k in keys if k in listed]
        return [(images[k], gts[k]) for k in keys]

    def _load(self, item: tuple[Path, Path]) -> dict:
        rgb, gt = item
        calib = rgb.parents[3] / "calib_cam_to_cam.txt"
        K = read_calib(calib)["P_rect_02"].reshape(3, 4)[:, :3] if calib.is_file() else None
        return make_sample(f"{rgb.parents[2].name}/{rgb.stem}", read_rgb(rgb), read_png16(gt) / 256.0, intrinsics=K)


def _drive_frame(image: Path) -> tuple[str, str]:
    """(drive, frame) of `<date>/<drive>/image_02/data/<frame>.png`."""
    return image.parents[2].name, image.stem


class ETH3D(Benchmark):
    """ETH3D high-res multi-view: `<scene>/ground_truth_masked/dslr_images/<name>` holds raw
    little-endian float32 depth (row-major, image size, no header, inf = invalid) for
    `<scene>/images/dslr_images_undistorted/<name>` (or `dslr_images/`)."""

    name, spec = "eth3d", ETH3D_SPEC
    layout = "<scene>/images/dslr_images_undistorted/*.JPG and <scene>/ground_truth_masked/dslr_images/*.JPG"

    def _index(self) -> list[tuple[Path, Path]]:
        items = []
        for depth in sorted(self.root.glob("*/ground_truth_masked/dslr_images/*")):
            scene = depth.parents[2]
            rgb = next((p for p in (scene / "images" / d / depth.name for d in ("dslr_images_undistorted", "dslr_images")) if p.is_file()), None)
            if rgb is not None:
                items.append((rgb, depth))
        return items

    def _load(self, item: tuple[Path, Path]) -> dict:
        rgb_path, depth_path = item
        rgb = read_rgb(rgb_path)
        depth = np.fromfile(depth_path, dtype="<f4")
        if depth.size != rgb.shape[0] * rgb.shape[1]:
            raise ValueError(f"eth3d: {depth_path} holds {depth.size} floats, image is {rgb.shape[1]}x{rgb.shape[0]}")
        return make_sample(f"{rgb_path.parents[2].name}/{rgb_path.stem}", rgb, depth.reshape(rgb.shape[:2]).astype(np.float64))


class ScanNet(Benchmark):
    """ScanNet frames as exported by its SensReader: `<scene>/color/<n>.jpg` + `<scene>/depth/<n>.png`
    (uint16 mm, 0 = invalid). Colour (1296x968) is resized to the depth resolution (640x480)."""

    name, spec = "scannet", SCANNET_SPEC
    layout = "<scene>/color/<n>.jpg and <scene>/depth/<n>.png"

    def _index(self) -> list[tuple[Path, Path]]:
        pairs = ((p, p.parents[1] / "depth" / f"{p.stem}.png") for p in self.root.glob("*/color/*.jpg"))
        return sorted((rgb, d) for rgb, d in pairs if d.is_file())

    def _load(self, item: tuple[Path, Path]) -> dict:
        rgb, depth_path = item
        depth = read_png16(depth_path) / 1000.0
        return make_sample(f"{rgb.parents[1].name}/{rgb.stem}", read_rgb(rgb, (depth.shape[1], depth.shape[0])), depth)


class DIODE(Benchmark):
    """DIODE: `<name>.png` + `<name>_depth.npy` ((H, W, 1) float32 m) + `<name>_depth_mask.npy` ((H, W), 1 = valid),
    anywhere under root (e.g. `val/indoors/scene_*/scan_*/`)."""

    name, spec = "diode", DIODE_SPEC
    layout = "**/<name>.png with <name>_depth.npy and <name>_depth_mask.npy"

    def _index(self) -> list[Path]:
        return sorted(p for p in self.root.rglob("*.png") if p.with_name(f"{p.stem}_depth.npy").is_file())

    def _load(self, rgb: Path) -> dict:
        mask = np.load(rgb.with_name(f"{rgb.stem}_depth_mask.npy")) > 0
        depth = np.load(rgb.with_name(f"{rgb.stem}_depth.npy")).astype(np.float64).reshape(mask.shape)
        return make_sample(rgb.stem, read_rgb(rgb), depth, mask)


class Folder(Benchmark):
    """Generic pairs: `rgb/<stem>.{png,jpg}` + `depth/<stem>.{png,npy,exr}`.

    PNG depth is 16-bit with depth = value * depth_scale (metres; 0.001: millimetres);
    `.npy` and `.exr` hold metres. 0, negative and non-finite values are invalid.
    """

    name = "folder"
    layout = "rgb/<stem>.png|jpg and depth/<stem>.png|npy|exr"

    def __init__(self, root: str | Path, depth_scale: float = 1e-3, spec: EvalSpec = EvalSpec(1e-3, math.inf)):
        self.depth_scale, self.spec = depth_scale, spec
        super().__init__(root)

    def _index(self) -> list[tuple[Path, Path]]:
        items = []
        for rgb in sorted(p for p in (self.root / "rgb").glob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
            depth = next((d for d in (self.root / "depth" / f"{rgb.stem}{s}" for s in (".png", ".npy", ".exr")) if d.is_file()), None)
            if depth is not None:
                items.append((rgb, depth))
        return items

    def _load(self, item: tuple[Path, Path]) -> dict:
        rgb, path = item
        if path.suffix == ".png":
            depth = read_png16(path) * self.depth_scale
        elif path.suffix == ".npy":
            depth = np.load(path).astype(np.float64).squeeze()
        else:
            depth = read_exr(path)
        return make_sample(rgb.stem, read_rgb(rgb), depth)


class Synth(Benchmark):
    """Held-out synthetic scenes: `test-*.tar` shards written by `mofo data synth --split test`.

    Dense z-depth in metres (16-bit PNG, 1/256 m steps); sky is invalid.
    """

    name = "synth"
    spec = EvalSpec(1e-3, 80.0)
    layout = "test-*.tar shards and test.json from `mofo data synth --split test`"

    def _index(self) -> list[int]:
        self.shards = ShardReader(self.root, split="test")
        return list(range(len(self.shards)))

    def _load(self, i: int) -> dict:
        return self.shards[i]


# --------------------------------------------------------------------------- realdata


def _nyu_raw_disparity_to_metres(raw: np.ndarray) -> np.ndarray:
    """NYU toolbox `depth_rel2depth_abs`: 351.3 / (1092.5 - raw); raw 2047 = no reading."""
    raw = raw.astype(np.float64)
    return np.where(raw >= 2047, 0.0, 351.3 / (1092.5 - raw))  # raw > 1092 gives depth < 0: invalid


def _nyu_pgm_to_metres(v: np.ndarray) -> np.ndarray:
    """NYU raw PGMs hold disparity little-endian against the PGM spec, so PIL's values are byte-swapped."""
    return _nyu_raw_disparity_to_metres(v.astype(np.uint16).byteswap())


def _sun_bit_rotated_to_metres(v: np.ndarray) -> np.ndarray:
    """SUN RGB-D stores millimetres rotated left by 3 bits in 16-bit arithmetic."""
    v = v.astype(np.uint16)
    return ((v >> 3) | (v << 13)).astype(np.float64) / 1000.0


def _K(fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    return np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], dtype=np.float64)


@dataclass(frozen=True)
class RGBDFrame:
    """One real indoor frame: paths relative to the realdata root, decoder of the 16-bit depth values."""

    rgb: str
    depth: str
    to_metres: Callable[[np.ndarray], np.ndarray]
    K: np.ndarray | None = None  # None where the README gives no verified calibration

    def load(self, root: Path) -> dict:
        key = str(Path(self.rgb).with_suffix(""))
        return make_sample(key, read_rgb(root / self.rgb), self.to_metres(read_png16(root / self.depth)), intrinsics=self.K)


_O3D, _CH5, _CH7 = "open3d_rgbd_formats/other_formats", "slambook2_rgbd/ch5/rgbd", "slambook2_rgbd/ch7"
_MM, _TUM = (lambda v: v / 1000.0), (lambda v: v / 5000.0)
# Encodings and intrinsics as given in each folder's README.
REALDATA_INDOOR = [
    RGBDFrame(f"{_O3D}/NYU_color.ppm", f"{_O3D}/NYU_depth.pgm", _nyu_pgm_to_metres, _K(518.858, 519.470, 325.582, 253.736)),
    RGBDFrame(f"{_O3D}/SUN_color.jpg", f"{_O3D}/SUN_depth.png", _sun_bit_rotated_to_metres),
    RGBDFrame(f"{_O3D}/TUM_color.png", f"{_O3D}/TUM_depth.png", _TUM, _K(525.0, 525.0, 319.5, 239.5)),
    RGBDFrame("rcnn_depth_nyu/demo-data/images.png", "rcnn_depth_nyu/demo-data/rawdepth.png", _MM),  # measured, not in-painted
    *[RGBDFrame(f"{_CH5}/color/{i}.png", f"{_CH5}/depth/{i}.pgm", _MM, _K(518.0, 519.0, 325.5, 253.5)) for i in range(1, 6)],
    *[RGBDFrame(f"{_CH7}/{i}.png", f"{_CH7}/{i}_depth.png", _TUM, _K(520.9, 521.0, 325.1, 249.7)) for i in (1, 2)],
]


class KITTIVelodyne(Benchmark):
    """KITTI object frames: `training/{image_2/*.png, velodyne/*.bin, calib/*.txt}`; ground truth is
    the scan projected into image_2 (`project_velodyne`), sparse like depth completion's velodyne_raw."""

    name, spec = "kitti_velodyne", OUTDOOR_SPEC
    layout = "training/image_2/<id>.png, training/velodyne/<id>.bin, training/calib/<id>.txt"

    def _index(self) -> list[Path]:
        t = self.root / "training"
        return sorted(p for p in t.glob("image_2/*.png") if (t / "velodyne" / f"{p.stem}.bin").is_file() and (t / "calib" / f"{p.stem}.txt").is_file())

    def _load(self, rgb_path: Path) -> dict:
        t = rgb_path.parents[1]
        calib = read_calib(t / "calib" / f"{rgb_path.stem}.txt")
        points = np.fromfile(t / "velodyne" / f"{rgb_path.stem}.bin", dtype="<f4").reshape(-1, 4)
        rgb = read_rgb(rgb_path)
        depth = project_velodyne(points, calib, *rgb.shape[:2])
        key = rgb_path.relative_to(self.root).with_suffix("").as_posix()
        return make_sample(key, rgb, depth, intrinsics=calib["P2"].reshape(3, 4)[:, :3])


def _prefix_key(sample: dict, prefix: str) -> dict:
    return {**sample, "key": prefix + sample["key"]}


class RealData(Benchmark):
    """The real RGB-D fixtures in `../shared/realdata` (never copied into the repo): 11 indoor Kinect/TUM
    frames (range 1e-3..10 m, no crop) and 3 KITTI LiDAR frames (1e-3..80 m, Garg crop).
    Keys are paths relative to root without suffix. Frames whose files are missing are left out."""

    name = "realdata"
    layout = "the folders of ../shared/realdata (see its README)"
    default_root = Path(__file__).resolve().parents[2].parent / "shared" / "realdata"  # <project>/../shared/realdata

    def __init__(self, root: str | Path | None = None):
        if root is None and not self.default_root.is_dir():
            raise FileNotFoundError(f"realdata: the real RGB-D samples are not at {self.default_root} "
                                    "(../shared/realdata next to the project); pass --root")
        super().__init__(self.default_root if root is None else root)

    def _index(self) -> list:
        items = [(frame.load, INDOOR_SPEC) for frame in REALDATA_INDOOR if (self.root / frame.depth).is_file()]
        if (self.root / "kitti_object_velodyne").is_dir():
            kitti = KITTIVelodyne(self.root / "kitti_object_velodyne")
            items += [(lambda _, i=i: _prefix_key(kitti[i], "kitti_object_velodyne/"), OUTDOOR_SPEC) for i in range(len(kitti))]
        return items

    def _load(self, item) -> dict:
        return item[0](self.root)

    def spec_of(self, i: int) -> EvalSpec:
        return self.items[i][1]


BENCHMARKS: dict[str, type[Benchmark]] = {
    cls.name: cls
    for cls in (NYUv2Labeled, NYUv2Folder, KITTIEigen, ETH3D, ScanNet, DIODE, Folder, KITTIVelodyne, RealData, Synth)
}


def open_benchmark(name: str, root: str | Path | None = None, **kw) -> Benchmark:
    """Loader `name` on `root` (realdata defaults to ../shared/realdata next to the project root)."""
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; known: {', '.join(sorted(BENCHMARKS))}")
    cls = BENCHMARKS[name]
    if root is None and not hasattr(cls, "default_root"):
        raise ValueError(f"benchmark {name!r} needs a root folder (expected {cls.layout})")
    return cls(root, **kw)
