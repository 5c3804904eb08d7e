import math

import pytest
import torch

from conftest import randomize
from mofo.model import ModalityDiT, position_ids
from mofo.sampling import sample, timesteps


def hand_shift(t, mu=1.1):
    return math.exp(mu) / (math.exp(mu) + (1 / t - 1)) if t > 0 else 0.0


def test_timesteps_match_formulas():
    t_img, t_depth = timesteps(4, "joint", mu=1.1, log2_alpha=5)
    base = [1.0, 0.75, 0.5, 0.25, 0.0]
    expected = [hand_shift(t) for t in base]
    assert t_img.shape == (5,) and torch.allclose(t_img, torch.tensor(expected, dtype=torch.float64))
    a = 32.0
    tilted = [a * t / (1 + (a - 1) * t) for t in expected]
    assert torch.allclose(t_depth, torch.tensor(tilted, dtype=torch.float64))
    # by hand: shift(0.5) = e^1.1 / (e^1.1 + 1)
    assert abs(t_img[2].item() - math.exp(1.1) / (math.exp(1.1) + 1)) < 1e-12


def test_timesteps_modes():
    t_img, t_depth = timesteps(10, "i2d", mu=1.1)
    assert torch.all(t_img == 0) and t_depth[0] == 1 and t_depth[-1] == 0
    t_img, t_depth = timesteps(10, "d2i", mu=1.1)
    assert torch.all(t_depth == 0) and torch.all(t_img[:-1] > t_img[1:])
    t_img, t_depth = timesteps(10, "joint", mu=1.1)
    assert torch.equal(t_img, t_depth)  # no tilt by default
    with pytest.raises(ValueError, match="unknown mode"):
        timesteps(4, "x2y", mu=1.1)


def setup(cfg, b=2):
    model = randomize(ModalityDiT(cfg), seed=0)
    g = torch.Generator().manual_seed(0)
    txt = torch.randn(b, cfg.txt_len, cfg.txt_dim, generator=g)
    return model, txt, torch.zeros(1, cfg.txt_len, cfg.txt_dim), (4, 4)


def test_steps_have_no_default_of_their_own(tiny_cfg):
    """A mode's default step count lives in `SamplingConfig` (read by `Pipeline`), not in `sample`."""
    model, txt, unc, grid = setup(tiny_cfg)
    with pytest.raises(TypeError, match="steps"):
        sample(model, "joint", txt, unc, grid)


def test_i2d_keeps_image_bit_for_bit(tiny_cfg):
    model, txt, unc, grid = setup(tiny_cfg)
    image = torch.rand(2, 16, 48) * 2 - 1
    out_img, depth = sample(model, "i2d", txt, unc, grid, image=image, steps=3, generator=torch.Generator().manual_seed(0))
    assert out_img is image or torch.equal(out_img, image)
    assert depth.shape == (2, 16, 16) and torch.isfinite(depth).all()


def test_i2d_skips_the_image_head_and_its_depth_is_unchanged(tiny_cfg):
    """i2d never asks for the (unused) image velocity; the depth equals that of a forward pass with it."""
    model, txt, unc, grid = setup(tiny_cfg)
    image = torch.rand(2, 16, 48) * 2 - 1
    calls, forward = [], model.forward
    model.forward = lambda *a, **k: calls.append(k.get("image_head", True)) or forward(*a, **k)
    _, depth = sample(model, "i2d", txt, unc, grid, image=image, steps=3, cfg_scale=2.0,
                      generator=torch.Generator().manual_seed(0))
    assert calls == [False] * 3
    model.forward = lambda *a, **k: forward(*a, **{**k, "image_head": True})  # the full pass, head computed
    _, full = sample(model, "i2d", txt, unc, grid, image=image, steps=3, cfg_scale=2.0,
                     generator=torch.Generator().manual_seed(0))
    assert torch.equal(depth, full)
    ids = position_ids(*grid, txt.shape[1])
    t = torch.ones(2)
    v, x0 = forward(image, ids[1], txt, ids[0], t * 0, torch.randn(2, 16, 16), ids[2], t, image_head=False)
    assert v is None and x0.shape == (2, 16, 16)


