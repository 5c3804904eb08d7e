import pytest
import torch

from conftest import randomize
from mofo.codecs import patchify
from mofo.flow import FlowConfig, I2D, D2I, JOINT, drop_captions, forcing_times, nearest_fill, noisy_depth, training_losses
from mofo.model import ModalityDiT, position_ids


def make_batch(cfg, b=4, seed=0, sparse=False):
    g = torch.Generator().manual_seed(seed)
    h = w = cfg.resolution // cfg.patch_size
    z = torch.rand(b, h * w, cfg.depth_out_channels, generator=g) * 1.5
    valid = torch.ones_like(z, dtype=torch.bool)
    if sparse:
        valid = torch.rand(z.shape, generator=g) < 0.3
        z = z * valid
    return dict(
        img=torch.rand(b, h * w, cfg.image_channels, generator=g) * 2 - 1,
        txt=torch.randn(b, cfg.txt_len, cfg.txt_dim, generator=g),
        ids=position_ids(h, w, cfg.txt_len), grid=(h, w), depth=z, valid=valid,
    )


def test_regime_frequencies_match_config():
    cfg = FlowConfig(p_joint=0.5, p_i2d=0.3, p_d2i=0.2)
    g = torch.Generator().manual_seed(0)
    n = 200_000
    t_img, t_depth, regime = forcing_times(torch.ones(n, dtype=torch.bool), cfg, g, mu=1.1)
    freq = torch.bincount(regime, minlength=3).float() / n
    assert torch.allclose(freq, torch.tensor([0.5, 0.3, 0.2]), atol=0.005)
    assert torch.all(t_img[regime == I2D] == 0) and torch.all(t_depth[regime == D2I] == 0)
    joint = regime == JOINT
    assert torch.all((t_img[joint] > 0) & (t_depth[joint] > 0))
    # logit-normal with shift: median of t is sigmoid(mu)
    assert abs(t_img[joint].median().item() - torch.sigmoid(torch.tensor(1.1)).item()) < 0.01


def test_samples_without_depth_hold_depth_at_noise():
    has = torch.tensor([True, False] * 500)
    t_img, t_depth, regime = forcing_times(has, FlowConfig(), torch.Generator().manual_seed(1), mu=1.1)
    assert torch.all(t_depth[~has] == 1) and torch.all(regime[~has] == -1) and torch.all(t_img[~has] > 0)


def test_bad_flow_config():
    with pytest.raises(ValueError, match="sum to 1"):
        FlowConfig(p_joint=0.5, p_i2d=0.2, p_d2i=0.2)
    with pytest.raises(ValueError, match="sparse_fill"):
        FlowConfig(sparse_fill="zeros")


def test_noise_fill_puts_pure_noise_at_missing_pixels():
    z = torch.rand(2, 4, 16)
    valid = torch.rand(2, 4, 16) < 0.5
    eps = torch.randn(2, 4, 16)
    t = torch.tensor([0.0, 0.3])
    x = noisy_depth(z, valid, eps, t, "noise", (2, 2), 4)
    assert torch.equal(x[~valid], eps[~valid])
    expected = (1 - t.view(-1, 1, 1)) * z + t.view(-1, 1, 1) * eps
    assert torch.allclose(x[valid], expected[valid])


def test_mean_and_nearest_fill():
    z = torch.zeros(1, 1, 4, 4)
    valid = torch.zeros(1, 1, 4, 4, dtype=torch.bool)
    z[0, 0, 0, 0], valid[0, 0, 0, 0] = 1.0, True
    z[0, 0, 3, 3], valid[0, 0, 3, 3] = 3.0, True
    zt, vt = patchify(z, 2), patchify(valid, 2)
    eps = torch.zeros_like(zt)
    filled = noisy_depth(zt, vt, eps, torch.zeros(1), "mean", (2, 2), 2)
    assert torch.allclose(filled, torch.full_like(filled, 2.0).where(~vt, zt))
    near = nearest_fill(zt, vt, (2, 2), 2)
    from mofo.codecs import unpatchify
    img = unpatchify(near, 2, 2, 2)[0, 0]
    assert img[0, 1] == 1.0 and img[1, 0] == 1.0 and img[3, 2] == 3.0 and img[2, 3] == 3.0


def test_caption_dropout_rate():
    caps = drop_captions(["a"] * 10_000, 0.1, torch.Generator().manual_seed(0))
    assert abs(caps.count("") / 10_000 - 0.1) < 0.01 and set(caps) == {"", "a"}


