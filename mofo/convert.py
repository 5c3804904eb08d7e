"""Weights from elsewhere -> `ModalityDiT`, and back (docs/pretrained.md).

Two sources:
- **The authors' released DiT** (`load_release`): safetensors, possibly
  sharded, whose parameter names already are ours; loaded strictly into the
  `release-v1` / `release-v2` preset (16-px depth patches, unit-mean +
  contract depth, shift mu 1.1 — all carried by the preset and `DepthCodec`).
- **diffusers FLUX.2 transformers** (`from_diffusers` / `to_diffusers`): a
  `Flux2Transformer2DModel` folder (diffusers >= 0.42) <-> a text-to-image
  `ModalityDiT` (`with_depth=False`). The two compute the same function: same
  RoPE (4 axes, adjacent pairs, positions as `position_ids`), `[cos, sin]`
  timestep embedding of `1000 t`, LayerNorm / RMSNorm eps 1e-6, (shift, scale,
  gate) modulation. Only names and packing differ, listed in the tables below;
  the one reordering is the final AdaLN, which diffusers emits as (scale, shift).
Neither direction needs diffusers installed: both read and write safetensors + JSON.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import Tensor

from .checkpoint import load_strict, read_state_dict, write_json, write_safetensors
from .config import ModelConfig, get_preset, upgrade_keys
from .model import ModalityDiT

# --- released checkpoints ---

RELEASE_VARIANTS = {"v1": "release-v1", "v2": "release-v2"}


def release_config(variant: str, config: ModelConfig | dict | None = None) -> ModelConfig:
    """The preset of a released variant; `config` replaces it (a ModelConfig) or overrides fields (a dict)."""
    if variant not in RELEASE_VARIANTS:
        raise ValueError(f"unknown release variant {variant!r}; use one of {', '.join(RELEASE_VARIANTS)}")
    if isinstance(config, ModelConfig):
        return config
    return get_preset(RELEASE_VARIANTS[variant]).replace(**upgrade_keys(config or {}))


def load_release(
    path: str | Path, variant: str, config: ModelConfig | dict | None = None, dtype: torch.dtype = torch.float32
) -> ModalityDiT:
    """Load the released DiT weights (a `.safetensors` file or a folder, sharded or not) strictly.

    Stored dtypes may be mixed (bf16 body, fp32 heads); every tensor is cast to
    `dtype` once loaded (bf16 -> fp32 is exact). Names and shapes must match the
    variant's preset exactly: the error names the first offending keys.
    """
    cfg = release_config(variant, config)
    model = load_strict(cfg, read_state_dict(path), f"released checkpoint {path} ({variant})")
    return model.to(dtype).eval()


# --- diffusers FLUX.2 transformers ---

DIFFUSERS_CLASS = "Flux2Transformer2DModel"
DIFFUSERS_WEIGHTS = "diffusion_pytorch_model.safetensors"
DIFFUSERS_VERSION = "0.42.0"  # the oldest diffusers whose FLUX.2 layout these tables follow

# Our parameter <- diffusers parameter(s). A tuple is concatenated along dim 0
# (diffusers keeps q, k, v apart; we fuse them as [q; k; v]).
DIFFUSERS_KEYS = {
    "img_in.weight": "x_embedder.weight",
    "txt_in.weight": "context_embedder.weight",
    "time_in.in_layer.weight": "time_guidance_embed.timestep_embedder.linear_1.weight",
    "time_in.out_layer.weight": "time_guidance_embed.timestep_embedder.linear_2.weight",
    "double_stream_modulation_img.lin.weight": "double_stream_modulation_img.linear.weight",
    "double_stream_modulation_txt.lin.weight": "double_stream_modulation_txt.linear.weight",
    "single_stream_modulation.lin.weight": "single_stream_modulation.linear.weight",
    "final_layer.adaLN_modulation.1.weight": "norm_out.linear.weight",
    "final_layer.linear.weight": "proj_out.weight",
}
DIFFUSERS_GUIDANCE_KEYS = {
    "guidance_in.in_layer.weight": "time_guidance_embed.guidance_embedder.linear_1.weight",
    "guidance_in.out_layer.weight": "time_guidance_embed.guidance_embedder.linear_2.weight",
}
# "double_blocks.{i}." <- "transformer_blocks.{i}."
DIFFUSERS_DOUBLE_KEYS = {
    "img_attn.qkv.weight": ("attn.to_q.weight", "attn.to_k.weight", "attn.to_v.weight"),
    "img_attn.norm.query_norm.scale": "attn.norm_q.weight",
    "img_attn.norm.key_norm.scale": "attn.norm_k.weight",
    "img_attn.proj.weight": "attn.to_out.0.weight",
    "img_mlp.0.weight": "ff.linear_in.weight",
    "img_mlp.2.weight": "ff.linear_out.weight",
    "txt_attn.qkv.weight": ("attn.add_q_proj.weight", "attn.add_k_proj.weight", "attn.add_v_proj.weight"),
    "txt_attn.norm.query_norm.scale": "attn.norm_added_q.weight",
    "txt_attn.norm.key_norm.scale": "attn.norm_added_k.weight",
    "txt_attn.proj.weight": "attn.to_add_out.weight",
    "txt_mlp.0.weight": "ff_context.linear_in.weight",
    "txt_mlp.2.weight": "ff_context.linear_out.weight",
}
# "single_blocks.{i}." <- "single_transformer_blocks.{i}."
DIFFUSERS_SINGLE_KEYS = {
    "linear1.weight": "attn.to_qkv_mlp_proj.weight",
    "linear2.weight": "attn.to_out.weight",
    "norm.query_norm.scale": "attn.norm_q.weight",
    "norm.key_norm.scale": "attn.norm_k.weight",
}
# diffusers' AdaLayerNormContinuous chunks its output as (scale, shift); our LastLayer as (shift, scale).
SWAPPED_HALVES = {"final_layer.adaLN_modulation.1.weight"}

# ModelConfig field <- Flux2Transformer2DModel config field (hidden_size = heads * attention_head_dim).
DIFFUSERS_CONFIG = {
    "num_heads": "num_attention_heads",
    "n_double": "num_layers",
    "n_single": "num_single_layers",
    "mlp_ratio": "mlp_ratio",
    "axes_dim": "axes_dims_rope",
    "theta": "rope_theta",
    "guidance_embed": "guidance_embeds",
    "image_channels": "in_channels",
    "txt_dim": "joint_attention_dim",
}
# diffusers settings our model has fixed: 1x1 patches of packed latents, 256-dim sinusoids, norm eps 1e-6.
DIFFUSERS_FIXED = {"patch_size": 1, "timestep_guidance_channels": 256, "eps": 1e-6}
# What a FLUX.2 [klein] backbone is used with: VAE latents packed 2x2 on a 16-px grid at 512 px,
# Qwen3 hidden states of 3 layers (width -> encoder name), 512 text tokens, 4 depth-decoder blocks (release).
DIFFUSERS_DEFAULTS = dict(resolution=512, patch_size=16, image_codec="flux2-vae", txt_len=512, n_depth_decoder=4)
TEXT_ENCODER_BY_WIDTH = {3 * 4096: "qwen3-8b", 3 * 2560: "qwen3-4b"}


def diffusers_key_map(cfg: ModelConfig) -> dict[str, tuple[str, ...]]:
    """Every parameter of the T2I `ModalityDiT(cfg)` -> its diffusers name(s), in concatenation order."""
    def names(v: str | tuple[str, ...]) -> tuple[str, ...]:
        return (v,) if isinstance(v, str) else v

    top = dict(DIFFUSERS_KEYS, **(DIFFUSERS_GUIDANCE_KEYS if cfg.guidance_embed else {}))
    table = {k: names(v) for k, v in top.items()}
    blocks = (("double_blocks", "transformer_blocks", cfg.n_double, DIFFUSERS_DOUBLE_KEYS),
              ("single_blocks", "single_transformer_blocks", cfg.n_single, DIFFUSERS_SINGLE_KEYS))
    for ours, theirs, n, keys in blocks:
        for i in range(n):
            table.update({f"{ours}.{i}.{k}": tuple(f"{theirs}.{i}.{t}" for t in names(v)) for k, v in keys.items()})
    return table


def swap_halves(w: Tensor) -> Tensor:
    """(2C, ...) -> the two halves of dim 0 exchanged (its own inverse)."""
    a, b = w.chunk(2, dim=0)
    return torch.cat([b, a], dim=0)


def config_from_diffusers(dc: dict, **overrides) -> ModelConfig:
    """A `Flux2Transformer2DModel` config dict -> a T2I ModelConfig; `overrides` set other fields
    (e.g. `text_encoder`, `resolution`, `n_depth_decoder`)."""
    for key, value in DIFFUSERS_FIXED.items():
        if dc.get(key, value) != value:
            raise ValueError(f"unsupported diffusers config: {key}={dc[key]} (mofo needs {value})")
    if dc.get("out_channels") not in (None, dc["in_channels"]):
        raise ValueError(f"unsupported diffusers config: out_channels {dc['out_channels']} != in_channels")
    fields = {ours: dc[theirs] for ours, theirs in DIFFUSERS_CONFIG.items()}
    fields["axes_dim"] = tuple(fields["axes_dim"])
    fields["hidden_size"] = dc["num_attention_heads"] * dc["attention_head_dim"]
    # an unknown text width gets the toy byte encoder; pass text_encoder=<local folder> for a real one
    fields["text_encoder"] = TEXT_ENCODER_BY_WIDTH.get(fields["txt_dim"], "bytes")
    return ModelConfig(**{**DIFFUSERS_DEFAULTS, **fields, **upgrade_keys(overrides), "with_depth": False})


def diffusers_config(cfg: ModelConfig) -> dict:
    """The `Flux2Transformer2DModel` config.json of a T2I ModelConfig."""
    dc = {theirs: getattr(cfg, ours) for ours, theirs in DIFFUSERS_CONFIG.items()}
    dc["axes_dims_rope"] = list(dc["axes_dims_rope"])
    return {"_class_name": DIFFUSERS_CLASS, "_diffusers_version": DIFFUSERS_VERSION, **DIFFUSERS_FIXED, **dc,
            "attention_head_dim": cfg.head_dim, "out_channels": cfg.image_channels}


def diffusers_folder(path: str | Path) -> Path:
    """A transformer folder, or a pipeline folder holding one in `transformer/`."""
    path = Path(path)
    folder = path / "transformer" if (path / "transformer" / "config.json").is_file() else path
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"no diffusers model (config.json) in {path} or {path / 'transformer'}")
    return folder


def from_diffusers(
    path: str | Path, dtype: torch.dtype = torch.float32, **overrides
) -> tuple[ModalityDiT, ModelConfig]:
    """A saved diffusers `Flux2Transformer2DModel` -> (T2I ModalityDiT, its config).

    diffusers tensors whose group is incomplete, or that have no counterpart,
    are reported by the strict load as unexpected keys, beside our missing ones.
    """
    folder = diffusers_folder(path)
    dc = json.loads((folder / "config.json").read_text())
    if dc.get("_class_name") != DIFFUSERS_CLASS:
        raise ValueError(f"{folder} holds a {dc.get('_class_name')}, not a {DIFFUSERS_CLASS}")
    cfg = config_from_diffusers(dc, **overrides)
    theirs = read_state_dict(folder)
    ours = {}
    for name, names in diffusers_key_map(cfg).items():
        if all(n in theirs for n in names):
            ours[name] = torch.cat([theirs.pop(n) for n in names], dim=0)
            if name in SWAPPED_HALVES:
                ours[name] = swap_halves(ours[name])
    model = load_strict(cfg, {**ours, **theirs}, f"diffusers model {folder}")
    return model.to(dtype).eval(), cfg


def to_diffusers(model: ModalityDiT, out_dir: str | Path) -> Path:
    """Write a T2I ModalityDiT as a diffusers `Flux2Transformer2DModel` folder (config.json + safetensors)."""
    if model.with_depth:
        raise ValueError("diffusers' Flux2Transformer2DModel has no depth stream: only a T2I model "
                         "(with_depth=False) can be written")
    ours = model.state_dict()
    theirs = {}
    for name, names in diffusers_key_map(model.cfg).items():
        w = swap_halves(ours[name]) if name in SWAPPED_HALVES else ours[name]
        theirs.update(zip(names, w.chunk(len(names), dim=0)))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_safetensors(out / DIFFUSERS_WEIGHTS, theirs, metadata={"format": "pt"})
    write_json(out / "config.json", diffusers_config(model.cfg))
    return out
