"""A synthetic RGB-D world: scenes drawn from a seed, rendered by batched analytic ray casting.

Conventions
- World frame: y up, the ground is the plane y = 0. The camera sits at (0, h, 0) and
  looks along +z, pitched down by `pitch`; rooms are axis-aligned boxes around it.
- Camera frame (OpenCV): x right, y down, z forward. **Depth is z-depth along the
  optical axis in metres**: the camera-frame z of the surface seen at the pixel centre.
- Intrinsics K = [[f, 0, W/2], [0, f, H/2], [0, 0, 1]] in pixels with
  f = W / (2 tan(fov / 2)); pixel (i, j) covers [j, j+1] x [i, i+1], its centre is
  (u, v) = (j + 0.5, i + 0.5), and `depth * K^-1 (u, v, 1)` is the surface point.
- Sky, and ground farther than `WorldConfig.max_depth`, has no depth: 0 and invalid.

A scene is a JSON-able *scene graph* (`sample_graph`), the single source of truth for
captions and tests; `Scene.from_graphs` stacks graphs into tensors for the renderer.
Rendering uses only correctly rounded float ops (+ - * / sqrt, min, floor) and integer
hashes, elementwise over (scene, ray, object), so a scene renders bit-identically
whatever batch, chunk or thread count it is rendered in. Only (ray, object) pairs that pass
a conservative bounding-sphere test are intersected exactly, which changes no result.
"""
from __future__ import annotations

import gc
import math
import random
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import NamedTuple

import torch

# Surface ids in the rendered id map; objects follow from OBJ0 on.
SKY, FLOOR, WALL_LEFT, WALL_RIGHT, WALL_BACK, CEILING, OBJ0 = range(7)
SHAPES = ("sphere", "box", "cylinder", "cone")
# Unit shapes are the slab {|p|_inf <= 1} intersected with the quadric
# {qx x^2 + qy y^2 + qz z^2 + l y <= k}: (qx, qy, qz, l, k) per shape. The cone,
# x^2 + z^2 <= ((1 - y) / 2)^2, has its apex at y = 1 and its base (radius 1) at y = -1.
_QUADRIC = ([1.0, 1.0, 1.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0, 1.0], [1.0, 0.0, 1.0, 0.0, 1.0],
            [1.0, -0.25, 1.0, 0.5, 0.25])
PATTERNS = ("plain", "checker", "stripes", "speckle", "wood", "brick")

PALETTE = {
    "red": (0.85, 0.15, 0.12), "orange": (0.95, 0.5, 0.1), "yellow": (0.95, 0.85, 0.2),
    "green": (0.2, 0.65, 0.25), "teal": (0.1, 0.6, 0.6), "blue": (0.15, 0.3, 0.85),
    "purple": (0.5, 0.2, 0.7), "pink": (0.95, 0.55, 0.7), "brown": (0.55, 0.33, 0.15),
    "white": (0.92, 0.92, 0.9), "gray": (0.5, 0.5, 0.52), "black": (0.13, 0.13, 0.13),
}
# (name, pattern, colour name or None for any palette colour, colour override, cells per metre)
FLOORS = (("wooden floor", "wood", "brown", (0.72, 0.5, 0.3), 4.0),
          ("tiled floor", "checker", None, None, 1.5),
          ("carpet", "speckle", None, None, 10.0),
          ("stone floor", "brick", "gray", (0.6, 0.58, 0.55), 2.5))
GROUNDS = (("grass", "speckle", "green", (0.3, 0.55, 0.2), 6.0),
           ("sand", "speckle", "yellow", (0.85, 0.75, 0.52), 8.0),
           ("pavement", "brick", "gray", (0.55, 0.55, 0.55), 2.0),
           ("dirt", "speckle", "brown", (0.5, 0.37, 0.25), 5.0))
WALLS = (("plain walls", "plain", None, None, 1.0),
         ("striped wallpaper", "stripes", None, None, 3.0),
         ("brick walls", "brick", "red", (0.66, 0.32, 0.24), 3.0))
SKIES = {"clear": ((0.78, 0.86, 0.95), (0.3, 0.5, 0.85)),
         "overcast": ((0.82, 0.82, 0.84), (0.6, 0.62, 0.66)),
         "sunset": ((0.98, 0.72, 0.48), (0.36, 0.36, 0.6))}
_WALL_COLOURS = ("white", "gray", "yellow", "blue", "green", "pink", "teal")
_OBJECT_PATTERNS = ("plain", "plain", "checker", "stripes", "speckle", "wood")
_CEILING_MATERIAL = {"rgb": [0.9, 0.9, 0.88], "pattern": "plain", "scale": 1.0}
_STACK_PROB = 0.35  # chance that a box carries a smaller object on top
_OBJECT_SCALE = {"checker": 5.0, "stripes": 8.0, "speckle": 12.0, "wood": 10.0, "plain": 1.0}


@dataclass(frozen=True)
class WorldConfig:
    """How scenes are drawn and rendered (lengths in metres, angles in degrees)."""

    res: int = 64
    max_objects: int = 6
    antialias: bool = True  # edge pixels: centre + 4 corner rays (quincunx); depth is always the centre ray
    fov: tuple[float, float] = (45.0, 90.0)
    pitch: tuple[float, float] = (5.0, 30.0)  # downwards
    height: tuple[float, float] = (1.0, 2.2)
    indoor_prob: float = 0.5
    max_depth: float = 80.0
    edge_contrast: float = 0.12  # luminance step between neighbours that gets antialiased
    chunk_rays: int = 1 << 17  # rays per batched tensor op (keeps the tensors in cache)


