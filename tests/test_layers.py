"""mofo/layers.py against formulas written out by hand (METHOD §5)."""
import math

import torch
import torch.nn.functional as F

from mofo.layers import (
    LastLayer, Modulation, RoPE, SingleStreamBlock, SwiGLU, apply_rope, attention, explicit_attention, modulate, sdpa,
    timestep_embedding,
)


def test_timestep_embedding_is_cos_then_sin_of_1000_t():
    t = torch.tensor([0.0, 0.25])
    emb = timestep_embedding(t, dim=8)
    freqs = [math.exp(-math.log(10000) * i / 4) for i in range(4)]
    want = [[math.cos(1000 * x * f) for f in freqs] + [math.sin(1000 * x * f) for f in freqs] for x in (0.0, 0.25)]
    torch.testing.assert_close(emb, torch.tensor(want), rtol=1e-5, atol=1e-5)


def test_modulate_is_adaln():
    x, shift, scale = torch.randn(2, 3, 8), torch.randn(2, 1, 8), torch.randn(2, 1, 8)
    mean, var = x.mean(-1, keepdim=True), x.var(-1, unbiased=False, keepdim=True)
    torch.testing.assert_close(modulate(x, shift, scale), (1 + scale) * (x - mean) / torch.sqrt(var + 1e-6) + shift)


def test_rope_rotates_adjacent_pairs_by_position_times_frequency():
    rope = RoPE((2, 2), theta=100)  # two axes, one pair each: frequency 1 on both
    ids = torch.tensor([[0.0, 0.0], [1.0, 2.0]])
    x = torch.randn(1, 1, 2, 4)
    out = apply_rope(x, rope(ids))
    for pos, angles in ((0, (0.0, 0.0)), (1, (1.0, 2.0))):
        for pair, a in enumerate(angles):
            x0, x1 = x[0, 0, pos, 2 * pair], x[0, 0, pos, 2 * pair + 1]
            want = torch.stack([x0 * math.cos(a) - x1 * math.sin(a), x0 * math.sin(a) + x1 * math.cos(a)])
            torch.testing.assert_close(out[0, 0, pos, 2 * pair : 2 * pair + 2], want)


def rope_float64(x: torch.Tensor, ids: torch.Tensor, axes_dim: tuple[int, ...], theta: float) -> torch.Tensor:
    """RoPE written out in float64: pair i of axis a turns by ids[:, a] / theta ** (2j / dim_a)."""
    freqs = torch.cat([theta ** -(torch.arange(0, d, 2, dtype=torch.float64) / d) for d in axes_dim])
    axis = torch.cat([torch.full((d // 2,), a) for a, d in enumerate(axes_dim)])
    angle = ids.double()[:, axis] * freqs  # (L, D / 2)
    x0, x1 = x.double()[..., 0::2], x.double()[..., 1::2]
    out = torch.empty(x.shape, dtype=torch.float64)
    out[..., 0::2] = x0 * angle.cos() - x1 * angle.sin()
    out[..., 1::2] = x0 * angle.sin() + x1 * angle.cos()
    return out


def test_rope_matches_a_float64_reference_in_fp32_and_bf16():
    g = torch.Generator().manual_seed(0)
    axes_dim, theta = (4, 4, 8), 2000
    ids = torch.randint(0, 64, (10, 3), generator=g).float()
    x = torch.randn(2, 3, 10, 16, generator=g)
    pe = RoPE(axes_dim, theta)(ids)
    for dtype, tol in ((torch.float32, 1e-5), (torch.bfloat16, 4e-2)):
        xd = x.to(dtype)
        out = apply_rope(xd, pe)
        assert out.dtype == dtype
        torch.testing.assert_close(out.double(), rope_float64(xd, ids, axes_dim, theta), rtol=tol, atol=tol)


def test_attention_is_softmax_qk_v_at_position_zero():
    q, k, v = (torch.randn(1, 2, 3, 4) for _ in range(3))
    zero = RoPE((2, 2), 100)(torch.zeros(3, 2))  # no rotation
    want = torch.softmax(q @ k.transpose(-1, -2) / 2.0, dim=-1) @ v  # sqrt(head dim 4) = 2
    torch.testing.assert_close(attention(q, k, v, zero), want.transpose(1, 2).reshape(1, 3, 8))


def test_sdpa_bf16_training_path_matches_float64_softmax_attention():
    """The CPU bf16 training path (`explicit_attention`) and the inference path (flash) both compute
    softmax(q k^T / sqrt(D)) v; values and gradients within bf16 rounding of a float64 reference."""
    g = torch.Generator().manual_seed(0)
    q, k, v, dout = (torch.randn(2, 3, 40, 16, generator=g) for _ in range(4))

    def reference(q, k, v):
        return torch.softmax(q @ k.transpose(-1, -2) / 4.0, dim=-1) @ v

    leaves64 = [x.double().requires_grad_() for x in (q, k, v)]
    want = reference(*leaves64)
    want.backward(dout.double())
    leaves = [x.bfloat16().requires_grad_() for x in (q, k, v)]
    out = sdpa(*leaves)  # requires grad: the explicit path
    assert "ScaledDotProduct" not in out.grad_fn.name()
    torch.testing.assert_close(out, explicit_attention(*leaves), atol=0, rtol=0)
    long = [x.repeat(1, 1, 26, 1).bfloat16().requires_grad_() for x in (q, k, v)]  # 1040 tokens: SDPA
    assert "ScaledDotProduct" in sdpa(*long).grad_fn.name()
    out.backward(dout.bfloat16())
    with torch.no_grad():
        inference = sdpa(*(x.bfloat16() for x in (q, k, v)))  # flash
    for got in (out.detach(), inference):
        torch.testing.assert_close(got.double(), want.detach(), atol=3e-2, rtol=3e-2)
    for leaf, ref in zip(leaves, leaves64):
        torch.testing.assert_close(leaf.grad.double(), ref.grad, atol=6e-2, rtol=5e-2)


def test_swiglu_and_zero_inits():
    x = torch.randn(5, 6)
    a, b = x.chunk(2, dim=-1)
    torch.testing.assert_close(SwiGLU()(x), F.silu(a) * b)
    mods = Modulation(8, 2)(torch.randn(3, 8))
    assert len(mods) == 2 and all(torch.equal(m, torch.zeros(3, 1, 8)) for triple in mods for m in triple)
    assert torch.equal(LastLayer(8, 5)(torch.randn(3, 4, 8), torch.randn(3, 8)), torch.zeros(3, 4, 5))


def test_single_block_with_a_closed_gate_is_the_identity():
    block = SingleStreamBlock(8, 2, 3.0)
    x = torch.randn(2, 5, 8)
    pe = RoPE((2, 2), 100)(torch.zeros(5, 2))
    zeros = torch.zeros(2, 1, 8)
    assert torch.equal(block(x, (zeros, zeros, zeros), pe), x)
