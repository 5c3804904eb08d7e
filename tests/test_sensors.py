"""Sensor simulators: density, exactness, determinism (mofo/data/sensors.py)."""
import pytest
import torch

from mofo.data import make_sensor


def dense(b=16, h=64, w=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(b, 1, 4, 4, generator=g)  # smooth surfaces, distinct per pixel
    depth = 1 + 20 * torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear")
    return depth, torch.ones_like(depth, dtype=torch.bool)


@pytest.mark.parametrize("name,kw", [("lidar", {}), ("random", {}), ("lidar", {"density": 0.02}),
                                     ("random", {"density": 0.2})])
@pytest.mark.parametrize("size", [(64, 64), (96, 128)])
def test_valid_fraction_matches_target(name, kw, size):
    depth, valid = dense(32, *size)
    _, mask = make_sensor(name, **kw)(depth, valid, 0)
    assert abs(mask.float().mean().item() - kw.get("density", 0.05)) < 0.01


@pytest.mark.parametrize("name", ["lidar", "random", "kinect", "none"])
def test_measured_pixels_are_exact_and_others_zero(name):
    depth, valid = dense()
    depth = depth / 5  # inside the Kinect's range
    valid[:, :, :10] = False  # e.g. sky
    sparse, mask = make_sensor(name)(depth, valid, 1)
    assert mask.dtype == torch.bool and sparse.shape == mask.shape == depth.shape
    assert mask.any() and not (mask & ~valid).any()
    assert torch.equal(sparse[mask], depth[mask]) and (sparse[~mask] == 0).all()


@pytest.mark.parametrize("name", ["lidar", "random", "kinect"])
def test_same_seed_same_pattern(name):
    depth, valid = dense()
    depth = depth / 5
    sensor = make_sensor(name)
    a, b, c = sensor(depth, valid, 7)[1], sensor(depth, valid, 7)[1], sensor(depth, valid, 8)[1]
    assert torch.equal(a, b) and not torch.equal(a, c)
    single = sensor(depth[0], valid[0], 7)[1]  # (1, H, W) input
    assert single.shape == (1, 64, 64)


def test_lidar_returns_lie_on_scan_lines():
    depth, valid = dense(1, 120, 160)
    _, mask = make_sensor("lidar", lines=8, jitter=0.0, bend=0.0, dropout=0.0)(depth, valid, 0)
    rows = mask[0, 0].any(1).nonzero().flatten()
    assert len(rows) == 8 and (rows.diff() >= 10).all()  # 8 rows of returns, evenly spread
    assert (rows >= 0.2 * 120 - 1).all()  # the elevation band starts below the top 20 %


def test_lidar_range_limits():
    depth, valid = dense()
    _, mask = make_sensor("lidar", near=5.0, far=10.0)(depth, valid, 0)
    assert ((depth[mask] >= 5) & (depth[mask] <= 10)).all()


def test_kinect_loses_depth_edges_and_dark_surfaces():
    depth = torch.full((1, 1, 32, 32), 2.0)
    depth[..., 16:] = 3.0  # a step
    valid = torch.ones_like(depth, dtype=torch.bool)
    image = torch.full((1, 3, 32, 32), 0.5)
    image[..., :4, :] = 0.02  # a dark band at the top
    _, mask = make_sensor("kinect", dropout=0.0, dark_loss=1.0)(depth, valid, 0, image=image)
    assert not mask[..., 4:, 14:18].any()  # hole along the step
    assert not mask[..., :4, :].any()  # dark pixels lost
    assert mask[..., 4:, :12].all() and mask[..., 4:, 20:].all()


def test_unknown_sensor_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown sensor 'sonar'.*lidar"):
        make_sensor("sonar")
