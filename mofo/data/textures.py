"""Procedural textures and the colour palette of the synthetic world.

A texture maps texture coordinates (u, v, w), in *cells* (metres x the material's scale), to
a value in [0, 1] (1 = the material's full colour). Every pattern is built from floor, +, -,
*, / and a 32-bit integer hash, elementwise, so it is exact and portable (see world.py).

Real texture photos: scikit-image 0.26.0's wheel does ship `skimage/data/{brick,grass,gravel}.png`
(512 x 512 greyscale) inside it, but it pulls in networkx, imageio, tifffile and lazy-loader
for three greyscale images, so the world stays procedural (docs/data.md).
"""
from __future__ import annotations

import numpy as np
import torch

from mofo.data.culling import sqrt

PALETTE = {
    "red": (0.85, 0.15, 0.12), "orange": (0.95, 0.5, 0.1), "yellow": (0.95, 0.85, 0.2),
    "green": (0.2, 0.65, 0.25), "teal": (0.1, 0.6, 0.6), "blue": (0.15, 0.3, 0.85),
    "purple": (0.5, 0.2, 0.7), "pink": (0.95, 0.55, 0.7), "brown": (0.55, 0.33, 0.15),
    "white": (0.92, 0.92, 0.9), "gray": (0.5, 0.5, 0.52), "black": (0.13, 0.13, 0.13),
}
# The first six are the open family's patterns (their indices are stored in old shards' graphs).
PATTERNS = ("plain", "checker", "stripes", "speckle", "wood", "brick",
            "planks", "tiles", "plaster", "asphalt", "fabric", "facade", "books", "panels", "road")


