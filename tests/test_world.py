"""The synthetic world: exact depth, occlusion, sky, captions, determinism (mofo/data/world.py)."""
import math
import re

import numpy as np
import pytest
import torch
from conftest import camera_points

from mofo.data import captions, world
from mofo.data.world import (OBJ0, PALETTE, SKY, Scene, WorldConfig, render, render_scenes, sample_graph,
                             scene_seed)


def graph(objects=(), pitch=0.0, height=1.5, fov=60.0, sun=(0.0, 1.0, 0.0)):
    """An outdoor scene without fog, with the given objects."""
    return {"seed": 1, "indoor": False, "camera": {"fov": fov, "pitch": pitch, "height": height}, "room": None,
            "floor": {"name": "sand", "pattern": "plain", "colour": "gray", "rgb": [0.5, 0.5, 0.5], "scale": 1.0},
            "walls": {"name": "plain walls", "pattern": "plain", "colour": "white", "rgb": [1, 1, 1], "scale": 1.0},
            "sky": "clear", "light": {"type": "sun", "direction": list(sun)}, "ambient": 0.3, "fog": 0.0,
            "objects": list(objects)}


def sphere(center, r, colour="red"):
    return {"shape": "sphere", "colour": colour, "pattern": "plain", "rgb": list(PALETTE[colour]), "scale": 1.0,
            "center": list(center), "size": [r, r, r], "yaw": 0.0}


def draw(graphs, res=65, **kw):
    return render(Scene.from_graphs(graphs, res), WorldConfig(res=res, **kw))


def test_sphere_on_axis_has_depth_d_minus_r():
    d, r, res = 7.0, 0.8, 65
    out = draw([graph([sphere((0.0, 1.5, d), r)])], res)
    c = res // 2
    assert out["depth"][0, 0, c, c].item() == pytest.approx(d - r, rel=1e-6)
    assert out["ids"][0, 0, c, c].item() == OBJ0


def test_cone_depth_is_analytic():
    """Side view: the horizontal centre ray meets the side where the radius is r (2H - y) / 2H.
    Top view (steep rays, the other root branch): the centre ray meets the apex."""
    r, half_h, d = 0.8, 0.75, 6.0
    cone = {**sphere((0.0, half_h, d), r), "shape": "cone", "size": [r, half_h, r]}
    side = draw([graph([cone], pitch=0.0, height=0.9)], 65)
    assert side["ids"][0, 0, 32, 32].item() == OBJ0
    assert side["depth"][0, 0, 32, 32].item() == pytest.approx(d - r * (2 * half_h - 0.9) / (2 * half_h), rel=1e-6)
    top = draw([graph([{**cone, "center": [0.0, half_h, 0.0]}], pitch=90.0, height=4.0)], 65)
    assert top["depth"][0, 0, 32, 32].item() == pytest.approx(4.0 - 2 * half_h, rel=1e-5)
    rows = top["ids"][0, 0, 32] == OBJ0  # seen from above, the cone's outline is its base circle
    f = 65 / (2 * math.tan(math.radians(30)))
    assert rows.sum().item() == pytest.approx(2 * r / 4.0 * f, abs=2)


@pytest.mark.parametrize("pitch,height,fov", [(10.0, 1.5, 60.0), (30.0, 2.5, 90.0), (5.0, 1.0, 45.0)])
def test_ground_plane_depth_is_analytic(pitch, height, fov):
    res, cfg = 48, WorldConfig(res=48)
    out = draw([graph(pitch=pitch, height=height, fov=fov)], res)
    f = res / (2 * math.tan(math.radians(fov) / 2))
    y = (np.arange(res) + 0.5 - res / 2) / f  # camera-frame y of the ray with z = 1, per row
    th = math.radians(pitch)
    down = math.cos(th) * y + math.sin(th)  # how fast the ray descends per unit of z
    expected = np.where(down > 0, height / np.where(down > 0, down, 1), 0.0)
    expected = np.where(expected <= cfg.max_depth, expected, 0.0)[:, None].repeat(res, 1)
    depth = out["depth"][0, 0].double().numpy()
    np.testing.assert_allclose(depth, expected, rtol=2e-6)
    assert np.array_equal(out["valid"][0, 0].numpy(), expected > 0)


