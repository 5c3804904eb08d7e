"""Modality <-> tokens (METHOD §3-4).

Images: a pixel-space codec (values in [-1, 1], `p x p x 3` patches) for small
models; a frozen diffusers VAE with latents packed 2x2 for large ones (last
section). Depth: unit-mean over valid pixels, `contract` to [0, 2), `p x p`
patches on the image token grid, with the validity mask carried along. Token
order is row-major over the grid.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from einops import rearrange
from torch import Tensor, nn


def contract(d: Tensor) -> Tensor:
    """mip-NeRF 360 contraction: identity for d <= 1, `2 - 1/d` above; maps [0, inf) to [0, 2)."""
    return torch.where(d <= 1, d, 2 - 1 / d.clamp_min(1))


def uncontract(z: Tensor) -> Tensor:
    """Inverse of `contract`: identity for z <= 1, `1 / (2 - z)` for 1 < z < 2 (z >= 2 is clamped just below 2)."""
    return torch.where(z <= 1, z, 1 / (2 - z.clamp(1, 2 - 1e-4)))


def measured(depth: Tensor, valid: Tensor) -> Tensor:
    """Pixels that carry a usable measurement: flagged valid, finite and positive."""
    return valid.bool() & torch.isfinite(depth) & (depth > 0)


def patchify(x: Tensor, p: int) -> Tensor:
    """(B, C, H, W) -> (B, H/p * W/p, p*p*C), row-major tokens, values ordered (row, col, channel)."""
    return rearrange(x, "B C (h p) (w q) -> B (h w) (p q C)", p=p, q=p)


def unpatchify(tokens: Tensor, p: int, h: int, w: int) -> Tensor:
    """(B, h*w, p*p*C) -> (B, C, h*p, w*p); h, w are the token grid sizes."""
    return rearrange(tokens, "B (h w) (p q C) -> B C (h p) (w q)", h=h, w=w, p=p, q=p)


@dataclass(frozen=True)
class ImageCodec:
    """Pixel-space image codec. Images (B, 3, H, W) in [0, 1] <-> tokens (B, N, p*p*3) in [-1, 1]."""

    patch_size: int = 4

    @property
    def channels(self) -> int:
        return 3 * self.patch_size**2

    @property
    def downsample(self) -> int:
        """Pixels per token side."""
        return self.patch_size

    def encode(self, image: Tensor) -> Tensor:
        return patchify(image * 2 - 1, self.patch_size)

    def decode(self, tokens: Tensor, h: int, w: int) -> Tensor:
        """tokens (B, h*w, C) on an h x w grid -> images (B, 3, h*p, w*p) in [0, 1]."""
        return (unpatchify(tokens, self.patch_size, h, w).clamp(-1, 1) + 1) / 2


@dataclass(frozen=True)
class DepthCodec:
    """Depth normalisation and patchification (METHOD §4).

    `normalize`: d / mean(d over valid pixels), then `contract`; the output is
    in [0, 2) and 0 where invalid. The inverse gives depth relative to the
    unit mean (unknown global scale).
    """

    patch_size: int = 4

    def normalize(self, depth: Tensor, valid: Tensor) -> Tensor:
        """depth, valid: (B, 1, H, W) -> normalised depth (B, 1, H, W), 0 at invalid pixels.

        Samples without any valid pixel stay all 0.
        """
        valid = measured(depth, valid)
        d = torch.where(valid, depth, torch.zeros_like(depth))
        count = valid.sum(dim=(1, 2, 3), keepdim=True)
        mean = d.sum(dim=(1, 2, 3), keepdim=True) / count.clamp_min(1)
        unit = d / torch.where(count > 0, mean, torch.ones_like(mean))
        return torch.where(valid, contract(unit), torch.zeros_like(unit))

    def denormalize(self, z: Tensor) -> Tensor:
        """Normalised depth -> relative depth (unit mean), any shape."""
        return uncontract(z.clamp_min(0))

    def encode(self, depth: Tensor, valid: Tensor) -> tuple[Tensor, Tensor]:
        """depth, valid (B, 1, H, W) -> (tokens (B, N, p*p), valid tokens (B, N, p*p) bool)."""
        z = self.normalize(depth, valid)
        return patchify(z, self.patch_size), patchify(measured(depth, valid), self.patch_size)

    def decode(self, tokens: Tensor, h: int, w: int) -> Tensor:
        """tokens (B, h*w, p*p) -> relative depth (B, 1, h*p, w*p)."""
        return self.denormalize(unpatchify(tokens, self.patch_size, h, w))


# --- VAE image codecs (large models; diffusers is imported lazily) ---------------------------


def pack_latents(z: Tensor) -> Tensor:
    """(B, C, H, W) latents -> (B, H/2 * W/2, 4C) tokens, values ordered (channel, row, col) as diffusers' FLUX pipelines."""
    return rearrange(z, "B C (h p) (w q) -> B (h w) (C p q)", p=2, q=2)


def unpack_latents(tokens: Tensor, h: int, w: int) -> Tensor:
    """(B, h*w, 4C) -> (B, C, 2h, 2w); inverse of `pack_latents`."""
    return rearrange(tokens, "B (h w) (C p q) -> B C (h p) (w q)", h=h, w=w, p=2, q=2)


