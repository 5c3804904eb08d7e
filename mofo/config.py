"""Model configurations: frozen dataclasses and the table of named presets.

A `ModelConfig` describes everything needed to rebuild a model and its codecs:
the DiT sizes, the token layout (values per image / depth token), the text
encoder and the sampling schedule. It round-trips through JSON and is saved
beside every checkpoint.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

IMAGE_TARGETS = ("v", "x")
# config.json files written before the block counts were renamed (the bundled model, running trainings)
RENAMED = {"depth_double": "n_double", "depth_single": "n_single", "depth_decoder": "n_depth_decoder"}


def upgrade_keys(d: dict) -> dict:
    """ModelConfig fields under their current names (old names in `RENAMED` are translated)."""
    out = {RENAMED.get(k, k): v for k, v in d.items()}
    if len(out) < len(d):
        both = sorted(k for k in d if k in RENAMED and RENAMED[k] in d)
        raise ValueError(f"model config gives both {both[0]!r} and its new name {RENAMED[both[0]]!r}")
    return out


class _Data:
    """What every config shares: `replace`, `to_dict`, and a check of a dict's keys."""

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def _check_known(cls, d: dict, what: str) -> None:
        unknown = sorted(set(d) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"unknown {what} config keys: {', '.join(unknown)}")


@dataclass(frozen=True)
class ModelConfig(_Data):
    # transformer
    hidden_size: int = 128
    num_heads: int = 4
    n_double: int = 2  # number of triple-stream blocks (text, image, depth): `double_blocks`
    n_single: int = 2  # number of single-stream blocks over the joint sequence: `single_blocks`
    n_depth_decoder: int = 1  # number of depth-only single-stream blocks before the depth head
    mlp_ratio: float = 3.0
    axes_dim: tuple[int, ...] = (8, 8, 8, 8)  # RoPE dims per axis (modality, row, col, text index)
    theta: int = 2000
    time_mixing: bool = False  # zero-gated cross-stream timestep mixing (release v2)
    guidance_embed: bool = False  # guidance-distilled FLUX models: vec_img += guidance_in(emb(guidance))
    with_depth: bool = True  # False: plain text-to-image DiT (pre-training)
    depth_mask_input: bool = False  # feed the validity mask beside the depth values (METHOD §6)
    image_target: str = "v"  # what the image head predicts: "v" (velocity, the release) or "x" (clean image, JiT)
    # tokens
    resolution: int = 32  # square training resolution in pixels
    patch_size: int = 4  # pixels per token side (image and depth share the grid)
    image_codec: str = "pixel"  # "pixel", or a VAE codec: "flux2-vae", "kl-vae" (codecs.VAE_CODECS)
    image_channels: int = 48  # values per image token: p*p*3 in pixel space, 128 for FLUX.2 latents
    # text
    text_encoder: str = "minilm"  # "minilm", "bytes", or a local Hugging Face model directory
    txt_dim: int = 384  # width of the text encoder's hidden states
    txt_len: int = 32  # text tokens (padded / truncated)
    # noise levels (METHOD §6-7): training draws t = sigmoid(shift_mu + n), the sampler warps its grid by it
    shift_mu: float = 1.1

    def __post_init__(self):
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not divisible by num_heads {self.num_heads}")
        if sum(self.axes_dim) != self.head_dim:
            raise ValueError(f"axes_dim {self.axes_dim} must sum to the head dim {self.head_dim}")
        if any(d % 2 for d in self.axes_dim):
            raise ValueError(f"every RoPE axis needs an even number of dims, got {self.axes_dim}")
        if self.image_target not in IMAGE_TARGETS:
            raise ValueError(f"unknown image_target {self.image_target!r}; use one of {', '.join(IMAGE_TARGETS)}")
        if self.resolution % self.patch_size:
            raise ValueError(f"resolution {self.resolution} is not divisible by the token size {self.patch_size}")

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def depth_channels(self) -> int:
        """Values per depth token: p*p depth pixels (+ p*p mask values when fed)."""
        return self.patch_size**2 * (2 if self.depth_mask_input else 1)

    @property
    def depth_out_channels(self) -> int:
        return self.patch_size**2

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        """From `to_dict`'s output; older files' field names (`RENAMED`) are read too."""
        d = upgrade_keys(d)
        cls._check_known(d, "model")
        if "axes_dim" in d:
            d["axes_dim"] = tuple(d["axes_dim"])
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, s: str) -> ModelConfig:
        return cls.from_dict(json.loads(s))