def _segment_distance(x: np.ndarray, y: np.ndarray, a: tuple, b: tuple) -> np.ndarray:
    """Distance from 2-D points (x, y) to the segment a-b."""
    (ax, ay), (bx, by) = a, b
    ex, ey = bx - ax, by - ay
    s = np.clip(((x - ax) * ex + (y - ay) * ey) / (ex * ex + ey * ey), 0, 1)
    return np.hypot(x - ax - s * ex, y - ay - s * ey)


def _sdf(points: np.ndarray, g: dict) -> np.ndarray:
    """Unsigned distance from points (N, 3) to the nearest surface of scene graph g (float64)."""
    dist = [np.abs(points[:, 1])]
    if g["room"]:
        r = g["room"]
        dist += [np.abs(points[:, 0] - r["x_left"]), np.abs(points[:, 0] - r["x_right"]),
                 np.abs(points[:, 2] - r["z_back"])]
        if r["ceiling"]:
            dist.append(np.abs(points[:, 1] - r["height"]))
    for o in g["objects"]:
        rel = points - np.array(o["center"])
        c, s = math.cos(math.radians(o["yaw"])), math.sin(math.radians(o["yaw"]))
        p = np.stack([c * rel[:, 0] - s * rel[:, 2], rel[:, 1], s * rel[:, 0] + c * rel[:, 2]], 1)
        size = np.array(o["size"])
        if o["shape"] == "sphere":
            dist.append(np.abs(np.linalg.norm(p, axis=1) - size[0]))
        elif o["shape"] == "box":
            q = np.abs(p) - size
            dist.append(np.abs(np.linalg.norm(np.maximum(q, 0), axis=1) + np.minimum(q.max(1), 0)))
        elif o["shape"] == "cylinder":
            q = np.stack([np.hypot(p[:, 0], p[:, 2]) - size[0], np.abs(p[:, 1]) - size[1]], 1)
            dist.append(np.abs(np.linalg.norm(np.maximum(q, 0), axis=1) + np.minimum(q.max(1), 0)))
        else:  # cone: apex (0, h), base rim (r, -h) in the (radius, height) half-plane
            rho, r, h = np.hypot(p[:, 0], p[:, 2]), size[0], size[1]
            dist.append(np.minimum(_segment_distance(rho, p[:, 1], (0.0, h), (r, -h)),
                                   _segment_distance(rho, p[:, 1], (0.0, -h), (r, -h))))
    return np.min(dist, axis=0)


def test_back_projected_depth_lies_on_a_surface():
    cfg = WorldConfig(res=40)
    out = render_scenes([scene_seed(3, "train", i) for i in range(12)], cfg)
    for b, g in enumerate(out["graph"]):
        z, cam = camera_points(out, b)
        th = math.radians(g["camera"]["pitch"])
        rot = np.array([[1, 0, 0], [0, -math.cos(th), -math.sin(th)], [0, -math.sin(th), math.cos(th)]])
        world = cam @ rot + np.array([0.0, g["camera"]["height"], 0.0])
        assert (_sdf(world, g) < 1e-4 * z).all(), b


def test_near_object_occludes_far_one():
    near, far = sphere((0.0, 1.5, 4.0), 1.0, "red"), sphere((0.0, 1.5, 9.0), 0.6, "blue")
    out = draw([graph([near, far]), graph([near]), graph([far])])
    ids, image = out["ids"][:, 0], out["image"]
    assert (ids[2] == OBJ0).sum() > 20  # the far sphere alone is in view ...
    assert not (ids[0] == OBJ0 + 1).any()  # ... but hidden behind the near one
    c = 65 // 2
    assert out["depth"][0, 0, c, c].item() == pytest.approx(3.0, rel=1e-6)
    on_near = ids[1] == OBJ0
    assert torch.equal(image[0][:, on_near], image[1][:, on_near])  # no blue shows through