class VAECodec(nn.Module):
    """A frozen diffusers VAE as an image codec: images (B, 3, H, W) in [0, 1] <-> tokens (B, N, 4 C).

    One token per 2x2 latents (16x16 pixels for an 8x VAE). Encoding takes the
    posterior mean, as the FLUX pipelines do for image inputs; tokens are
    normalised with the VAE's statistics (`latent_stats`) so that they are
    roughly unit-variance, in float32 whatever the VAE's dtype.
    """

    vae_class: str  # the diffusers class name

    def __init__(self, vae: nn.Module):
        super().__init__()
        self.vae = vae.eval().requires_grad_(False)

    @classmethod
    def from_pretrained(cls, path: str | Path, dtype: torch.dtype | None = None) -> VAECodec:
        """Load from a local VAE folder, or a pipeline folder holding one in `vae/` (never downloads)."""
        import diffusers

        path = Path(path)
        folder = path / "vae" if (path / "vae" / "config.json").is_file() else path
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(f"no diffusers VAE (config.json) in {path} or {path / 'vae'}")
        vae = getattr(diffusers, cls.vae_class).from_pretrained(folder, local_files_only=True, torch_dtype=dtype)
        return cls(vae)

    @property
    def channels(self) -> int:
        return 4 * self.vae.config.latent_channels

    @property
    def downsample(self) -> int:
        """Pixels per token side: the VAE's factor times the 2x2 packing."""
        return 2 * 2 ** (len(self.vae.config.block_out_channels) - 1)

    def latent_stats(self) -> tuple[Tensor, Tensor]:
        """(mean, std), each broadcastable to (4C,): token = (packed latent - mean) / std."""
        raise NotImplementedError

    @torch.no_grad()
    def encode(self, image: Tensor) -> Tensor:
        """images (B, 3, H, W) in [0, 1], H and W multiples of `downsample` -> tokens (B, N, 4C) float32."""
        param = next(self.vae.parameters())
        z = self.vae.encode((image * 2 - 1).to(param)).latent_dist.mode()
        mean, std = self.latent_stats()
        return (pack_latents(z.float()) - mean) / std

    @torch.no_grad()
    def decode(self, tokens: Tensor, h: int, w: int) -> Tensor:
        """tokens (B, h*w, 4C) on an h x w grid -> images (B, 3, h*d, w*d) in [0, 1], float32."""
        param = next(self.vae.parameters())
        mean, std = self.latent_stats()
        z = unpack_latents(tokens.float() * std + mean, h, w)
        image = self.vae.decode(z.to(param)).sample.float()
        return (image.clamp(-1, 1) + 1) / 2


class Flux2VAECodec(VAECodec):
    """FLUX.2's `AutoencoderKLFlux2`: 32-channel latents -> 128 values per token, normalised per packed
    channel by the VAE's batch-norm running statistics (`Flux2Pipeline._encode_vae_image`)."""

    vae_class = "AutoencoderKLFlux2"

    def latent_stats(self) -> tuple[Tensor, Tensor]:
        bn = self.vae.bn
        return bn.running_mean.float(), torch.sqrt(bn.running_var.float() + self.vae.config.batch_norm_eps)


class KLVAECodec(VAECodec):
    """An `AutoencoderKL` (FLUX.1: 16 channels -> 64 values per token; SD: 4 -> 16), with its
    `z' = (z - shift_factor) * scaling_factor` (shift 0 where the VAE has none)."""

    vae_class = "AutoencoderKL"

    def latent_stats(self) -> tuple[Tensor, Tensor]:
        config = self.vae.config
        mean = torch.tensor(config.shift_factor or 0.0, device=self.vae.device)
        return mean, 1 / torch.tensor(config.scaling_factor, device=self.vae.device)


VAE_CODECS: dict[str, type[VAECodec]] = {"flux2-vae": Flux2VAECodec, "kl-vae": KLVAECodec}


def make_image_codec(cfg, path: str | Path | None = None, dtype: torch.dtype | None = None):
    """The image codec `cfg.image_codec` names: `ImageCodec(cfg.patch_size)` for "pixel", else a
    VAE codec loaded from the local folder `path` and checked against the config's token layout."""
    if cfg.image_codec == "pixel":
        return ImageCodec(cfg.patch_size)
    if cfg.image_codec not in VAE_CODECS:
        raise ValueError(f"unknown image codec {cfg.image_codec!r}; use pixel or one of {', '.join(VAE_CODECS)}")
    if path is None:
        raise ValueError(f"image codec {cfg.image_codec!r} loads a VAE from a local folder: give its path "
                         "(see docs/pretrained.md)")
    codec = VAE_CODECS[cfg.image_codec].from_pretrained(path, dtype)
    if (codec.channels, codec.downsample) != (cfg.image_channels, cfg.patch_size):
        raise ValueError(f"the VAE in {path} gives {codec.channels} values per {codec.downsample}-px token, "
                         f"the model expects {cfg.image_channels} per {cfg.patch_size}-px token")
    return codec