# --- scene graphs: one seeded Python draw per scene ---------------------------------------

def scene_seed(seed: int, split: str, index: int) -> int:
    """The scene seed of sample `index`: train seeds are even, test seeds odd (never shared)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return ((seed * 2**40 + index) << 1) | (split == "test")


def _material(rng: random.Random, name, pattern, colour, rgb, scale) -> dict:
    colour = colour or rng.choice(tuple(PALETTE))
    return {"name": name, "pattern": pattern, "colour": colour,
            "rgb": list(rgb or PALETTE[colour]), "scale": scale}


def _object_size(rng: random.Random, shape: str) -> list[float]:
    if shape == "sphere":
        return [rng.uniform(0.15, 0.55)] * 3
    if shape in ("cylinder", "cone"):  # (radius range, half-height range)
        radius, half_height = ((0.12, 0.4), (0.2, 0.7)) if shape == "cylinder" else ((0.15, 0.45), (0.25, 0.6))
        r = rng.uniform(*radius)
        return [r, rng.uniform(*half_height), r]
    if rng.random() < 0.4:
        return [rng.uniform(0.15, 0.5)] * 3
    return [rng.uniform(0.12, 0.55), rng.uniform(0.12, 0.5), rng.uniform(0.12, 0.55)]


def _ground_range(cam: dict, room: dict | None) -> tuple[float, float]:
    """Near and far z of the ground strip where object bases are visible."""
    h, half = cam["height"], cam["fov"] / 2
    low, high = math.radians(min(cam["pitch"] + half, 80.0)), math.radians(cam["pitch"] - half)
    z0 = max(h / math.tan(low) + 0.6, 1.2)
    z1 = room["z_back"] - 0.8 if room else 10.0
    if high > 0.02:
        z1 = min(z1, h / math.tan(high) - 0.3)
    return z0, max(z1, z0 + 1.5)


def _new_object(rng: random.Random, shape: str, size: list[float], yaw: float, x: float, y0: float, z: float,
                support: int | None) -> dict:
    """An object of `shape` whose base rests at height y0 (on the ground or on object `support`)."""
    pattern = rng.choice(_OBJECT_PATTERNS)
    wood = pattern == "wood"
    mat = _material(rng, None, pattern, "brown" if wood else None,
                    (0.7, 0.47, 0.27) if wood else None, _OBJECT_SCALE[pattern])
    return {"shape": shape, **{k: mat[k] for k in ("colour", "pattern", "rgb", "scale")},
            "center": [x, y0 + size[1], z], "size": size, "yaw": yaw, "support": support}


def _fit(size: list[float], yaw: float, radius: float) -> list[float]:
    """`size` shrunk (never grown) so that the footprint fits in a circle of `radius`."""
    footprint = math.hypot(size[0], size[2]) if yaw else max(size[0], size[2])
    return [s * min(1.0, radius / footprint) for s in size]


def _place_objects(rng: random.Random, cam: dict, room: dict | None, n: int, most: int) -> list[dict]:
    """n objects resting on the ground in distinct cells of a 3 x 3 grid over the visible floor,
    then, while fewer than `most`, a small object on top of some of the boxes (`support`)."""
    z0, z1 = _ground_range(cam, room)
    spread = 0.8 * math.tan(math.radians(cam["fov"] / 2))
    objects = []
    for cell in rng.sample(range(9), n):
        row, col = divmod(cell, 3)
        z = z0 + (row + rng.uniform(0.3, 0.7)) / 3 * (z1 - z0)
        x_lo, x_hi = -z * spread, z * spread
        if room:
            x_lo, x_hi = max(x_lo, room["x_left"] + 0.7), min(x_hi, room["x_right"] - 0.7)
        x = x_lo + (col + rng.uniform(0.3, 0.7)) / 3 * (x_hi - x_lo)
        shape = rng.choice(SHAPES)
        yaw = rng.uniform(0, 90) if shape == "box" and rng.random() < 0.5 else 0.0
        size = _fit(_object_size(rng, shape), yaw, 0.42 * min((x_hi - x_lo) / 3, (z1 - z0) / 3))
        objects.append(_new_object(rng, shape, size, yaw, x, 0.0, z, None))
    for k, base in enumerate(list(objects)):
        if base["shape"] != "box" or len(objects) >= most or rng.random() >= _STACK_PROB:
            continue
        shape = rng.choice(SHAPES)
        yaw = base["yaw"] if shape == "box" else 0.0
        size = _fit(_object_size(rng, shape), yaw, 0.8 * min(base["size"][0], base["size"][2]))
        top = base["center"][1] + base["size"][1]
        objects.append(_new_object(rng, shape, size, yaw, base["center"][0], top, base["center"][2], k))
    return objects


def sample_graph(seed: int, cfg: WorldConfig = WorldConfig()) -> dict:
    """Draw one scene graph from `seed` (JSON-able; angles in degrees, lengths in metres)."""
    rng = random.Random(seed)
    indoor = rng.random() < cfg.indoor_prob
    cam = {"fov": rng.uniform(*cfg.fov), "pitch": rng.uniform(*cfg.pitch),
           "height": rng.uniform(*cfg.height) * (1.0 if indoor else 1.3)}
    room = None
    if indoor:
        width, offset = rng.uniform(4.0, 8.0), rng.uniform(0.35, 0.65)
        room = {"x_left": -width * offset, "x_right": width * (1 - offset),
                "z_back": rng.uniform(6.0, 11.0), "height": rng.uniform(2.6, 3.5),
                "ceiling": rng.random() < 0.5}
    floor = _material(rng, *rng.choice(FLOORS if indoor else GROUNDS))
    walls = _material(rng, *rng.choice(WALLS))
    if walls["pattern"] != "brick":
        walls["colour"] = rng.choice(_WALL_COLOURS)
        walls["rgb"] = list(PALETTE[walls["colour"]])
    sky = rng.choice(tuple(SKIES))
    if indoor:
        light = {"type": "point", "position": [rng.uniform(room["x_left"] + 0.5, room["x_right"] - 0.5),
                                               room["height"] - 0.3, rng.uniform(0.5, 0.6 * room["z_back"])]}
    else:
        elev, azim = math.radians(rng.uniform(25, 65)), math.radians(rng.uniform(-150, 150))
        light = {"type": "sun", "direction": [math.cos(elev) * math.sin(azim), math.sin(elev),
                                              -math.cos(elev) * math.cos(azim)]}
    objects = _place_objects(rng, cam, room, rng.randint(1, cfg.max_objects), cfg.max_objects)
    return {"seed": seed, "indoor": indoor, "camera": cam, "room": room, "floor": floor,
            "walls": walls, "sky": sky, "light": light, "ambient": rng.uniform(0.25, 0.45),
            "fog": 0.0 if indoor or rng.random() < 0.5 else rng.uniform(0.005, 0.03),
            "objects": objects}


# --- tensors --------------------------------------------------------------------------------

@dataclass
class Scene:
    """A batch of B scenes with K object slots, as tensors (float32 unless noted).

    cam: (B, 3, 3) rows = camera right, down, forward in world; origin: (B, 3);
    focal: (B,) pixels; room: (B, 4) x_left, x_right, z_back, wall top (inf outdoors);
    ceiling: (B,) bool; light: (B, 3) point position or sun direction; point: (B,) bool;
    ambient, fog: (B,); sky: (B, 2, 3) horizon, zenith; fog_rgb: (B, 3);
    center, size (half extents): (B, K, 3); quadric: (B, K, 5) (`_QUADRIC` of the shape);
    rot: (B, K, 2) cos, sin of yaw; alive: (B, K) bool;
    rgb: (B, S, 3), pattern: (B, S) long, scale: (B, S) per surface id (S = OBJ0 + K).
    """

    cam: torch.Tensor
    origin: torch.Tensor
    focal: torch.Tensor
    room: torch.Tensor
    ceiling: torch.Tensor
    light: torch.Tensor
    point: torch.Tensor
    ambient: torch.Tensor
    fog: torch.Tensor
    sky: torch.Tensor
    fog_rgb: torch.Tensor
    center: torch.Tensor
    size: torch.Tensor
    quadric: torch.Tensor
    rot: torch.Tensor
    alive: torch.Tensor
    rgb: torch.Tensor
    pattern: torch.Tensor
    scale: torch.Tensor

    def index(self, idx: torch.Tensor) -> "Scene":
        """The scenes at the indices `idx` (long tensor)."""
        return Scene(**{f.name: getattr(self, f.name).index_select(0, idx) for f in fields(self)})

    def slots(self, k: int) -> "Scene":
        """The same scenes with object slots cut to the first `k` (alive slots come first)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out.update({n: out[n][:, :k] for n in ("center", "size", "quadric", "rot", "alive")})
        out.update({n: out[n][:, :OBJ0 + k] for n in ("rgb", "pattern", "scale")})
        return Scene(**out)

    @staticmethod
    def from_graphs(graphs: list[dict], res: int) -> "Scene":
        k = max(1, max(len(g["objects"]) for g in graphs))
        rows = [_scene_row(g, res, k) for g in graphs]
        return Scene(**{n: torch.tensor([r[n] for r in rows]) for n in rows[0]})


