import json

import numpy as np
import pytest
import trimesh
from PIL import Image

from mofo.export import (check_depth, edge_mask, intrinsics_from_fov, list_images, load_depth, load_image,
                         point_cloud, write_outputs)


def test_load_image_converts_modes(tmp_path):
    gray = np.arange(64, dtype=np.uint8).reshape(8, 8)
    Image.fromarray(gray).save(tmp_path / "g.png")
    assert load_image(tmp_path / "g.png").shape == (8, 8, 3)
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:4, :, 3] = 255  # top half opaque red, bottom half transparent -> white
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    out = load_image(tmp_path / "a.png")
    assert (out[0, 0] == [255, 0, 0]).all() and (out[7, 0] == [255, 255, 255]).all()
    sixteen = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000)
    Image.fromarray(sixteen).save(tmp_path / "s.png")
    img16 = load_image(tmp_path / "s.png")
    assert img16.dtype == np.uint8 and img16[7, 7, 0] == round(63000 / 65535 * 255)


def test_load_image_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_image(tmp_path / "missing.png")
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(ValueError, match="not an image"):
        load_image(tmp_path / "text.png")
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "full.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "full.png").read_bytes()[:60])
    with pytest.raises(ValueError, match="could not be decoded|not an image"):
        load_image(tmp_path / "cut.png")


def test_load_depth_formats_and_checks(tmp_path):
    d = np.linspace(1, 5, 12, dtype=np.float32).reshape(3, 4)
    np.save(tmp_path / "d.npy", d)
    assert np.array_equal(load_depth(tmp_path / "d.npy"), d)
    Image.fromarray((d * 1000).astype(np.uint16)).save(tmp_path / "d.png")
    assert np.allclose(load_depth(tmp_path / "d.png", scale=0.001), d, atol=1e-3)
    for bad, msg in ((np.full((2, 2), np.nan), "NaN"), (-np.ones((2, 2)), "negative"), (np.zeros((2, 2)), "all zero")):
        with pytest.raises(ValueError, match=msg):
            check_depth(bad)


def test_list_images(tmp_path):
    for name in ("b.png", "a.jpg", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in list_images([tmp_path])] == ["a.jpg", "b.png"]
    with pytest.raises(FileNotFoundError):
        list_images([tmp_path / "nope"])


def test_point_cloud_backprojects_a_plane():
    h, w = 6, 8
    K = intrinsics_from_fov(h, w, 90.0)
    assert np.isclose(K[0, 0], w / 2)
    depth = np.full((h, w), 2.0)
    rgb = np.zeros((h, w, 3), np.uint8)
    pts, cols = point_cloud(depth, rgb, K)
    assert pts.shape == (h * w, 3) and np.allclose(pts[:, 2], 2.0)
    # pixel (0, 0) centre at (0.5, 0.5): x = (0.5 - 4) / 4 * 2
    assert np.allclose(pts[0], [(0.5 - 4) / 4 * 2, (0.5 - 3) / 4 * 2, 2.0])


def test_edge_mask_drops_discontinuities():
    depth = np.ones((5, 6))
    depth[:, 3:] = 3.0
    edges = edge_mask(depth)
    assert edges[:, 2:4].all() and not edges[:, :2].any() and not edges[:, 4:].any()


@pytest.mark.parametrize("side", [64, 512])
def test_edge_filter_keeps_a_slanted_wall_and_drops_a_step_at_any_size(side):
    """A wall turned 45 degrees, seen through a 60-degree pinhole: z = 3 / (1 + (u - cx) / f) exactly.
    Its 3x3 range is ~2 / (f (1 + x)) of the depth, 8x larger at 64 px than at 512: the filter
    scales with the size, so the wall is kept whole at both; a 2 m -> 4 m step is dropped at both."""
    K = intrinsics_from_fov(side, side, 60.0)
    u = np.arange(side) + 0.5
    wall = np.tile(3.0 / (1 + (u - K[0, 2]) / K[0, 0]), (side, 1))
    assert not edge_mask(wall).any()
    step = np.where(u < side / 2, 2.0, 4.0)[None].repeat(side, 0)
    edges = edge_mask(step)
    assert edges[:, side // 2 - 1 : side // 2 + 1].all() and edges.sum() == 2 * side
    rgb = np.zeros((side, side, 3), np.uint8)
    assert len(point_cloud(wall, rgb, K)[0]) == side * side


def test_write_outputs_is_complete(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 255, (8, 8, 3), dtype=np.uint8)
    depth = np.linspace(1, 2, 64, dtype=np.float32).reshape(8, 8)
    folder = write_outputs(tmp_path, rgb, depth, {"seed": 3})
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["cloud.glb", "cloud.ply", "depth.npy", "depth16.png", "depth_color.png", "metadata.json", "rgb.png"]
    meta = json.loads((folder / "metadata.json").read_text())
    d16 = np.asarray(Image.open(folder / "depth16.png")).astype(np.float64)
    assert np.allclose(d16 * meta["depth16_scale"], depth, atol=meta["depth16_scale"])
    assert np.array_equal(np.load(folder / "depth.npy"), depth)
    cloud = trimesh.load(folder / "cloud.ply")
    assert len(cloud.vertices) == meta["points"] > 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left
