"""Building blocks of the ModalityDiT (METHOD §5): embedders, RoPE attention,
shared modulation, triple-stream and single-stream blocks, final layers.

Conventions: tokens are (B, L, C); heads are split as (B, H, L, D); no linear
has a bias; LayerNorms have no affine parameters (eps 1e-6); every modulation
output is (shift, scale, gate) and AdaLN is `(1 + scale) * LN(x) + shift`.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

Mod = tuple[Tensor, Tensor, Tensor]  # (shift, scale, gate), each (B, 1 or L, C)


class Ranges(NamedTuple):
    """Modulation per range of consecutive tokens: `mods[i]`, (B, 1, C) triples, acts on the next
    `sizes[i]` tokens (text+image, then depth, in the joint model's single blocks). Applied range by
    range, so no (B, L, C) shift / scale / gate tensor is ever built."""

    mods: tuple[Mod, ...]
    sizes: tuple[int, ...]


def timestep_embedding(t: Tensor, dim: int = 256, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal embedding of `1000 * t`, `[cos, sin]` order. t: (B,) -> (B, dim), float32."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = 1000.0 * t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class MLPEmbedder(nn.Module):
    """Two-layer SiLU MLP used for timestep vectors."""

    def __init__(self, in_dim: int, hidden: int):
        super().__init__()
        self.in_layer = nn.Linear(in_dim, hidden, bias=False)
        self.out_layer = nn.Linear(hidden, hidden, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.out_layer(F.silu(self.in_layer(x)))


class RMSNorm(nn.Module):
    """`x / sqrt(mean(x^2) + 1e-6) * scale`, in the input's dtype (statistics in float32).

    The scale is cast to the input's dtype so that bf16 inputs (autocast) reach torch's fused
    kernel; with float32 inputs the result is the same as the unfused formula.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        return F.rms_norm(x, self.scale.shape, self.scale.to(x.dtype), eps=1e-6)


class QKNorm(nn.Module):
    """RMS norm of queries and keys with a learnable scale each (per head dim)."""

    def __init__(self, head_dim: int):
        super().__init__()
        self.query_norm = RMSNorm(head_dim)
        self.key_norm = RMSNorm(head_dim)

    def forward(self, q: Tensor, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        return self.query_norm(q).to(v.dtype), self.key_norm(k).to(v.dtype)


class RoPE(nn.Module):
    """Rotary tables over N position axes (METHOD §3: modality, row, col, text index).

    ids: (L, N) -> (cos, sin), each (1, 1, L, head_dim), float32, laid out for `apply_rope`: pair i's
    angle at dims 2i and 2i+1, the sine negated at 2i. Rotation acts on adjacent pairs
    (x[2i], x[2i+1]), as in the FLUX reference.
    """

    def __init__(self, axes_dim: tuple[int, ...], theta: int):
        super().__init__()
        self.axes_dim, self.theta = tuple(axes_dim), theta

    def forward(self, ids: Tensor) -> tuple[Tensor, Tensor]:
        angles = []
        for i, dim in enumerate(self.axes_dim):
            freqs = 1.0 / self.theta ** (torch.arange(0, dim, 2, device=ids.device, dtype=torch.float64) / dim)
            angles.append(ids[:, i].double()[:, None] * freqs[None])
        angle = torch.cat(angles, dim=-1).float()[None, None]
        cos, sin = angle.cos(), angle.sin()
        return cos.repeat_interleave(2, dim=-1), rearrange([-sin, sin], "two ... d -> ... (d two)")


def swap_pairs(x: Tensor) -> Tensor:
    """(..., D) -> (..., D) with x[2i] and x[2i+1] exchanged."""
    return x.unflatten(-1, (-1, 2)).flip(-1).flatten(-2)


def apply_rope(x: Tensor, pe: tuple[Tensor, Tensor]) -> Tensor:
    """x: (B, H, L, D) -> same shape and dtype: (x[2i] cos - x[2i+1] sin, x[2i] sin + x[2i+1] cos) per pair.

    Computed in x's dtype (the tables are cast to it), so bf16 inputs need no float32 copies.
    """
    cos, sin = (t.to(x.dtype) for t in pe)
    return torch.addcmul(x * cos, swap_pairs(x), sin)


# On the CPU, torch's bf16 attention backward (flash and math backends alike) is slow for short
# sequences; attention written out trains faster (whole `small` steps: 0.66-0.87x flash's time from
# 160 to 832 tokens, level at 1000-1400; docs/performance.md). Inference and float32 stay on SDPA.
EXPLICIT_MAX_TOKENS = 1024


def explicit_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """softmax(q k^T / sqrt(D)) v, everything in the inputs' dtype. (torch's CPU softmax reduces
    bf16 rows in float32: as accurate as a float32 softmax rounded to bf16, without the copies.)"""
    logits = (q * q.shape[-1] ** -0.5) @ k.transpose(-1, -2)
    return logits.softmax(-1) @ v


def sdpa(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """`F.scaled_dot_product_attention`; `explicit_attention` when training in bf16 on the CPU with
    at most `EXPLICIT_MAX_TOKENS` tokens (the same function, a faster backward)."""
    if (q.device.type == "cpu" and q.dtype == torch.bfloat16 and q.requires_grad
            and q.shape[-2] <= EXPLICIT_MAX_TOKENS):
        return explicit_attention(q, k, v)
    return F.scaled_dot_product_attention(q, k, v)


def attention(q: Tensor, k: Tensor, v: Tensor, pe: tuple[Tensor, Tensor]) -> Tensor:
    """Joint softmax attention with RoPE. q, k, v: (B, H, L, D) -> (B, L, H*D)."""
    q, k = apply_rope(q, pe), apply_rope(k, pe)
    return rearrange(sdpa(q, k, v), "B H L D -> B L (H D)")


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """AdaLN: `(1 + scale) * LayerNorm(x) + shift` (LayerNorm without affine)."""
    return (1 + scale) * F.layer_norm(x, x.shape[-1:], eps=1e-6) + shift


class Modulation(nn.Module):
    """Maps `silu(vec)` to `n` (shift, scale, gate) triples; shared by every block of a stack.

    Zero-initialised (adaLN-Zero), so that every block starts as the identity.
    """

    def __init__(self, dim: int, n: int):
        super().__init__()
        self.n = n
        self.lin = nn.Linear(dim, 3 * n * dim, bias=False)
        nn.init.zeros_(self.lin.weight)

    def forward(self, vec: Tensor) -> list[Mod]:
        """vec: (B, C) -> n triples of (B, 1, C)."""
        chunks = self.lin(F.silu(vec))[:, None].chunk(3 * self.n, dim=-1)
        return [tuple(chunks[3 * i : 3 * i + 3]) for i in range(self.n)]


class SwiGLU(nn.Module):
    """`silu(a) * b` with `[a, b]` the two halves of the last dim."""

    def forward(self, x: Tensor) -> Tensor:
        a, b = x.chunk(2, dim=-1)
        return F.silu(a) * b


def swiglu_mlp(dim: int, hidden: int) -> nn.Sequential:
    """`W2(silu(a) * b)`, `[a, b] = W1 x`; indices 0 and 2 hold the weights (release layout)."""
    return nn.Sequential(nn.Linear(dim, 2 * hidden, bias=False), SwiGLU(), nn.Linear(hidden, dim, bias=False))


class SelfAttention(nn.Module):
    """Parameters of one stream's attention: fused QKV, QK-norm, output projection."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.norm = QKNorm(dim // num_heads)
        self.proj = nn.Linear(dim, dim, bias=False)

    def qkv_heads(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """x: (B, L, C) -> q, k, v each (B, H, L, D), q and k normalised."""
        q, k, v = rearrange(self.qkv(x), "B L (K H D) -> K B H L D", K=3, H=self.num_heads)
        q, k = self.norm(q, k, v)
        return q, k, v


class TripleStreamBlock(nn.Module):
    """Per-stream norms, QKV, projections and MLPs; one joint attention over all streams.

    Streams are named (`txt`, `img`, `depth`) and own `{name}_attn` and
    `{name}_mlp`; the sequence order of the joint attention is the order given.
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, streams: tuple[str, ...]):
        super().__init__()
        self.dim, self.num_heads, self.mlp_hidden = dim, num_heads, int(dim * mlp_ratio)
        self.streams: tuple[str, ...] = ()
        for name in streams:
            self.add_stream(name)

    def add_stream(self, name: str, copy_from: str | None = None):
        """Add a stream's weights (fresh, or copied from an existing stream)."""
        for part, make in (("attn", lambda: SelfAttention(self.dim, self.num_heads)),
                           ("mlp", lambda: swiglu_mlp(self.dim, self.mlp_hidden))):
            module = make()
            if copy_from is not None:
                module.load_state_dict(getattr(self, f"{copy_from}_{part}").state_dict())
            setattr(self, f"{name}_{part}", module)
        self.streams = self.streams + (name,)

    def forward(self, xs: list[Tensor], mods: list[tuple[Mod, Mod]], pe: tuple[Tensor, Tensor]) -> list[Tensor]:
        """xs: per stream (B, L_s, C), in `self.streams` order; mods: per stream (attn, mlp) triples."""
        attns = [getattr(self, f"{s}_attn") for s in self.streams[: len(xs)]]
        qkvs = [a.qkv_heads(modulate(x, m[0][0], m[0][1])) for a, x, m in zip(attns, xs, mods)]
        q, k, v = (torch.cat(parts, dim=2) for parts in zip(*qkvs))
        outs = attention(q, k, v, pe).split([x.shape[1] for x in xs], dim=1)
        new = []
        for s, x, out, ((_, _, g1), (sh2, sc2, g2)) in zip(self.streams, xs, outs, mods):
            x = x + g1 * getattr(self, f"{s}_attn").proj(out)
            x = x + g2 * getattr(self, f"{s}_mlp")(modulate(x, sh2, sc2))
            new.append(x)
        return new


class SingleStreamBlock(nn.Module):
    """FLUX parallel block: one linear gives QKV and the MLP input, one linear takes both back.

    Modulation may differ per range of tokens (`Ranges`) so that text+image and
    depth tokens use different vectors in the same block.
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float):
        super().__init__()
        self.dim, self.num_heads, self.mlp_hidden = dim, num_heads, int(dim * mlp_ratio)
        self.linear1 = nn.Linear(dim, 3 * dim + 2 * self.mlp_hidden, bias=False)
        self.linear2 = nn.Linear(dim + self.mlp_hidden, dim, bias=False)
        self.norm = QKNorm(dim // num_heads)
        self.act = SwiGLU()

    def forward(self, x: Tensor, mod: Mod | Ranges, pe: tuple[Tensor, Tensor]) -> Tensor:
        """x: (B, L, C); mod: one triple for every token, or `Ranges` covering the L tokens."""
        ranges = mod if isinstance(mod, Ranges) else Ranges((mod,), (x.shape[1],))
        xs = x.split(ranges.sizes, dim=1)
        h = cat_tokens([modulate(xi, shift, scale) for xi, (shift, scale, _) in zip(xs, ranges.mods)])
        qkv, mlp = self.linear1(h).split([3 * self.dim, 2 * self.mlp_hidden], dim=-1)
        q, k, v = rearrange(qkv, "B L (K H D) -> K B H L D", K=3, H=self.num_heads)
        q, k = self.norm(q, k, v)
        outs = self.linear2(torch.cat([attention(q, k, v, pe), self.act(mlp)], dim=-1)).split(ranges.sizes, dim=1)
        return cat_tokens([xi + gate * out for xi, out, (_, _, gate) in zip(xs, outs, ranges.mods)])


def cat_tokens(parts: list[Tensor]) -> Tensor:
    """Concatenate (B, L_i, C) along the tokens; a single part is returned as it is (no copy)."""
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)


class LastLayer(nn.Module):
    """Final AdaLN (shift, scale from the stream's vector) + linear to output values; zero-initialised."""

    def __init__(self, dim: int, out_dim: int):
        super().__init__()
        self.linear = nn.Linear(dim, out_dim, bias=False)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim, bias=False))
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.adaLN_modulation[1].weight)

    def forward(self, x: Tensor, vec: Tensor) -> Tensor:
        shift, scale = self.adaLN_modulation(vec)[:, None].chunk(2, dim=-1)
        return self.linear(modulate(x, shift, scale))