@dataclass(frozen=True)
class SamplingConfig(_Data):
    """How a checkpoint samples by default, per mode; saved in its config.json under "sampling".

    `Pipeline` and the command line take every default from here; an explicit
    argument (`--steps`, `--cfg`, ...) overrides it.
    """

    steps: int = 20  # generate (joint) and image (d2i)
    cfg: float = 4.0  # classifier-free guidance of generate and image
    log2_alpha: float = 5.0  # joint tilt (METHOD §7): a > 1 resolves the image first
    depth_steps: int = 20  # depth (i2d)
    depth_cfg: float = 1.0  # guidance of depth: 1 = off
    depth_flip: bool = False  # depth (i2d): also estimate the mirrored image, average the two in inverse depth
    joint_depth_cfg: float = 1.0  # guidance of the depth stream in generate (joint); the image takes `cfg`
    complete_steps: int = 20  # complete (i2d with measurements imposed; unguided)
    depth_max: float = 0.0  # every mode: decoded depth capped at this multiple of the unit mean (0 = no cap)
    depth_mu: float | None = None  # depth and complete (i2d): the grid's time shift (None: the model's shift_mu)

    def __post_init__(self):
        for key in ("steps", "depth_steps", "complete_steps"):
            if getattr(self, key) < 1:
                raise ValueError(f"sampling {key} must be >= 1, got {getattr(self, key)}")
        for key in ("cfg", "depth_cfg", "joint_depth_cfg"):
            if getattr(self, key) < 0:
                raise ValueError(f"sampling {key} must be >= 0, got {getattr(self, key)}")
        if self.depth_max != 0 and not self.depth_max > 1:
            raise ValueError(f"sampling depth_max must be 0 (no cap) or above 1 (the unit mean), got {self.depth_max}")

    @classmethod
    def from_dict(cls, d: dict) -> SamplingConfig:
        cls._check_known(d, "sampling")
        return cls(**d)


def _axes(head_dim: int) -> tuple[int, ...]:
    """Four equal RoPE axes, as the release (32 x 4 for head dim 128)."""
    return (head_dim // 4,) * 4


def _latent(hidden: int, heads: int, double: int, single: int, decoder: int, **kw) -> ModelConfig:
    """A model at 512 px on a 16-px token grid: VAE latents packed 2x2 (128 values), 16x16 depth patches."""
    return ModelConfig(
        hidden_size=hidden, num_heads=heads, n_double=double, n_single=single,
        n_depth_decoder=decoder, axes_dim=_axes(hidden // heads), resolution=512, patch_size=16,
        image_codec="flux2-vae", image_channels=128, **kw,
    )


# Parameter counts of the text encoders our presets name (for `mofo info`; the
# encoders are not built to count them). Qwen3-8B: 36 layers, width 4096,
# MLP 12288, 8 KV heads, vocabulary 151936, untied head.
TEXT_ENCODER_PARAMS = {"minilm": 22_713_216, "qwen3-8b": 8_190_735_360, "bytes": 0}

_RELEASE = dict(text_encoder="qwen3-8b", txt_dim=12288, txt_len=512)

presets: dict[str, ModelConfig] = {
    # pixel-space models that train on a CPU
    "tiny": ModelConfig(),
    "small": ModelConfig(
        hidden_size=192, num_heads=6, n_double=3, n_single=3, n_depth_decoder=1,
        resolution=64, patch_size=8, image_channels=192,
    ),
    "base": ModelConfig(
        hidden_size=256, num_heads=8, n_double=4, n_single=4, n_depth_decoder=2,
        resolution=64, patch_size=8, image_channels=192,
    ),
    # the paper's scaling family (T2I backbone sizes in the names)
    "mf-370m": _latent(1024, 8, 6, 14, 2),
    "mf-780m": _latent(1536, 12, 6, 12, 2),
    "mf-1.6b": _latent(2048, 16, 7, 14, 3),
    "mf-3.3b": _latent(2560, 20, 9, 20, 4),
    # the authors' released architecture (METHOD §5)
    "release-v1": _latent(4096, 32, 8, 24, 4, **_RELEASE),
    "release-v2": _latent(4096, 32, 8, 24, 4, time_mixing=True, **_RELEASE),
}


def get_preset(name: str) -> ModelConfig:
    if name not in presets:
        raise ValueError(f"unknown preset {name!r}; known: {', '.join(presets)}")
    return presets[name]
