import torch

from mofo.codecs import DepthCodec, ImageCodec, contract, patchify, uncontract, unpatchify


def test_contract_known_values():
    d = torch.tensor([0.0, 0.5, 1.0, 2.0, 4.0, 1e6])
    expected = torch.tensor([0.0, 0.5, 1.0, 1.5, 1.75, 2 - 1e-6])
    assert torch.allclose(contract(d), expected, atol=1e-6)
    z = torch.tensor([0.0, 0.25, 1.0, 1.5, 1.75])
    assert torch.allclose(uncontract(z), torch.tensor([0.0, 0.25, 1.0, 2.0, 4.0]))


def test_contract_roundtrip_dense_range():
    d = torch.logspace(-3, 3, 200)
    assert torch.allclose(uncontract(contract(d)), d, rtol=1e-4)


def test_patchify_roundtrip_and_layout():
    x = torch.randn(2, 3, 8, 12)
    tokens = patchify(x, 4)
    assert tokens.shape == (2, 6, 48)
    # token 1 is the second patch of the first row; values ordered (row, col, channel)
    assert torch.equal(tokens[0, 1, :3], x[0, :, 0, 4])
    assert torch.equal(unpatchify(tokens, 4, 2, 3), x)


def test_image_codec_range_and_roundtrip():
    codec = ImageCodec(patch_size=4)
    img = torch.rand(1, 3, 16, 16)
    tokens = codec.encode(img)
    assert tokens.shape == (1, 16, codec.channels) and tokens.min() >= -1 and tokens.max() <= 1
    assert torch.allclose(codec.decode(tokens, 4, 4), img, atol=1e-6)


def test_depth_codec_roundtrip_up_to_scale():
    codec = DepthCodec(patch_size=4)
    depth = torch.rand(2, 1, 16, 16) * 20 + 0.5
    valid = torch.ones_like(depth, dtype=torch.bool)
    tokens, vtok = codec.encode(depth, valid)
    assert tokens.shape == (2, 16, 16) and vtok.all()
    rel = codec.decode(tokens, 4, 4)
    scale = depth.mean((1, 2, 3), keepdim=True)
    assert torch.allclose(rel * scale, depth, rtol=1e-3)
    assert tokens.min() >= 0 and tokens.max() < 2


def test_unit_mean_uses_valid_pixels_only():
    codec = DepthCodec(patch_size=4)
    depth = torch.full((1, 1, 8, 8), 2.0)
    valid = torch.zeros_like(depth, dtype=torch.bool)
    valid[..., :4, :] = True
    depth[..., 4:, :] = 1000.0  # unmeasured garbage must not change the mean
    z = codec.normalize(depth, valid)
    assert torch.allclose(z[valid], torch.ones(32))
    assert torch.all(z[~valid] == 0)


def test_depth_codec_ignores_nonfinite_and_empty():
    codec = DepthCodec(patch_size=4)
    depth = torch.full((2, 1, 8, 8), 3.0)
    depth[0, 0, 0, 0] = float("nan")
    valid = torch.ones_like(depth, dtype=torch.bool)
    valid[1] = False
    z = codec.normalize(depth, valid)
    assert torch.isfinite(z).all()
    assert z[0, 0, 0, 0] == 0 and torch.allclose(z[0].flatten()[1:], torch.ones(63))
    assert torch.all(z[1] == 0)