def test_depth_loss_ignores_invalid_pixels(tiny_cfg):
    model = randomize(ModalityDiT(tiny_cfg), seed=0)
    cfg = FlowConfig(sparse_fill="mean", p_joint=0.0, p_i2d=1.0, p_d2i=0.0, caption_dropout=0.0)
    batch = make_batch(tiny_cfg, sparse=True)
    target = batch["depth"].clone().requires_grad_(True)
    out = training_losses(model, dict(batch, depth=target), cfg, torch.Generator().manual_seed(0))
    # gradient of the loss w.r.t. the depth target: exactly zero at invalid pixels
    # (with mean fill the input depends on valid pixels only)
    (grad,) = torch.autograd.grad(out["loss"], target)
    assert torch.all(grad[~batch["valid"]] == 0) and grad[batch["valid"]].abs().sum() > 0

    changed = batch["depth"].clone()
    changed[~batch["valid"]] = 123.0
    out2 = training_losses(model, dict(batch, depth=changed), cfg, torch.Generator().manual_seed(0))
    assert torch.equal(out["loss"].detach(), out2["loss"].detach())


def test_depth_prediction_gradient_zero_at_invalid_pixels(tiny_cfg):
    """The head's output at unmeasured pixels receives no gradient from the depth loss."""
    model = randomize(ModalityDiT(tiny_cfg), seed=0)
    cfg = FlowConfig(p_joint=0.0, p_i2d=1.0, p_d2i=0.0)
    batch = make_batch(tiny_cfg, sparse=True)
    grads = {}

    def keep_grad(module, args, output):
        output.register_hook(lambda g: grads.setdefault("g", g))

    model.depth_final_layer.register_forward_hook(keep_grad)
    training_losses(model, batch, cfg, torch.Generator().manual_seed(0))["loss"].backward()
    g = grads["g"]
    assert torch.all(g[~batch["valid"]] == 0) and g[batch["valid"]].abs().sum() > 0


def test_clean_modality_gets_no_loss(tiny_cfg):
    model = randomize(ModalityDiT(tiny_cfg), seed=0)
    batch = make_batch(tiny_cfg)
    only_i2d = training_losses(model, batch, FlowConfig(p_joint=0, p_i2d=1, p_d2i=0), torch.Generator().manual_seed(0))
    only_d2i = training_losses(model, batch, FlowConfig(p_joint=0, p_i2d=0, p_d2i=1), torch.Generator().manual_seed(0))
    assert only_i2d["loss_img"] == 0 and only_i2d["loss_depth"] > 0
    assert only_d2i["loss_depth"] == 0 and only_d2i["loss_img"] > 0


def test_self_distillation_term(tiny_cfg):
    model = randomize(ModalityDiT(tiny_cfg), seed=0)
    teacher = randomize(ModalityDiT(tiny_cfg.replace(with_depth=False)), seed=1).requires_grad_(False)
    batch = make_batch(tiny_cfg)
    cfg = FlowConfig(p_joint=0, p_i2d=0, p_d2i=1, distill_hi=1.0, distill_lo=0.5)
    out = training_losses(model, batch, cfg, torch.Generator().manual_seed(0), teacher=teacher)
    assert out["loss_distill"] > 0
    # in d2i t_depth = 0, so the weight is distill_lo; doubling it doubles the term
    out2 = training_losses(model, batch, FlowConfig(p_joint=0, p_i2d=0, p_d2i=1, distill_hi=1.0, distill_lo=1.0),
                           torch.Generator().manual_seed(0), teacher=teacher)
    assert torch.allclose(out2["loss_distill"], 2 * out["loss_distill"])
    out["loss"].backward()
    assert all(p.grad is None for p in teacher.parameters())


