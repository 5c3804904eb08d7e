"""Captions from a rendered scene graph: templates, synonyms, counts and true spatial relations.

Only objects visible in the rendered image (see `world.describe`) are named, and every
relation is checked against the image (left/right: pixel centroids) or the geometry
(in front of / behind: camera-frame depth of the centres, with overlapping columns; on:
the scene graph's support).
Rooms and streets name their family ("a bedroom with ...", "a street with ...") and the
assemblies (furniture, cars, trees) whose parts cover enough of the image.
Captions stay at most 25 words (the text encoder's window is 32 tokens).
"""
from __future__ import annotations

import random

MAX_WORDS = 25
NOUNS = {"sphere": ("sphere", "ball"), "box": ("box", "block"), "cube": ("cube", "box", "block"),
         "cylinder": ("cylinder", "pillar"), "cone": ("cone",)}
PLURAL = {"box": "boxes"}
ADJECTIVES = {"plain": "", "checker": "checkered", "stripes": "striped", "speckle": "speckled", "wood": "wooden"}
NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
RELATIONS = {"left": ("to the left of", "left of"), "right": ("to the right of", "right of"),
             "front": ("in front of",), "behind": ("behind",), "on": ("on", "on top of")}
GROUND_PLACES = {"grass": ("on the grass", "on a grassy field"), "sand": ("on the sand", "on a sandy beach"),
                 "pavement": ("on the pavement", "on a paved square"), "dirt": ("on the dirt", "on bare dirt")}
SKY_PLACES = {"clear": "under a clear sky", "overcast": "under an overcast sky", "sunset": "at sunset"}


def shape_name(obj: dict) -> str:
    """'cube' for a box with equal sides, else the shape."""
    cube = obj["shape"] == "box" and max(obj["size"]) - min(obj["size"]) < 1e-6
    return "cube" if cube else obj["shape"]


def _plural(noun: str) -> str:
    return PLURAL.get(noun, noun + "s")


