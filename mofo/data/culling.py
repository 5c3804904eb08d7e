"""Culling for the world's ray caster: which (ray, object) pairs may meet, so that only those
are intersected exactly (mofo/data/world.py).

Objects come in groups (a piece of furniture, a car; each open-family object alone). Every
object and group has a world-axis bounding box grown by 1 % + 1 cm (`bound`), far beyond
float rounding. Camera rays are culled in the image: a box wholly in front of the camera
projects into the rectangle around its projected corners, so each object's pixels are
enumerated directly. Shadow rays are culled the same way in a projection along the sun
(parallel rays) or from the point light (central: a whole segment p -> light maps to one
point), by group and then by object. A superset of the pairs that can hit is kept, so
culling changes no result. Vectors are (..., 3) tensors; a "scene" is a `world.Scene`.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch


def bound(o: dict) -> list[list[float]]:
    """An object's culling box (min, max corner) (`boxes`)."""
    yaw = math.radians(o["yaw"])
    lo, hi = boxes(np.array(o["center"]), np.array(o["size"]), np.array(math.cos(yaw)), np.array(math.sin(yaw)))
    return [lo.tolist(), hi.tolist()]


def boxes(center: np.ndarray, size: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Culling boxes, min and max corner (..., 3), of objects with centres and half extents (..., 3)
    and yaw cos, sin (...) (float64): the yawed slab's world box grown by 1 % + 1 cm, far beyond
    float rounding (so culling never drops a hit)."""
    c, s, (sx, sy, sz) = np.abs(cos), np.abs(sin), np.moveaxis(size, -1, 0)
    half = np.stack([c * sx + s * sz, sy, s * sx + c * sz], -1) * 1.01 + 0.01
    return center - half, center + half


def group_boxes(lo: np.ndarray, hi: np.ndarray, alive: np.ndarray, first: np.ndarray, live: np.ndarray):
    """The boxes (min, max corner) (B, G, 3) of groups of consecutive slots, from the slots' boxes
    lo, hi (B, K, 3) and alive (B, K); first: (B, G) each group's first slot, live: (B, G) bool.
    Dead groups get the box of a slot far below the ground."""
    n_b, n_k = alive.shape
    starts = (np.arange(n_b)[:, None] * n_k + first)[live]  # a group runs to the next one; dead slots are neutral
    out = np.zeros((2, *live.shape, 3))
    out[..., 1] = -1e3
    for corner, x, reduce, empty in ((0, lo, np.minimum, math.inf), (1, hi, np.maximum, -math.inf)):
        x = np.where(alive[..., None], x, empty).reshape(-1, 3)
        out[corner][live] = reduce.reduceat(x, starts, axis=0) if len(starts) else x[:0]
    return out[0], out[1]


def dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Dot product over the last axis of size 3, written out (a fixed, batch-independent order)."""
    return a[..., 0] * b[..., 0] + a[..., 1] * b[..., 1] + a[..., 2] * b[..., 2]


def sqrt(x: torch.Tensor) -> torch.Tensor:
    """The correctly rounded square root (numpy's, the CPU's IEEE instruction): the same bits on
    every machine. torch's float32 `sqrt` goes through MKL's vector math, whose AVX-512 path is
    not exact, so renders differed between machines. CPU tensors, no autograd."""
    return torch.from_numpy(np.sqrt(x.numpy()))


# torch's CPU kernels that produce bool tensors or indices from them are not vectorised (5-15x
# slower than numpy's); these hot ones go through numpy (same results, CPU tensors, no autograd).

def nonzero(mask: torch.Tensor) -> torch.Tensor:
    """Flat indices (N,) of the True entries of mask, in order (`mask.flatten().nonzero()`)."""
    return torch.from_numpy(np.flatnonzero(mask.numpy()))


def isinf(x: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(np.isinf(x.numpy()))


def isfinite(x: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(np.isfinite(x.numpy()))


def select(mask: np.ndarray, a, b) -> np.ndarray:
    """`np.where(mask, a, b)` for float32 a, b (arrays of the mask's shape, or scalars), by bit
    masks instead of a branch per element: torch's and numpy's where mispredict on masks that
    flip from one element to the next, as (ray, object slot) pairs of mixed shapes do (~6x
    slower). The same bits."""
    bits = lambda x: x.view(np.int32) if isinstance(x, np.ndarray) else np.float32(x).view(np.int32)  # noqa: E731
    keep = mask.astype(np.int32)
    np.negative(keep, out=keep)
    out = bits(a) ^ bits(b)
    out &= keep
    out ^= bits(b)
    return out.view(np.float32)


def normalize(v: torch.Tensor) -> torch.Tensor:
    return v / sqrt(dot(v, v)).unsqueeze(-1)


_CORNER = torch.tensor([[i >> 2 & 1, i >> 1 & 1, i & 1] for i in range(8)])


def _corners(box: torch.Tensor) -> torch.Tensor:
    """The 8 corners (..., 8, 3) of boxes (..., 2, 3) (min, max corner)."""
    return torch.stack([box[..., _CORNER[:, a], a] for a in range(3)], -1)


def _rect_near(a: torch.Tensor, b: torch.Tensor, rect: torch.Tensor, alive: torch.Tensor) -> torch.Tensor:
    """(B, G, R) bool: 2-D points (a, b) (B, R) inside the rectangles rect (B, G, 4) of live groups.

    Dead groups get an empty rectangle (no point, not even NaN, lies in it), so the live mask
    costs no pass over (B, G, R)."""
    empty = torch.tensor([math.inf, -math.inf, math.inf, -math.inf])
    a0, a1, b0, b1 = torch.where(alive[..., None], rect, empty)[..., None].numpy().transpose(2, 0, 1, 3)
    a, b = a[:, None].numpy(), b[:, None].numpy()
    return torch.from_numpy((a >= a0) & (a <= a1) & (b >= b0) & (b <= b1))


def _bounding_rect(x: torch.Tensor, y: torch.Tensor, ok: torch.Tensor, margin: float) -> torch.Tensor:
    """Rectangles (B, G, 4) around projected corners x, y (B, G, 8); the whole plane where not `ok`."""
    grow = lambda c: margin * (c.abs() + 1)  # noqa: E731
    lo_x, hi_x, lo_y, hi_y = x.amin(-1), x.amax(-1), y.amin(-1), y.amax(-1)
    rect = torch.stack([lo_x - grow(lo_x), hi_x + grow(hi_x), lo_y - grow(lo_y), hi_y + grow(hi_y)], -1)
    whole = torch.tensor([-math.inf, math.inf, -math.inf, math.inf])
    return torch.where(ok[..., None], rect, whole)


class Cull(NamedTuple):
    """Which (group, shadow ray) pairs may hit (`near_light`), and what is needed to test single
    slots the same way: per ray 2-D coordinates a, b (B, R) and c (B, R), per slot rectangles
    rect (B, K, 4) and bounds (B, K) (`light_rects`)."""

    near: torch.Tensor
    a: torch.Tensor
    b: torch.Tensor
    c: torch.Tensor
    rect: torch.Tensor
    bound: torch.Tensor


def camera_rects(t: dict, box: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Image rectangles (B, N, 4) u0, u1, v0, v1 (pixels from the principal point) around boxes
    (B, N, 2, 3), and (B, N) whether a box is not wholly behind the camera (`camera_pairs`)."""
    q = _corners(box) - t["origin"][:, None, None]
    basis = t["cam"][:, None, None]
    xc, yc, zc = (dot(q, basis[..., i, :]) for i in range(3))
    front = zc > 1e-4
    z = torch.where(front, zc, 1.0)
    fx, fy = t["focal"][:, 0, None, None], t["focal"][:, 1, None, None]
    return _bounding_rect(fx * xc / z, fy * yc / z, front.all(-1), 1e-4), ~(zc <= 0).all(-1)


def light_rects(t: dict, box: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per box (B, N, 2, 3), the rectangle (B, N, 4) its shadow rays pass through (`near_light`),
    a bound (B, N) (sun: the box's top along the sun; point: 1 below the light, -1 above, 0
    across) and the sun's projection basis (B, 2, 3)."""
    light, q, point = t["light"], _corners(box), t["point"][:, None, None]
    lx, ly, lz = (light[:, i, None, None] for i in range(3))
    depth = ly - q[..., 1]
    below, above = (depth > 1e-4).all(-1), (depth < -1e-4).all(-1)
    z = torch.where(depth.abs() > 1e-4, depth, 1.0)
    central = _bounding_rect((q[..., 0] - lx) / z, (q[..., 2] - lz) / z, below | above, 1e-4)
    e1 = normalize(torch.stack([light[:, 2], torch.zeros_like(light[:, 0]), -light[:, 0]], -1))  # horizontal, _|_ sun
    e2 = torch.stack([light[:, 1] * e1[:, 2], light[:, 2] * e1[:, 0] - light[:, 0] * e1[:, 2], -light[:, 1] * e1[:, 0]], -1)
    qa, qb, qc = (dot(q, e[:, None, None]) for e in (e1, e2, light))
    parallel = _bounding_rect(qa, qb, torch.ones_like(below), 1e-4)
    top = qc.amax(-1)
    bound = torch.where(point[..., 0], below.float() - above.float(), top + 1e-4 * (top.abs() + 1))
    return torch.where(point, central, parallel), bound, torch.stack([e1, e2], 1)


def camera_pairs(scene, size: int, offset: float, lookup: torch.Tensor | None = None):
    """(camera ray, object slot) pairs that may meet, for rays through the points of a square
    lattice: column j, row i at (u, v) = (j + offset, i + offset) pixels from the principal
    point (pixel centres: size = W, offset = 0.5 - W / 2; pixel corners: W + 1, -W / 2).

    A ray through (u, v) meets the points that project to (u, v): a slot's box wholly in front
    of the camera projects into its rectangle (`camera_rects`), a box across the camera plane
    anywhere, so each live slot's lattice points in its rectangle are enumerated directly.
    lookup: (B * size^2,) the traced ray of each lattice point (flat b' * R + r), -1 where
    none; None: every point, in order (ray b * size^2 + i * size + j).
    Returns the flat ray indices and the slots k (N,) (int64).
    """
    n_b, n_k = scene.alive.shape
    span = scene.srect.numpy().astype(np.float64) - offset  # (B, K, 4) j0, j1, i0, i1 in lattice steps
    lo = np.clip(np.ceil(span[..., 0::2]), 0, size).astype(np.int64)  # first j, i inside
    hi = np.clip(np.floor(span[..., 1::2]) + 1, lo, size).astype(np.int64)  # one past the last
    width, height = (hi - lo).transpose(2, 0, 1)
    count = np.where((scene.alive & scene.svis).numpy(), width * height, 0).reshape(-1)
    bk = np.repeat(np.arange(n_b * n_k), count)  # each pair's flat slot b * K + k
    rank = np.arange(len(bk)) - np.repeat(np.cumsum(count) - count, count)
    width, (j0, i0) = np.repeat(width.reshape(-1), count), np.repeat(lo.reshape(-1, 2), count, axis=0).T
    row = rank // width
    point = bk // n_k * size**2 + (i0 + row) * size + (j0 + rank - row * width)
    if lookup is None:
        return torch.from_numpy(point), torch.from_numpy(bk % n_k)
    ray = lookup.numpy()[point]
    keep = np.flatnonzero(ray >= 0)
    return torch.from_numpy(ray[keep]), torch.from_numpy(bk[keep] % n_k)


def near_light(scene, p: torch.Tensor, rays: torch.Tensor) -> Cull:
    """Shadow rays from points p (B, R, 3) to the light that may cross a live group (`Cull`),
    of the rays (B, R) bool that need one (the others are NaN in a, so in no rectangle).

    Sun: the rays are parallel, so a box can only shade points whose projection along the sun
    falls in the box's projected rectangle and that lie below the box's top along the sun.
    Point light: central projection from the light maps a whole segment p -> light to one
    point, (p_xz - l_xz) / (l_y - p_y); a box wholly below (above) the light projects into
    the rectangle around its corners and shades only points below (above) the light; boxes
    across the light's height are always tested.
    """
    light, point = scene.light, scene.point[:, None]
    side = light[:, 1, None] - p[..., 1]  # (B, R)
    pz = torch.where(side == 0, 1.0, side)
    central = ((p[..., 0] - light[:, 0, None]) / pz, (p[..., 2] - light[:, 2, None]) / pz, side)
    if bool(scene.point.all()):
        a, b, c = central
    else:
        a, b, c = (dot(p, scene.lbasis[:, None, 0]), dot(p, scene.lbasis[:, None, 1]), dot(p, light[:, None]))
        if bool(scene.point.any()):
            a, b, c = (torch.where(point, x, y) for x, y in zip(central, (a, b, c)))
    a = torch.where(rays, a, math.nan)
    near = _rect_near(a, b, scene.lrect, scene.galive) & _light_side(c[:, None], scene.lbound[..., None], point[..., None])
    return Cull(near, a, b, c, scene.slrect, scene.slbound)


def _light_side(c: torch.Tensor, bound: torch.Tensor, point: torch.Tensor) -> torch.Tensor:
    """Whether points at c (light: height below it; sun: distance along it) can be shaded by
    boxes with `bound` (`light_rects`); c and bound broadcast. point: per scene, or per element
    where a batch mixes point lights and suns."""
    c, bound = c.numpy(), bound.numpy()
    if not bool(point.any()):
        return torch.from_numpy(c <= bound)
    ok = (c * bound > 0) | (bound == 0)  # bound is 1, -1 or 0: c * bound > 0 iff c is on the bound's side
    return torch.from_numpy(ok if bool(point.all()) else np.where(point.numpy(), ok, c <= bound))


def slot_near(scene, cull: Cull, bk: torch.Tensor, ray: torch.Tensor) -> torch.Tensor:
    """(N,) bool: the `Cull` test of single slots bk (flat b * K + k) for shadow rays `ray` (flat b * R + r)."""
    a0, a1, b0, b1 = (x.numpy() for x in cull.rect.flatten(0, 1).index_select(0, bk).unbind(1))
    a, b = cull.a.reshape(-1).index_select(0, ray).numpy(), cull.b.reshape(-1).index_select(0, ray).numpy()
    inside = torch.from_numpy((a >= a0) & (a <= a1) & (b >= b0) & (b <= b1))
    point = scene.point
    if bool(point.any()) and not bool(point.all()):  # mixed lights (open family): each pair's own
        point = point.index_select(0, bk // scene.alive.shape[1])
    bound = cull.bound.flatten().index_select(0, bk)
    return inside & _light_side(cull.c.reshape(-1).index_select(0, ray), bound, point)