def test_distillation_runs_the_teacher_on_noisy_images_only(tiny_cfg):
    """The teacher sees only the samples with a noisy image; the term equals the weighted
    squared difference computed over the whole batch with the teacher run on every sample."""
    model = randomize(ModalityDiT(tiny_cfg), seed=0)
    teacher = randomize(ModalityDiT(tiny_cfg.replace(with_depth=False)), seed=1).requires_grad_(False)
    batch = make_batch(tiny_cfg, b=8)
    cfg = FlowConfig(p_joint=0.3, p_i2d=0.6, p_d2i=0.1, distill_hi=1.0, distill_lo=0.3)
    seen, calls = {}, []
    teacher.register_forward_hook(lambda m, args, out: calls.append(args[0].shape[0]))
    model.register_forward_hook(lambda m, args, out: seen.update(x_img=args[0], t_img=args[4], t_depth=args[7], v=out[0]))
    out = training_losses(model, batch, cfg, torch.Generator().manual_seed(2), teacher=teacher)
    noisy = seen["t_img"] > 0
    assert 0 < noisy.sum() < 8 and calls == [int(noisy.sum())]
    txt_ids, img_ids, _ = batch["ids"]
    with torch.no_grad():
        v_teacher, _ = teacher(seen["x_img"], img_ids, batch["txt"], txt_ids, seen["t_img"])
    weight = (1.0 * seen["t_depth"] + 0.3 * (1 - seen["t_depth"])) * noisy
    expected = ((seen["v"] - v_teacher).pow(2).mean((1, 2)) * weight).mean()
    assert torch.allclose(out["loss_distill"], expected, rtol=1e-5, atol=1e-9)
    calls.clear()
    only_i2d = training_losses(model, batch, FlowConfig(p_joint=0, p_i2d=1, p_d2i=0), torch.Generator().manual_seed(2),
                               teacher=teacher)
    assert calls == [1] and only_i2d["loss_distill"] == 0  # one call at weight 0: ranks stay in step


def test_tiny_model_overfits_one_batch(tiny_cfg):
    torch.manual_seed(0)
    model = ModalityDiT(tiny_cfg.replace(hidden_size=64, num_heads=4, axes_dim=(4, 4, 4, 4)))
    batch = make_batch(model.cfg, b=4)
    cfg = FlowConfig()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    losses = []
    for _ in range(300):
        out = training_losses(model, batch, cfg, torch.Generator().manual_seed(0))  # same noise each step
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(out["loss"].item())
    assert losses[-1] < losses[0] / 10, (losses[0], losses[-1])


@pytest.mark.parametrize("with_depth", [False, True])
def test_noise_levels_use_the_models_shift(tiny_cfg, monkeypatch, with_depth):
    """The loss draws t = sigmoid(mu + n) with mu = the model's `shift_mu` (the sampler's shift)."""
    import mofo.flow as flow

    seen, real = [], flow.logit_normal
    monkeypatch.setattr(flow, "logit_normal", lambda n, mu, *a: seen.append(mu) or real(n, mu, *a))
    cfg = tiny_cfg.replace(shift_mu=-0.7, with_depth=with_depth)
    training_losses(ModalityDiT(cfg), make_batch(cfg), FlowConfig(), torch.Generator().manual_seed(0))
    assert seen and set(seen) == {-0.7}


def test_noise_levels_uniform_share():
    from math import erf, log, sqrt

    from mofo.flow import Draws, logit_normal, noise_levels

    n, mu = 200_000, 1.1
    same = noise_levels(n, mu, 0.0, Draws(torch.Generator().manual_seed(0)))
    assert torch.equal(same, logit_normal(n, mu, Draws(torch.Generator().manual_seed(0))))  # no extra draws at 0
    t = noise_levels(n, mu, 0.3, Draws(torch.Generator().manual_seed(1)))
    assert 0 < t.min() and t.max() < 1
    below = 0.5 * (1 + erf((log(0.3 / 0.7) - mu) / sqrt(2)))  # logit-normal mass below t = 0.3
    assert (t < 0.3).float().mean().item() == pytest.approx(0.3 * 0.3 + 0.7 * below, abs=0.005)
    with pytest.raises(ValueError, match="t_uniform"):
        FlowConfig(t_uniform=1.5)
    with pytest.raises(ValueError, match="i2d_t1"):
        FlowConfig(i2d_t1=-0.1)


def test_i2d_t1_puts_that_share_of_i2d_samples_at_pure_noise_and_leaves_the_rest():
    n, has = 200_000, torch.ones(200_000, dtype=torch.bool)
    base = forcing_times(has, FlowConfig(p_joint=0.3, p_i2d=0.6, p_d2i=0.1), torch.Generator().manual_seed(3), mu=1.1)
    cfg = FlowConfig(p_joint=0.3, p_i2d=0.6, p_d2i=0.1, i2d_t1=0.4)
    t_img, t_depth, regime = forcing_times(has, cfg, torch.Generator().manual_seed(3), mu=1.1)
    assert torch.equal(regime, base[2]) and torch.equal(t_img, base[0])  # the same draws before
    i2d, moved = regime == I2D, t_depth != base[1]
    assert torch.all(t_depth[moved] == 1) and not torch.any(moved & ~i2d)
    assert abs((t_depth[i2d] == 1).float().mean().item() - 0.4) < 0.005
    assert n * 0.6 * 0.4 * 0.98 < moved.sum() < n * 0.6 * 0.4 * 1.02