def camera_basis(pitch_deg: float) -> list[list[float]]:
    """Rows: camera right, down, forward in world coordinates for a camera pitched down."""
    p = math.radians(pitch_deg)
    return [[1.0, 0.0, 0.0], [0.0, -math.cos(p), -math.sin(p)], [0.0, -math.sin(p), math.cos(p)]]


def intrinsics(fov_deg: float, res: int) -> torch.Tensor:
    """(3, 3) pinhole intrinsics in pixels for a square `res` image (see module docstring)."""
    f = res / (2 * math.tan(math.radians(fov_deg) / 2))
    return torch.tensor([[f, 0.0, res / 2], [0.0, f, res / 2], [0.0, 0.0, 1.0]])


def _scene_row(g: dict, res: int, k: int) -> dict:
    """One scene's fields as nested Python lists (`Scene.from_graphs` makes one tensor per field)."""
    inf, room, objs = math.inf, g["room"], g["objects"]
    pad = k - len(objs)
    # one material per surface id: SKY (unused), FLOOR, three walls, CEILING, objects
    surfaces = [g["floor"], g["floor"], *[g["walls"]] * 3, _CEILING_MATERIAL, *objs]
    surfaces += [surfaces[-1]] * pad
    horizon, zenith = SKIES[g["sky"]]
    shapes = [SHAPES.index(o["shape"]) for o in objs] + [0] * pad
    return {
        "cam": camera_basis(g["camera"]["pitch"]),
        "origin": [0.0, g["camera"]["height"], 0.0],
        "focal": res / (2 * math.tan(math.radians(g["camera"]["fov"]) / 2)),
        "room": [room["x_left"], room["x_right"], room["z_back"], room["height"]] if room else [-inf, inf, inf, inf],
        "ceiling": bool(room and room["ceiling"]),
        "light": g["light"].get("position") or g["light"]["direction"],
        "point": g["light"]["type"] == "point",
        "ambient": g["ambient"], "fog": g["fog"],
        "sky": [horizon, zenith],
        "fog_rgb": horizon if not g["indoor"] else (0.7, 0.7, 0.7),
        "center": [o["center"] for o in objs] + [[0.0, -1e3, 0.0]] * pad,
        "size": [o["size"] for o in objs] + [[1.0] * 3] * pad,
        "quadric": [_QUADRIC[i] for i in shapes],
        "rot": [[math.cos(math.radians(o["yaw"])), math.sin(math.radians(o["yaw"]))] for o in objs] + [[1.0, 0.0]] * pad,
        "alive": [True] * len(objs) + [False] * pad,
        "rgb": [s["rgb"] for s in surfaces],
        "pattern": [PATTERNS.index(s["pattern"]) for s in surfaces],
        "scale": [float(s["scale"]) for s in surfaces],
    }


