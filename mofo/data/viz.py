"""Looking at RGB-D data: a depth colour map and a contact sheet."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw

# viridis sampled at 0, 1/8, ..., 1 (matplotlib's values), interpolated linearly.
_VIRIDIS = np.array([(68, 1, 84), (71, 45, 123), (59, 82, 139), (44, 114, 142), (33, 145, 140),
                     (40, 174, 128), (94, 201, 98), (173, 220, 48), (253, 231, 37)], dtype=np.float64)


def colormap(x: np.ndarray) -> np.ndarray:
    """viridis for values in [0, 1] -> uint8 (..., 3); 0 dark purple, 1 bright yellow."""
    pos = np.clip(x, 0, 1) * (len(_VIRIDIS) - 1)
    lo = np.minimum(pos.astype(int), len(_VIRIDIS) - 2)
    frac = (pos - lo)[..., None]
    return np.round(_VIRIDIS[lo] * (1 - frac) + _VIRIDIS[lo + 1] * frac).astype(np.uint8)


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """Image (3, H, W) float in [0, 1] -> (H, W, 3) uint8 (clamped, rounded half up)."""
    return (image.detach().permute(1, 2, 0).clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu().numpy()


def colorize_depth(depth, valid=None) -> np.ndarray:
    """Depth (H, W) or (1, H, W) in metres -> uint8 (H, W, 3): disparity through viridis.

    Near is bright, far is dark; disparity is normalised to the 2-98 % range of the valid
    pixels; invalid pixels are black.
    """
    depth = _numpy(depth).astype(np.float64)
    valid = depth > 0 if valid is None else _numpy(valid).astype(bool)
    valid = valid & (depth > 0)
    out = np.zeros((*depth.shape, 3), np.uint8)
    if valid.any():
        disp = 1 / depth[valid]
        lo, hi = np.percentile(disp, [2, 98])
        out[valid] = colormap((disp - lo) / max(hi - lo, 1e-12))
    return out


def _numpy(x) -> np.ndarray:
    """(H, W) array from a (1, H, W) or (H, W) tensor or array."""
    x = np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x)
    return x[0] if x.ndim == 3 else x


def contact_sheet(samples: list[dict], zoom: int = 3, text_width: int = 360) -> Image.Image:
    """One row per sample: RGB | dense depth | sparse (measured) depth | caption."""
    rows = []
    for s in samples:
        rgb = to_uint8(s["image"])
        dense = colorize_depth(s.get("dense_depth", s["depth"]))
        sparse = colorize_depth(s["depth"], s["valid_mask"])
        tiles = np.concatenate([rgb, dense, sparse], axis=1)
        tile = Image.fromarray(tiles).resize((tiles.shape[1] * zoom, tiles.shape[0] * zoom), Image.NEAREST)
        row = Image.new("RGB", (tile.width + text_width, tile.height), "white")
        row.paste(tile, (0, 0))
        ImageDraw.Draw(row).multiline_text((tile.width + 8, 8), _wrap(s["caption"], text_width // 7), fill="black")
        rows.append(row)
    sheet = Image.new("RGB", (rows[0].width, sum(r.height + 4 for r in rows)), "white")
    for i, row in enumerate(rows):
        sheet.paste(row, (0, i * (row.height + 4)))
    return sheet


def _wrap(text: str, width: int) -> str:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "\n".join(lines + [line])
