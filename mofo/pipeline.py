"""Pipeline: a trained model plus its codecs and text encoder, one method per mode.

    pipe = Pipeline.from_pretrained()            # the bundled default model
    rgb, depth = pipe.generate("a red ball on a wooden floor")
    depth = pipe.depth(image)                    # any size; returns (H, W) at the input size
    rgb = pipe.image(depth, "a room with brick walls")
    dense = pipe.complete(image, sparse_depth)   # sparse: 0 = missing; output in its units

Images are uint8 (H, W, 3) arrays; depth maps float32 (H, W). Generated depth
is relative (unit mean); completed depth carries the scale of the measurements.
`Pipeline.from_pretrained(dtype="bf16")` samples under bf16 autocast (the weights stay
float32): faster on CPUs and GPUs with bf16 units, and within ~0.2 % of float32 depth on
average on the bundled model (docs/performance.md).
"""
from __future__ import annotations

import warnings
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .checkpoint import load_checkpoint, read_empty_text, sampling_weights
from .codecs import DepthCodec, make_image_codec
from .config import SamplingConfig
from .completion import fuse
from .data.viz import to_uint8
from .distributed import check_device
from .flow import noisy_depth
from .sampling import sample
from .text import LazyEncoder, load_text_encoder

DEFAULT_MODEL = Path(__file__).parent / "assets" / "default"
COMPLETE_SMOOTH = 0.2  # `complete` blurs the estimate by this Gaussian sigma, in depth patches, before fusing (docs/default_model.md)
DTYPES = ("fp32", "bf16")  # what the model computes in while sampling (bf16: autocast)


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) -> float (1, 3, H, W) in [0, 1]."""
    return torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1)[None].float() / 255


def mirror_mean(maps: torch.Tensor) -> torch.Tensor:
    """(2B, 1, H, W) depth maps, the second half estimated on the mirrored images -> (B, 1, H, W).

    The second half is mirrored back and the two are averaged in inverse depth (the
    harmonic mean), which measured best of the means tried (docs/default_model.md,
    "Mirror averaging").
    """
    ours, mirrored = maps.chunk(2)
    inverse = 1 / ours.clamp_min(1e-6) + 1 / mirrored.flip(-1).clamp_min(1e-6)
    return 2 / inverse


def fit(x: torch.Tensor, res: int, mode: str) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
    """Bring (1, C, H, W) to (1, C, res, res): `resize` (stretch) or `letterbox` (keep aspect, pad).

    Returns the result and the box (top, left, height, width) that holds the content.
    """
    h, w = x.shape[-2:]
    if mode == "resize":
        return F.interpolate(x, size=(res, res), mode="bilinear", antialias=True, align_corners=False), (0, 0, res, res)
    if mode != "letterbox":
        raise ValueError(f"unknown fit {mode!r}; use resize or letterbox")
    scale = res / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    inner = F.interpolate(x, size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)
    top, left = (res - nh) // 2, (res - nw) // 2
    out = torch.full((1, x.shape[1], res, res), 0.5, dtype=x.dtype)
    out[..., top : top + nh, left : left + nw] = inner
    return out, (top, left, nh, nw)


def pool_sparse(sparse: np.ndarray, res: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sparse depth (H, W), 0 = missing -> (depth (1, 1, res, res), measured mask).

    Each model pixel takes the mean of the measurements inside its footprint.
    """
    d = torch.from_numpy(np.asarray(sparse, dtype=np.float32))[None, None]
    m = (d > 0).float()
    weight = F.adaptive_avg_pool2d(m, (res, res))
    total = F.adaptive_avg_pool2d(d * m, (res, res))
    valid = weight > 0
    return torch.where(valid, total / weight.clamp_min(1e-12), torch.zeros_like(total)), valid


def unfit(x: torch.Tensor, box: tuple[int, int, int, int], size: tuple[int, int]) -> torch.Tensor:
    """Crop the content box of a (1, C, res, res) map and resize it back to `size` (H, W)."""
    top, left, h, w = box
    return F.interpolate(x[..., top : top + h, left : left + w], size=size, mode="bilinear", align_corners=False)


