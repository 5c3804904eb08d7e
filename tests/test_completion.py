import numpy as np
import pytest

from mofo.completion import fuse, guided, interpolate_points, nearest_points

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


def test_fuse_with_a_flat_estimate_is_linear_interpolation():
    h, w = 24, 24
    truth = rng.uniform(2, 8, (h, w))
    known = sparse_mask(h, w, 0.1, seed=1)
    sparse = np.where(known, truth, 0.0)
    want = np.maximum(interpolate_points(sparse, known, "linear"), 0.5 * truth[known].min())
    np.testing.assert_allclose(fuse(np.ones((h, w)), sparse, known)[0], want, atol=1e-9)


def test_fuse_recovers_an_affine_map_of_the_estimate_everywhere():
    h, w = 16, 20
    estimate = rng.uniform(0.5, 2.0, (h, w))
    truth = 4.0 * estimate + 1.0
    known = sparse_mask(h, w, 0.1, seed=2)
    fused, weight = fuse(estimate, np.where(known, truth, 0.0), known)
    np.testing.assert_allclose(fused, truth, atol=1e-9)
    assert weight == pytest.approx(1.0)


def test_fuse_is_exact_on_measurements_and_beats_interpolation_with_a_good_estimate():
    h, w = 32, 32
    r, c = np.mgrid[0:h, 0:w]
    truth = 3.0 + ((r // 8 + c // 8) % 2) * 2.0  # a checkerboard the points alone cannot resolve
    known = sparse_mask(h, w, 0.03, seed=3)
    sparse = np.where(known, truth, 0.0)
    noisy = truth + rng.normal(0, 0.05, truth.shape)
    fused, weight = fuse(noisy, sparse, known)
    assert np.array_equal(fused[known], truth[known]) and weight > 0.9
    err = lambda d: np.mean(np.abs(d - truth) / truth)  # noqa: E731
    assert err(fused) < 0.5 * err(interpolate_points(sparse, known, "linear"))


def test_fuse_falls_back_to_interpolation_when_the_estimate_misleads():
    """A smooth truth and an estimate of pure noise: the held-out points give the
    guided map (almost) no weight, so the result is close to linear interpolation."""
    h, w = 40, 40
    r, c = np.mgrid[0:h, 0:w]
    truth = 5.0 + 0.05 * r + 0.03 * c
    known = sparse_mask(h, w, 0.08, seed=4)
    sparse = np.where(known, truth, 0.0)
    noise = rng.uniform(0.5, 2.0, (h, w))
    fused, weight = fuse(noise, sparse, known)
    err = lambda d: np.mean(np.abs(d - truth) / truth)  # noqa: E731
    assert weight < 0.1 and err(fused) < 0.1 * err(guided(noise, sparse, known))


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