def test_d2i_keeps_depth_bit_for_bit(tiny_cfg):
    model, txt, unc, grid = setup(tiny_cfg)
    depth = torch.rand(2, 16, 16)
    img, out_depth = sample(model, "d2i", txt, unc, grid, depth=depth, steps=3, cfg_scale=2.0)
    assert torch.equal(out_depth, depth) and img.shape == (2, 16, 48)


def test_completion_imposes_noised_measurements_at_every_step(tiny_cfg):
    """The model sees (1 - t) * value + t * eps at known depth entries, eps the initial noise."""
    model, txt, unc, grid = setup(tiny_cfg, b=1)
    image = torch.rand(1, 16, 48) * 2 - 1
    values, mask = torch.rand(1, 16, 16), torch.rand(1, 16, 16) < 0.3
    seen, forward = [], model.forward
    model.forward = lambda *a, **k: seen.append(a[5].clone()) or forward(*a, **k)  # a[5]: noisy depth tokens
    steps = 4
    _, out = sample(model, "i2d", txt, unc, grid, image=image, known=(values, mask), steps=steps,
                    generator=torch.Generator().manual_seed(5))
    eps = torch.randn(1, 16, 16, generator=torch.Generator().manual_seed(5))  # the sampler's first draw
    _, t_depth = timesteps(steps, "i2d", mu=model.cfg.shift_mu)
    assert len(seen) == steps
    for x, t in zip(seen, t_depth.float()):
        torch.testing.assert_close(x[mask], ((1 - t) * values + t * eps)[mask])
    assert not torch.equal(seen[1][~mask], seen[0][~mask])  # the rest evolves freely
    assert out.shape == (1, 16, 16) and not torch.allclose(out[mask], values[mask])  # the model's own estimate


def test_joint_is_seeded_and_cfg_changes_output(tiny_cfg):
    model, txt, unc, grid = setup(tiny_cfg)
    run = lambda s, **kw: sample(model, "joint", txt, unc, grid, steps=3, generator=torch.Generator().manual_seed(s), **kw)
    a, b, c = run(0), run(0), run(1)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and not torch.equal(a[0], c[0])
    guided = run(0, cfg_scale=4.0)
    assert not torch.allclose(guided[0], a[0])


def test_cfg_matches_manual_combination(tiny_cfg):
    """One guided step equals uncond + s (cond - uncond) of two separate passes."""
    model, txt, unc, grid = setup(tiny_cfg, b=1)
    s = 3.0
    guided = sample(model, "joint", txt, unc, grid, steps=1, cfg_scale=s, generator=torch.Generator().manual_seed(0))
    cond = sample(model, "joint", txt, unc, grid, steps=1, generator=torch.Generator().manual_seed(0))
    uncond = sample(model, "joint", unc, unc, grid, steps=1, generator=torch.Generator().manual_seed(0))
    for g_, c_, u_ in zip(guided, cond, uncond):
        assert torch.allclose(g_, u_ + s * (c_ - u_), atol=1e-5)


def test_depth_guidance_is_separate_from_image_guidance(tiny_cfg):
    """`depth_cfg_scale` guides the depth stream alone: at 1 the depth of a guided joint step is
    the conditional pass's exactly, while the image is still uncond + s (cond - uncond)."""
    model, txt, unc, grid = setup(tiny_cfg, b=1)
    s = 3.0
    run = lambda t, **kw: sample(model, "joint", t, unc, grid, steps=1, generator=torch.Generator().manual_seed(0), **kw)
    img, depth = run(txt, cfg_scale=s, depth_cfg_scale=1.0)
    (c_img, c_depth), (u_img, _) = run(txt), run(unc)
    torch.testing.assert_close(depth, c_depth, atol=1e-6, rtol=1e-6)  # a batch of 2 vs 1: rounding only
    assert torch.allclose(img, u_img + s * (c_img - u_img), atol=1e-5)
    assert not torch.allclose(run(txt, cfg_scale=s)[1], c_depth)  # None: depth guided like the image