def test_sky_has_no_depth():
    out = draw([graph(pitch=5.0)], 32)
    sky = out["ids"][0, 0] == SKY
    assert sky[0].all() and not sky[-1].any()
    assert (out["depth"][0, 0][sky] == 0).all() and not out["valid"][0, 0][sky].any()
    image = out["image"][0]
    assert (image[2][sky] > image[0][sky]).all()  # the clear sky is blue


def test_render_is_batch_and_chunk_invariant():
    seeds = [scene_seed(0, "train", i) for i in range(10)]
    a = render_scenes(seeds, WorldConfig(res=32))
    b = render_scenes(seeds[3:4], WorldConfig(res=32, chunk_rays=1))
    for key in ("image", "depth", "valid", "ids", "intrinsics"):
        assert torch.equal(a[key][3], b[key][0]), key
    assert a["caption"][3] == b["caption"][0]


def test_edge_pixels_are_the_quincunx_of_their_corner_rays():
    """Antialiased = 1/2 centre ray + 1/8 of each corner ray; a render on the (res + 1) grid of
    pixel corners (same focal length) gives those corner rays independently."""
    res, graphs = 24, [sample_graph(scene_seed(3, "train", i)) for i in range(6)]
    scene = Scene.from_graphs(graphs, res)
    plain = render(scene, WorldConfig(res=res, antialias=False))
    full = render(scene, WorldConfig(res=res))
    c = render(scene, WorldConfig(res=res + 1, antialias=False))["image"]
    expected = 0.5 * plain["image"] + 0.125 * (((c[..., :-1, :-1] + c[..., :-1, 1:]) + c[..., 1:, :-1]) + c[..., 1:, 1:])
    edge = world._edges(plain["ids"].flatten(1), plain["image"].permute(0, 2, 3, 1).reshape(6, -1, 3), res,
                        WorldConfig().edge_contrast)[:, None].expand_as(full["image"])
    assert 0.05 < edge.float().mean() < 0.6
    torch.testing.assert_close(full["image"][edge], expected[edge], rtol=0, atol=1e-6)
    assert torch.equal(full["image"][~edge], plain["image"][~edge])
    assert torch.equal(full["depth"], plain["depth"])  # depth is never blended


def test_scene_seeds_of_splits_are_disjoint():
    train = {scene_seed(s, "train", i) for s in range(3) for i in range(2000)}
    test = {scene_seed(s, "test", i) for s in range(3) for i in range(2000)}
    assert len(train) == len(test) == 6000 and not train & test
    with pytest.raises(ValueError, match="split"):
        scene_seed(0, "val", 0)


def test_scenes_vary():
    graphs = [sample_graph(scene_seed(0, "train", i)) for i in range(200)]
    assert 0.3 < np.mean([g["indoor"] for g in graphs]) < 0.7
    assert {len(g["objects"]) for g in graphs} == set(range(1, 7))
    assert {o["shape"] for g in graphs for o in g["objects"]} == {"sphere", "box", "cylinder", "cone"}
    assert any(o["yaw"] for g in graphs for o in g["objects"])
    for g in graphs:  # every object rests on the ground or on top of its support
        for o in g["objects"]:
            base = g["objects"][o["support"]] if o["support"] is not None else None
            floor = base["center"][1] + base["size"][1] if base else 0.0
            assert o["center"][1] - o["size"][1] == pytest.approx(floor, abs=1e-12)
            if base:
                assert base["shape"] == "box" and o["center"][0] == base["center"][0] and o["center"][2] == base["center"][2]
                assert max(o["size"][0], o["size"][2]) < min(base["size"][0], base["size"][2])
    assert 0.02 < np.mean([o["support"] is not None for g in graphs for o in g["objects"]]) < 0.15