def _article(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def _phrase(obj: dict, rng: random.Random) -> str:
    """'small red striped ball' (no article)."""
    extent = max(obj["size"])
    size = "small" if extent < 0.22 else rng.choice(("large", "big")) if extent > 0.45 else ""
    colour = "" if obj["pattern"] == "wood" else obj["colour"]
    words = (size, colour, ADJECTIVES[obj["pattern"]], rng.choice(NOUNS[shape_name(obj)]))
    return " ".join(w for w in words if w)


def _place(graph: dict, rng: random.Random) -> str:
    floor = graph["floor"]["name"]
    if graph["indoor"]:
        walls = graph["walls"]
        wall = walls["name"] if walls["pattern"] != "plain" else f"{walls['colour']} walls"
        return rng.choice((f"on a {floor}", f"in a room with a {floor}", f"in a room with {wall}"))
    place = rng.choice(GROUND_PLACES[floor])
    return place if rng.random() < 0.5 else f"{place} {SKY_PLACES[graph['sky']]}"


def relation(a: dict, b: dict, res: int) -> str | None:
    """How visible object `a` relates to `b`, or None when nothing is clear-cut."""
    if a.get("support") == b["index"]:
        return "on"
    if b.get("support") == a["index"]:
        return None
    (ua, _), (ub, _) = a["centroid"], b["centroid"]
    (a0, a1), (b0, b1) = a["columns"], b["columns"]
    overlap = min(a1, b1) - max(a0, b0) > 0
    if overlap and a["depth"] + max(a["size"]) < b["depth"] - max(b["size"]):
        return "front"
    if overlap and b["depth"] + max(b["size"]) < a["depth"] - max(a["size"]):
        return "behind"
    if a1 < b0 and ub - ua > 0.15 * res:
        return "left"
    if b1 < a0 and ua - ub > 0.15 * res:
        return "right"
    return None


def _counts(objs: list[dict]) -> str:
    shapes = sorted({shape_name(o) for o in objs})
    groups = []
    for s in shapes:
        n = sum(shape_name(o) == s for o in objs)
        groups.append(_article(s) if n == 1 else f"{NUMBERS[n]} {_plural(s)}")
    return groups[0] if len(groups) == 1 else ", ".join(groups[:-1]) + " and " + groups[-1]


def _listing(objs: list[dict], rng: random.Random) -> str:
    items = [_article(_phrase(o, rng)) for o in objs]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def caption(graph: dict, res: int) -> tuple[str, list]:
    """A caption for a described scene graph, and the relations it states [(i, rel, j)].

    Deterministic from graph["seed"]; objects are those with graph["objects"][i]["visible"];
    rooms and streets name their visible assemblies (`room_caption`, `street_caption`).
    """
    family = graph.get("family", "open")
    if family == "room":
        return room_caption(graph, res), []
    if family == "street":
        return street_caption(graph, res), []
    rng = random.Random(graph["seed"] ^ 0x5EED)
    objs = [o for o in graph["objects"] if o["visible"]]
    place = _place(graph, rng)
    if not objs:
        scene = "an empty room" if graph["indoor"] else "an empty scene"
        return f"{scene} {place}", []
    pairs = [(i, j, relation(a, b, res)) for i, a in enumerate(objs) for j, b in enumerate(objs) if i != j]
    pairs = [p for p in pairs if p[2]]
    template = rng.choice(("list", "list", "relation", "relation", "count", "scene"))
    if template == "relation" and pairs:
        i, j, rel = rng.choice(pairs)
        text = f"{_article(_phrase(objs[i], rng))} {rng.choice(RELATIONS[rel])} {_article(_phrase(objs[j], rng))} {place}"
        relations = [(objs[i]["index"], rel, objs[j]["index"])]
    elif template == "count" or len(objs) > 3:
        text, relations = f"{_counts(objs)} {place}", []
    elif template == "scene":
        kind = "a room" if graph["indoor"] else "an outdoor scene"
        text, relations = f"{kind} with {_listing(objs, rng)}", []
    else:
        text, relations = f"{_listing(objs, rng)} {place}", []
    if len(text.split()) > MAX_WORDS:
        text, relations = f"{_counts(objs)} {place}", []
    return text, relations


# --- rooms and streets (mofo/data/scenes.py) -------------------------------------------------

# Plane surface ids (world.py): SKY, FLOOR, WALL_LEFT, WALL_RIGHT, WALL_BACK, CEILING, WALL_FRONT, PAVEMENT.
_SKY, _FLOOR, _LEFT, _RIGHT, _BACK, _PAVEMENT = 0, 1, 2, 3, 4, 7
FURNITURE_NOUNS = {"bed": "bed", "table": "table", "chair": "chair", "sofa": "sofa", "armchair": "armchair",
                   "cabinet": "cabinet", "nightstand": "nightstand", "wardrobe": "wardrobe",
                   "bookshelf": "bookshelf", "counter": "kitchen counter", "fridge": "fridge", "tv": "tv",
                   "desk": "desk", "rug": "rug", "plant": "plant", "door": "door", "picture": "picture",
                   "ceiling light": "ceiling lamp", "car": "car", "tree": "tree", "street light": "street light"}


def _shown(graph: dict, entry: dict, res: int) -> bool:
    """An assembly is named when its parts together cover >= 0.5 % of the image."""
    first, stop = entry["slots"]
    return sum(o["pixels"] for o in graph["objects"][first:stop]) >= max(4, 0.005 * res * res)


def _group_phrase(entry: dict, rng: random.Random) -> str:
    noun = FURNITURE_NOUNS[entry["kind"]]
    adjective = entry.get("material") if entry.get("material") == "wooden" else entry.get("colour", "")
    if entry["kind"] in ("plant", "picture", "ceiling light", "tv", "tree", "street light") or rng.random() < 0.3:
        adjective = ""
    return f"{adjective} {noun}".strip()


def _join(items: list[str]) -> str:
    """'a, b and c'."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1] if items else ""


def _grouped_items(entries: list[dict], rng: random.Random, most: int) -> list[str]:
    """['a wooden table', 'two chairs', 'a blue sofa']: one phrase per kind (counted when several)."""
    kinds: dict[str, list[dict]] = {}
    for e in entries:
        kinds.setdefault(e["kind"], []).append(e)
    items = []
    for kind, group in list(kinds.items())[:most]:
        noun = FURNITURE_NOUNS[kind]
        items.append(_article(_group_phrase(group[0], rng)) if len(group) == 1 else f"{NUMBERS[len(group)]} {noun}s")
    return items


def room_caption(graph: dict, res: int) -> str:
    """'a bedroom with a wooden bed, a white cabinet and a window on a tiled floor'."""
    rng = random.Random(graph["seed"] ^ 0x5EED)
    kind = graph["room"]["kind"]
    shown = [e for e in graph["furniture"] if _shown(graph, e, res)]
    outside = graph["surface_pixels"][_SKY] + graph["surface_pixels"][_PAVEMENT]
    items = _grouped_items(shown, rng, 4)
    if outside >= max(4, 0.005 * res * res):
        items.append("a window")
    listing = _join(items)
    floor = graph["floor"]["name"] if graph["surface_pixels"][_FLOOR] >= 0.02 * res * res else ""
    room = rng.choice((_article(kind), _article(kind), f"an indoor {kind}", f"the {kind}"))
    if not listing:
        text = f"an empty {kind}" + (f" with a {floor}" if floor else "")
    elif rng.random() < 0.5:
        text = f"{room} with {listing}" + (f" on a {floor}" if floor and rng.random() < 0.5 else "")
    else:
        text = f"{listing} in {room}"
    return " ".join(text.split()[:MAX_WORDS])


def street_caption(graph: dict, res: int) -> str:
    """'a street with two parked cars, trees and a street light between white buildings under a clear sky'."""
    rng = random.Random(graph["seed"] ^ 0x5EED)
    shown = [e for e in graph["things"] if _shown(graph, e, res)]
    items = []
    cars = [e for e in shown if e["kind"] == "car"]
    if cars:
        parked = "parked " if all(e["parked"] for e in cars) else ""
        items.append(f"a {parked}{cars[0]['colour']} car" if len(cars) == 1 else f"{NUMBERS[len(cars)]} {parked}cars")
    for kind in ("tree", "street light"):
        n = sum(e["kind"] == kind for e in shown)
        if n:
            noun = FURNITURE_NOUNS[kind]
            items.append(_article(noun) if n == 1 else rng.choice((f"{NUMBERS[n]} {noun}s", f"{noun}s")))
    listing = _join(items)
    pixels, enough = graph["surface_pixels"], 0.01 * res * res
    sides = [graph["facades"][i]["name"] for i, sid in enumerate((_LEFT, _RIGHT, _BACK)) if pixels[sid] >= enough]
    names = list(dict.fromkeys(sides))
    buildings = "" if not names else f"between {' and '.join(names[:2])} buildings"
    sky = SKY_PLACES[graph["sky"]] if pixels[_SKY] >= enough and rng.random() < 0.6 else ""
    street = rng.choice(("a street", "a city street", "a road"))
    text = f"{street} with {listing}" if listing else f"an empty {street.split()[-1]}"
    return " ".join(f"{text} {buildings} {sky}".split()[:MAX_WORDS])
