"""ModalityDiT: a FLUX.2-style multimodal DiT with text, image and depth streams (METHOD §5).

Each modality has its own noise level: `t_img` drives `vec_img` (which also
modulates text), `t_depth` drives `vec_depth`. Without depth tokens the same
module is a plain text-to-image DiT; `add_depth_stream()` turns a trained T2I
model into the post-training start point by copying image-stream weights.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from .config import TEXT_ENCODER_PARAMS, ModelConfig
from .layers import (
    LastLayer, MLPEmbedder, Modulation, Ranges, RoPE, SingleStreamBlock, TripleStreamBlock, timestep_embedding,
)


def position_ids(h: int, w: int, txt_len: int, device=None) -> tuple[Tensor, Tensor, Tensor]:
    """RoPE positions (METHOD §3): text (0, 0, 0, i), image (0, r, c, 0), depth (1, r, c, 0).

    Returns (txt_ids (L, 4), img_ids (h*w, 4), depth_ids (h*w, 4)), float32.
    """
    r, c = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
    grid = torch.stack([torch.zeros_like(r), r, c, torch.zeros_like(r)], dim=-1).reshape(-1, 4).float()
    txt = torch.zeros(txt_len, 4, device=device)
    txt[:, 3] = torch.arange(txt_len, device=device)
    depth = grid.clone()
    depth[:, 0] = 1
    return txt, grid, depth


class ModalityDiT(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        h, heads, ratio = cfg.hidden_size, cfg.num_heads, cfg.mlp_ratio
        self.img_in = nn.Linear(cfg.image_channels, h, bias=False)
        self.txt_in = nn.Linear(cfg.txt_dim, h, bias=False)
        self.time_in = MLPEmbedder(256, h)
        if cfg.guidance_embed:
            self.guidance_in = MLPEmbedder(256, h)
        self.pe_embedder = RoPE(cfg.axes_dim, cfg.theta)
        self.double_blocks = nn.ModuleList(
            TripleStreamBlock(h, heads, ratio, ("txt", "img")) for _ in range(cfg.n_double)
        )
        self.single_blocks = nn.ModuleList(SingleStreamBlock(h, heads, ratio) for _ in range(cfg.n_single))
        self.double_stream_modulation_img = Modulation(h, 2)
        self.double_stream_modulation_txt = Modulation(h, 2)
        self.single_stream_modulation = Modulation(h, 1)
        self.final_layer = LastLayer(h, cfg.image_channels)
        self.with_depth = False
        self.checkpointing = False  # activation checkpointing per block (large presets)
        if cfg.with_depth:
            self.add_depth_stream(copy_image=False)

    def add_depth_stream(self, copy_image: bool = True) -> ModalityDiT:
        """Add the depth stream, its decoder and timestep embedder (METHOD §5).

        With `copy_image` (the post-training start point) every depth module with
        an image twin of the same shape starts as its copy, and the depth decoder
        blocks copy the last single blocks. `depth_in` and the depth head's linear
        are new (their shapes differ); the head is zero-initialised and the mixing
        gates start at 0. What holds right after the call:
        - without depth tokens the image velocity is exactly the T2I model's;
        - the depth head predicts 0 everywhere;
        - with depth tokens present the image velocity *changes*: image tokens
          attend to the depth tokens in the joint attention (no gate closes that
          path), so post-training starts near, not at, the T2I model; the
          self-distillation loss (METHOD §6) pulls the image stream back.
        """
        if self.with_depth:
            raise ValueError("the model already has a depth stream")
        cfg, h = self.cfg, self.cfg.hidden_size
        device = self.img_in.weight.device
        self.depth_in = nn.Linear(cfg.depth_channels, h, bias=False, device=device)
        twins = {
            "time_in_depth": (MLPEmbedder(256, h), self.time_in),
            "double_stream_modulation_depth": (Modulation(h, 2), self.double_stream_modulation_img),
            "single_stream_modulation_depth": (Modulation(h, 1), self.single_stream_modulation),
            "depth_decoder_modulation": (Modulation(h, 1), self.single_stream_modulation),
        }
        for name, (module, twin) in twins.items():
            if copy_image:
                module.load_state_dict(twin.state_dict())
            setattr(self, name, module.to(device))
        self.depth_final_layer = LastLayer(h, cfg.depth_out_channels).to(device)
        if copy_image:
            self.depth_final_layer.adaLN_modulation.load_state_dict(self.final_layer.adaLN_modulation.state_dict())
        for block in self.double_blocks:
            block.add_stream("depth", copy_from="img" if copy_image else None)
        self.depth_decoder_blocks = nn.ModuleList(
            SingleStreamBlock(h, cfg.num_heads, cfg.mlp_ratio) for _ in range(cfg.n_depth_decoder)
        ).to(device)
        if copy_image and len(self.single_blocks) >= cfg.n_depth_decoder > 0:
            for block, twin in zip(self.depth_decoder_blocks, self.single_blocks[-cfg.n_depth_decoder :]):
                block.load_state_dict(twin.state_dict())
        if cfg.time_mixing:
            self.time_in_depth_to_img = MLPEmbedder(256, h).to(device)
            self.time_in_rgb_to_depth = MLPEmbedder(256, h).to(device)
            self.cross_alpha_img = nn.Parameter(torch.zeros(1, device=device))
            self.cross_alpha_depth = nn.Parameter(torch.zeros(1, device=device))
        self.with_depth = True
        self.cfg = cfg.replace(with_depth=True)
        return self

    def grow(self, n_double: int | None = None, n_single: int | None = None,
             n_depth_decoder: int | None = None) -> ModalityDiT:
        """Deepen the model without changing what it computes (progressive stacking).

        Counts are the new totals per stack (None keeps it). New blocks are appended to their
        stack with every output projection at zero, so each starts as the identity: the model's
        outputs are unchanged, and training grows the new blocks from there. Fewer blocks than
        now is an error.
        """
        cfg, h, device = self.cfg, self.cfg.hidden_size, self.img_in.weight.device
        wanted = {"n_double": n_double, "n_single": n_single, "n_depth_decoder": n_depth_decoder}
        wanted = {k: v for k, v in wanted.items() if v is not None}
        for key, n in wanted.items():
            if n < getattr(cfg, key):
                raise ValueError(f"grow: {key}={n} is fewer blocks than the model's {getattr(cfg, key)}")
        if wanted.get("n_depth_decoder", cfg.n_depth_decoder) > cfg.n_depth_decoder and not self.with_depth:
            raise ValueError("grow: n_depth_decoder needs a model with a depth stream")
        streams = ("txt", "img", "depth") if self.with_depth else ("txt", "img")
        stacks = {"n_double": (self.double_blocks, lambda: TripleStreamBlock(h, cfg.num_heads, cfg.mlp_ratio, streams)),
                  "n_single": (self.single_blocks, lambda: SingleStreamBlock(h, cfg.num_heads, cfg.mlp_ratio)),
                  "n_depth_decoder": (getattr(self, "depth_decoder_blocks", None),
                                      lambda: SingleStreamBlock(h, cfg.num_heads, cfg.mlp_ratio))}
        for key, n in wanted.items():
            blocks, make = stacks[key]
            for _ in range(n - getattr(cfg, key)):
                block = make().to(device=device, dtype=self.img_in.weight.dtype)
                for name, param in block.named_parameters():
                    if name.endswith(("attn.proj.weight", "mlp.2.weight", "linear2.weight")):
                        nn.init.zeros_(param)
                blocks.append(block)
        self.cfg = cfg.replace(**wanted)
        return self

    def _run(self, block: nn.Module, *args):
        """Call a block, recomputing its activations in backward when `checkpointing` is on."""
        if self.checkpointing and torch.is_grad_enabled():
            return checkpoint(block, *args, use_reentrant=False)
        return block(*args)

    def time_vectors(
        self, t_img: Tensor, t_depth: Tensor | None, guidance: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """(B,) noise levels -> vec_img, vec_depth (B, C), with optional cross-stream mixing.

        guidance: (B,) CFG scale of guidance-distilled models, embedded like a
        timestep and added to `vec_img` (FLUX); needs `cfg.guidance_embed`.
        """
        emb_img = timestep_embedding(t_img).to(self.img_in.weight.dtype)
        vec_img = self.time_in(emb_img)
        if guidance is not None:
            if not self.cfg.guidance_embed:
                raise ValueError("guidance given to a model without a guidance embedder (cfg.guidance_embed)")
            vec_img = vec_img + self.guidance_in(timestep_embedding(guidance).to(emb_img.dtype))
        if t_depth is None:
            return vec_img, None
        emb_depth = timestep_embedding(t_depth).to(emb_img.dtype)
        vec_depth = self.time_in_depth(emb_depth)
        if self.cfg.time_mixing:
            vec_img = vec_img + self.cross_alpha_img * self.time_in_depth_to_img(emb_depth)
            vec_depth = vec_depth + self.cross_alpha_depth * self.time_in_rgb_to_depth(emb_img)
        return vec_img, vec_depth

    def forward(
        self,
        img: Tensor,
        img_ids: Tensor,
        txt: Tensor,
        txt_ids: Tensor,
        t_img: Tensor,
        depth: Tensor | None = None,
        depth_ids: Tensor | None = None,
        t_depth: Tensor | None = None,
        guidance: Tensor | None = None,
        image_head: bool = True,
    ) -> tuple[Tensor | None, Tensor | None]:
        """Predict the image velocity and the clean depth.

        img: (B, N, C_img) noisy image tokens; txt: (B, L, C_txt) text encoder states;
        depth: (B, M, C_depth) noisy depth tokens or None (T2I mode);
        *_ids: (N|L|M, 4) RoPE positions (`position_ids`); t_*: (B,) in [0, 1], 1 = noise;
        guidance: (B,) distilled CFG scale (`cfg.guidance_embed` models only).
        image_head: False skips the image head (v_img is None), for i2d, whose image is clean.
        Returns (v_img (B, N, C_img), x0_depth (B, M, p*p) or None). With
        `cfg.image_target == "x"` the image head predicts the clean image and
        `forward` returns the velocity it implies (`x0_to_velocity`), so losses,
        distillation and samplers always see a velocity.
        """
        use_depth = depth is not None
        if use_depth and not self.with_depth:
            raise ValueError("depth tokens given to a model without a depth stream")
        vec_img, vec_depth = self.time_vectors(t_img, t_depth if use_depth else None, guidance)
        xs = [self.txt_in(txt), self.img_in(img)]
        mods = [self.double_stream_modulation_txt(vec_img), self.double_stream_modulation_img(vec_img)]
        ids = [txt_ids, img_ids]
        if use_depth:
            xs.append(self.depth_in(depth))
            mods.append(self.double_stream_modulation_depth(vec_depth))
            ids.append(depth_ids)
        pe = self.pe_embedder(torch.cat(ids, dim=0))

        for block in self.double_blocks:
            xs = self._run(block, xs, mods, pe)

        n_txt, n_img = txt.shape[1], img.shape[1]
        x = torch.cat(xs, dim=1)
        (single_mod,) = self.single_stream_modulation(vec_img)
        if use_depth:
            (depth_mod,) = self.single_stream_modulation_depth(vec_depth)
            single_mod = per_token(single_mod, depth_mod, n_txt + n_img, depth.shape[1])
        for block in self.single_blocks:
            x = self._run(block, x, single_mod, pe)

        v_img = self.final_layer(x[:, n_txt : n_txt + n_img], vec_img) if image_head else None
        if image_head and self.cfg.image_target == "x":
            v_img = x0_to_velocity(img, v_img, t_img)
        if not use_depth:
            return v_img, None
        start = n_txt + n_img
        return v_img, self.decode_depth(x[:, start:], tuple(p[:, :, start:] for p in pe), vec_depth)

    def decode_depth(self, d: Tensor, pe_depth: tuple, vec_depth: Tensor) -> Tensor:
        """The depth decoder (METHOD §5): depth-only single blocks, then the head.

        d: (B, M, C) depth tokens after the joint blocks; pe_depth: their RoPE tables;
        vec_depth: (B, C). Returns the clean depth estimate (B, M, p*p).
        """
        (dec_mod,) = self.depth_decoder_modulation(vec_depth)
        for block in self.depth_decoder_blocks:
            d = self._run(block, d, dec_mod, pe_depth)
        return self.depth_final_layer(d, vec_depth)


def x0_to_velocity(x_t: Tensor, x0: Tensor, t: Tensor, t_min: float = 0.05) -> Tensor:
    """Velocity `eps - x0` implied by a clean estimate: `(x_t - x0) / max(t, t_min)`.

    x_t, x0: (B, N, C); t: (B,). Exact for t >= t_min (JiT's clipped denominator below).
    """
    return (x_t - x0) / t.clamp_min(t_min).view(-1, 1, 1).to(x0.dtype)


def per_token(first: tuple, second: tuple, n_first: int, n_second: int) -> Ranges:
    """Two (B, 1, C) modulation triples: `first` for the first `n_first` tokens, `second` for the
    next `n_second`. The block applies each to its range (no (B, n_first + n_second, C) copies)."""
    return Ranges((first, second), (n_first, n_second))


def parameter_counts(cfg: ModelConfig) -> dict[str, int]:
    """Parameters per part, counted on the `meta` device (no memory): the T2I
    backbone, the depth additions, and the (frozen) text encoder."""
    with torch.device("meta"):
        model = ModalityDiT(cfg.replace(with_depth=False))
        backbone = sum(p.numel() for p in model.parameters())
        model.add_depth_stream(copy_image=False)
        total = sum(p.numel() for p in model.parameters())
    parts = {"backbone": backbone, "depth": total - backbone if cfg.with_depth else 0}
    parts["text_encoder"] = TEXT_ENCODER_PARAMS.get(cfg.text_encoder, 0)
    return parts
