"""A synthetic RGB-D world: scenes drawn from a seed, rendered by batched analytic ray casting.

Conventions
- World frame: y up, the ground is the plane y = 0. The camera sits at (x, h, 0) and
  looks along +z, pitched down by `pitch`, rolled by `roll`, turned by `yaw` (the open
  family: x = yaw = roll = 0); rooms are axis-aligned boxes around it.
- Camera frame (OpenCV): x right, y down, z forward. **Depth is z-depth along the
  optical axis in metres**: the camera-frame z of the surface seen at the pixel centre.
- Intrinsics K = [[fx, 0, W/2], [0, fy, H/2], [0, 0, 1]] in pixels with
  fx = W / (2 tan(fov / 2)), fy = H / (2 tan(vfov / 2)) (fy = fx unless a scene squeezes a
  wider sensor frame into the square); pixel (i, j) covers [j, j+1] x [i, i+1], its centre
  is (u, v) = (j + 0.5, i + 0.5), and `depth * K^-1 (u, v, 1)` is the surface point.
- Sky, and planes farther than `WorldConfig.max_depth`, have no depth: 0 and invalid.

Families (`WorldConfig.family`): "open" (primitives on a floor or ground), "room" and
"street" (`mofo/data/scenes.py`), "closeup" (a room seen from near its furniture, rendered as a
room), or "mix" (weights in `WorldConfig.mix`; `world_config` reads "NAME=W,..." specs). A scene is a JSON-able *scene graph*
(`sample_graph`), the single source of truth for captions and tests; `Scene.from_graphs`
stacks graphs into tensors for the renderer. Rendering uses only correctly rounded float
ops (+ - * / sqrt, min, floor) and integer hashes, elementwise over (scene, ray, object), so
a scene renders bit-identically whatever batch, chunk, thread count or CPU it is rendered on
(`culling.sqrt`: torch's own float32 sqrt is not correctly rounded on AVX-512).
Only (ray, object) pairs that pass the conservative tests of `mofo/data/culling.py` are
intersected exactly, which changes no result.
"""
from __future__ import annotations

import gc
import math
import random
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np
import torch

from mofo.data.culling import (Cull, camera_pairs, camera_rects, dot, isfinite, isinf, light_rects, near_light, nonzero,
                               normalize, select, sqrt, slot_near, boxes, group_boxes)
from mofo.data.scenes import SHAPES, SKIES, open_graph, room_graph, street_graph  # noqa: F401 (SHAPES: API)
from mofo.data.textures import PALETTE, PATTERNS, _hash, patterns
from mofo.seeds import mix_seed

# Surface ids in the rendered id map; objects follow from OBJ0 on. WALL_FRONT closes a room
# behind the camera; PAVEMENT is a street's pavement and the ground seen through a room's windows.
SKY, FLOOR, WALL_LEFT, WALL_RIGHT, WALL_BACK, CEILING, WALL_FRONT, PAVEMENT, OBJ0 = range(9)
FAMILIES = ("open", "room", "street")  # rendered scene families; "mix" draws one per scene (WorldConfig.mix)
DRAWN = (*FAMILIES, "closeup")  # what a scene is drawn as: a closeup is a room seen from near its furniture
OPEN, ROOM, STREET = range(3)
# Unit shapes are the slab {|p|_inf <= 1} intersected with the quadric
# {qx x^2 + qy y^2 + qz z^2 + l y <= k}: (qx, qy, qz, l, k) per shape. The cone,
# x^2 + z^2 <= ((1 - y) / 2)^2, has its apex at y = 1 and its base (radius 1) at y = -1;
# the wheel is a cylinder along x.
QUADRICS = {"sphere": [1.0, 1.0, 1.0, 0.0, 1.0], "box": [0.0, 0.0, 0.0, 0.0, 1.0],
            "cylinder": [1.0, 0.0, 1.0, 0.0, 1.0], "cone": [1.0, -0.25, 1.0, 0.5, 0.25],
            "wheel": [0.0, 1.0, 1.0, 0.0, 1.0]}

# An empty slot's `Scene.parts`: a unit sphere deep below the ground.
_DEAD_PART = [0.0, -1e3, 0.0, 1.0, 1.0, 1.0, *QUADRICS["sphere"], 1.0, 0.0]
_CEILING_MATERIAL = {"rgb": [0.9, 0.9, 0.88], "pattern": "plain", "scale": 1.0}


@dataclass(frozen=True)
class WorldConfig:
    """How scenes are drawn and rendered (lengths in metres, angles in degrees).

    family: "open" (objects on a floor or ground: the original world), "room", "street" or
    "mix" (one family per scene, drawn from its seed with the weights `mix`). fov / pitch /
    height / indoor_prob / max_objects are the open family's; rooms and streets draw their
    cameras like NYUv2's and KITTI's (`scenes.ROOM_CAMERA`, `scenes.STREET_CAMERA`).
    stretch: rooms and streets squeeze the sensor's whole frame (4:3, 3.3:1) into the square
    image (fx != fy), as `Pipeline.depth` resizes a photo; False: square crops, fx = fy.
    """

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
    family: str = "open"
    mix: tuple[tuple[str, float], ...] = (("room", 0.4), ("street", 0.4), ("open", 0.2))
    stretch: bool = True

    def __post_init__(self):
        if self.family not in (*DRAWN, "mix"):
            raise ValueError(f"unknown scene family {self.family!r}; use one of {', '.join(DRAWN)}, mix, "
                             "or weights NAME=W,NAME=W")
        unknown = [name for name, _ in self.mix if name not in DRAWN]
        if unknown:
            raise ValueError(f"unknown scene family {unknown[0]!r} in the mix; use {', '.join(DRAWN)}")
        if any(w < 0 for _, w in self.mix) or sum(w for _, w in self.mix) <= 0:
            raise ValueError(f"scene mix weights must be >= 0 with a positive sum, got {dict(self.mix)}")