def test_regression_trains_one_forward_pass_from_the_image(tiny_cfg):
    has = torch.tensor([True, True, False, True] * 250)
    cfg = FlowConfig(regression=True)
    t_img, t_depth, regime = forcing_times(has, cfg, torch.Generator().manual_seed(0), mu=1.1)
    assert torch.all(t_img[has] == 0) and torch.all(t_depth == 1) and torch.all(regime[has] == I2D)
    assert torch.all(regime[~has] == -1) and torch.all(t_img[~has] > 0)
    model = randomize(ModalityDiT(tiny_cfg), seed=0)
    out = training_losses(model, make_batch(tiny_cfg), cfg, torch.Generator().manual_seed(0))
    assert out["loss_img"] == 0 and out["loss_depth"] > 0 and out["loss_i2d"] > 0


def test_relative_weight_is_the_squared_derivative_of_log_depth():
    """relative_weight(z) = (d log u / dz)^2 with u = uncontract(z), by autograd in float64, capped."""
    from mofo.codecs import uncontract
    from mofo.flow import RELATIVE_MAX_WEIGHT, relative_weight

    z = torch.linspace(0.05, 1.95, 97, dtype=torch.float64).requires_grad_(True)
    (grad,) = torch.autograd.grad(torch.log(uncontract(z)).sum(), z)
    expected = grad.pow(2).clamp_max(RELATIVE_MAX_WEIGHT)
    assert torch.allclose(relative_weight(z.detach()), expected, rtol=1e-9)
    assert relative_weight(torch.tensor([0.0, 2.0])).tolist() == [RELATIVE_MAX_WEIGHT] * 2
    # equal relative errors cost the same near and far: u = 0.5 and u = 4, both 1 % off
    near, far = torch.tensor(0.5, dtype=torch.float64), torch.tensor(2 - 1 / 4.0, dtype=torch.float64)
    dz_near, dz_far = 0.005, (2 - 1 / 4.04) - far
    cost_near, cost_far = relative_weight(near) * dz_near**2, relative_weight(far) * dz_far**2
    assert float(cost_near) == pytest.approx(1e-4) and float(cost_far) == pytest.approx(1e-4, rel=0.03)


@pytest.mark.parametrize("kind", ["mse", "relative"])
def test_depth_loss_is_the_weighted_mean_over_measured_pixels(tiny_cfg, kind):
    """loss_depth against the head's x0 recomputed outside: per sample, sum(w e^2) / sum(w) over
    measured pixels (w = 1, or (d log u / dz)^2 by autograd), averaged over the batch (all i2d)."""
    from mofo.codecs import uncontract
    from mofo.flow import RELATIVE_MAX_WEIGHT

    model = randomize(ModalityDiT(tiny_cfg), seed=0)
    batch = make_batch(tiny_cfg, sparse=True, seed=3)
    batch["depth"] = batch["depth"] * 1.3  # reach past the contraction's knee at 1
    seen = {}
    model.register_forward_hook(lambda m, a, out: seen.update(x0=out[1].detach().double()))
    cfg = FlowConfig(p_joint=0.0, p_i2d=1.0, p_d2i=0.0, depth_loss=kind)
    out = training_losses(model, batch, cfg, torch.Generator().manual_seed(0))
    z = batch["depth"].double().requires_grad_(True)
    (grad,) = torch.autograd.grad(torch.log(uncontract(z).clamp_min(1e-12)).sum(), z)
    w = grad.pow(2).clamp_max(RELATIVE_MAX_WEIGHT) if kind == "relative" else torch.ones_like(z)
    w = w * batch["valid"]
    per = ((seen["x0"] - z.detach()).pow(2) * w).sum((1, 2)) / w.sum((1, 2))
    assert out["loss_depth"].item() == pytest.approx(per.mean().item(), rel=1e-5)


def test_bad_depth_loss():
    with pytest.raises(ValueError, match="depth_loss"):
        FlowConfig(depth_loss="l1")
