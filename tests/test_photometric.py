"""mofo/data/photometric.py and its use in training: each step of the jitter against an
independent computation, determinism, range, and depth left alone."""
import numpy as np
import pytest
import torch
from scipy import ndimage

from mofo.data.photometric import LUMA, apply_jitter, draw_jitter, gaussian_blur, jitter
from mofo.flow import Draws
from mofo.train import TrainConfig, supervise

IDENTITY = {"gain": torch.ones(2), "contrast": torch.ones(2), "saturation": torch.ones(2), "white": torch.ones(2, 3),
            "gamma": torch.ones(2), "blur": torch.zeros(2), "noise": torch.zeros(2)}


def images(n=2, size=12, seed=0):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 0.8 + 0.1


def test_identity_parameters_leave_the_images_alone():
    x = images()
    torch.testing.assert_close(apply_jitter(x, IDENTITY), x)


def test_saturation_and_contrast_against_numpy():
    x = images()
    grey = apply_jitter(x, IDENTITY | {"saturation": torch.tensor([0.0, 1.0])})
    luma = np.einsum("chw,c->hw", x[0].numpy(), np.array(LUMA))
    for c in range(3):
        np.testing.assert_allclose(grey[0, c].numpy(), luma, atol=1e-6)
    torch.testing.assert_close(grey[1], x[1])
    flat = apply_jitter(x, IDENTITY | {"contrast": torch.tensor([0.0, 1.0])})
    np.testing.assert_allclose(flat[0].numpy(), np.full((3, 12, 12), luma.mean()), atol=1e-6)


def test_gain_white_and_gamma_against_numpy():
    x = images()
    p = IDENTITY | {"gain": torch.tensor([1.2, 0.7]), "white": torch.tensor([[1.0, 0.9, 1.1], [1.05, 1.0, 0.95]]),
                    "gamma": torch.tensor([0.8, 1.3])}
    ref = (x.numpy() * p["gain"].numpy()[:, None, None, None] * p["white"].numpy()[:, :, None, None]).clip(0, 1)
    ref = ref ** p["gamma"].numpy()[:, None, None, None]
    np.testing.assert_allclose(apply_jitter(x, p).numpy(), ref, atol=1e-6)


def test_blur_matches_scipy_per_image():
    x = images(3, 16)
    out = gaussian_blur(x, torch.tensor([1.0, 0.0, 0.5]))
    for i, s in enumerate((1.0, 0.0, 0.5)):
        ref = x[i].numpy() if s == 0 else ndimage.gaussian_filter(x[i].numpy(), (0, s, s), mode="mirror", truncate=3)
        np.testing.assert_allclose(out[i].numpy(), ref, atol=1e-5)


def test_jitter_is_fixed_by_its_seed_and_stays_in_range():
    x = images(8)
    a, b, c = jitter(x, 3), jitter(x, 3), jitter(x, 4)
    assert a.shape == x.shape and a.dtype == x.dtype and torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= 0 and a.max() <= 1
    assert ((a - x).abs().flatten(1).mean(1) > 1e-3).all()  # every image changes
    p = draw_jitter(1000, torch.Generator().manual_seed(0))
    assert p["gain"].min() >= np.exp(-0.4) and p["gain"].max() <= np.exp(0.4) and p["white"].shape == (1000, 3)
    assert p["blur"].max() <= 1.2 and p["noise"].max() <= 0.03
    assert p["white"].min() >= np.exp(-0.1) and p["white"].max() <= np.exp(0.1)


def test_white_balance_range_is_configurable():
    wide = draw_jitter(1000, torch.Generator().manual_seed(0), log_white=0.3)["white"].log()
    assert 0.29 < wide.abs().max() <= 0.3 + 1e-6 and wide.min() < -0.29
    ratio = lambda gains: (gains[:, 0] / gains[:, 1]).max()  # noqa: E731  the strongest red-over-green cast
    assert ratio(wide.exp()) > 1.6 > ratio(draw_jitter(1000, torch.Generator().manual_seed(0))["white"])
    x = images(4)
    torch.testing.assert_close(jitter(x, 7, log_white=0.1), jitter(x, 7))  # the default range is 0.1
    assert not torch.equal(jitter(x, 7, log_white=0.3), jitter(x, 7))
    with pytest.raises(ValueError, match="photometric_white"):
        TrainConfig(stage="post", photometric_white=-0.1)


def test_training_jitters_the_chosen_share_of_images_and_never_depth():
    n = 64
    batch = {"image": images(n, 8), "depth": torch.rand(n, 1, 8, 8) + 1, "valid_mask": torch.ones(n, 1, 8, 8, dtype=bool)}
    draws = lambda: Draws(torch.Generator().manual_seed(0))  # noqa: E731
    off = supervise(batch, TrainConfig(stage="post"), draws(), step=5)
    assert torch.equal(off["image"], batch["image"])
    on = supervise(batch, TrainConfig(stage="post", photometric=0.5), draws(), step=5)
    assert torch.equal(on["depth"], batch["depth"]) and torch.equal(on["valid_mask"], batch["valid_mask"])
    changed = (on["image"] != batch["image"]).flatten(1).any(1)
    assert 16 < int(changed.sum()) < 48
    again = supervise(batch, TrainConfig(stage="post", photometric=0.5), draws(), step=5)
    assert torch.equal(again["image"], on["image"])
    with pytest.raises(ValueError, match="photometric"):
        TrainConfig(photometric=1.5)