NOUN_SHAPES = {n: {s for s, nouns in captions.NOUNS.items() if n in nouns} for ns in captions.NOUNS.values() for n in ns}


@pytest.fixture(scope="module")
def captioned():
    return render_scenes([scene_seed(5, "train", i) for i in range(96)], WorldConfig(res=48))


def test_captions_name_only_what_is_visible(captioned):
    texts = captioned["caption"]
    assert len(set(texts)) > 80 and max(len(t.split()) for t in texts) <= captions.MAX_WORDS
    for text, g in zip(texts, captioned["graph"]):
        visible = [o for o in g["objects"] if o["visible"]]
        colours = {o["colour"] for o in visible} | {g["floor"]["colour"], g["walls"]["colour"]}
        words = re.findall(r"[a-z]+", text)
        for w in words:
            if w in PALETTE:
                assert w in colours, (text, colours)
            shapes = NOUN_SHAPES.get(w) or NOUN_SHAPES.get(w[:-2] if w.endswith("xes") else w[:-1])
            if shapes:
                assert shapes & {captions.shape_name(o) for o in visible}, text


def test_caption_relations_hold_in_the_image(captioned):
    checked = {"left": 0, "right": 0, "front": 0, "behind": 0, "on": 0}
    for b, g in enumerate(captioned["graph"]):
        ids = captioned["ids"][b, 0].numpy()
        for i, rel, j in g["relations"]:
            assert any(p in captioned["caption"][b] for p in captions.RELATIONS[rel])
            cols_i, cols_j = np.nonzero(ids == OBJ0 + i)[1], np.nonzero(ids == OBJ0 + j)[1]
            depth = captioned["depth"][b, 0].numpy()
            if rel == "on":  # resting on top: seen above its support, at its depth
                assert g["objects"][i]["support"] == j
                rows_i, rows_j = np.nonzero(ids == OBJ0 + i)[0], np.nonzero(ids == OBJ0 + j)[0]
                assert rows_i.mean() < rows_j.mean()
            elif rel in ("left", "right"):
                sign = 1 if rel == "left" else -1
                assert sign * (cols_j.mean() - cols_i.mean()) > 0
            else:
                d_i, d_j = np.median(depth[ids == OBJ0 + i]), np.median(depth[ids == OBJ0 + j])
                assert (d_i < d_j) == (rel == "front")
            checked[rel] += 1
    assert sum(checked.values()) >= 10 and checked["on"] >= 1


def test_one_pinhole_focal_for_the_world_and_the_export():
    """fx = side / (2 tan(fov / 2)): 90 degrees over 64 px is 32 px; 60 degrees is sqrt(3) * side / 2.
    The world's intrinsics and the exported point clouds' K come from the same helper."""
    from mofo.export import intrinsics_from_fov

    assert world.focal_from_fov(64, 90.0) == pytest.approx(32.0, rel=1e-12)
    assert world.focal_from_fov(40, 60.0) == pytest.approx(20 * math.sqrt(3), rel=1e-12)
    k = world.intrinsics(60.0, 40, vfov_deg=90.0)
    assert k[0, 0].item() == pytest.approx(20 * math.sqrt(3), rel=1e-6) and k[1, 1].item() == pytest.approx(20, rel=1e-6)
    np.testing.assert_allclose(intrinsics_from_fov(30, 40, 60.0), [[20 * math.sqrt(3), 0, 20], [0, 20 * math.sqrt(3), 15],
                                                                    [0, 0, 1]], rtol=1e-12)
    np.testing.assert_allclose(intrinsics_from_fov(40, 40, 60.0), world.intrinsics(60.0, 40).double().numpy(), rtol=1e-6)