# --- ray casting ----------------------------------------------------------------------------

def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Dot product over the last axis of size 3, written out (a fixed, batch-independent order)."""
    return a[..., 0] * b[..., 0] + a[..., 1] * b[..., 1] + a[..., 2] * b[..., 2]


def _normalize(v: torch.Tensor) -> torch.Tensor:
    return v / torch.sqrt(_dot(v, v)).unsqueeze(-1)


def _near(scene: Scene, o: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """(B, K, R) bool: rays o + t d (t > 0, unit d) that pass through a live slot's bounding sphere.

    The sphere is inflated (5 % + 5 cm) far beyond float rounding, so this is a superset of the
    pairs that `_hit_objects` can hit, and skipping the other pairs changes no result.
    One (B, R) pass per slot: every op then runs along the ray axis.
    """
    radius = torch.sqrt(_dot(scene.size, scene.size)) * 1.05 + 0.05
    ox, oy, oz = o.unbind(-1)
    dx, dy, dz = (c.contiguous() for c in d.unbind(-1))
    near = []
    for k in range(scene.center.shape[1]):
        cx, cy, cz = scene.center[:, k, None].unbind(-1)
        rx, ry, rz = cx - ox, cy - oy, cz - oz
        along = rx * dx + ry * dy + rz * dz
        gap = (rx * rx + ry * ry + rz * rz) - along * along
        r = radius[:, k, None]
        near.append((gap <= r * r) & (along >= -r) & scene.alive[:, k, None])
    return torch.stack(near, dim=1)


class Slots(NamedTuple):
    """Fields of N (ray, object slot) pairs, one (N,) tensor each (`_slot_rows`)."""

    cx: torch.Tensor
    cy: torch.Tensor
    cz: torch.Tensor
    sx: torch.Tensor
    sy: torch.Tensor
    sz: torch.Tensor
    qx: torch.Tensor
    qy: torch.Tensor
    qz: torch.Tensor
    l: torch.Tensor  # noqa: E741  (the quadric's linear coefficient in y)
    k: torch.Tensor
    cos: torch.Tensor
    sin: torch.Tensor


def _slot_rows(scene: Scene, bk: torch.Tensor) -> Slots:
    """The object slots bk (N,) (flat index b * K + k): centre, half extents, quadric, yaw."""
    fields = (scene.center, scene.size, scene.quadric, scene.rot)
    return Slots(*(c for f in fields for c in f.flatten(0, 1).index_select(0, bk).unbind(1)))


def _rows(x: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Vectors x (..., 3) at flat indices idx (N,) of the leading dims: 3 (N,) components."""
    return x.reshape(-1, 3).index_select(0, idx).unbind(1)


def _to_local(x, y, z, slot: Slots) -> tuple[torch.Tensor, ...]:
    """Vector components (N,) in the unit frames of their object slots: yaw, then per-axis scale."""
    return (slot.cos * x - slot.sin * z) / slot.sx, y / slot.sy, (slot.sin * x + slot.cos * z) / slot.sz


def _quadric(slot: Slots, x, y, z) -> torch.Tensor:
    """Q(p) of the slots' quadrics at unit-frame points: <= 0 inside (`_QUADRIC`)."""
    return slot.qx * x * x + slot.qy * y * y + slot.qz * z * z + slot.l * y - slot.k


def _enter(o, d, slot: Slots) -> torch.Tensor:
    """Entry t (N,) of rays o, d (3 x (N,)) into their object slots, inf on a miss.

    Each object is a unit shape after an affine map (yaw, then per-axis scale): the
    intersection of the slab |p|_inf <= 1 and the quadric Q(p) <= 0 (`_QUADRIC`); the hit
    is where the ray enters both. Along the ray Q = a (t - tc)^2 + Q(h), h the point at
    tc, evaluated there (closest approach first: stable for small, far objects). a > 0
    (spheres, cylinders, shallow rays into cones): inside between the roots; a < 0
    (steep rays into a cone): inside outside the roots, and the slab keeps the lower
    nappe (the root on the side the ray comes from when rising); a ~ 0 (boxes, rays along
    a cylinder's axis or a cone's side): Q is linear or constant along the ray.
    """
    ox, oy, oz = _to_local(o[0] - slot.cx, o[1] - slot.cy, o[2] - slot.cz, slot)
    dx, dy, dz = _to_local(*d, slot)
    a = slot.qx * dx * dx + slot.qy * dy * dy + slot.qz * dz * dz
    b = slot.qx * ox * dx + slot.qy * oy * dy + slot.qz * oz * dz + 0.5 * slot.l * dy  # Q = a t^2 + 2 b t + Q(o)
    flat = a.abs() < 1e-12
    a = torch.where(flat, 1.0, a)
    tc = -b / a
    qh = _quadric(slot, ox + tc * dx, oy + tc * dy, oz + tc * dz)
    half = torch.sqrt(torch.clamp(-qh / a, min=0))
    inf = torch.full_like(a, math.inf)
    whole = (a < 0) & (qh <= 0)  # a line through a cone's apex: inside throughout
    enter = torch.where(a > 0, torch.where(qh <= 0, tc - half, inf), torch.where(whole | (dy > 0), -inf, tc + half))
    leave = torch.where(a > 0, tc + half, torch.where(whole | (dy <= 0), inf, tc - half))
    q0 = _quadric(slot, ox, oy, oz)  # flat: Q = Q(o) + 2 b t
    root = -q0 / torch.where(b == 0, 1.0, 2 * b)
    enter = torch.where(flat, torch.where(b > 0, -inf, torch.where(b < 0, root, torch.where(q0 <= 0, -inf, inf))), enter)
    leave = torch.where(flat, torch.where(b > 0, root, inf), leave)
    for oj, dj in ((ox, dx), (oy, dy), (oz, dz)):
        dj = torch.where(dj.abs() < 1e-12, 1e-12, dj)
        t1, t2 = (-1 - oj) / dj, (1 - oj) / dj
        enter, leave = torch.maximum(enter, torch.minimum(t1, t2)), torch.minimum(leave, torch.maximum(t1, t2))
    return torch.where(enter <= leave, enter, math.inf)