def _hash(i: torch.Tensor, j: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Uniform [0, 1) per integer lattice cell, from a 32-bit integer hash (exact, portable).

    i, j, k: integer tensors; j and k broadcast against i (a per-scene constant costs no pass
    over the rays). The arithmetic is mod 2^32 in numpy's uint32 (only the low 32 bits of the
    inputs matter), about 3x faster than torch's integer kernels here.
    """
    u32 = lambda x: x.numpy().astype(np.uint32)  # noqa: E731
    with np.errstate(over="ignore"):  # wrapping is the point (0-d operands would warn)
        h = u32(i) * np.uint32(73856093) ^ (u32(j) * np.uint32(19349663) ^ u32(k) * np.uint32(83492791))
        h ^= h >> np.uint32(16)
        h *= np.uint32(0x7FEB352D)
        h ^= h >> np.uint32(15)
        h *= np.uint32(0x68E31DA4)
        h ^= h >> np.uint32(16)
    return torch.from_numpy(h.astype(np.float32) / np.float32(2**32))


def _cell(x: torch.Tensor) -> torch.Tensor:
    return torch.floor(x).long()


def _frac(x: torch.Tensor) -> torch.Tensor:
    return x - torch.floor(x)


def _checker(u, v, w):
    return 0.45 + 0.55 * ((torch.floor(u).long() + torch.floor(v).long() + torch.floor(w).long()) & 1).float()


def _stripes(u, v, w):
    return 0.5 + 0.5 * (torch.floor(v).long() & 1).float()


def _speckle(u, v, w):
    return 0.55 + 0.45 * _hash(torch.floor(u).long(), torch.floor(v).long(), torch.floor(w).long())


def _wood(u, v, w):
    ring = sqrt(u * u + w * w) + 0.3 * _hash(torch.floor(u * 0.25).long(), torch.floor(v).long(),
                                                     torch.floor(w).long())
    return 0.6 + 0.4 * (ring - torch.floor(ring))


def _brick(u, v, w):
    row = torch.floor(v * 2)
    shifted = u + w + 0.5 * (row.long() & 1).float()
    mortar = ((v * 2 - row) < 0.1) | ((shifted - torch.floor(shifted)) < 0.06)
    return torch.where(mortar, 0.35, 0.8 + 0.2 * _hash(torch.floor(shifted).long(), row.long(),
                                                       torch.floor(w).long()))


def _noise(u, v, w):
    """Smooth value noise in [0, 1): the lattice hash interpolated bilinearly in (u, v + w)."""
    v = v + w
    i, j, fu, fv = _cell(u), _cell(v), _frac(u), _frac(v)
    su, sv = fu * fu * (3 - 2 * fu), fv * fv * (3 - 2 * fv)
    zero = i.new_zeros(())
    a, b = _hash(i, j, zero), _hash(i + 1, j, zero)
    c, d = _hash(i, j + 1, zero), _hash(i + 1, j + 1, zero)
    return (a + (b - a) * su) + ((c + (d - c) * su) - (a + (b - a) * su)) * sv


def _planks(u, v, w):
    """Floor boards along u, one cell wide in v + w, staggered, with grain and seams."""
    row = _cell(v + w)
    along = u + 3.7 * _hash(row, row, row)
    board = _cell(along / 5)
    tone = _hash(board, row, board + 7)
    grain = _frac(2.6 * (v + w) + 0.4 * tone + 0.05 * along)
    seam = (_frac(v + w) < 0.05) | (_frac(along / 5) < 0.01)
    return torch.where(seam, 0.4, 0.62 + 0.22 * tone + 0.14 * grain)


def _tiles(u, v, w):
    """Square tiles with grout lines, each tile a slightly different shade."""
    grout = (_frac(u) < 0.05) | (_frac(v) < 0.05) | ((w != 0) & (_frac(w) < 0.05))
    return torch.where(grout, 0.55, 0.86 + 0.14 * _hash(_cell(u), _cell(v), _cell(w)))


def _plaster(u, v, w):
    return 0.84 + 0.1 * _noise(u, v, w) + 0.06 * _hash(_cell(8 * u), _cell(8 * v), _cell(8 * w))


def _asphalt(u, v, w):
    return 0.5 + 0.25 * _noise(u * 0.25, v * 0.25, w) + 0.25 * _hash(_cell(u * 6), _cell(v * 6), _cell(w * 6))


def _fabric(u, v, w):
    """A woven look: alternating warp and weft threads with a soft ridge each."""
    warp = (_cell(u) + _cell(v + w)) & 1
    ridge = torch.where(warp == 1, _frac(u), _frac(v + w))
    return 0.72 + 0.16 * (1 - (2 * ridge - 1).abs()) + 0.12 * _hash(_cell(u * 0.1), _cell(v * 0.1), _cell(w * 0.1))


def _facade(u, v, w):
    """Building fronts in storeys (1 cell = 3 m; u along the street, v up): a window every 0.8
    cell (2.4 m), dark and varied glass, shop windows on some ground floors; each 4-cell (12 m)
    building a different shade (see scenes.FACADE_SEGMENT)."""
    building = _hash(_cell(u / 4), _cell(u / 4) + 3, _cell(w))
    storey, column = _frac(v), _frac(u / 0.8)
    glass = (storey > 0.3) & (storey < 0.82) & (column > 0.22) & (column < 0.78) & (v > 0.87)
    shop = (v < 0.87) & (v > 0.1) & (column > 0.1) & (column < 0.9) & (building < 0.5)
    pane = _hash(_cell(u / 0.8), _cell(v), _cell(w) + 11)
    wall = 0.7 + 0.3 * building + 0.04 * _hash(_cell(6 * u), _cell(6 * v), _cell(w))
    return torch.where(glass | shop, 0.18 + 0.3 * pane, wall)


def _books(u, v, w):
    """A book case: shelf boards every 0.4 m, book spines of random width and shade between."""
    shelf = _frac(v * 2.5)
    spine = _hash(_cell((u + w) * 14), _cell(v * 2.5), _cell(v * 2.5) + 5)
    return torch.where(shelf < 0.12, 0.75, torch.where(spine < 0.12, 0.15, 0.2 + 0.8 * spine))


def _panels(u, v, w):
    """Cupboard doors: 0.5 m panels with dark seams and a small handle near each seam."""
    across = u + w
    seam = (_frac(across * 2) < 0.03) | (_frac(v * 1.4) < 0.03)
    handle = (_frac(across * 2) > 0.06) & (_frac(across * 2) < 0.1) & (_frac(v * 1.4) > 0.75) & (_frac(v * 1.4) < 0.92)
    return torch.where(seam | handle, 0.35, 0.88 + 0.12 * _noise(across * 3, v * 3, w))


def _road(u, v, w):
    """Asphalt (u across the road, v along it, metres) with dashed lane lines every 3.5 m."""
    lane = (u / 3.5 - torch.round(u / 3.5)).abs() * 3.5
    paint = (lane < 0.07) & (_frac(v / 9.0) < 0.35)
    grit = _hash(_cell(u * 6), _cell(v * 6), _cell(w * 6))
    return torch.where(paint, 1.0, 0.45 + 0.14 * grit)


# Texture value in [0, 1] (1 = full colour) of each pattern but "plain", on coordinates in cells.
TEXTURES = {"checker": _checker, "stripes": _stripes, "speckle": _speckle, "wood": _wood, "brick": _brick,
            "planks": _planks, "tiles": _tiles, "plaster": _plaster, "asphalt": _asphalt, "fabric": _fabric,
            "facade": _facade, "books": _books, "panels": _panels, "road": _road}
# Mean of each pattern (PATTERNS order) over many cells: a far-away surface fades to it.
TEXTURE_MEAN = (1.0, 0.725, 0.75, 0.775, 0.8, 0.8, 0.777, 0.893, 0.92, 0.751, 0.861, 0.709, 0.607, 0.901, 0.527)


def patterns(u, v, w, pattern, footprint):
    """Texture value in [0, 1] (1 = full colour) for texture coordinates in cells, (B, R).

    Each pattern is evaluated only at the rays that show it (sorted by pattern once, so that
    each pattern's rays are one slice); `footprint` (B, R) is the size of a pixel in cells.
    """
    pattern = pattern.reshape(-1)
    count = np.bincount(pattern.numpy(), minlength=len(PATTERNS))
    # a stable sort of 8-bit keys is a radix sort; "plain" (0) comes first and needs no texture
    order = torch.from_numpy(np.argsort(pattern.numpy().astype(np.int8), kind="stable")[count[0]:])
    u, v, w = (x.reshape(-1).index_select(0, order) for x in (u, v, w))
    value, start = torch.ones(pattern.numel()), np.cumsum(count) - count - count[0]  # each pattern's first place
    if len(order):
        texture = [TEXTURES[PATTERNS[i]](*(x[start[i]:start[i] + count[i]] for x in (u, v, w)))
                   for i in np.flatnonzero(count[1:]) + 1]
        value.index_copy_(0, order, torch.cat(texture))
    value = value.view(footprint.shape)
    mean = torch.tensor(TEXTURE_MEAN).index_select(0, pattern).view(footprint.shape)
    # Fade the pattern to its mean once a pixel covers more than ~1/4 cell (no aliasing far away).
    fade = torch.clamp((0.75 - footprint) * 2, 0, 1)
    return mean + (value - mean) * fade