def world_config(family: str, **kw) -> WorldConfig:
    """The WorldConfig of a family spec: a family, "mix" (the default weights), or weights of
    one's own, e.g. "room=0.3,closeup=0.2,street=0.4,open=0.1" (a mix); `kw`: other fields."""
    if "=" not in family:
        return WorldConfig(family=family, **kw)
    mix = []
    for part in family.split(","):
        name, _, weight = part.partition("=")
        try:
            mix.append((name.strip(), float(weight)))
        except ValueError:
            raise ValueError(f"bad scene mix {family!r}: the weight of {name.strip()!r} is not a number") from None
    return WorldConfig(family="mix", mix=tuple(mix), **kw)


# --- scene graphs: one seeded Python draw per scene ---------------------------------------

def scene_seed(seed: int, split: str, index: int) -> int:
    """The scene seed of sample `index`: train seeds are even, test seeds odd (never shared)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return (mix_seed(seed, index, stride=2**40) << 1) | (split == "test")


def family_of(seed: int, cfg: WorldConfig) -> str:
    """The family of scene `seed`: cfg.family, or for "mix" a draw from the seed alone."""
    if cfg.family != "mix":
        return cfg.family
    names, weights = zip(*cfg.mix)
    return random.Random(seed ^ 0xFA111).choices(names, weights)[0]


def sample_graph(seed: int, cfg: WorldConfig = WorldConfig()) -> dict:
    """Draw one scene graph from `seed` (JSON-able; angles in degrees, lengths in metres)."""
    family = family_of(seed, cfg)
    if family in ("room", "closeup"):
        return room_graph(seed, cfg.stretch, close=family == "closeup")
    if family == "street":
        return street_graph(seed, cfg.stretch)
    return open_graph(seed, cfg)


# --- tensors --------------------------------------------------------------------------------

@dataclass
class Scene:
    """A batch of B scenes with K object slots in G groups of at most P slots, as tensors
    (float32 unless noted). All scenes of a batch that is rendered are of one family.

    family: (B,) long (index in FAMILIES); cam: (B, 3, 3) rows = camera right, down, forward
    in world; origin: (B, 3); focal: (B, 2) fx, fy in pixels;
    room: (B, 4) x_left, x_right, z_back, wall top (inf outdoors; a street: facade x left,
    right, far facade z or inf, inf); front: (B,) a room's front wall z (-inf otherwise);
    openings: (B, M, 5) a room's windows: wall id (-1: none), along-wall range, sill, top;
    street: (B, 5) road x0, x1, facade segment length, lowest and highest building;
    ceiling: (B,) bool; light: (B, 3) point position or sun direction; point: (B,) bool;
    falloff: (B,) point-light falloff 1 / (1 + falloff d^2) (rooms); ambient, fog: (B,);
    sky: (B, 2, 3) horizon, zenith; fog_rgb: (B, 3);
    parts: (13, B, K) the slots' centre (3), half extents (3), quadric (5, `QUADRICS` of the
    shape), cos and sin of yaw (`Slots`; field first, so that each is gathered from one run); alive: (B, K) bool;
    box: (B, K, 2, 3) world-axis bounding box (min, max corner) of each slot, inflated (`culling.boxes`);
    gbox: (B, G, 2, 3) the box of each group; galive: (B, G); gfirst, gcount: (B, G) long, the
    group's slots gfirst ... gfirst + gcount - 1 (the open family: one slot per group, group k = slot k);
    lrect, lbound, lbasis: the groups' shadow culling rectangles (`light_rects`);
    srect, svis, slrect, slbound: the slots' camera (`camera_rects`) and shadow culling rectangles;
    rgb: (B, S, 3), pattern: (B, S) long, scale: (B, S), emit: (B, S) bool per surface id (S = OBJ0 + K);
    sensor: (B, 3) exposure gain, noise sigma, blur; noise_seed: (B,) long.
    """

    family: torch.Tensor
    cam: torch.Tensor
    origin: torch.Tensor
    focal: torch.Tensor
    room: torch.Tensor
    front: torch.Tensor
    openings: torch.Tensor
    street: torch.Tensor
    ceiling: torch.Tensor
    light: torch.Tensor
    point: torch.Tensor
    falloff: torch.Tensor
    ambient: torch.Tensor
    fog: torch.Tensor
    sky: torch.Tensor
    fog_rgb: torch.Tensor
    parts: torch.Tensor
    alive: torch.Tensor
    box: torch.Tensor
    gbox: torch.Tensor
    galive: torch.Tensor
    gfirst: torch.Tensor
    gcount: torch.Tensor
    lrect: torch.Tensor
    lbound: torch.Tensor
    lbasis: torch.Tensor
    srect: torch.Tensor
    svis: torch.Tensor
    slrect: torch.Tensor
    slbound: torch.Tensor
    rgb: torch.Tensor
    pattern: torch.Tensor
    scale: torch.Tensor
    emit: torch.Tensor
    sensor: torch.Tensor
    noise_seed: torch.Tensor

    def index(self, idx: torch.Tensor) -> "Scene":
        """The scenes at the indices `idx` (long tensor)."""
        out = {f.name: getattr(self, f.name).index_select(0, idx) for f in fields(self) if f.name != "parts"}
        return Scene(**out, parts=self.parts.index_select(1, idx))

    def slots(self, k: int, g: int | None = None) -> "Scene":
        """The same scenes cut to the first `k` object slots and `g` groups (alive ones come first)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out.update({n: out[n][:, :k] for n in ("alive", "box", "srect", "svis", "slrect", "slbound")})
        out["parts"] = out["parts"][..., :k]
        out.update({n: out[n][:, :g or k] for n in ("gbox", "galive", "gfirst", "gcount", "lrect", "lbound")})
        out.update({n: out[n][:, :OBJ0 + k] for n in ("rgb", "pattern", "scale", "emit")})
        return Scene(**out)

    @staticmethod
    def from_graphs(graphs: list[dict], res: int) -> "Scene":
        k = max(1, max(len(g["objects"]) for g in graphs))
        groups = [_groups(g) for g in graphs]
        n_g = max(1, max(len(m) for m in groups))
        m = max([1] + [len(g["room"].get("openings", ())) for g in graphs if g["room"]])
        rows = [_scene_row(g, res, k, groups[i], n_g, m) for i, g in enumerate(graphs)]
        t = {n: _tensor([r[n] for r in rows]) for n in rows[0] if n != "parts"}
        parts = np.array([r["parts"] for r in rows])  # (B, K, 13) float64: the boxes are computed from it
        t["parts"] = torch.from_numpy(parts.astype(np.float32)).permute(2, 0, 1).contiguous()
        t["box"], t["gbox"] = _boxes(parts, t)
        t["srect"], t["svis"] = camera_rects(t, t["box"])
        t["lrect"], t["lbound"], t["lbasis"] = light_rects(t, t["gbox"])
        t["slrect"], t["slbound"], _ = light_rects(t, t["box"])
        return Scene(**t)