def _hit_objects(scene: Scene, o: torch.Tensor, d: torch.Tensor, near: torch.Tensor, t_max=math.inf):
    """Nearest object along rays o + t d (o: (B, 1 or R, 3), d: (B, R, 3) unit, t > 0).

    Only the (slot, ray) pairs in `near` (B, K, R) (`_near`) are intersected exactly
    (`_enter`); t_max is a float or (B, R).
    Returns t (B, R), inf on a miss or beyond t_max, and the object slot (B, R).
    """
    n_b, n_k, n_r = near.shape
    pair = near.flatten().nonzero().squeeze(1)  # flat (b, k, r)
    b = pair // (n_k * n_r)
    ray = b * n_r + pair % n_r
    enter = _enter(_rows(o, b if o.shape[1] == 1 else ray), _rows(d, ray), _slot_rows(scene, pair // n_r))
    limit = t_max if isinstance(t_max, float) else t_max.reshape(-1).index_select(0, ray)
    t = torch.full((near.numel(),), math.inf)
    t.index_copy_(0, pair, torch.where((enter > 1e-4) & (enter < limit), enter, math.inf))
    return t.view(near.shape).min(dim=1)


def _hit_planes(scene: Scene, o: torch.Tensor, d: torch.Tensor):
    """Nearest of floor, walls and ceiling from inside the room (o: (B, 1, 3)): t, surface id."""
    x0, x1, z1, top = (scene.room[:, None, i] for i in range(4))
    dx, dy, dz = d[..., 0], d[..., 1], d[..., 2]
    oy = o[..., 1]
    inf = torch.full_like(dx, math.inf)
    floor = torch.where(dy < 0, -oy / dy, inf)
    ceiling = torch.where((dy > 0) & scene.ceiling[:, None], (top - oy) / dy, inf)
    walls = [torch.where(dx < 0, x0 / dx, inf), torch.where(dx > 0, x1 / dx, inf), torch.where(dz > 0, z1 / dz, inf)]
    walls = [torch.where(oy + t * dy <= top, t, inf) for t in walls]
    t, i = torch.stack([floor, *walls, ceiling], dim=-1).min(dim=-1)
    return t, i + FLOOR


def _trace(scene: Scene, uv: torch.Tensor, max_depth: float):
    """Camera rays through image points uv (B, R, 2) (pixels from the principal point): unit
    directions d (B, R, 3), hit t (B, R), surface id (B, R) and z-depth (B, R). Nothing hit, or
    ground beyond max_depth, is SKY with t = inf."""
    d, zdir = _rays(scene, uv)
    o = scene.origin[:, None]
    t_obj, slot = _hit_objects(scene, o, d, _near(scene, o, d))
    t_pln, sid = _hit_planes(scene, o, d)
    obj = t_obj < t_pln
    t = torch.where(obj, t_obj, t_pln)
    sid = torch.where(obj, slot + OBJ0, sid)
    depth = t * zdir
    sid = torch.where(torch.isinf(t) | ((depth > max_depth) & (sid < OBJ0)), SKY, sid)
    return d, torch.where(sid == SKY, math.inf, t), sid, depth


# --- shading --------------------------------------------------------------------------------

def _gather(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """x (B, S, ...) at per-ray indices idx (B, R) -> (B, R, ...)."""
    flat = idx.reshape(idx.shape[0], -1, *([1] * (x.dim() - 2))).expand(-1, -1, *x.shape[2:])
    return torch.gather(x, 1, flat)


def _hash(i: torch.Tensor, j: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Uniform [0, 1) per integer lattice cell, from a 32-bit integer hash (exact, portable)."""
    m = 0xFFFFFFFF
    h = ((i * 73856093) ^ (j * 19349663) ^ (k * 83492791)) & m
    h = ((h ^ (h >> 16)) * 0x7FEB352D) & m
    h = ((h ^ (h >> 15)) * 0x68E31DA4) & m
    return (h ^ (h >> 16)).float() / 2**32


def _checker(u, v, w):
    return 0.45 + 0.55 * ((torch.floor(u).long() + torch.floor(v).long() + torch.floor(w).long()) & 1).float()


def _stripes(u, v, w):
    return 0.5 + 0.5 * (torch.floor(v).long() & 1).float()


def _speckle(u, v, w):
    return 0.55 + 0.45 * _hash(torch.floor(u).long(), torch.floor(v).long(), torch.floor(w).long())


def _wood(u, v, w):
    ring = torch.sqrt(u * u + w * w) + 0.3 * _hash(torch.floor(u * 0.25).long(), torch.floor(v).long(),
                                                     torch.floor(w).long())
    return 0.6 + 0.4 * (ring - torch.floor(ring))


def _brick(u, v, w):
    row = torch.floor(v * 2)
    shifted = u + w + 0.5 * (row.long() & 1).float()
    mortar = ((v * 2 - row) < 0.1) | ((shifted - torch.floor(shifted)) < 0.06)
    return torch.where(mortar, 0.35, 0.8 + 0.2 * _hash(torch.floor(shifted).long(), row.long(),
                                                       torch.floor(w).long()))


# Texture value in [0, 1] (1 = full colour) of each pattern but "plain", on coordinates in cells.
_TEXTURES = {"checker": _checker, "stripes": _stripes, "speckle": _speckle, "wood": _wood, "brick": _brick}
_TEXTURE_MEAN = (1.0, 0.725, 0.75, 0.775, 0.8, 0.8)  # per pattern in PATTERNS order


def _patterns(u, v, w, pattern, footprint):
    """Texture value in [0, 1] (1 = full colour) for texture coordinates in cells, (B, R).

    Each pattern is evaluated only at the rays that show it.
    """
    value = torch.ones(u.numel())
    u, v, w, pattern = u.reshape(-1), v.reshape(-1), w.reshape(-1), pattern.reshape(-1)
    for i, name in enumerate(PATTERNS[1:], 1):
        at = (pattern == i).nonzero().squeeze(1)
        value.index_copy_(0, at, _TEXTURES[name](u.index_select(0, at), v.index_select(0, at), w.index_select(0, at)))
    value = value.view(footprint.shape)
    mean = torch.tensor(_TEXTURE_MEAN).index_select(0, pattern).view(footprint.shape)
    # Fade the pattern to its mean once a pixel covers more than ~1/4 cell (no aliasing far away).
    fade = torch.clamp((0.75 - footprint) * 2, 0, 1)
    return mean + (value - mean) * fade


_PLANE_NORMALS = torch.tensor([[0.0, 1, 0], [0, 1, 0], [1, 0, 0], [-1, 0, 0], [0, 0, -1], [0, -1, 0]])


def _surface(scene: Scene, sid: torch.Tensor, p: torch.Tensor):
    """Outward unit normals (B, R, 3) and texture coordinates 3 x (B, R) in metres at hits p (B, R, 3).

    Planes have fixed normals and world axes; object hits are handled by `_object_surface`.
    """
    x, y, z = p.unbind(-1)
    flat = (sid == FLOOR) | (sid == CEILING)
    side = (sid == WALL_LEFT) | (sid == WALL_RIGHT)
    u, v, w = torch.where(side, z, x), torch.where(flat, z, y), torch.zeros(sid.shape)
    n = _PLANE_NORMALS.index_select(0, torch.clamp(sid, max=CEILING).reshape(-1))
    ray = (sid >= OBJ0).reshape(-1).nonzero().squeeze(1)
    slot = ray // sid.shape[1] * scene.center.shape[1] + sid.reshape(-1).index_select(0, ray) - OBJ0
    normal, coords = _object_surface(_rows(p, ray), _slot_rows(scene, slot))
    n.index_copy_(0, ray, normal)
    for dst, src in zip((u, v, w), coords):
        dst.view(-1).index_copy_(0, ray, src)
    return n.view(*sid.shape, 3), (u, v, w)


def _object_surface(p, slot: Slots):
    """Points p (3 x (N,)) on their object slots: unit normals (N, 3), texture coordinates 3 x (N,).

    The normal is the gradient of the active constraint (quadric or slab); texture
    coordinates are metres along the object's own axes.
    """
    lx, ly, lz = _to_local(p[0] - slot.cx, p[1] - slot.cy, p[2] - slot.cz, slot)
    ax, ay, az = lx.abs(), ly.abs(), lz.abs()
    box = torch.maximum(torch.maximum(ax, ay), az)
    curved = _quadric(slot, lx, ly, lz) >= -1e-3
    grad = (slot.qx * lx, slot.qy * ly + 0.5 * slot.l, slot.qz * lz)
    nx, ny, nz = (torch.where(curved, g, torch.where(a >= box, c.sign(), 0.0)) / size
                  for g, c, a, size in zip(grad, (lx, ly, lz), (ax, ay, az), (slot.sx, slot.sy, slot.sz)))
    cs, sn = slot.cos, slot.sin
    normal = _normalize(torch.stack([cs * nx + sn * nz, ny, cs * nz - sn * nx], dim=-1))
    return normal, (lx * slot.sx, ly * slot.sy, lz * slot.sz)


def _shade(scene: Scene, d, t, sid):
    """Colour (B, R, 3) of camera rays (`_trace`) that hit surface `sid` at distance t."""
    o, focal = scene.origin[:, None], scene.focal
    sky_t = torch.isinf(t)
    t = torch.where(sky_t, 1.0, t)
    p = o + t[..., None] * d
    n, (u, v, w) = _surface(scene, sid, p)
    scale = _gather(scene.scale, sid)
    cos = torch.clamp(-_dot(n, d), min=0.15)
    tex = _patterns(u * scale, v * scale, w * scale, _gather(scene.pattern, sid), t * scale / (focal[:, None] * cos))
    albedo = _gather(scene.rgb, sid) * tex[..., None]
    point = scene.point[:, None, None]
    to_light = torch.where(point, scene.light[:, None] - p, scene.light[:, None].expand_as(p))
    dist = torch.where(scene.point[:, None], torch.sqrt(_dot(to_light, to_light)), math.inf)
    light = _normalize(to_light)
    lambert = torch.clamp(_dot(n, light), min=0)
    # Only surfaces that face the light can be shadowed (lit is 0 for the others either way).
    facing = (lambert != 0) & ~sky_t
    start = p + 1e-3 * n
    shadow, _ = _hit_objects(scene, start, light, _near(scene, start, light) & facing[:, None], dist)
    lit = torch.where(torch.isinf(shadow), lambert, 0.0)
    ambient = scene.ambient[:, None]
    colour = albedo * (ambient + (1 - ambient) * lit)[..., None]
    vis = 1 / (1 + scene.fog[:, None] * t) ** 2
    colour = colour * vis[..., None] + scene.fog_rgb[:, None] * (1 - vis)[..., None]
    elev = torch.clamp(d[..., 1], 0, 1)
    sky = scene.sky[:, None, 0] + (scene.sky[:, None, 1] - scene.sky[:, None, 0]) * torch.sqrt(elev)[..., None]
    return torch.clamp(torch.where(sky_t[..., None], sky, colour), 0, 1)


# --- rendering ------------------------------------------------------------------------------

def _rays(scene: Scene, uv: torch.Tensor):
    """Unit world directions (B, R, 3) and their camera-frame z (B, R).

    uv: (B, R, 2) image coordinates relative to the principal point, in pixels.
    """
    x = uv[..., 0] / scene.focal[:, None]
    y = uv[..., 1] / scene.focal[:, None]
    norm = torch.sqrt(x * x + y * y + 1)
    right, down, forward = scene.cam[:, None, 0], scene.cam[:, None, 1], scene.cam[:, None, 2]
    d = [(x * right[:, :, i] + y * down[:, :, i] + forward[:, :, i]) / norm for i in range(3)]
    return torch.stack(d, dim=-1), 1 / norm


def _render_chunk(scene: Scene, res: int, cfg: WorldConfig) -> dict:
    b = scene.origin.shape[0]
    ij = torch.arange(res, dtype=torch.float32) + 0.5 - res / 2
    uv = torch.stack(torch.meshgrid(ij, ij, indexing="xy"), dim=-1).reshape(1, -1, 2).expand(b, -1, -1)
    d, t, sid, depth = _trace(scene, uv, cfg.max_depth)
    rgb = _antialias(scene, sid, _shade(scene, d, t, sid), res, cfg)
    valid = sid != SKY
    shape = (b, res, res)
    return {"image": rgb.reshape(*shape, 3).permute(0, 3, 1, 2),
            "depth": torch.where(valid, depth, 0.0).reshape(b, 1, res, res),
            "valid": valid.reshape(b, 1, res, res), "ids": sid.reshape(b, 1, res, res).to(torch.uint8)}


def _edges(sid: torch.Tensor, rgb: torch.Tensor, res: int, contrast: float) -> torch.Tensor:
    """Pixels (B, H, W) whose surface differs from a 4-neighbour, or whose luminance jumps."""
    sid = sid.reshape(-1, res, res)
    lum = (rgb[..., 0] + rgb[..., 1] + rgb[..., 2]).reshape(-1, res, res) / 3
    steps = ((sid[:, :, 1:] != sid[:, :, :-1], sid[:, 1:] != sid[:, :-1]),
             ((lum[:, :, 1:] - lum[:, :, :-1]).abs() > contrast, (lum[:, 1:] - lum[:, :-1]).abs() > contrast))
    edge = torch.zeros_like(sid, dtype=torch.bool)
    for dh, dv in steps:  # mark both pixels of every horizontal and vertical step
        edge[:, :, 1:] |= dh
        edge[:, :, :-1] |= dh
        edge[:, 1:] |= dv
        edge[:, :-1] |= dv
    return edge


def _pack(mask: torch.Tensor, group: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The True entries of mask (B, P), `group` to a row: each scene's run padded to a multiple
    of `group` with its own first entry. Returns the flat indices b * P + p (R * group,) and
    the scene of each row (R,)."""
    flat = mask.reshape(-1).nonzero().squeeze(1)
    count = mask.sum(1)
    start, padded = torch.cumsum(count, 0) - count, (count + group - 1) // group * group
    scene = torch.repeat_interleave(torch.arange(mask.shape[0]), padded)
    out = flat.index_select(0, start.index_select(0, scene))  # padding: the scene's first entry
    of = flat // mask.shape[1]
    rank = torch.arange(flat.numel()) - start.index_select(0, of)
    out.index_copy_(0, (torch.cumsum(padded, 0) - padded).index_select(0, of) + rank, flat)
    return out, scene[::group]


def _antialias(scene, sid, rgb, res, cfg, group: int = 8):
    """Quincunx antialiasing: edge pixels become 1/2 centre + 1/8 of each of their 4 corner rays.

    Corners are shared by neighbouring pixels, so an edge pixel costs ~1.6 new rays instead
    of the 4 of a 2 x 2 supersample. The corner rays of a scene are traced `group` to a row
    (one scene row per group; padded with the scene's first corner), so that the per-row
    scene fields are shared by several rays.
    """
    if not cfg.antialias:
        return rgb
    edge = _edges(sid, rgb, res, cfg.edge_contrast)
    if not edge.any():
        return rgb
    b, side = edge.shape[0], res + 1
    corner = torch.zeros(b, side, side, dtype=torch.bool)
    for di in (0, 1):
        for dj in (0, 1):
            corner[:, di:di + res, dj:dj + res] |= edge
    slots, rows = _pack(corner.reshape(b, -1), group)
    part = scene.index(rows)
    at = torch.arange(side, dtype=torch.float32) - res / 2
    q = slots % side**2
    xy = torch.stack([at.index_select(0, q % side), at.index_select(0, q // side)], -1).view(-1, group, 2)
    d, t, s, _ = _trace(part, xy, cfg.max_depth)
    colour = torch.zeros(b * side**2, 3).index_copy_(0, slots, _shade(part, d, t, s).view(-1, 3))
    pixel = edge.reshape(-1).nonzero().squeeze(1)  # flat (b, i, j) -> corners (b, i + di, j + dj)
    top_left = pixel // res**2 * side**2 + pixel % res**2 // res * side + pixel % res
    corners = [colour.index_select(0, top_left + off) for off in (0, 1, side, side + 1)]
    centre = rgb.reshape(-1, 3).index_select(0, pixel)
    mixed = 0.5 * centre + 0.125 * (((corners[0] + corners[1]) + corners[2]) + corners[3])
    return rgb.reshape(-1, 3).index_copy(0, pixel, mixed).view(rgb.shape)


def render(scene: Scene, cfg: WorldConfig = WorldConfig()) -> dict:
    """Render a batch of scenes at cfg.res.

    Returns image (B, 3, H, W) in [0, 1], depth (B, 1, H, W) z-depth in metres (0 where
    invalid), valid (B, 1, H, W) bool, ids (B, 1, H, W) uint8 surface ids (SKY, FLOOR, ...,
    OBJ0 + slot). Scenes are rendered in chunks of about `cfg.chunk_rays` rays, grouped
    by object count so that no chunk pays for empty object slots.
    """
    count = scene.alive.sum(1)
    order = torch.argsort(count, stable=True)
    parts, chunk = [], max(1, cfg.chunk_rays // cfg.res**2)
    for start in range(0, len(order), chunk):
        idx = order[start:start + chunk]
        k = max(1, int(count[idx].max()))
        parts.append(_render_chunk(scene.index(idx).slots(k), cfg.res, cfg))
    inverse = torch.argsort(order)
    return {key: torch.cat([part[key] for part in parts])[inverse] for key in parts[0]}


def describe(graphs: list[dict], ids: torch.Tensor, res: int) -> list[dict]:
    """Add what the render shows to each object of each graph (in place; returns graphs).

    ids: (B, 1, H, W) surface ids from `render`. Per object: `index` (slot), `pixels`,
    `visible` (>= 0.3 % of the image), `centroid` [u, v] and `columns` [u_min, u_max] of
    its visible pixels (pixel-centre coordinates), `depth` (camera-frame z of its centre).
    """
    b, n_ids = ids.shape[0], OBJ0 + max([len(g["objects"]) for g in graphs] + [0])
    cell = (ids.reshape(b, -1).long() + n_ids * torch.arange(b)[:, None]).flatten()  # (scene, surface) per pixel
    u = (torch.arange(res * res, dtype=torch.float64) % res + 0.5).repeat(b)
    v = (torch.arange(res * res, dtype=torch.float64) // res + 0.5).repeat(b)
    size = b * n_ids
    count = torch.bincount(cell, minlength=size)
    su, sv = torch.bincount(cell, u, minlength=size), torch.bincount(cell, v, minlength=size)
    lo = torch.full((size,), math.inf, dtype=torch.float64).scatter_reduce(0, cell, u, "amin")
    hi = torch.full((size,), -math.inf, dtype=torch.float64).scatter_reduce(0, cell, u, "amax")
    stats = torch.stack([count.double(), su, sv, lo, hi], 1).reshape(b, n_ids, 5).tolist()
    for g, row in zip(graphs, stats):
        forward = camera_basis(g["camera"]["pitch"])[2]
        for k, obj in enumerate(g["objects"]):
            n, su_k, sv_k, lo_k, hi_k = row[OBJ0 + k]
            n = int(n)
            rel = [obj["center"][0], obj["center"][1] - g["camera"]["height"], obj["center"][2]]
            obj.update(index=k, pixels=n, visible=n >= max(3, 0.003 * res * res),
                       centroid=[su_k / n, sv_k / n] if n else None, columns=[lo_k, hi_k] if n else None,
                       depth=sum(f * r for f, r in zip(forward, rel)))
    return graphs


def render_scenes(seeds, cfg: WorldConfig = WorldConfig()) -> dict:
    """Draw, render, describe and caption one scene per seed: the synthetic world's entry point.

    Returns image (B, 3, H, W) in [0, 1], depth (B, 1, H, W) z-depth metres (0 = invalid),
    valid (B, 1, H, W), ids (B, 1, H, W) uint8, intrinsics (B, 3, 3), caption: list[str],
    graph: list[dict] (JSON-able scene graphs with visibility and stated relations).
    """
    from mofo.data.captions import caption

    with _paused_gc():
        graphs = [sample_graph(int(s), cfg) for s in seeds]
        out = render(Scene.from_graphs(graphs, cfg.res), cfg)
        describe(graphs, out["ids"], cfg.res)
        captions = []
        for g in graphs:
            text, relations = caption(g, cfg.res)
            g["relations"] = relations
            captions.append(text)
    out["intrinsics"] = torch.stack([intrinsics(g["camera"]["fov"], cfg.res) for g in graphs])
    return {**out, "caption": captions, "graph": graphs}


@contextmanager
def _paused_gc():
    """Pause Python's cyclic garbage collector. Scene graphs are trees (no reference cycles), and
    the collections their many small dicts trigger cost as much as drawing them (measured ~2x)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
