"""Scene families of the synthetic world that look like the zero-shot benchmarks.

- `room_graph`: an indoor room like NYUv2 / ScanNet: the inside of an axis-aligned box
  (floor, walls meeting at corners, ceiling), windows cut into the walls that show a bright
  exterior, furniture assembled from boxes and cylinders against and away from the walls,
  clutter on their tops, ceiling lights, a camera like a Kinect's. With `close=True` (the
  `closeup` family) a smaller room seen from near its furniture, lower and pitched further down.
- `street_graph`: a street like KITTI's: road and pavements, building facades on both
  sides receding to a vanishing point, parked and driving cars, street lights and trees
  under the sky, a camera like KITTI's (1.65 m high, 81 degrees wide).

Both return JSON-able scene graphs in the conventions of `world.sample_graph` (world frame
y up, ground y = 0, camera at (x, height, 0) looking along +z before its yaw), with extra
keys: `family`, `camera` with yaw / roll / vfov / x, per object `group` (the assembly it
belongs to; the renderer culls rays per group), `furniture` (room) or `things` (street):
one entry per assembly {kind, colour, material, slots [first, stop)} for the captions.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

from mofo.data.textures import PALETTE

FACADE_SEGMENT = 12.0  # metres of street per building (heights and shades change per segment)
SKIES = {"clear": ((0.78, 0.86, 0.95), (0.3, 0.5, 0.85)),
         "overcast": ((0.82, 0.82, 0.84), (0.6, 0.62, 0.66)),
         "sunset": ((0.98, 0.72, 0.48), (0.36, 0.36, 0.6))}


@dataclass(frozen=True)
class CameraRanges:
    """Camera draws of a family (degrees, metres). hfov and aspect are those of the real
    sensor; the square render stretches that frame (see `camera`)."""

    hfov: tuple[float, float]
    aspect: float  # width / height of the emulated sensor
    height: tuple[float, float]
    pitch: tuple[float, float]  # downwards
    roll: tuple[float, float]
    yaw: tuple[float, float]


# NYUv2: fx = 518.9 px at 640 x 480 -> 63.3 deg wide; ScanNet: fx = 1170 px at 1296 x 968 -> 58 deg.
ROOM_CAMERA = CameraRanges(hfov=(56.0, 66.0), aspect=4 / 3, height=(1.0, 1.7), pitch=(-5.0, 15.0),
                           roll=(-3.0, 3.0), yaw=(-35.0, 35.0))
# The `closeup` family: a room seen from near its furniture, as NYUv2 / TUM / SUN RGB-D frames taken at a desk
# or a chair are (the furniture 1-2 m away fills the view): a lower camera pitched further down.
CLOSE_CAMERA = CameraRanges(hfov=(56.0, 66.0), aspect=4 / 3, height=(0.9, 1.6), pitch=(5.0, 35.0),
                            roll=(-3.0, 3.0), yaw=(-35.0, 35.0))
# KITTI: fx = 721.5 px at 1242 x 375 -> 81.4 deg wide, 29.1 deg high; mounted 1.65 m above the road.
STREET_CAMERA = CameraRanges(hfov=(79.0, 84.0), aspect=1242 / 375, height=(1.55, 1.75), pitch=(-3.0, 3.0),
                             roll=(-2.0, 2.0), yaw=(-4.0, 4.0))


def camera(rng: random.Random, ranges: CameraRanges, stretch: bool, x: float = 0.0) -> dict:
    """A camera: `fov` / `vfov` are the square image's horizontal / vertical field of view.

    stretch: the whole sensor frame squeezed into the square (fx != fy), as `Pipeline.depth`
    resizes a benchmark photo (fit "resize"); else a square crop at the sensor's vertical fov.
    """
    hfov = rng.uniform(*ranges.hfov)
    vfov = math.degrees(2 * math.atan(math.tan(math.radians(hfov) / 2) / ranges.aspect))
    return {"fov": hfov if stretch else vfov, "vfov": vfov, "pitch": rng.uniform(*ranges.pitch),
            "yaw": rng.uniform(*ranges.yaw), "roll": rng.uniform(*ranges.roll),
            "height": rng.uniform(*ranges.height), "x": x}


def _mat(pattern: str, colour: str, scale: float = 1.0, rgb=None, name: str | None = None) -> dict:
    return {"name": name, "pattern": pattern, "colour": colour, "rgb": list(rgb or PALETTE[colour]), "scale": scale}


def _tint(rgb, rng: random.Random, amount: float = 0.12) -> list[float]:
    return [min(1.0, max(0.0, c * (1 + rng.uniform(-amount, amount)))) for c in rgb]


def sensor_effects(rng: random.Random) -> dict:
    """Mild camera effects (image only, never depth): exposure gain, gaussian noise, blur."""
    return {"exposure": 2 ** rng.uniform(-0.35, 0.35), "noise": rng.uniform(0.003, 0.02),
            "blur": rng.uniform(0.0, 0.6) if rng.random() < 0.5 else 0.0}


class Assembler:
    """Collects the objects of a scene graph, one assembly (group) at a time.

    Parts are given in the assembly's frame (x right, y up, z back: an assembly's front
    faces -z); `add` places the assembly at (x, z) on the ground turned by `yaw` degrees
    (the renderer's convention: local = R(yaw) world).
    """

    def __init__(self):
        self.objects: list[dict] = []
        self.groups: list[dict] = []

    def add(self, kind: str, parts: list[tuple], x: float, z: float, yaw: float, y0: float = 0.0,
            **info) -> dict:
        c, s = math.cos(math.radians(yaw)), math.sin(math.radians(yaw))
        first = len(self.objects)
        for shape, (lx, ly, lz), size, mat, *flags in parts:
            self.objects.append({"shape": shape, "colour": mat["colour"], "pattern": mat["pattern"],
                                 "rgb": list(mat["rgb"]), "scale": mat["scale"],
                                 "center": [x + c * lx + s * lz, y0 + ly, z - s * lx + c * lz],
                                 "size": list(size), "yaw": yaw, "support": None, "group": len(self.groups),
                                 "emit": "emit" in flags})
        entry = {"kind": kind, "slots": [first, len(self.objects)], **info}
        self.groups.append(entry)
        return entry


# --- rooms ----------------------------------------------------------------------------------

ROOM_KINDS = ("bedroom", "living room", "kitchen", "dining room", "office")
_ROOM_FLOORS = (("wooden floor", "planks", "brown", 2.2, (0.68, 0.47, 0.3)),
                ("tiled floor", "tiles", "white", 2.5, (0.8, 0.78, 0.74)),
                ("carpet", "fabric", "gray", 30.0, None),
                ("stone floor", "tiles", "gray", 1.2, (0.62, 0.6, 0.56)))
_ROOM_WALLS = (("plaster", "plaster", 1.0), ("paint", "plaster", 2.0), ("wallpaper", "stripes", 6.0),
               ("brick", "brick", 3.0), ("tiles", "tiles", 5.0))
_WALL_COLOURS = ("white", "white", "gray", "yellow", "blue", "green", "pink", "teal", "orange")
_FABRICS = ("red", "blue", "green", "gray", "teal", "purple", "brown", "orange", "white", "pink")
_PAINTS = ("white", "gray", "black", "blue", "green", "red", "yellow")
_WOOD = (0.6, 0.4, 0.24)


def _wood(rng: random.Random, scale: float = 8.0) -> dict:
    return _mat(rng.choice(("wood", "planks")), "brown", scale, _tint(_WOOD, rng, 0.25), "wooden")


def _finish(rng: random.Random, pattern: str = "plain", scale: float = 1.0) -> dict:
    """Painted or wooden (furniture)."""
    if rng.random() < 0.5:
        return _wood(rng, 6.0 if pattern == "plain" else scale)
    return _mat(pattern, rng.choice(_PAINTS), scale)


def _legs(w: float, d: float, h: float, mat: dict, inset: float = 0.06, r: float = 0.025) -> list[tuple]:
    return [("box", (sx * (w / 2 - inset), h / 2, sz * (d / 2 - inset)), (r, h / 2, r), mat)
            for sx in (-1, 1) for sz in (-1, 1)]


def table(rng, low: bool = False) -> tuple[list, tuple[float, float]]:
    """A table: top + 4 legs (or a round top on a pedestal). Returns parts, footprint (w, d)."""
    h = rng.uniform(0.38, 0.46) if low else rng.uniform(0.7, 0.77)
    mat = _finish(rng)
    if not low and rng.random() < 0.3:
        r = rng.uniform(0.4, 0.6)
        return [("cylinder", (0, h - 0.02, 0), (r, 0.02, r), mat),
                ("cylinder", (0, h / 2, 0), (0.05, h / 2 - 0.02, 0.05), mat),
                ("cylinder", (0, 0.015, 0), (0.25, 0.015, 0.25), mat)], (2 * r, 2 * r)
    w, d = (rng.uniform(0.8, 1.2), rng.uniform(0.5, 0.7)) if low else (rng.uniform(0.9, 1.6), rng.uniform(0.6, 0.9))
    return [("box", (0, h - 0.02, 0), (w / 2, 0.02, d / 2), mat), *_legs(w, d, h - 0.04, mat)], (w, d)


def chair(rng, mat: dict | None = None) -> tuple[list, tuple[float, float]]:
    """Seat, back (at +z) and 4 legs."""
    mat = mat or _finish(rng)
    seat = 0.45
    return [("box", (0, seat, 0), (0.21, 0.025, 0.21), mat),
            ("box", (0, seat + 0.25, 0.19), (0.21, 0.22, 0.02), mat),
            *_legs(0.42, 0.42, seat - 0.025, mat, inset=0.03, r=0.02)], (0.45, 0.45)


def bed(rng) -> tuple[list, tuple[float, float]]:
    """Frame, mattress, headboard (at +z, against the wall), pillow."""
    w, length = rng.choice((rng.uniform(0.9, 1.1), rng.uniform(1.4, 1.8))), rng.uniform(1.95, 2.1)
    frame = _wood(rng)
    cover = _mat(rng.choice(("fabric", "plain", "stripes")), rng.choice(_FABRICS), 12.0)
    return [("box", (0, 0.15, 0), (w / 2, 0.15, length / 2), frame),
            ("box", (0, 0.4, -0.02), (w / 2 - 0.03, 0.1, length / 2 - 0.04), cover),
            ("box", (0, 0.5, length / 2 - 0.04), (w / 2, 0.5, 0.04), frame),
            ("box", (0, 0.55, length / 2 - 0.3), (w / 2 - 0.12, 0.06, 0.16), _mat("plain", "white"))], (w, length)


def sofa(rng, seats: float | None = None) -> tuple[list, tuple[float, float]]:
    """Base, back cushion (at +z), two arms; fabric."""
    w = seats or rng.uniform(1.6, 2.3)
    mat = _mat("fabric", rng.choice(_FABRICS), 25.0)
    return [("box", (0, 0.22, 0), (w / 2, 0.22, 0.45), mat),
            ("box", (0, 0.66, 0.35), (w / 2, 0.22, 0.1), mat),
            ("box", (-(w / 2 - 0.1), 0.58, -0.05), (0.1, 0.14, 0.4), mat),
            ("box", (w / 2 - 0.1, 0.58, -0.05), (0.1, 0.14, 0.4), mat)], (w, 0.9)


def cabinet(rng, tall: bool = False) -> tuple[list, tuple[float, float]]:
    """A cupboard / dresser / nightstand: one box with door panels."""
    w, h, d = (rng.uniform(0.6, 1.0), rng.uniform(1.7, 2.0), 0.5) if tall else \
              (rng.uniform(0.4, 1.4), rng.uniform(0.5, 0.9), rng.uniform(0.4, 0.5))
    return [("box", (0, h / 2, 0), (w / 2, h / 2, d / 2), _finish(rng, "panels", 1.0))], (w, d)


def shelf(rng) -> tuple[list, tuple[float, float]]:
    w, h = rng.uniform(0.7, 1.1), rng.uniform(1.6, 2.0)
    return [("box", (0, h / 2, 0), (w / 2, h / 2, 0.16), _mat("books", "brown", 1.0, _tint(_WOOD, rng, 0.3)))], (w, 0.32)


def counter(rng, length: float) -> tuple[list, tuple[float, float]]:
    """Kitchen units: base cupboards, a worktop, wall cupboards above."""
    paint = _mat("panels", rng.choice(_PAINTS), 1.0)
    top = _mat("speckle", "gray", 40.0, _tint((0.75, 0.73, 0.7), rng))
    return [("box", (0, 0.43, 0), (length / 2, 0.43, 0.3), paint),
            ("box", (0, 0.885, -0.01), (length / 2 + 0.01, 0.025, 0.31), top),
            ("box", (0, 1.85, 0.13), (length / 2, 0.35, 0.17), paint)], (length, 0.62)


def fridge(rng) -> tuple[list, tuple[float, float]]:
    return [("box", (0, 0.9, 0), (0.35, 0.9, 0.33), _mat("panels", rng.choice(("white", "gray")), 0.6))], (0.7, 0.66)


def rug(rng) -> tuple[list, tuple[float, float]]:
    w, d = rng.uniform(1.4, 2.6), rng.uniform(1.0, 1.8)
    return [("box", (0, 0.006, 0), (w / 2, 0.006, d / 2), _mat("fabric", rng.choice(_FABRICS), 20.0))], (w, d)


def plant(rng) -> tuple[list, tuple[float, float]]:
    r = rng.uniform(0.12, 0.2)
    pot = rng.uniform(0.15, 0.25)
    leaves = _mat("speckle", "green", 30.0, _tint((0.22, 0.5, 0.2), rng))
    return [("cylinder", (0, pot, 0), (r, pot, r), _mat("plain", rng.choice(("white", "brown", "gray")))),
            ("sphere", (0, 2 * pot + 1.6 * r, 0), (2 * r, 2.2 * r, 2 * r), leaves)], (4 * r, 4 * r)


def door(rng) -> tuple[list, tuple[float, float]]:
    return [("box", (0, 1.03, 0), (0.44, 1.03, 0.025), _finish(rng, "panels", 0.7))], (0.88, 0.05)


def picture(rng) -> tuple[list, tuple[float, float]]:
    w, h = rng.uniform(0.3, 0.6), rng.uniform(0.2, 0.4)
    art = _mat(rng.choice(("checker", "stripes", "speckle")), rng.choice(tuple(PALETTE)), 8.0)
    return [("box", (0, rng.uniform(1.4, 1.7), 0), (w, h, 0.015), art)], (2 * w, 0.03)


def clutter(rng, w: float, d: float, top: float, n: int) -> list[tuple]:
    """Small things (cups, bowls, books, vases, boxes) on a top of size w x d at height top."""
    parts = []
    for k in range(n):
        x, z = (rng.uniform(-0.35, 0.35) + 0.3 * (k - (n - 1) / 2)) * w * 0.6, rng.uniform(-0.3, 0.3) * d
        mat = _mat(rng.choice(("plain", "plain", "stripes")), rng.choice(tuple(PALETTE)), 30.0)
        kind = rng.randrange(4)
        if kind == 0:
            r, h = rng.uniform(0.035, 0.05), rng.uniform(0.04, 0.06)
            parts.append(("cylinder", (x, top + h, z), (r, h, r), mat))
        elif kind == 1:
            r = rng.uniform(0.06, 0.1)
            parts.append(("sphere", (x, top + 0.4 * r, z), (r, 0.4 * r, r), mat))
        elif kind == 2:
            h = rng.uniform(0.01, 0.03)
            parts.append(("box", (x, top + h, z), (rng.uniform(0.08, 0.12), h, rng.uniform(0.1, 0.14)), mat))
        else:
            r, h = rng.uniform(0.04, 0.07), rng.uniform(0.08, 0.15)
            parts.append(("cylinder", (x, top + h, z), (r, h, r), mat))
    return parts


def lamp(rng, top: float) -> list[tuple]:
    """A bedside lamp standing on a top at height `top`: a stem and a cone shade."""
    shade = _mat("plain", rng.choice(("white", "yellow", "orange")))
    return [("cylinder", (0, top + 0.12, 0), (0.015, 0.12, 0.015), _mat("plain", "gray")),
            ("cone", (0, top + 0.3, 0), (0.13, 0.11, 0.13), shade, "emit")]


# What each kind of room holds: (item, chance, where) in placement order; where: wall or free.
_ROOM_ITEMS = {
    "bedroom": (("bed", 1.0, "wall"), ("nightstand", 0.8, "wall"), ("dresser", 0.6, "wall"),
                ("wardrobe", 0.3, "wall"), ("rug", 0.4, "free"), ("picture", 0.5, "wall"),
                ("door", 0.5, "wall"), ("plant", 0.3, "wall"), ("chair", 0.25, "free")),
    "living room": (("sofa", 1.0, "wall"), ("coffee table", 0.8, "free"), ("tv cabinet", 0.7, "wall"),
                    ("armchair", 0.5, "free"), ("bookshelf", 0.6, "wall"), ("rug", 0.6, "free"),
                    ("picture", 0.5, "wall"), ("plant", 0.5, "wall"), ("door", 0.4, "wall")),
    "kitchen": (("counter", 1.0, "wall"), ("fridge", 0.7, "wall"), ("dining set", 0.7, "free"),
                ("door", 0.4, "wall"), ("plant", 0.2, "wall")),
    "dining room": (("dining set", 1.0, "free"), ("dresser", 0.7, "wall"), ("picture", 0.6, "wall"),
                    ("bookshelf", 0.3, "wall"), ("plant", 0.4, "wall"), ("door", 0.4, "wall")),
    "office": (("desk", 1.0, "wall"), ("bookshelf", 0.8, "wall"), ("cabinet", 0.5, "wall"),
               ("wardrobe", 0.2, "wall"), ("plant", 0.4, "wall"), ("door", 0.4, "wall"),
               ("picture", 0.4, "wall")),
}
_ON_WALL = {"picture"}  # hangs on the wall (not on the floor)


def _item(rng: random.Random, item: str) -> list[tuple[str, list, tuple]]:
    """The assemblies of one room item: [(kind, parts, footprint (w, d))].

    The first is placed as asked; the others (chairs of a dining set / desk) around it.
    """
    if item == "bed":
        return [("bed", *bed(rng))]
    if item in ("nightstand", "dresser", "cabinet", "tv cabinet"):
        parts, (w, d) = cabinet(rng)
        if item == "nightstand":
            parts, (w, d) = [("box", (0, 0.27, 0), (0.22, 0.27, 0.2), parts[0][3])], (0.44, 0.4)
            parts += lamp(rng, 0.54) if rng.random() < 0.7 else []
        top = parts[0][1][1] + parts[0][2][1]
        if item == "tv cabinet":
            tw = min(w / 2, rng.uniform(0.4, 0.6))
            parts.append(("box", (0, top + 0.3, 0.05), (tw, 0.28 * tw / 0.5, 0.03), _mat("plain", "black")))
        elif item != "nightstand" and rng.random() < 0.6:
            parts += clutter(rng, w, d, top, rng.randint(1, 3))
        return [("tv" if item == "tv cabinet" else "cabinet" if item != "nightstand" else "nightstand", parts, (w, d))]
    if item == "wardrobe":
        return [("wardrobe", *cabinet(rng, tall=True))]
    if item == "bookshelf":
        return [("bookshelf", *shelf(rng))]
    if item in ("sofa", "armchair"):
        return [(item, *sofa(rng, rng.uniform(0.8, 0.95) if item == "armchair" else None))]
    if item == "coffee table":
        parts, (w, d) = table(rng, low=True)
        return [("table", parts + clutter(rng, w, d, parts[0][1][1] + 0.02, rng.randint(0, 2)), (w, d))]
    if item in ("dining set", "desk"):
        parts, (w, d) = table(rng)
        if item == "desk":
            w, d = min(w, 1.4), min(d, 0.75)
            parts = [("box", (0, 0.735, 0), (w / 2, 0.02, d / 2), parts[0][3]), *_legs(w, d, 0.715, parts[0][3])]
            parts.append(("box", (0, 0.755 + 0.2, 0.1), (0.25, 0.16, 0.02), _mat("plain", "black")))
            parts += clutter(rng, w * 0.5, d * 0.4, 0.755, rng.randint(0, 2))
        else:
            parts += clutter(rng, w, d, parts[0][1][1] + 0.02, rng.randint(0, 3))
        out = [("desk" if item == "desk" else "table", parts, (w, d))]
        n_chairs = 1 if item == "desk" else rng.randint(2, 4)
        mat = _finish(rng)
        for _ in range(n_chairs):
            out.append(("chair", *chair(rng, mat)))
        return out
    if item == "counter":
        return [("counter", *counter(rng, rng.uniform(1.6, 2.8)))]
    if item == "fridge":
        return [("fridge", *fridge(rng))]
    if item == "rug":
        return [("rug", *rug(rng))]
    if item == "plant":
        return [("plant", *plant(rng))]
    if item == "door":
        return [("door", *door(rng))]
    if item == "chair":
        return [("chair", *chair(rng))]
    return [("picture", *picture(rng))]


def _overlaps(box, boxes) -> bool:
    return any(box[0] < b[1] and b[0] < box[1] and box[2] < b[3] and b[2] < box[3] for b in boxes)


def _wall_spot(rng, room: dict, w: float, d: float):
    """Centre (x, z), yaw and footprint box of an item whose back touches a side or the back wall."""
    wall = rng.choice(("left", "right", "back", "back"))
    gap = 0.03
    if wall == "back":
        x = rng.uniform(room["x_left"] + w / 2 + 0.05, room["x_right"] - w / 2 - 0.05)
        z = room["z_back"] - d / 2 - gap
        return x, z, 0.0, (x - w / 2, x + w / 2, z - d / 2, z + d / 2)
    z = rng.uniform(max(room["z_front"] + w / 2 + 0.05, 0.6), room["z_back"] - w / 2 - 0.05)
    if wall == "left":
        x = room["x_left"] + d / 2 + gap
        return x, z, -90.0, (x - d / 2, x + d / 2, z - w / 2, z + w / 2)
    x = room["x_right"] - d / 2 - gap
    return x, z, 90.0, (x - d / 2, x + d / 2, z - w / 2, z + w / 2)


def _free_spot(rng, room: dict, w: float, d: float, near: float):
    """Centre, yaw and footprint box of a free-standing item at least `near` metres ahead of the camera."""
    yaw = rng.choice((0.0, 90.0)) + rng.uniform(-20, 20)
    reach = math.hypot(w, d) / 2
    x = rng.uniform(room["x_left"] + reach + 0.3, room["x_right"] - reach - 0.3)
    z = rng.uniform(max(room["z_front"] + reach + 0.3, near + reach), room["z_back"] - reach - 0.3)
    return x, z, yaw, (x - reach, x + reach, z - reach, z + reach)


def _place_room_items(rng: random.Random, room: dict, kind: str, cam_x: float, most: int, near: float) -> Assembler:
    """Furniture of a room `kind`, without overlaps and off the camera's spot (free-standing items from
    `near` metres ahead)."""
    out = Assembler()
    taken = [(cam_x - 0.5, cam_x + 0.5, room["z_front"] - 1, 0.7)]
    for item, chance, where in _ROOM_ITEMS[kind]:
        if rng.random() >= chance:
            continue
        group = _item(rng, item)
        n_parts = sum(len(g[1]) for g in group)
        if len(out.objects) + n_parts > most:
            continue
        _, parts, (w, d) = group[0]
        for _attempt in range(12):
            x, z, yaw, box = _wall_spot(rng, room, w, d) if where == "wall" else _free_spot(rng, room, w, d, near)
            chairs = _chair_spots(x, z, yaw, w, d, len(group) - 1)
            boxes = [box] + [c[3] for c in chairs]
            flat = item in _ON_WALL or item == "rug"  # hangs above / lies under the others
            if all(_inside(b, room) for b in boxes) and (flat or not any(_overlaps(b, taken) for b in boxes)):
                break
        else:
            continue
        if not flat:
            taken += boxes
        colour, material = _describe_parts(parts)
        out.add(group[0][0], parts, x, z, yaw, colour=colour, material=material)
        for (kind_c, parts_c, _), (cx, cz, cyaw, _) in zip(group[1:], chairs):
            colour, material = _describe_parts(parts_c)
            out.add(kind_c, parts_c, cx, cz, cyaw, colour=colour, material=material)
    return out


def _inside(box, room) -> bool:
    return (room["x_left"] <= box[0] and box[1] <= room["x_right"] and room["z_front"] <= box[2]
            and box[3] <= room["z_back"])


def _chair_spots(x: float, z: float, yaw: float, w: float, d: float, n: int) -> list[tuple]:
    """Chairs around a table (or at a desk: in front of it), facing it (their backs away)."""
    c, s = math.cos(math.radians(yaw)), math.sin(math.radians(yaw))
    spots = [(0.0, -(d / 2 + 0.3), 180.0), (0.0, d / 2 + 0.3, 0.0), (-(w / 2 + 0.3), 0.0, 90.0),
             (w / 2 + 0.3, 0.0, -90.0)]
    out = []
    for lx, lz, turn in spots[:n]:
        cx, cz = x + c * lx + s * lz, z - s * lx + c * lz
        out.append((cx, cz, yaw + turn, (cx - 0.25, cx + 0.25, cz - 0.25, cz + 0.25)))
    return out


def _describe_parts(parts: list) -> tuple[str, str]:
    """Colour and material word of an assembly (from its first, largest part)."""
    mat = parts[0][3]
    material = "wooden" if mat["name"] == "wooden" else {"fabric": "fabric"}.get(mat["pattern"], "")
    return mat["colour"], material


def _openings(rng: random.Random, room: dict) -> list[dict]:
    """0-2 windows on the side and back walls: a (horizontal range along the wall), y (sill, top)."""
    out = []
    for _ in range(rng.choice((0, 1, 1, 2, 2))):
        wall = rng.choice(("left", "right", "back"))
        width = rng.uniform(0.8, 2.0)
        lo, hi = (room["x_left"], room["x_right"]) if wall == "back" else (max(room["z_front"], 0.5), room["z_back"])
        if hi - lo < width + 0.4:
            continue
        a = rng.uniform(lo + 0.2, hi - width - 0.2)
        sill = rng.uniform(0.7, 1.0)
        span = [a, a + width]
        if any(o["wall"] == wall and span[0] < o["a"][1] + 0.3 and o["a"][0] < span[1] + 0.3 for o in out):
            continue
        out.append({"kind": "window", "wall": wall, "a": span, "y": [sill, min(room["height"] - 0.25, sill + rng.uniform(1.0, 1.4))]})
    return out


def room_graph(seed: int, stretch: bool = True, most: int = 40, close: bool = False) -> dict:
    """An indoor room (see module docstring); at most `most` object slots.

    close: the `closeup` family: a smaller room (2.6-4.2 m wide and deep instead of 3.2-6 and 3.8-7),
    the camera of `CLOSE_CAMERA`, and free-standing furniture from 0.55 m ahead instead of 1.2 m;
    the graph says so with `"view": "close"` and renders as a room.
    """
    rng = random.Random(seed ^ 0xA11CE)
    kind = rng.choice(ROOM_KINDS)
    width, offset = rng.uniform(*((2.6, 4.2) if close else (3.2, 6.0))), rng.uniform(0.3, 0.7)
    z_front = -rng.uniform(0.3, 1.2)
    depth = rng.uniform(*((2.6, 4.2) if close else (3.8, 7.0)))
    room = {"x_left": -width * offset, "x_right": width * (1 - offset), "z_front": z_front,
            "z_back": z_front + depth, "height": rng.uniform(2.4, 3.0), "ceiling": True, "kind": kind}
    cam = camera(rng, CLOSE_CAMERA if close else ROOM_CAMERA, stretch)
    name, pattern, colour, scale, rgb = rng.choice(_ROOM_FLOORS[:2] if kind == "kitchen" else _ROOM_FLOORS)
    floor = _mat(pattern, rng.choice(_FABRICS) if pattern == "fabric" else colour, scale,
                 _tint(rgb, rng) if rgb else None, name)
    wname, wpattern, wscale = rng.choice(_ROOM_WALLS[:2] + _ROOM_WALLS[4:] if kind == "kitchen" else _ROOM_WALLS)
    wcolour = "red" if wpattern == "brick" else rng.choice(_WALL_COLOURS)
    base = (0.66, 0.32, 0.24) if wpattern == "brick" else [0.55 + 0.45 * c for c in PALETTE[wcolour]]
    walls = _mat(wpattern, wcolour, wscale, _tint(base, rng, 0.06), wname)
    room["openings"] = _openings(rng, room)
    things = _place_room_items(rng, room, kind, cam["x"], most - 2, near=0.55 if close else 1.2)
    lights = []
    for _ in range(rng.choice((1, 1, 2))):
        lx = rng.uniform(room["x_left"] + 0.8, room["x_right"] - 0.8)
        lz = rng.uniform(max(0.8, z_front + 0.8), room["z_back"] - 0.8)
        r = rng.uniform(0.15, 0.3)
        things.add("ceiling light", [("cylinder", (0, room["height"] - 0.02, 0), (r, 0.02, r), _mat("plain", "white"), "emit")],
                   lx, lz, 0.0, colour="white", material="")
        lights.append([lx, room["height"] - 0.3, lz])
    outside = _mat("speckle", "green", 4.0, _tint((0.55, 0.75, 0.45), rng), "garden")
    graph = {"seed": seed, "family": "room", "indoor": True, "camera": cam, "room": room, "floor": floor,
             "walls": walls, "ceiling": _mat("plaster", "white", 1.0, (0.93, 0.93, 0.91)), "outside": outside,
             "sky": rng.choice(("clear", "overcast")), "light": {"type": "point", "position": lights[0]},
             "falloff": rng.uniform(0.02, 0.08), "ambient": rng.uniform(0.3, 0.5), "fog": 0.0,
             "objects": things.objects, "furniture": things.groups, "sensor": sensor_effects(rng)}
    return (graph | {"view": "close"}) if close else graph


# --- streets --------------------------------------------------------------------------------

_CAR_COLOURS = ("white", "white", "black", "gray", "gray", "red", "blue", "green", "yellow", "orange")
_FACADES = (("white", (0.88, 0.86, 0.8)), ("gray", (0.6, 0.6, 0.6)), ("yellow", (0.85, 0.75, 0.5)),
            ("brick", (0.62, 0.33, 0.25)), ("brown", (0.6, 0.45, 0.32)), ("pink", (0.85, 0.65, 0.6)))


def car(rng: random.Random) -> list[tuple]:
    """Body, cabin (glass) and 4 wheels (cylinders along x); the car points along z."""
    colour = rng.choice(_CAR_COLOURS)
    body = _mat("plain", colour, 1.0, _tint(PALETTE[colour], rng, 0.08))
    length, width = rng.uniform(3.8, 4.8), rng.uniform(1.7, 1.9)
    glass = _mat("plain", "black", 1.0, (0.16, 0.18, 0.22))
    tyre = _mat("plain", "black")
    wheel_r, wx, wz = 0.32, width / 2 - 0.12, length / 2 - 0.75
    cabin_len = length * rng.uniform(0.45, 0.55)
    return [("box", (0, 0.68, 0), (width / 2, 0.32, length / 2), body),
            ("box", (0, 1.22, rng.uniform(-0.1, 0.25)), (width / 2 - 0.08, 0.22, cabin_len / 2), glass),
            *[("wheel", (sx * wx, wheel_r, sz * wz), (0.12, wheel_r, wheel_r), tyre) for sx in (-1, 1) for sz in (-1, 1)]]


def tree(rng: random.Random) -> list[tuple]:
    trunk_h, r = rng.uniform(1.2, 2.2), rng.uniform(1.0, 2.0)
    bark = _mat("speckle", "brown", 20.0, _tint((0.4, 0.3, 0.2), rng))
    leaves = _mat("speckle", "green", 8.0, _tint((0.25, 0.45, 0.18), rng, 0.2))
    t = rng.uniform(0.1, 0.18)
    return [("cylinder", (0, trunk_h, 0), (t, trunk_h, t), bark),
            ("sphere", (0, 2 * trunk_h + 0.7 * r, 0), (r, r * rng.uniform(0.9, 1.3), r), leaves)]


def street_light(rng: random.Random, toward: float) -> list[tuple]:
    """A pole with a lamp head reaching `toward` (+1 / -1 in x) over the road."""
    h = rng.uniform(3.5, 4.5)
    metal = _mat("plain", "gray", 1.0, (0.4, 0.42, 0.44))
    return [("cylinder", (0, h, 0), (0.07, h, 0.07), metal),
            ("box", (toward * 0.45, 2 * h, 0), (0.5, 0.06, 0.12), metal)]


def street_graph(seed: int, stretch: bool = True, most: int = 44) -> dict:
    """A street (see module docstring); at most `most` object slots."""
    rng = random.Random(seed ^ 0x57EE7)
    lanes = rng.choice((1, 1, 2))  # per direction
    road = 3.5 * lanes
    walk_l, walk_r = rng.uniform(2.0, 4.5), rng.uniform(2.0, 4.5)
    lane = rng.randrange(lanes)
    cam = camera(rng, STREET_CAMERA, stretch, x=1.75 + 3.5 * lane + rng.uniform(-0.4, 0.4))
    closed = rng.random() < 0.5
    street = {"road": [-road, road], "x_left": -road - walk_l, "x_right": road + walk_r,
              "z_end": rng.uniform(45.0, 75.0) if closed else None,
              "heights": sorted((rng.uniform(5.0, 10.0), rng.uniform(12.0, 26.0))), "segment": FACADE_SEGMENT}
    facade = []
    for name, rgb in rng.sample(_FACADES, 3):
        facade.append(_mat("facade", "red" if name == "brick" else name, 1 / 3, _tint(rgb, rng, 0.08), name))
    things = Assembler()
    spots: list[tuple[float, float, float]] = []  # (x, z, radius) on the ground
    budget = lambda n: len(things.objects) + n <= most  # noqa: E731

    def free(x, z, r):
        return all(math.hypot(x - a, z - b) > r + c for a, b, c in spots)

    for _ in range(rng.randint(0, 6)):  # cars: parked at the kerbs, or driving in a lane
        parked = rng.random() < 0.6
        side = rng.choice((-1, 1))
        x = side * (road - 1.1) if parked else rng.choice([1.75 + 3.5 * k for k in range(lanes)] + [-1.75 - 3.5 * k for k in range(lanes)])
        z = rng.uniform(5.0, 45.0)
        if not (budget(6) and free(x, z, 2.6) and abs(x - cam["x"]) + z > 4):
            continue
        yaw = (180.0 if x < 0 else 0.0) + rng.uniform(-4, 4)
        parts = car(rng)
        things.add("car", parts, x, z, yaw, colour=parts[0][3]["colour"], parked=parked)
        spots.append((x, z, 2.6))
    for _ in range(rng.randint(0, 6)):
        side = rng.choice((-1, 1))
        x = -road - rng.uniform(0.8, walk_l - 0.5) if side < 0 else road + rng.uniform(0.8, walk_r - 0.5)
        z = rng.uniform(3.0, 50.0)
        if budget(2) and free(x, z, 1.8):
            things.add("tree", tree(rng), x, z, 0.0, colour="green")
            spots.append((x, z, 1.8))
    for k in range(rng.randint(0, 3)):
        side = rng.choice((-1, 1))
        x, z = side * (road + 0.5), rng.uniform(4.0, 40.0)
        if budget(2) and free(x, z, 1.0):
            things.add("street light", street_light(rng, -side), x, z, 0.0, colour="gray")
            spots.append((x, z, 1.0))
    elev, azim = math.radians(rng.uniform(15, 60)), math.radians(rng.uniform(-150, 150))
    return {"seed": seed, "family": "street", "indoor": False, "camera": cam, "room": None, "street": street,
            "floor": _mat("road", "gray", 1.0, _tint((0.62, 0.62, 0.64), rng, 0.06), "road"),
            "pavement": _mat(rng.choice(("tiles", "brick")), "gray", 2.0, _tint((0.68, 0.66, 0.62), rng), "pavement"),
            "walls": facade[0], "facades": facade, "sky": rng.choice(("clear", "clear", "overcast", "sunset")),
            "light": {"type": "sun", "direction": [math.cos(elev) * math.sin(azim), math.sin(elev),
                                                   -math.cos(elev) * math.cos(azim)]},
            "ambient": rng.uniform(0.3, 0.5), "fog": rng.uniform(0.0, 0.006), "objects": things.objects,
            "things": things.groups, "sensor": sensor_effects(rng)}


# --- the open family: primitives on a floor or the ground (the original world) -----------

SHAPES = ("sphere", "box", "cylinder", "cone")  # the open family's draws
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
_OPEN_WALL_COLOURS = ("white", "gray", "yellow", "blue", "green", "pink", "teal")
_OBJECT_PATTERNS = ("plain", "plain", "checker", "stripes", "speckle", "wood")
_STACK_PROB = 0.35  # chance that a box carries a smaller object on top
_OBJECT_SCALE = {"checker": 5.0, "stripes": 8.0, "speckle": 12.0, "wood": 10.0, "plain": 1.0}


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


def open_graph(seed: int, cfg) -> dict:
    """The open family: 1-6 primitives on a floor (rooms of three walls) or on the ground
    (cfg: a `world.WorldConfig`: fov, pitch, height, indoor_prob, max_objects)."""
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
        walls["colour"] = rng.choice(_OPEN_WALL_COLOURS)
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
    return {"seed": seed, "family": "open", "indoor": indoor, "camera": cam, "room": room, "floor": floor,
            "walls": walls, "sky": sky, "light": light, "ambient": rng.uniform(0.25, 0.45),
            "fog": 0.0 if indoor or rng.random() < 0.5 else rng.uniform(0.005, 0.03),
            "objects": objects}