def _boxes(parts: np.ndarray, t: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Culling boxes (min, max corner) of the slots (B, K, 2, 3) and groups (B, G, 2, 3) (`culling.boxes`)
    from the slot table (B, K, 13) (`Scene.parts`, field last) in float64 and alive, gfirst, galive of `t`."""
    alive = t["alive"].numpy()
    lo, hi = boxes(parts[..., 0:3], parts[..., 3:6], parts[..., 11], parts[..., 12])
    box = np.where(alive[..., None, None], np.stack([lo, hi], -2), np.array([0.0, -1e3, 0.0]))  # dead: far below
    group = group_boxes(lo, hi, alive, t["gfirst"].numpy(), t["galive"].numpy())
    return torch.from_numpy(box.astype(np.float32)), torch.from_numpy(np.stack(group, -2).astype(np.float32))


def _tensor(rows: list) -> torch.Tensor:
    """torch.tensor(rows) (float32, int64 or bool), through numpy: several times faster on nested
    lists, and the same values (doubles rounded to float32 to nearest)."""
    array = np.array(rows)
    return torch.from_numpy(array.astype(np.float32) if array.dtype == np.float64 else array)


def camera_basis(pitch_deg: float, yaw_deg: float = 0.0, roll_deg: float = 0.0) -> list[list[float]]:
    """Rows: camera right, down, forward in world coordinates for a camera pitched down by
    `pitch`, then rolled (clockwise in the image) by `roll`, then turned right by `yaw`."""
    p = math.radians(pitch_deg)
    rows = [[1.0, 0.0, 0.0], [0.0, -math.cos(p), -math.sin(p)], [0.0, -math.sin(p), math.cos(p)]]
    if roll_deg:
        c, s = math.cos(math.radians(roll_deg)), math.sin(math.radians(roll_deg))
        right, down = rows[0], rows[1]
        rows[0] = [c * a + s * b for a, b in zip(right, down)]
        rows[1] = [c * b - s * a for a, b in zip(right, down)]
    if yaw_deg:
        c, s = math.cos(math.radians(yaw_deg)), math.sin(math.radians(yaw_deg))
        rows = [[c * x + s * z, y, c * z - s * x] for x, y, z in rows]
    return rows


def focal_from_fov(size: float, fov_deg: float) -> float:
    """Pinhole focal length in pixels of a side of `size` pixels seen under `fov_deg`: size / (2 tan(fov / 2))."""
    return size / (2 * math.tan(math.radians(fov_deg) / 2))


def intrinsics(fov_deg: float, res: int, vfov_deg: float | None = None) -> torch.Tensor:
    """(3, 3) pinhole intrinsics in pixels for a square `res` image (see module docstring);
    fy from `vfov_deg` when given (a stretched sensor frame), else fy = fx."""
    fx = focal_from_fov(res, fov_deg)
    fy = fx if vfov_deg is None else focal_from_fov(res, vfov_deg)
    return torch.tensor([[fx, 0.0, res / 2], [0.0, fy, res / 2], [0.0, 0.0, 1.0]])


def camera_intrinsics(cam: dict, res: int) -> torch.Tensor:
    """Intrinsics of a scene graph's camera: square pixels unless the graph stretches a frame."""
    return intrinsics(cam["fov"], res, cam.get("vfov") if cam.get("vfov") != cam["fov"] else None)


def camera_frame(cam: dict) -> tuple[list[list[float]], list[float]]:
    """A scene graph's camera: basis rows (right, down, forward) and the origin in world."""
    return (camera_basis(cam["pitch"], cam.get("yaw", 0.0), cam.get("roll", 0.0)),
            [cam.get("x", 0.0), cam["height"], 0.0])


def _groups(g: dict) -> list[list[int]]:
    """Slot lists of the graph's groups (objects of one group are consecutive); the open
    family's objects are each their own group."""
    out: list[list[int]] = []
    last = None
    for k, o in enumerate(g["objects"]):
        group = o.get("group", k)
        if group != last:
            out.append([])
            last = group
        out[-1].append(k)
    return out


_WALL_IDS = {"left": WALL_LEFT, "right": WALL_RIGHT, "back": WALL_BACK}


def _planes_row(g: dict) -> dict:
    """The family's plane geometry: room / street boxes, windows, street parameters."""
    inf, room, family = math.inf, g["room"], g.get("family", "open")
    row = {"front": -inf, "street": [0.0, 0.0, 1.0, 0.0, 0.0],
           "room": [room["x_left"], room["x_right"], room["z_back"], room["height"]] if room else [-inf, inf, inf, inf]}
    if family == "room":
        row["front"] = room["z_front"]
    if family == "street":
        st = g["street"]
        row["room"] = [st["x_left"], st["x_right"], st["z_end"] or inf, inf]
        row["street"] = [*st["road"], st["segment"], *st["heights"]]
    return row


def _openings_row(g: dict, m: int) -> list[list[float]]:
    openings = g["room"].get("openings", []) if g["room"] else []
    rows = [[float(_WALL_IDS[o["wall"]]), *o["a"], *o["y"]] for o in openings]
    return rows + [[-1.0, 0.0, 0.0, 0.0, 0.0]] * (m - len(rows))


def _surfaces(g: dict) -> list[dict]:
    """One material per plane surface id, SKY ... PAVEMENT (SKY's is unused)."""
    floor, walls = g["floor"], g["walls"]
    if g.get("family") == "street":
        left, right, back = g["facades"]
        return [floor, floor, left, right, back, _CEILING_MATERIAL, back, g["pavement"]]
    if g.get("family") == "room":
        return [floor, floor, walls, walls, walls, g["ceiling"], walls, g["outside"]]
    return [floor, floor, walls, walls, walls, _CEILING_MATERIAL, floor, floor]


def _scene_row(g: dict, res: int, k: int, groups: list[list[int]], n_g: int, m: int) -> dict:
    """One scene's fields as nested Python lists (`Scene.from_graphs` makes one tensor per field)."""
    objs, family = g["objects"], g.get("family", "open")
    pad = k - len(objs)
    surfaces = _surfaces(g) + objs
    surfaces += [surfaces[-1]] * pad
    horizon, zenith = SKIES[g["sky"]]
    cam = g["camera"]
    basis, origin = camera_frame(cam)
    sensor = g.get("sensor", {"exposure": 1.0, "noise": 0.0, "blur": 0.0})
    emit = [False] * OBJ0 + [bool(o.get("emit")) for o in objs] + [False] * pad
    emit[PAVEMENT] = family == "room"  # the sunlit world outside the windows
    return {
        "family": FAMILIES.index(family),
        "cam": basis, "origin": origin,
        "focal": intrinsics(cam["fov"], res, cam.get("vfov")).diagonal()[:2].tolist()
        if family != "open" else [focal_from_fov(res, cam["fov"])] * 2,
        **_planes_row(g),
        "openings": _openings_row(g, m),
        "ceiling": bool(g["room"] and g["room"]["ceiling"]),
        "light": g["light"].get("position") or g["light"]["direction"],
        "point": g["light"]["type"] == "point", "falloff": g.get("falloff", 0.0),
        "ambient": g["ambient"], "fog": g["fog"],
        "sky": [horizon, zenith],
        "fog_rgb": horizon if not g["indoor"] else (0.7, 0.7, 0.7),
        "parts": [[*o["center"], *o["size"], *QUADRICS[o["shape"]], math.cos(math.radians(o["yaw"])),
                   math.sin(math.radians(o["yaw"]))] for o in objs] + [_DEAD_PART] * pad,
        "alive": [True] * len(objs) + [False] * pad,
        "galive": [True] * len(groups) + [False] * (n_g - len(groups)),
        "gfirst": [ms[0] for ms in groups] + [0] * (n_g - len(groups)),
        "gcount": [len(ms) for ms in groups] + [1] * (n_g - len(groups)),
        "rgb": [s["rgb"] for s in surfaces],
        "pattern": [PATTERNS.index(s["pattern"]) for s in surfaces],
        "scale": [float(s["scale"]) for s in surfaces],
        "emit": emit,
        "sensor": [sensor["exposure"], sensor["noise"], sensor["blur"]],
        "noise_seed": g["seed"] & 0x7FFFFFFF,
    }


# --- ray casting ----------------------------------------------------------------------------

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


def _slot_rows(scene: Scene, b: torch.Tensor, k: torch.Tensor) -> Slots:
    """Object slots k of scenes b (N,): centre, half extents, quadric, yaw."""
    n_f, _, n_k = scene.parts.shape
    table = scene.parts.reshape(n_f, -1)  # (13, B * K): gathers from one field at a time
    at = b * n_k + k
    return Slots(*(field.index_select(0, at) for field in table))


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
    Computed in numpy with `select` (the pairs' shapes alternate, see there).
    """
    slot = Slots(*(x.numpy() for x in slot))
    ox, oy, oz = _to_local(*(x.numpy() - c for x, c in zip(o, (slot.cx, slot.cy, slot.cz))), slot)
    dx, dy, dz = _to_local(*(x.numpy() for x in d), slot)
    a = slot.qx * dx * dx + slot.qy * dy * dy + slot.qz * dz * dz
    b = slot.qx * ox * dx + slot.qy * oy * dy + slot.qz * oz * dz + 0.5 * slot.l * dy  # Q = a t^2 + 2 b t + Q(o)
    flat = np.abs(a) < 1e-12
    a = select(flat, 1.0, a)
    tc = -b / a
    qh = _quadric(slot, ox + tc * dx, oy + tc * dy, oz + tc * dz)
    half = sqrt(torch.clamp(torch.from_numpy(-qh / a), min=0)).numpy()
    inf, cup, rising = np.float32(math.inf), a > 0, dy > 0
    whole = ~cup & (qh <= 0)  # a line through a cone's apex: inside throughout
    enter = select(cup, select(qh <= 0, tc - half, inf), select(whole | rising, -inf, tc + half))
    leave = select(cup, tc + half, select(whole | ~rising, inf, tc - half))
    q0 = _quadric(slot, ox, oy, oz)  # flat: Q = Q(o) + 2 b t
    root = -q0 / select(b == 0, 1.0, 2 * b)
    enter = select(flat, select(b > 0, -inf, select(b < 0, root, select(q0 <= 0, -inf, inf))), enter)
    leave = select(flat, select(b > 0, root, inf), leave)
    for oj, dj in ((ox, dx), (oy, dy), (oz, dz)):
        dj = select(np.abs(dj) < 1e-12, 1e-12, dj)
        t1, t2 = (-1 - oj) / dj, (1 - oj) / dj
        enter, leave = np.maximum(enter, np.minimum(t1, t2)), np.minimum(leave, np.maximum(t1, t2))
    return torch.from_numpy(select(enter <= leave, enter, inf))


def _hit_objects(scene: Scene, o: torch.Tensor, d: torch.Tensor, ray: torch.Tensor, slot: torch.Tensor,
                 t_max=math.inf):
    """Nearest object along rays o + t d (o: (B, 1 or R, 3), d: (B, R, 3) unit, t > 0), of the
    (ray, object slot) pairs ray (flat b * R + r), slot (N,) (`camera_pairs`, `_light_pairs`),
    intersected exactly (`_enter`); t_max is a float or (B, R).
    Returns t (B, R), inf on a miss or beyond t_max, and the object slot (B, R).
    """
    n_b, n_r = d.shape[:2]
    n_k = scene.alive.shape[1]
    b = _div(ray, n_r)
    enter = _enter(_rows(o, b if o.shape[1] == 1 else ray), _rows(d, ray), _slot_rows(scene, b, slot)).numpy()
    limit = t_max if isinstance(t_max, float) else t_max.reshape(-1).index_select(0, ray).numpy()
    enter = torch.from_numpy(select((enter > 1e-4) & (enter < limit), enter, math.inf))
    t = torch.full((n_b * n_r,), math.inf).scatter_reduce(0, ray, enter, "amin")
    win = nonzero((enter == t.index_select(0, ray)) & isfinite(enter))
    best = torch.full((n_b * n_r,), n_k).scatter_reduce(0, ray.index_select(0, win), slot.index_select(0, win), "amin")
    return t.view(n_b, n_r), torch.where(best == n_k, 0, best).view(n_b, n_r)


def _light_pairs(scene: Scene, cull: Cull) -> tuple[torch.Tensor, torch.Tensor]:
    """(shadow ray, object slot) pairs (N,) (flat b * R + r, k) that may meet: the slots of the
    (group, ray) pairs in cull.near (B, G, R) (`near_light`) that pass the same test on their own boxes."""
    n_b, n_g, n_r = cull.near.shape
    pair = nonzero(cull.near)  # flat (b, g, r)
    group = _div(pair, n_r)
    b = _div(group, n_g)
    ray = pair - (group - b) * n_r  # b * R + r
    if int(scene.gcount.max()) == 1:  # one slot per group, slot k = group k
        return ray, group - b * n_g
    n_k = scene.alive.shape[1]
    count = scene.gcount.flatten().index_select(0, group)
    # each (group, ray) pair -> its slots: bk = b * K + gfirst + 0, 1, ..., gcount - 1
    start = b * n_k + scene.gfirst.flatten().index_select(0, group) - (torch.cumsum(count, 0) - count)
    src = _repeat(count)
    bk, ray = start.index_select(0, src) + torch.arange(src.numel()), ray.index_select(0, src)
    keep = nonzero(slot_near(scene, cull, bk, ray))
    bk = bk.index_select(0, keep)
    return ray.index_select(0, keep), bk - _div(bk, n_k) * n_k


def _div(x: torch.Tensor, n: int) -> torch.Tensor:
    """x // n for int64 x >= 0 (numpy's divides by a constant several times faster than torch)."""
    return torch.from_numpy(x.numpy() // n)


def _repeat(count: torch.Tensor) -> torch.Tensor:
    """`torch.repeat_interleave(count)` (i repeated count[i] >= 1 times), several times faster:
    the cumulative sum of marks at the starts of the runs."""
    marks = torch.zeros(int(count.sum()), dtype=torch.long).index_fill_(0, torch.cumsum(count, 0)[:-1], 1)
    return torch.cumsum(marks, 0)


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


def _hit_room(scene: Scene, o: torch.Tensor, d: torch.Tensor):
    """Where rays from inside a closed room (o: (B, 1, 3)) leave its box: t, surface id (B, R).

    The ray leaves through the nearest of the three planes it heads for (the first of x, y, z
    on a tie); a ray that leaves through a window goes on to the ground outside (PAVEMENT) or
    the sky (t = inf). Computed in numpy (its comparisons are several times faster than torch's).
    """
    x0, x1, z1, top = scene.room[:, None].numpy().transpose(2, 0, 1)
    z0 = scene.front[:, None].numpy()
    ox, oy, oz = o.numpy().transpose(2, 0, 1)
    dx, dy, dz = np.ascontiguousarray(d.numpy().transpose(2, 0, 1))  # read several times each
    inf = np.float32(math.inf)
    with np.errstate(divide="ignore", invalid="ignore"):  # a zero component: that plane is never met
        tx = np.where(dx > 0, (x1 - ox) / dx, np.where(dx < 0, (x0 - ox) / dx, inf))
        ty = np.where(dy > 0, (top - oy) / dy, np.where(dy < 0, -oy / dy, inf))
        tz = np.where(dz > 0, (z1 - oz) / dz, np.where(dz < 0, (z0 - oz) / dz, inf))
        outside = np.where(dy < 0, -oy / dy, inf)
    on_x = (tx <= ty) & (tx <= tz)
    on_y = ~on_x & (ty <= tz)
    t = np.minimum(np.minimum(tx, ty), tz)
    (px, py, pz), i8 = ((x > 0).view(np.int8) for x in (dx, dy, dz)), np.int8  # int8: a quarter of the traffic
    sid = np.where(on_x, px + i8(WALL_LEFT), np.where(on_y, py * i8(CEILING - FLOOR) + i8(FLOOR),
                                                      i8(WALL_FRONT) - pz * i8(WALL_FRONT - WALL_BACK)))
    y = oy + t * dy
    along = np.where(on_x, oz + t * dz, ox + t * dx)
    window = np.zeros(sid.shape, dtype=bool)
    for wall, a0, a1, y0, y1 in scene.openings[:, None].numpy().transpose(2, 3, 0, 1):
        window |= (sid == wall) & (along >= a0) & (along <= a1) & (y >= y0) & (y <= y1)
    sid = np.where(window, i8(PAVEMENT), sid).astype(np.int64)
    return torch.from_numpy(np.where(window, outside, t)), torch.from_numpy(sid)


def _building_top(scene: Scene, along: torch.Tensor, side: int) -> torch.Tensor:
    """Height of the building at `along` (B, R) metres along facade `side` (a surface id):
    one hashed height in [lowest, highest] per segment."""
    seg = torch.floor(torch.where(isfinite(along), along, 0.0) / scene.street[:, None, 2]).long()
    h = _hash(seg, torch.tensor(side), scene.noise_seed[:, None])
    lo, hi = scene.street[:, None, 3], scene.street[:, None, 4]
    return lo + (hi - lo) * h


def _facade_hits(scene: Scene, o: torch.Tensor, d: torch.Tensor) -> list[torch.Tensor]:
    """t (B, R) of rays on the left, right and far facades, inf where they pass above a building."""
    xl, xr, zf = (scene.room[:, None, i] for i in range(3))
    ox, oy, oz = o[..., 0], o[..., 1], o[..., 2]
    dx, dy, dz = d[..., 0], d[..., 1], d[..., 2]
    inf = torch.full_like(dx, math.inf)
    out = []
    for side, t in ((WALL_LEFT, torch.where(dx < 0, (xl - ox) / dx, inf)),
                    (WALL_RIGHT, torch.where(dx > 0, (xr - ox) / dx, inf)),
                    (WALL_BACK, torch.where(dz > 0, (zf - oz) / dz, inf))):
        along = oz + t * dz if side != WALL_BACK else ox + t * dx
        out.append(torch.where(oy + t * dy <= _building_top(scene, along, side), t, inf))
    return out


def _hit_street(scene: Scene, o: torch.Tensor, d: torch.Tensor):
    """Nearest of the road / pavement plane and the facades (o: (B, 1, 3)): t, surface id."""
    dy = d[..., 1]
    ground = torch.where(dy < 0, -o[..., 1] / dy, torch.full_like(dy, math.inf))
    x = o[..., 0] + ground * d[..., 0]
    on_road = (x >= scene.street[:, None, 0]) & (x <= scene.street[:, None, 1])
    t, i = torch.stack([ground, *_facade_hits(scene, o, d)], dim=-1).min(dim=-1)
    sid = torch.where(i == 0, torch.where(on_road, FLOOR, PAVEMENT), i - 1 + WALL_LEFT)
    return t, sid


def _facade_shadow(scene: Scene, p: torch.Tensor, light: torch.Tensor) -> torch.Tensor:
    """(B, R) bool: points p whose way to the sun (light, unit) crosses a building."""
    hits = _facade_hits(scene, p, light)
    return (hits[0] > 1e-3) & isfinite(hits[0]) | (hits[1] > 1e-3) & isfinite(hits[1]) | \
        (hits[2] > 1e-3) & isfinite(hits[2])


_PLANES = {OPEN: _hit_planes, ROOM: _hit_room, STREET: _hit_street}


def _family(scene: Scene) -> int:
    """The family of a batch (all its scenes share it; `render` sorts them so)."""
    return int(scene.family[0])


def _trace(scene: Scene, uv: torch.Tensor, pairs: tuple[torch.Tensor, torch.Tensor], max_depth: float):
    """Camera rays through image points uv (B, R, 2) (pixels from the principal point), and the
    (ray, object slot) pairs that may meet (`camera_pairs`): unit directions d (B, R, 3), hit t
    (B, R), surface id (B, R) and z-depth (B, R). Nothing hit, or planes beyond max_depth, is
    SKY with t = inf."""
    d, zdir = _rays(scene, uv)
    o = scene.origin[:, None]
    t_obj, slot = _hit_objects(scene, o, d, *pairs)
    t_pln, sid = _PLANES[_family(scene)](scene, o, d)
    obj = t_obj < t_pln
    t = torch.where(obj, t_obj, t_pln)
    sid = torch.where(obj, slot + OBJ0, sid)
    depth = t * zdir
    sid = torch.where(isinf(t) | ((depth > max_depth) & (sid < OBJ0)), SKY, sid)
    return d, torch.where(sid == SKY, math.inf, t), sid, depth


# --- shading --------------------------------------------------------------------------------

def _gather(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """x (B, S, ...) at per-ray indices idx (B, R) -> (B, R, ...)."""
    flat = idx.reshape(idx.shape[0], -1, *([1] * (x.dim() - 2))).expand(-1, -1, *x.shape[2:])
    return torch.gather(x, 1, flat)


# Per plane surface id, SKY ... PAVEMENT (SKY's is unused).
_PLANE_NORMALS = torch.tensor([[0.0, 1, 0], [0, 1, 0], [1, 0, 0], [-1, 0, 0], [0, 0, -1], [0, -1, 0], [0, 0, 1],
                               [0, 1, 0]])


def _surface(scene: Scene, sid: torch.Tensor, p: torch.Tensor):
    """Outward unit normals (B, R, 3) and texture coordinates 3 x (B, R) in metres at hits p (B, R, 3).

    Planes have fixed normals and world axes; object hits are handled by `_object_surface`.
    """
    x, y, z = p.unbind(-1)
    flat = (sid == FLOOR) | (sid == CEILING) | (sid == PAVEMENT)
    side = (sid == WALL_LEFT) | (sid == WALL_RIGHT)
    u, v, w = torch.where(side, z, x), torch.where(flat, z, y), torch.zeros(sid.shape)
    n = _PLANE_NORMALS.index_select(0, torch.clamp(sid, max=OBJ0 - 1).reshape(-1))
    ray = nonzero(sid >= OBJ0)
    slot = _slot_rows(scene, _div(ray, sid.shape[1]), sid.reshape(-1).index_select(0, ray) - OBJ0)
    normal, coords = _object_surface(_rows(p, ray), slot)
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
    normal = normalize(torch.stack([cs * nx + sn * nz, ny, cs * nz - sn * nx], dim=-1))
    return normal, (lx * slot.sx, ly * slot.sy, lz * slot.sz)


def _to_light(scene: Scene, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit directions (B, R, 3) from points p (B, R, 3) to the light, and distances (B, R) (inf: the sun)."""
    point = scene.point[:, None]
    if not bool(point.any()):  # suns only: one direction per scene
        return normalize(scene.light[:, None]).expand_as(p), torch.full(p.shape[:2], math.inf)
    if bool(point.all()):
        to_light = scene.light[:, None] - p
        return normalize(to_light), sqrt(dot(to_light, to_light))
    to_light = torch.where(point[..., None], scene.light[:, None] - p, scene.light[:, None].expand_as(p))
    return normalize(to_light), torch.where(point, sqrt(dot(to_light, to_light)), math.inf)


def _shade(scene: Scene, d, t, sid):
    """Colour (B, R, 3) of camera rays (`_trace`) that hit surface `sid` at distance t."""
    o, focal = scene.origin[:, None], scene.focal
    sky_t = isinf(t)
    t = torch.where(sky_t, 1.0, t)
    p = o + t[..., None] * d
    n, (u, v, w) = _surface(scene, sid, p)
    scale = _gather(scene.scale, sid)
    cos = torch.clamp(-dot(n, d), min=0.15)
    focal = torch.minimum(focal[:, 0], focal[:, 1])[:, None]
    tex = patterns(u * scale, v * scale, w * scale, _gather(scene.pattern, sid), t * scale / (focal * cos))
    albedo = _gather(scene.rgb, sid) * tex[..., None]
    light, dist = _to_light(scene, p)
    lambert = torch.clamp(dot(n, light), min=0)
    # Only surfaces that face the light can be shadowed (lit is 0 for the others either way).
    facing = (lambert != 0) & ~sky_t
    start = p + 1e-3 * n
    cull = near_light(scene, start, facing)
    shadow, _ = _hit_objects(scene, start, light, *_light_pairs(scene, cull), dist)
    lit = torch.where(isinf(shadow), lambert, 0.0)
    family = _family(scene)
    if family == ROOM:
        lit = lit / (1 + scene.falloff[:, None] * dist * dist)
    if family == STREET:
        lit = torch.where(_facade_shadow(scene, start, light) & facing, 0.0, lit)
    ambient = scene.ambient[:, None]
    colour = albedo * (ambient + (1 - ambient) * lit)[..., None]
    if family != OPEN:  # lamps and the world outside the windows glow
        colour = torch.where(_gather(scene.emit, sid)[..., None], albedo, colour)
    if bool(scene.fog.any()):  # without fog (rooms) vis = 1 would change no bit: colour >= +0
        vis = 1 / (1 + scene.fog[:, None] * t) ** 2
        colour = colour * vis[..., None] + scene.fog_rgb[:, None] * (1 - vis)[..., None]
    if bool(sky_t.any()):
        elev = torch.clamp(d[..., 1], 0, 1)
        sky = scene.sky[:, None, 0] + (scene.sky[:, None, 1] - scene.sky[:, None, 0]) * sqrt(elev)[..., None]
        colour = torch.where(sky_t[..., None], sky, colour)
    return torch.clamp(colour, 0, 1)


# --- rendering ------------------------------------------------------------------------------

def _rays(scene: Scene, uv: torch.Tensor):
    """Unit world directions (B, R, 3) and their camera-frame z (B, R).

    uv: (B, R, 2) image coordinates relative to the principal point, in pixels.
    """
    x = uv[..., 0] / scene.focal[:, 0, None]
    y = uv[..., 1] / scene.focal[:, 1, None]
    norm = sqrt(x * x + y * y + 1)
    right, down, forward = scene.cam[:, None, 0], scene.cam[:, None, 1], scene.cam[:, None, 2]
    d = [(x * right[:, :, i] + y * down[:, :, i] + forward[:, :, i]) / norm for i in range(3)]
    return torch.stack(d, dim=-1), 1 / norm


def _render_chunk(scene: Scene, res: int, cfg: WorldConfig) -> dict:
    b = scene.origin.shape[0]
    ij = torch.arange(res, dtype=torch.float32) + 0.5 - res / 2
    uv = torch.stack(torch.meshgrid(ij, ij, indexing="xy"), dim=-1).reshape(1, -1, 2).expand(b, -1, -1)
    d, t, sid, depth = _trace(scene, uv, camera_pairs(scene, res, 0.5 - res / 2), cfg.max_depth)
    rgb = _antialias(scene, sid, _shade(scene, d, t, sid), res, cfg)
    valid = sid != SKY
    shape = (b, res, res)
    image = rgb.reshape(*shape, 3).permute(0, 3, 1, 2)
    if _family(scene) != OPEN:
        image = _sensor_effects(image, scene)
    return {"image": image,
            "depth": torch.where(valid, depth, 0.0).reshape(b, 1, res, res),
            "valid": valid.reshape(b, 1, res, res), "ids": sid.reshape(b, 1, res, res).to(torch.uint8)}


def _sensor_effects(image: torch.Tensor, scene: Scene) -> torch.Tensor:
    """Exposure gain, a slight blur and gaussian-like noise on images (B, 3, H, W); depth untouched.

    The blur mixes each pixel with its 4 neighbours (edges repeated); the noise is a hashed
    uniform per pixel with standard deviation sigma, so both stay exact and
    batch-independent like the renderer.
    """
    gain, sigma, blur = (scene.sensor[:, i, None, None, None] for i in range(3))
    x = image * gain
    pad = torch.cat([x[..., :1, :], x, x[..., -1:, :]], -2)
    pad = torch.cat([pad[..., :1], pad, pad[..., -1:]], -1)
    around = ((pad[..., :-2, 1:-1] + pad[..., 2:, 1:-1]) + pad[..., 1:-1, :-2]) + pad[..., 1:-1, 2:]
    x = x + blur * (around * 0.25 - x)
    b, _, h, w = x.shape
    cell = torch.arange(h * w).view(1, 1, h, w)
    noise = _hash(cell, scene.noise_seed.view(b, 1, 1, 1), torch.tensor(0)) - 0.5  # one value per pixel (luminance noise)
    return torch.clamp(x + sigma * math.sqrt(12) * noise, 0, 1)


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


def _pack(mask: torch.Tensor, group: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The True entries of mask (B, P), `group` to a row: each scene's run padded to a multiple
    of `group` with its own first entry. Returns the flat indices b * P + p (R * group,), the
    scene of each row (R,) and where each True entry (in flat order) was put (N,)."""
    flat = nonzero(mask)
    count = mask.sum(1)
    start, padded = torch.cumsum(count, 0) - count, (count + group - 1) // group * group
    scene = torch.repeat_interleave(torch.arange(mask.shape[0]), padded)
    out = flat.index_select(0, start.index_select(0, scene))  # padding: the scene's first entry
    of = flat // mask.shape[1]
    rank = torch.arange(flat.numel()) - start.index_select(0, of)
    at = (torch.cumsum(padded, 0) - padded).index_select(0, of) + rank
    return out.index_copy_(0, at, flat), scene[::group], at


def _antialias(scene, sid, rgb, res, cfg, group: int = 32):
    """Quincunx antialiasing: edge pixels become 1/2 centre + 1/8 of each of their 4 corner rays.

    Corners are shared by neighbouring pixels, so an edge pixel costs ~1.6 new rays instead
    of the 4 of a 2 x 2 supersample. The corner rays of a scene are traced `group` to a row
    (one scene row per group; padded with the scene's first corner, which is then not
    intersected with objects nor used), so that the per-row scene fields are shared by several rays.
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
    slots, rows, ray = _pack(corner.reshape(b, -1), group)
    part = scene.index(rows)
    at = torch.arange(side, dtype=torch.float32) - res / 2
    q = slots % side**2
    xy = torch.stack([at.index_select(0, q % side), at.index_select(0, q // side)], -1).view(-1, group, 2)
    slots = slots.index_select(0, ray)  # each traced corner's flat (b, i, j), without the padding
    pairs = camera_pairs(scene, side, -res / 2, torch.full((b * side**2,), -1).index_copy_(0, slots, ray))
    d, t, s, _ = _trace(part, xy, pairs, cfg.max_depth)
    colour = torch.zeros(b * side**2, 3).index_copy_(0, slots, _shade(part, d, t, s).view(-1, 3).index_select(0, ray))
    pixel = nonzero(edge)  # flat (b, i, j) -> corners (b, i + di, j + dj)
    top_left = pixel // res**2 * side**2 + pixel % res**2 // res * side + pixel % res
    corners = [colour.index_select(0, top_left + off) for off in (0, 1, side, side + 1)]
    centre = rgb.reshape(-1, 3).index_select(0, pixel)
    mixed = 0.5 * centre + 0.125 * (((corners[0] + corners[1]) + corners[2]) + corners[3])
    return rgb.reshape(-1, 3).index_copy(0, pixel, mixed).view(rgb.shape)


def render(scene: Scene, cfg: WorldConfig = WorldConfig()) -> dict:
    """Render a batch of scenes at cfg.res.

    Returns image (B, 3, H, W) in [0, 1], depth (B, 1, H, W) z-depth in metres (0 where
    invalid), valid (B, 1, H, W) bool, ids (B, 1, H, W) uint8 surface ids (SKY, FLOOR, ...,
    OBJ0 + slot). Scenes are rendered in chunks of about `cfg.chunk_rays` rays of one family,
    grouped by object count so that no chunk pays for empty object slots.
    """
    count, groups = scene.alive.sum(1), scene.galive.sum(1)
    order = torch.argsort(scene.family * 4096 + count, stable=True)
    family = scene.family.index_select(0, order)
    parts, chunk, start = [], max(1, cfg.chunk_rays // cfg.res**2), 0
    while start < len(order):
        stop = min(start + chunk, len(order))
        stop = start + int((family[start:stop] == family[start]).sum())  # one family per chunk
        idx = order[start:stop]
        k, g = (max(1, int(x[idx].max())) for x in (count, groups))
        parts.append(_render_chunk(scene.index(idx).slots(k, g), cfg.res, cfg))
        start = stop
    inverse = torch.argsort(order)
    return {key: torch.cat([part[key] for part in parts])[inverse] for key in parts[0]}


def describe(graphs: list[dict], ids: torch.Tensor, res: int) -> list[dict]:
    """Add what the render shows to each object of each graph (in place; returns graphs).

    ids: (B, 1, H, W) surface ids from `render`. Per object: `index` (slot), `pixels`,
    `visible` (>= 0.3 % of the image), `centroid` [u, v] and `columns` [u_min, u_max] of
    its visible pixels (pixel-centre coordinates), `depth` (camera-frame z of its centre).
    Per graph: `surface_pixels`, the pixel count of each plane surface id (SKY ... PAVEMENT).
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
        basis, origin = camera_frame(g["camera"])
        if g.get("family", "open") != "open":
            g["surface_pixels"] = [int(r[0]) for r in row[:OBJ0]]
        for k, obj in enumerate(g["objects"]):
            n, su_k, sv_k, lo_k, hi_k = row[OBJ0 + k]
            n = int(n)
            rel = [c - o for c, o in zip(obj["center"], origin)]
            obj.update(index=k, pixels=n, visible=n >= max(3, 0.003 * res * res),
                       centroid=[su_k / n, sv_k / n] if n else None, columns=[lo_k, hi_k] if n else None,
                       depth=sum(f * r for f, r in zip(basis[2], rel)))
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
    out["intrinsics"] = torch.stack([camera_intrinsics(g["camera"], cfg.res) for g in graphs])
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
