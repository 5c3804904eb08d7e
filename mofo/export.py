"""Files in and out of the product: reading user images and depth maps, writing
run folders (PNG, NPY, 16-bit PNG, colourised depth, point clouds, metadata).

Never imports the model. Every user-caused problem raises a ValueError /
FileNotFoundError with a one-line message; run folders appear complete or not
at all (written under a temporary name, then renamed).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
from PIL import Image

from .data.viz import colorize_depth
from .data.world import focal_from_fov
from .files import atomic_folder, is_image_file, open_image

MIN_SIDE = 8  # smaller images carry no layout to read depth from
EDGE_RTOL, EDGE_SIDE, EDGE_RTOL_MAX = 0.04, 512, 0.5  # depth-edge filter (METHOD §9): 0.04 at 512 px, wider below


def load_image(path: str | Path) -> np.ndarray:
    """Any image file -> uint8 (H, W, 3). Grayscale, palette, RGBA (composited on white)
    and 16-bit images are converted. Each side must be at least MIN_SIDE pixels."""
    img = open_image(path)
    if min(img.size) < MIN_SIDE:
        raise ValueError(f"{path} is {img.width}x{img.height} pixels; an image needs at least {MIN_SIDE} a side")
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        a = np.asarray(img, dtype=np.float64)
        top = 65535.0 if a.max() > 255 else 255.0
        img = Image.fromarray(np.clip(a / top * 255 + 0.5, 0, 255).astype(np.uint8))
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return np.asarray(img.convert("RGB"))


def load_depth(path: str | Path, scale: float = 1.0) -> np.ndarray:
    """Depth (H, W) float32 from `.npy`, a 16-bit PNG (value * scale), or a `mofo` run folder
    (its `depth.npy`). 0 marks missing pixels. NaN/inf/negative values or an all-zero map
    are errors."""
    path = Path(path)
    if path.is_dir():
        path = path / "depth.npy"
    if not path.is_file():
        raise FileNotFoundError(f"no such depth file: {path}")
    if path.suffix == ".npy":
        try:
            depth = np.load(path, allow_pickle=False)
        except ValueError as e:
            raise ValueError(f"{path} is not a plain .npy array ({e})") from None
    else:
        depth = np.asarray(open_image(path), dtype=np.float64) * scale
    depth = np.squeeze(np.asarray(depth, dtype=np.float64))
    if depth.ndim != 2:
        raise ValueError(f"{path}: depth must be one channel (H, W), got shape {depth.shape}")
    return check_depth(depth, str(path))


def check_depth(depth: np.ndarray, name: str = "depth") -> np.ndarray:
    if not np.isfinite(depth).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    if (depth < 0).any():
        raise ValueError(f"{name} contains negative values")
    if not (depth > 0).any():
        raise ValueError(f"{name} is all zero (no measured pixel)")
    return depth.astype(np.float32)


def list_images(inputs: list[str | Path]) -> list[Path]:
    """Files and folders (their images, sorted, depth maps left out) -> image paths."""
    paths: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if is_image_file(p))
            if not found:
                raise ValueError(f"no images in folder {item}")
            paths += found
        elif item.exists():
            paths.append(item)
        else:
            raise FileNotFoundError(f"no such file or folder: {item}")
    return paths


# ----------------------------------------------------------------------------- point clouds


def intrinsics_from_fov(h: int, w: int, fov_deg: float) -> np.ndarray:
    """Pinhole K for a horizontal field of view, principal point at the centre."""
    if not 1 <= fov_deg <= 179:
        raise ValueError(f"field of view must be in [1, 179] degrees, got {fov_deg}")
    f = focal_from_fov(w, fov_deg)
    return np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1]], dtype=np.float64)


def edge_rtol(h: int, w: int) -> float:
    """The edge filter's tolerance at an image size: EDGE_RTOL at EDGE_SIDE px and above, and in
    proportion to the angle a pixel spans below (a smooth slope's 3x3 range grows as 1 / side)."""
    return min(EDGE_RTOL_MAX, EDGE_RTOL * max(1.0, EDGE_SIDE / max(h, w)))  # a jump by half the depth is an edge


def edge_mask(depth: np.ndarray, rtol: float | None = None) -> np.ndarray:
    """True where the local 3x3 depth range exceeds `rtol * depth` (METHOD §9); default `edge_rtol`."""
    rtol = edge_rtol(*depth.shape) if rtol is None else rtol
    pad = np.pad(depth, 1, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(pad, (3, 3))
    return (windows.max(axis=(-1, -2)) - windows.min(axis=(-1, -2))) > rtol * depth


def point_cloud(depth: np.ndarray, rgb: np.ndarray, K: np.ndarray, rtol: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Back-project z-depth (H, W) through K -> (points (N, 3) in the OpenCV camera frame, colours (N, 3) uint8).

    Pixel centres are at (j + 0.5, i + 0.5); pixels with no depth or on a
    depth discontinuity are dropped (unless that would drop every pixel, as on
    pure noise).
    """
    h, w = depth.shape
    v, u = np.mgrid[0:h, 0:w] + 0.5
    keep = (depth > 0) & ~edge_mask(depth, rtol)
    if not keep.any():
        keep = depth > 0
    z = depth[keep]
    x = (u[keep] - K[0, 2]) / K[0, 0] * z
    y = (v[keep] - K[1, 2]) / K[1, 1] * z
    return np.stack([x, y, z], axis=1), rgb[keep]


def write_ply(path: Path, points: np.ndarray, colors: np.ndarray):
    import trimesh

    trimesh.PointCloud(points, colors=colors).export(path, file_type="ply")


def write_glb(path: Path, points: np.ndarray, colors: np.ndarray):
    """GLB with the camera frame turned to glTF's (y up, looking down -z)."""
    import trimesh

    gl = points * np.array([1.0, -1.0, -1.0])
    trimesh.Scene(trimesh.PointCloud(gl, colors=colors)).export(path, file_type="glb")


# ----------------------------------------------------------------------------- run folders


def depth16(depth: np.ndarray) -> tuple[np.ndarray, float]:
    """Relative depth -> uint16 image and the metres-per-unit scale (value * scale = depth)."""
    scale = float(depth.max()) / 65535 if depth.max() > 0 else 1.0
    return np.clip(np.round(depth / scale), 0, 65535).astype(np.uint16), scale


def check_output_folder(out: str | Path) -> Path:
    """`out` if it is a writable folder or can be made one (its nearest existing parent is a
    writable folder); else a one-line NotADirectoryError / PermissionError. Creates nothing."""
    out = Path(out)
    for parent in (out, *out.parents):
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(f"output folder {out}: {parent} is a file, not a folder")
            if not os.access(parent, os.W_OK):
                raise PermissionError(f"output folder is not writable: {parent}")
            break
    return out


def run_folder_name(out: Path, stem: str = "") -> Path:
    """A new timestamped folder under `out` (suffixed -1, -2, ... when the second is taken)."""
    name = time.strftime("%Y%m%d-%H%M%S") + (f"-{stem}" if stem else "")
    final, k = out / name, 1
    while final.exists():
        final, k = out / f"{name}-{k}", k + 1
    return final


def write_outputs(out: str | Path, rgb: np.ndarray | None, depth: np.ndarray | None, metadata: dict,
                  fov: float = 60.0, K: np.ndarray | None = None, stem: str = "") -> Path:
    """Write one result as a complete timestamped folder under `out` and return it.

    Files: rgb.png, depth.npy (float32), depth16.png, depth_color.png, cloud.ply,
    cloud.glb (when both rgb and depth exist) and metadata.json.
    """
    out = check_output_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    final = run_folder_name(out, stem)
    with atomic_folder(final, tmp=out / f".{final.name}.tmp") as tmp:
        meta = dict(metadata)
        if rgb is not None:
            Image.fromarray(rgb).save(tmp / "rgb.png")
        if depth is not None:
            np.save(tmp / "depth.npy", depth.astype(np.float32))
            d16, scale = depth16(depth)
            Image.fromarray(d16).save(tmp / "depth16.png")
            Image.fromarray(colorize_depth(depth)).save(tmp / "depth_color.png")
            meta["depth16_scale"] = scale
        if rgb is not None and depth is not None:
            K = intrinsics_from_fov(*depth.shape, fov) if K is None else K
            points, colors = point_cloud(depth, rgb, K)
            write_ply(tmp / "cloud.ply", points, colors)
            write_glb(tmp / "cloud.glb", points, colors)
            meta.update(intrinsics=K.tolist(), points=int(len(points)))
        (tmp / "metadata.json").write_text(json.dumps(meta, indent=2, default=str))
    return final