def test_last_step_returns_x0_prediction(tiny_cfg):
    """With one step from t=1 to 0, the Euler update lands exactly on the x0 prediction."""
    model, txt, unc, grid = setup(tiny_cfg)
    image = torch.rand(2, 16, 48) * 2 - 1
    g = torch.Generator().manual_seed(0)
    _, depth = sample(model, "i2d", txt, unc, grid, image=image, steps=1, generator=g)
    from mofo.model import position_ids
    noise = torch.randn(2, 16, 16, generator=torch.Generator().manual_seed(0))
    t_ids, i_ids, d_ids = position_ids(4, 4, tiny_cfg.txt_len)
    _, x0 = model(image, i_ids, txt, t_ids, torch.zeros(2), noise, d_ids, torch.ones(2))
    assert torch.allclose(depth, x0, atol=1e-5)


def test_joint_refine_runs(tiny_cfg):
    model, txt, unc, grid = setup(tiny_cfg)
    img, depth = sample(model, "joint", txt, unc, grid, steps=2, log2_alpha=5, refine=True)
    assert img.shape == (2, 16, 48) and depth.shape == (2, 16, 16)


def test_sampler_shift_is_the_models(tiny_cfg):
    """`sample` warps its grid by the model's `shift_mu` unless `mu` is given."""
    model, txt, unc, grid = setup(tiny_cfg.replace(shift_mu=0.0))
    run = lambda **kw: sample(model, "joint", txt, unc, grid, steps=3, generator=torch.Generator().manual_seed(0), **kw)
    own, linear, shifted = run(), run(mu=0.0), run(mu=1.1)
    assert torch.equal(own[0], linear[0]) and not torch.allclose(own[0], shifted[0])


@pytest.mark.parametrize("mode, kw", [
    ("joint", {"cfg_scale": 3.0, "log2_alpha": 2.0}),
    ("i2d", {}),
    ("d2i", {"cfg_scale": 1.5}),
    ("known", {"cfg_scale": 2.0}),
])
def test_every_mode_takes_exact_euler_steps(tiny_cfg, mode, kw):
    """Bit for bit, each state the model sees is the previous one plus dt times the (guided)
    prediction: image `x + dt v`, depth `x + dt (x - x0) / max(t, 0.05)`; the output is one more step.
    Known depth entries are the noised measurement `(1 - t) value + t eps` instead."""
    model, txt, unc, grid = setup(tiny_cfg)
    g = torch.Generator().manual_seed(1)
    image, depth = torch.rand(2, 16, 48, generator=g) * 2 - 1, torch.rand(2, 16, 16, generator=g)
    values, mask = torch.rand(2, 16, 16, generator=g), torch.rand(2, 16, 16, generator=g) < 0.3
    inputs = {"i2d": {"image": image}, "d2i": {"depth": depth}, "joint": {},
              "known": {"image": image, "known": (values, mask)}}[mode]
    seen, preds, forward = [], [], model.forward
    model.forward = lambda *a, **k: seen.append((a[0][:2].clone(), a[5][:2].clone())) or forward(*a, **k)
    steps = 4
    out = sample(model, "i2d" if mode == "known" else mode, txt, unc, grid, steps=steps,
                 generator=torch.Generator().manual_seed(7), callback=lambda *c: preds.append(c[3:]), **inputs, **kw)
    t_img, t_depth = (t.float() for t in timesteps(steps, "i2d" if mode == "known" else mode,
                                                    model.cfg.shift_mu, kw.get("log2_alpha")))
    eps = seen[0][1]
    assert len(seen) == len(preds) == steps
    for i, (v, x0) in enumerate(preds):
        img, dep = seen[i]
        nxt_dep = dep + (t_depth[i + 1] - t_depth[i]) * ((dep - x0.float()) / max(t_depth[i].item(), 0.05))
        if mode in ("i2d", "known"):  # the image is held clean; its head is skipped
            assert v is None
            nxt_img = image
        else:
            nxt_img = img + (t_img[i + 1] - t_img[i]) * v.float()
        if mode == "d2i":
            nxt_dep = depth
        if i + 1 < steps:
            if mode == "known":
                t = t_depth[i + 1]
                assert torch.equal(seen[i + 1][1][mask], ((1 - t) * values + t * eps)[mask])
                nxt_dep, got = nxt_dep[~mask], seen[i + 1][1][~mask]
            else:
                got = seen[i + 1][1]
            assert torch.equal(seen[i + 1][0], nxt_img) and torch.equal(got, nxt_dep), i
    assert torch.equal(out[0], nxt_img) and torch.equal(out[1], nxt_dep)