class Pipeline:
    def __init__(self, model, text, image_codec, config: dict, name: str = "", device: str | torch.device = "cpu",
                 dtype: str = "fp32"):
        if dtype not in DTYPES:
            raise ValueError(f"unknown dtype {dtype!r}; use one of {', '.join(DTYPES)}")
        self.model, self.text, self.config, self.name = model.eval(), text, config, name
        self.device, self.dtype = torch.device(device), dtype
        cfg = model.cfg
        self.image_codec = image_codec
        self.depth_codec = DepthCodec(cfg.patch_size)
        self.res = cfg.resolution
        self.grid = (self.res // self.image_codec.downsample,) * 2
        self.sampling = SamplingConfig.from_dict(config.get("sampling", {}))  # defaults per mode
        self._prompts: dict[str, torch.Tensor] = {}  # text states of prompts seen, (1, L, D) on the device

    @classmethod
    def from_pretrained(cls, path: str | Path | None = None, device: str = "cpu", vae_path: str | None = None,
                        text_path: str | None = None, dtype: str = "fp32") -> Pipeline:
        """Load a checkpoint folder (EMA weights when present); None loads the bundled default model.

        Latent-space models and large text encoders load their VAE / encoder from
        local folders (`vae_path`, `text_path`; see docs/pretrained.md). dtype: "fp32",
        or "bf16" to sample under bf16 autocast (the weights stay float32). A folder that
        stores the encoding of "" (`checkpoint.save_empty_text`) loads the text encoder
        only when a non-empty prompt first needs it.
        """
        device = check_device(device)
        path = Path(path) if path is not None else DEFAULT_MODEL
        if not path.exists():
            raise FileNotFoundError(f"model not found: {path}")
        model, config = load_checkpoint(path, device=device, weights=sampling_weights(path))
        if not model.with_depth:
            raise ValueError(f"{path} is a text-to-image model without a depth stream; post-train it first")
        cfg = model.cfg
        load = partial(load_text_encoder, cfg.text_encoder, cfg.txt_dim, cfg.txt_len, path=text_path)
        empty = read_empty_text(path, cfg)
        text = (load() if empty is None else LazyEncoder(empty, load)).to(device)
        codec = make_image_codec(cfg, vae_path)
        return cls(model.float().to(device), text, codec, config, name=str(path), device=device, dtype=dtype)

    # ------------------------------------------------------------------ helpers
    def _text(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, L, D) text states of the prompts and the (1, L, D) empty-prompt states.

        Each distinct prompt is encoded once per pipeline (the encoder is frozen), so a
        batch of images under one prompt, or many calls, pay for the text encoder once.
        """
        for prompt in dict.fromkeys(prompts):
            if prompt not in self._prompts:
                n = self.text.count_tokens(prompt) if prompt else 0  # "" needs no tokenizer
                if n > self.text.max_len:
                    warnings.warn(f"the prompt is {n} tokens long; the model reads its first {self.text.max_len}")
                self._prompts[prompt] = (self.text.empty() if prompt == "" else self.text([prompt])).to(self.device)
        txt = torch.cat([self._prompts[p] for p in prompts])
        return txt, self.text.empty().to(self.device)

    def _sample(self, *args, **kw) -> tuple[torch.Tensor, torch.Tensor]:
        """`sampling.sample` with this pipeline's model, in its dtype (bf16: autocast; the states stay float32)."""
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.dtype == "bf16"):
            return sample(self.model, *args, **kw)

    def _generator(self, seed: int) -> torch.Generator:
        return torch.Generator(self.device).manual_seed(seed)

    def _steps(self, steps: int | None, key: str = "steps") -> int:
        """Explicit steps, else the default of the mode (`steps`, `depth_steps`, `complete_steps`)."""
        return int(steps if steps is not None else getattr(self.sampling, key))

    def _encode_image(self, image: np.ndarray):
        x, box = fit(_to_tensor(image), self.res, "resize")
        return self.image_codec.encode(x.to(self.device)), box

    def decode_depth(self, tokens: torch.Tensor) -> torch.Tensor:
        """Depth tokens -> relative depth (B, 1, R, R), capped at `sampling.depth_max` where set.

        The contraction lets the model say "10 000x the mean"; the cap keeps such far outliers
        from dominating (docs/default_model.md, "Capping far depth").
        """
        maps = self.depth_codec.decode(tokens.float(), *self.grid).cpu()
        return maps.clamp_max(self.sampling.depth_max) if self.sampling.depth_max else maps

    # ------------------------------------------------------------------ modes
    @torch.no_grad()
    def generate(self, prompt: str, steps: int | None = None, cfg: float | None = None, seed: int = 0,
                 log2_alpha: float | None = None, refine: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Text -> (rgb uint8 (R, R, 3), relative depth float32 (R, R)), R the model resolution.

        `steps`, `cfg`, `log2_alpha`: None takes the checkpoint's `SamplingConfig`.
        """
        txt, unc = self._text([prompt])
        log2_alpha = self.sampling.log2_alpha if log2_alpha is None else log2_alpha
        img, depth = self._sample("joint", txt, unc, self.grid, steps=self._steps(steps),
                                  cfg_scale=self.sampling.cfg if cfg is None else cfg,
                                  depth_cfg_scale=self.sampling.joint_depth_cfg, log2_alpha=log2_alpha,
                                  refine=refine, generator=self._generator(seed))
        rgb = self.image_codec.decode(img.float(), *self.grid).cpu()
        return to_uint8(rgb[0]), self.decode_depth(depth)[0, 0].numpy()

    def depth(self, image: np.ndarray, steps: int | None = None, seed: int = 0, cfg: float | None = None,
              prompt: str = "", fit_mode: str = "resize", flip: bool | None = None) -> np.ndarray:
        """Image uint8 (H, W, 3) -> relative depth float32 (H, W) at the input size."""
        return self.depths([image], steps, seed, cfg, prompt, fit_mode, flip)[0]

    @torch.no_grad()
    def depths(self, images: list[np.ndarray], steps: int | None = None, seed: int = 0, cfg: float | None = None,
               prompt: str = "", fit_mode: str = "resize", flip: bool | None = None) -> list[np.ndarray]:
        """A batch of images of any sizes -> one relative depth map per image, each at its input size.

        `flip` (None: the checkpoint's `sampling.depth_flip`) also estimates each image
        mirrored left-right, in the same batch, and returns the mean of the two estimates
        in inverse depth (`mirror_mean`), at twice the compute (docs/default_model.md, "Mirror averaging").
        """
        flip = self.sampling.depth_flip if flip is None else flip
        fitted = [fit(_to_tensor(image), self.res, fit_mode) for image in images]
        batch = torch.cat([x for x, _ in fitted])
        batch = torch.cat([batch, batch.flip(-1)]) if flip else batch
        tokens = self.image_codec.encode(batch.to(self.device))
        txt, unc = self._text([prompt] * len(batch))
        _, depth = self._sample("i2d", txt, unc, self.grid, image=tokens, steps=self._steps(steps, "depth_steps"),
                                cfg_scale=self.sampling.depth_cfg if cfg is None else cfg, mu=self.sampling.depth_mu,
                                generator=self._generator(seed))
        maps = self.decode_depth(depth)
        maps = mirror_mean(maps) if flip else maps
        return [unfit(maps[i : i + 1], box, image.shape[:2])[0, 0].numpy()
                for i, (image, (_, box)) in enumerate(zip(images, fitted))]

    @torch.no_grad()
    def image(self, depth: np.ndarray, prompt: str = "", steps: int | None = None, cfg: float | None = None,
              seed: int = 0) -> np.ndarray:
        """Depth float (H, W) (> 0 where known, any scale) -> rgb uint8 (H, W, 3).

        Unknown pixels are filled the way the model saw them in training
        (`flow.sparse_fill` of its training config: noise by default).
        """
        pooled, valid = pool_sparse(depth, self.res)
        tokens, known = self.depth_codec.encode(pooled.to(self.device), valid.to(self.device))
        generator = self._generator(seed)
        eps = torch.randn(tokens.shape, generator=generator, device=self.device)
        fill = self.config.get("train", {}).get("flow", {}).get("sparse_fill", "noise")
        tokens = noisy_depth(tokens, known, eps, torch.zeros(1, device=self.device), fill, self.grid,
                             self.depth_codec.patch_size)
        txt, unc = self._text([prompt])
        img, _ = self._sample("d2i", txt, unc, self.grid, depth=tokens, steps=self._steps(steps),
                              cfg_scale=self.sampling.cfg if cfg is None else cfg, generator=generator)
        rgb = self.image_codec.decode(img.float(), *self.grid).cpu()
        return to_uint8(unfit(rgb, (0, 0, self.res, self.res), depth.shape[:2])[0])

    @torch.no_grad()
    def complete(self, image: np.ndarray, sparse: np.ndarray, steps: int | None = None, seed: int = 0,
                 prompt: str = "") -> np.ndarray:
        """Image (H, W, 3) + sparse depth (H, W), 0 = missing -> dense depth (H, W) in the sparse units.

        The model runs on its grid with the measurements pooled onto it and imposed
        at every step (their correctly noised values replace that part of the depth
        state; no gradients). Its estimate, resized to the input and blurred by
        `COMPLETE_SMOOTH` of a patch (the decoder's patch edges are steps the points
        do not support), is then fused with the image and
        the measurements at full resolution, on inverse depth (`completion.fuse`: affine fit,
        linearly interpolated residual, and an edge-aware average of the points guided by
        the image, blended with plain interpolation of the points by weights fitted on
        held-out points), so it is exact on every measured pixel.
        """
        if np.shape(sparse)[:2] != np.shape(image)[:2]:
            raise ValueError(f"the sparse depth map is {np.shape(sparse)[1]}x{np.shape(sparse)[0]} pixels but the image "
                             f"is {np.shape(image)[1]}x{np.shape(image)[0]}: give one measurement map per image pixel")
        tokens, box = self._encode_image(image)
        sparse = np.asarray(sparse, dtype=np.float32)
        pooled, valid = pool_sparse(sparse, self.res)
        if not valid.any():
            raise ValueError("the sparse depth has no measured (positive) pixels")
        values, known = self.depth_codec.encode(pooled.to(self.device), valid.to(self.device))
        txt, unc = self._text([prompt])
        _, depth = self._sample("i2d", txt, unc, self.grid, image=tokens, known=(values, known),
                                steps=self._steps(steps, "complete_steps"), mu=self.sampling.depth_mu,
                                generator=self._generator(seed))
        estimate = unfit(self.decode_depth(depth).float(), box, sparse.shape[:2])[0, 0].numpy()
        per_patch = COMPLETE_SMOOTH * self.depth_codec.patch_size  # sigma in model pixels, then in input pixels
        smooth = (per_patch * sparse.shape[0] / box[2], per_patch * sparse.shape[1] / box[3])
        fused, _ = fuse(estimate, sparse, sparse > 0, np.asarray(image), seed=seed, smooth=smooth)
        return fused.astype(np.float32)
