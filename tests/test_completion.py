import numpy as np
import pytest

from mofo.completion import edge_aware, fuse, interpolate_points, nearest_points

rng = np.random.default_rng(0)


def sparse_mask(h, w, p=0.1, seed=0):
    known = np.random.default_rng(seed).random((h, w)) < p
    known[0, 0] = known[0, -1] = known[-1, 0] = known[-1, -1] = True  # the hull covers the image
    return known


def test_nearest_matches_brute_force():
    known = sparse_mask(9, 13, 0.15)
    values = rng.uniform(1, 5, (9, 13))
    got = nearest_points(values, known)
    pts = np.argwhere(known)
    for r in range(9):
        for c in range(13):
            d = ((pts - [r, c]) ** 2).sum(1)
            assert got[r, c] in values[tuple(pts[d == d.min()].T)]


def test_linear_reproduces_a_plane_and_keeps_measurements():
    h, w = 20, 30
    r, c = np.mgrid[0:h, 0:w]
    plane = 2.0 + 0.3 * r - 0.1 * c
    known = sparse_mask(h, w, 0.05)
    values = np.where(known, plane, 0.0)
    np.testing.assert_allclose(interpolate_points(values, known, "linear"), plane, atol=1e-9)
    assert np.array_equal(interpolate_points(values, known, "nearest")[known], plane[known])
    with pytest.raises(ValueError, match="unknown interpolation"):
        interpolate_points(values, known, "cubic")
    with pytest.raises(ValueError, match="no measured"):
        interpolate_points(values, np.zeros_like(known), "linear")


def test_linear_falls_back_to_nearest_for_collinear_points():
    known = np.zeros((5, 6), bool)
    known[2, [0, 3, 5]] = True
    values = np.where(known, 4.0, 0.0)
    np.testing.assert_allclose(interpolate_points(values, known, "linear"), 4.0)


def inverse(values, known):
    return np.where(known, 1 / np.where(known, values, 1.0), 0.0)


def test_fuse_with_a_flat_estimate_is_linear_interpolation_of_inverse_depth():
    h, w = 24, 24
    truth = rng.uniform(2, 8, (h, w))
    known = sparse_mask(h, w, 0.1, seed=1)
    sparse = np.where(known, truth, 0.0)
    want = 1 / interpolate_points(inverse(sparse, known), known, "linear")
    want = np.where(known, truth, np.clip(want, 0.5 * truth[known].min(), 2 * truth[known].max()))
    np.testing.assert_allclose(fuse(np.ones((h, w)), sparse, known)[0], want, atol=1e-9)


def test_fuse_reproduces_a_plane_seen_in_perspective_where_depth_interpolation_does_not():
    """Depth of a tilted plane under a pinhole camera, 1/z = a + b u + c v: linear in the pixel
    coordinates as inverse depth, not as depth."""
    h, w = 30, 40
    r, c = np.mgrid[0:h, 0:w]
    truth = 1 / (0.05 + 0.01 * r + 0.002 * c)
    known = sparse_mask(h, w, 0.05, seed=5)
    sparse = np.where(known, truth, 0.0)
    np.testing.assert_allclose(fuse(np.ones((h, w)), sparse, known)[0], truth, rtol=1e-9)
    assert np.abs(interpolate_points(sparse, known, "linear") - truth).max() > 0.1


def test_fuse_recovers_an_affine_map_of_the_estimate_in_inverse_depth_everywhere():
    h, w = 16, 20
    estimate = rng.uniform(0.5, 2.0, (h, w))
    truth = 1 / (4.0 / estimate + 1.0)
    known = sparse_mask(h, w, 0.1, seed=2)
    fused, (a, b) = fuse(estimate, np.where(known, truth, 0.0), known)
    np.testing.assert_allclose(fused, truth, rtol=1e-9)
    assert (a, b) == (1.0, 0.0)


