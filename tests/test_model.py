import pytest
import torch

from conftest import randomize
from mofo.model import ModalityDiT, position_ids, x0_to_velocity

RELEASE_DOUBLE = ["qkv.weight", "norm.query_norm.scale", "norm.key_norm.scale", "proj.weight"]


def inputs(cfg, b=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    h = w = cfg.resolution // cfg.patch_size
    txt_ids, img_ids, depth_ids = position_ids(h, w, cfg.txt_len)
    return dict(
        img=torch.randn(b, h * w, cfg.image_channels, generator=g), img_ids=img_ids,
        txt=torch.randn(b, cfg.txt_len, cfg.txt_dim, generator=g), txt_ids=txt_ids,
        t_img=torch.rand(b, generator=g),
        depth=torch.randn(b, h * w, cfg.depth_channels, generator=g), depth_ids=depth_ids,
        t_depth=torch.rand(b, generator=g),
    )


def t2i_inputs(x):
    return {k: x[k] for k in ("img", "img_ids", "txt", "txt_ids", "t_img")}


def test_shapes_all_modes(tiny_cfg):
    model = randomize(ModalityDiT(tiny_cfg))
    x = inputs(tiny_cfg)
    v, d = model(**x)
    assert v.shape == x["img"].shape and d.shape == (2, 16, 16)
    v2, d2 = model(**t2i_inputs(x))
    assert v2.shape == x["img"].shape and d2 is None


def test_image_only_model_is_plain_t2i(tiny_cfg):
    model = ModalityDiT(tiny_cfg.replace(with_depth=False))
    names = set(model.state_dict())
    assert not any("depth" in n for n in names)
    with pytest.raises(ValueError, match="without a depth stream"):
        model(**inputs(tiny_cfg))


def test_release_parameter_names(tiny_cfg):
    model = ModalityDiT(tiny_cfg.replace(time_mixing=True, n_double=2, n_single=2, n_depth_decoder=2))
    names = set(model.state_dict())
    expected = {"img_in.weight", "txt_in.weight", "depth_in.weight", "cross_alpha_img", "cross_alpha_depth",
                "double_stream_modulation_img.lin.weight", "double_stream_modulation_txt.lin.weight",
                "double_stream_modulation_depth.lin.weight", "single_stream_modulation.lin.weight",
                "single_stream_modulation_depth.lin.weight", "depth_decoder_modulation.lin.weight",
                "final_layer.linear.weight", "final_layer.adaLN_modulation.1.weight",
                "depth_final_layer.linear.weight", "depth_final_layer.adaLN_modulation.1.weight"}
    for emb in ("time_in", "time_in_depth", "time_in_depth_to_img", "time_in_rgb_to_depth"):
        expected |= {f"{emb}.in_layer.weight", f"{emb}.out_layer.weight"}
    for i in range(2):
        for s in ("img", "txt", "depth"):
            expected |= {f"double_blocks.{i}.{s}_attn.{n}" for n in RELEASE_DOUBLE}
            expected |= {f"double_blocks.{i}.{s}_mlp.0.weight", f"double_blocks.{i}.{s}_mlp.2.weight"}
        for stack in ("single_blocks", "depth_decoder_blocks"):
            expected |= {f"{stack}.{i}.{n}" for n in
                         ("linear1.weight", "linear2.weight", "norm.query_norm.scale", "norm.key_norm.scale")}
    assert names == expected
    assert model.cross_alpha_img.shape == (1,)
    assert not any(n.endswith("bias") for n in names)


def test_strict_load_roundtrip(tiny_cfg):
    a = randomize(ModalityDiT(tiny_cfg), seed=1)
    b = ModalityDiT(tiny_cfg)
    b.load_state_dict(a.state_dict(), strict=True)
    x = inputs(tiny_cfg)
    assert all(torch.equal(p, q) for p, q in zip(a(**x), b(**x)))


def test_add_depth_stream_copies_image_stream(tiny_cfg):
    t2i = randomize(ModalityDiT(tiny_cfg.replace(with_depth=False)), seed=2)
    before = {k: v.clone() for k, v in t2i.state_dict().items()}
    model = t2i.add_depth_stream()
    sd = model.state_dict()
    for k, v in before.items():
        assert torch.equal(sd[k], v), k  # image/text weights untouched
    for k in sd:
        if ".depth_attn." in k or ".depth_mlp." in k:
            assert torch.equal(sd[k], sd[k.replace("depth_", "img_")]), k
    pairs = {"time_in_depth": "time_in", "double_stream_modulation_depth": "double_stream_modulation_img",
             "single_stream_modulation_depth": "single_stream_modulation",
             "depth_decoder_modulation": "single_stream_modulation"}
    for new, old in pairs.items():
        for k in [k for k in sd if k.startswith(new + ".")]:
            assert torch.equal(sd[k], sd[old + k[len(new):]]), k
    assert torch.equal(sd["depth_decoder_blocks.0.linear1.weight"], sd["single_blocks.0.linear1.weight"])
    assert model.cfg.with_depth


def test_depth_stream_does_not_change_t2i_output_at_start(tiny_cfg):
    """Zero-init: right after adding depth, image predictions without depth are the T2I ones."""
    t2i = randomize(ModalityDiT(tiny_cfg.replace(with_depth=False)), seed=3)
    x = inputs(tiny_cfg)
    v_ref, _ = t2i(**t2i_inputs(x))
    v, _ = t2i.add_depth_stream()(**t2i_inputs(x))
    assert torch.equal(v, v_ref)


def test_depth_stream_at_start_with_depth_tokens(tiny_cfg):
    """What `add_depth_stream` promises with depth tokens present: the depth head predicts 0,
    and the image velocity moves (image tokens attend to depth tokens): it is *not* the T2I one."""
    t2i = randomize(ModalityDiT(tiny_cfg.replace(with_depth=False)), seed=3)
    x = inputs(tiny_cfg)
    v_ref, _ = t2i(**t2i_inputs(x))
    v, depth = t2i.add_depth_stream()(**x)
    assert torch.equal(depth, torch.zeros_like(depth))
    assert not torch.allclose(v, v_ref, atol=1e-3)


@pytest.mark.parametrize("with_depth", [False, True])
def test_grow_keeps_the_function_and_trains_the_new_blocks(tiny_cfg, with_depth):
    cfg = tiny_cfg.replace(with_depth=with_depth)
    model = randomize(ModalityDiT(cfg), seed=7)
    x = inputs(cfg) if with_depth else t2i_inputs(inputs(cfg))
    before = model(**x)
    counts = dict(n_double=cfg.n_double + 1, n_single=cfg.n_single + 2)
    if with_depth:
        counts["n_depth_decoder"] = cfg.n_depth_decoder + 1
    grown = model.grow(**counts)
    after = grown(**x)
    for a, b in zip(before, after):
        assert (a is None and b is None) or torch.equal(a, b)
    assert {k: getattr(grown.cfg, k) for k in counts} == counts
    assert len(grown.double_blocks) == counts["n_double"] and len(grown.single_blocks) == counts["n_single"]
    # the grown model is what its config builds: a strict load of its weights into a fresh model
    fresh = ModalityDiT(grown.cfg)
    fresh.load_state_dict(grown.state_dict(), strict=True)
    # the new blocks learn: their zeroed output projections get a gradient
    loss = sum(o.square().mean() for o in grown(**x) if o is not None)
    loss.backward()
    assert grown.single_blocks[-1].linear2.weight.grad.abs().sum() > 0
    assert grown.double_blocks[-1].img_attn.proj.weight.grad.abs().sum() > 0


def test_grow_rejects_fewer_blocks_and_a_decoder_without_depth(tiny_cfg):
    with pytest.raises(ValueError, match="fewer blocks"):
        ModalityDiT(tiny_cfg).grow(n_single=tiny_cfg.n_single - 1)
    with pytest.raises(ValueError, match="depth stream"):
        ModalityDiT(tiny_cfg.replace(with_depth=False)).grow(n_depth_decoder=tiny_cfg.n_depth_decoder + 1)


def test_time_mixing_gates_start_closed(tiny_cfg):
    cfg = tiny_cfg.replace(time_mixing=True)
    model = ModalityDiT(cfg)
    assert model.cross_alpha_img.item() == 0 and model.cross_alpha_depth.item() == 0
    randomize(model, seed=4)
    x = inputs(cfg)

    def run_with_mixers(scale):
        with torch.no_grad():
            for m in (model.time_in_depth_to_img, model.time_in_rgb_to_depth):
                m.out_layer.weight.mul_(scale)
        return model(**x)

    with torch.no_grad():
        model.cross_alpha_img.zero_()
        model.cross_alpha_depth.zero_()
    closed = [run_with_mixers(1.0), run_with_mixers(3.0)]
    assert all(torch.equal(a, b) for a, b in zip(*closed))  # gates at 0: mixers have no effect
    with torch.no_grad():
        model.cross_alpha_img.fill_(1.0)
    opened = [run_with_mixers(1.0), run_with_mixers(3.0)]
    assert not torch.allclose(opened[0][0], opened[1][0])


def test_image_and_depth_tokens_see_each_other(tiny_cfg):
    model = randomize(ModalityDiT(tiny_cfg), seed=5)
    x = inputs(tiny_cfg)
    _, d1 = model(**x)
    _, d2 = model(**dict(x, img=x["img"] + 1))
    assert not torch.allclose(d1, d2)


def test_per_sample_noise_levels(tiny_cfg):
    """Sample 0's output does not depend on sample 1's noise levels."""
    model = randomize(ModalityDiT(tiny_cfg), seed=6)
    x = inputs(tiny_cfg)
    v1, d1 = model(**x)
    t = x["t_depth"].clone()
    t[1] = 0.0
    v2, d2 = model(**dict(x, t_depth=t))
    assert torch.allclose(v1[0], v2[0], atol=1e-6) and torch.allclose(d1[0], d2[0], atol=1e-6)
    assert not torch.allclose(d1[1], d2[1])


def test_forward_compiles_without_graph_breaks(tiny_cfg):
    """`torch.compile` sees one graph per forward, for every mode (checked with dynamo's explain)."""
    import torch._dynamo

    model = ModalityDiT(tiny_cfg)
    x = inputs(tiny_cfg)
    for kwargs in (x, t2i_inputs(x)):
        torch._dynamo.reset()
        explanation = torch._dynamo.explain(model)(**kwargs)
        assert explanation.graph_break_count == 0, explanation.break_reasons
        assert explanation.graph_count == 1


def test_x0_to_velocity_recovers_the_flow_velocity():
    """For x_t = (1 - t) x0 + t eps, the velocity implied by the true x0 is eps - x0 (t >= 0.05)."""
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(3, 5, 7, generator=g, dtype=torch.float64), torch.randn(3, 5, 7, generator=g, dtype=torch.float64)
    t = torch.tensor([0.05, 0.5, 1.0], dtype=torch.float64)
    x_t = (1 - t.view(-1, 1, 1)) * x0 + t.view(-1, 1, 1) * eps
    torch.testing.assert_close(x0_to_velocity(x_t, x0, t), eps - x0)
    small = torch.tensor([0.01, 0.0, 0.02], dtype=torch.float64)  # clipped denominator below t = 0.05
    torch.testing.assert_close(x0_to_velocity(x0, x0 + 1, small), torch.full_like(x0, -20.0))


@pytest.mark.parametrize("with_depth", [False, True])
def test_x_target_returns_the_velocity_of_its_clean_estimate(tiny_cfg, with_depth):
    """An x-target model is the v-target network whose head output is read as x0:
    forward returns (x_t - head) / max(t, 0.05); the depth output is unchanged."""
    cfg = tiny_cfg.replace(with_depth=with_depth)
    v_model = randomize(ModalityDiT(cfg))
    x_model = ModalityDiT(cfg.replace(image_target="x"))
    x_model.load_state_dict(v_model.state_dict())
    x = inputs(cfg)
    x["t_img"] = torch.tensor([0.01, 0.7])  # one level below the clip
    args = x if with_depth else t2i_inputs(x)
    head, d_v = v_model(**args)
    v, d_x = x_model(**args)
    expected = (x["img"] - head) / torch.tensor([0.05, 0.7]).view(-1, 1, 1)
    torch.testing.assert_close(v, expected)
    if with_depth:
        torch.testing.assert_close(d_x, d_v)


def test_unknown_image_target_is_rejected(tiny_cfg):
    with pytest.raises(ValueError, match="image_target"):
        tiny_cfg.replace(image_target="eps")