def test_fuse_is_exact_on_measurements_and_beats_interpolation_with_a_good_estimate():
    h, w = 32, 32
    r, c = np.mgrid[0:h, 0:w]
    truth = 3.0 + ((r // 8 + c // 8) % 2) * 2.0  # a checkerboard the points alone cannot resolve
    known = sparse_mask(h, w, 0.03, seed=3)
    sparse = np.where(known, truth, 0.0)
    noisy = truth + rng.normal(0, 0.05, truth.shape)
    fused, (a, _) = fuse(noisy, sparse, known)
    assert np.array_equal(fused[known], truth[known]) and a > 0.9
    err = lambda d: np.mean(np.abs(d - truth) / truth)  # noqa: E731
    assert err(fused) < 0.5 * err(interpolate_points(sparse, known, "linear"))


def test_fuse_falls_back_to_interpolation_when_the_estimate_and_image_mislead():
    """A smooth truth, an estimate and an image of pure noise: the held-out points give neither
    (almost) any weight, so the result is close to interpolation of the points."""
    h, w = 40, 40
    r, c = np.mgrid[0:h, 0:w]
    truth = 5.0 + 0.05 * r + 0.03 * c
    known = sparse_mask(h, w, 0.08, seed=4)
    sparse = np.where(known, truth, 0.0)
    noise = rng.uniform(0.5, 2.0, (h, w))
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    fused, (a, b) = fuse(noise, sparse, known, image)
    q = inverse(sparse, known)
    slope, shift = np.polyfit(1 / noise[known], q[known], 1)  # the model-guided map, computed independently
    aligned = slope / noise + shift
    guided = 1 / (aligned + interpolate_points(np.where(known, q - aligned, 0.0), known))
    err = lambda d: np.mean(np.abs(d - truth) / truth)  # noqa: E731
    assert a <= 0.1 and b <= 0.1
    assert err(fused) < 1.5 * err(1 / interpolate_points(q, known)) and err(fused) < 0.3 * err(guided)


def test_edge_aware_averages_within_image_regions_only():
    """Two image halves (dark | bright) of two depths; the measured points stop 6 pixels short of the edge.
    The edge-aware average keeps each half's depth up to the edge, where linear interpolation blurs it,
    and constants stay constant."""
    h, w = 20, 40
    image = np.zeros((h, w, 3), np.uint8)
    image[:, 20:] = 255
    truth = np.where(np.arange(w) < 20, 2.0, 8.0) * np.ones((h, 1))
    known = sparse_mask(h, w, 0.2, seed=6) & ((np.arange(w) < 14) | (np.arange(w) >= 26))
    got = edge_aware(truth, known, image, sigma_s=8.0, sigma_r=0.1)
    np.testing.assert_allclose(got, truth, rtol=1e-6)
    assert np.abs(interpolate_points(truth, known, "linear") - truth)[:, 14:26].max() > 1.0
    np.testing.assert_allclose(edge_aware(np.full((h, w), 3.0), known, image, 8.0, 0.1), 3.0, rtol=1e-12)


def test_fuse_uses_the_image_where_it_predicts_the_held_out_points():
    """The same step between image regions, points everywhere but near it: with the image, `fuse`
    weights the edge-aware map and beats interpolation across the step; exact on the points."""
    h, w = 40, 60
    image = np.zeros((h, w, 3), np.uint8)
    image[:, 31:] = 200
    col = np.arange(w)
    truth = np.where(col < 31, 2.0, 8.0) * np.ones((h, 1))
    known = sparse_mask(h, w, 0.15, seed=7)
    sparse = np.where(known, truth, 0.0)
    fused, (_, b) = fuse(np.ones((h, w)), sparse, known, image)
    err = lambda d: np.mean(np.abs(d - truth) / truth)  # noqa: E731
    assert b > 0.5 and np.array_equal(fused[known], truth[known])
    assert err(fused) < 0.5 * err(fuse(np.ones((h, w)), sparse, known)[0])


def test_fuse_smooth_blurs_the_estimate_before_fusing():
    """`smooth` is scipy's Gaussian blur (edges repeated) of the estimate, then the same fusion;
    (rows, cols) sigmas blur each axis on its own."""
    from scipy import ndimage

    rng = np.random.default_rng(3)
    estimate = rng.random((24, 32))
    truth = 2.0 + estimate
    known = rng.random(truth.shape) < 0.2
    sparse = np.where(known, truth, 0.0)
    blurred = ndimage.gaussian_filter(estimate, (1.0, 2.0), mode="nearest")
    np.testing.assert_allclose(fuse(estimate, sparse, known, smooth=(1.0, 2.0))[0],
                               fuse(blurred, sparse, known)[0], atol=1e-12)
    assert not np.allclose(fuse(estimate, sparse, known, smooth=1.0)[0], fuse(estimate, sparse, known)[0])
