"""Pipeline modes and the product commands on a tiny random model."""
import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from mofo.pipeline import Pipeline, fit, pool_sparse, unfit


@pytest.fixture(scope="module")
def ckpt(tiny_ckpt):
    return tiny_ckpt


@pytest.fixture(scope="module")
def pipe(ckpt):
    return Pipeline.from_pretrained(ckpt)


def test_fit_and_unfit_roundtrip():
    import torch

    x = torch.rand(1, 3, 30, 50)
    y, box = fit(x, 16, "letterbox")
    assert y.shape == (1, 3, 16, 16) and box == (3, 0, 10, 16)
    assert unfit(y, box, (30, 50)).shape == (1, 3, 30, 50)
    with pytest.raises(ValueError):
        fit(x, 16, "crop")


def test_pool_sparse_means_measurements():
    sparse = np.zeros((32, 32), np.float32)
    sparse[0, 0], sparse[0, 1] = 2.0, 4.0  # one model pixel holds two measurements
    pooled, valid = pool_sparse(sparse, 16)
    assert valid.sum() == 1 and pooled[0, 0, 0, 0] == 3.0


def test_modes_shapes_and_determinism(pipe):
    rgb, depth = pipe.generate("a red ball", seed=1)
    assert rgb.shape == (16, 16, 3) and rgb.dtype == np.uint8 and depth.shape == (16, 16) and (depth >= 0).all()
    rgb2, _ = pipe.generate("a red ball", seed=1)
    assert np.array_equal(rgb, rgb2)
    image = np.random.default_rng(0).integers(0, 255, (30, 50, 3), dtype=np.uint8)
    for mode in ("resize", "letterbox"):
        assert pipe.depth(image, fit_mode=mode).shape == (30, 50)
    assert pipe.image(np.ones((20, 24), np.float32) * 3, "a room").shape == (20, 24, 3)


def test_complete_keeps_measured_scale(pipe):
    image = np.random.default_rng(1).integers(0, 255, (16, 16, 3), dtype=np.uint8)
    sparse = np.zeros((16, 16), np.float32)
    sparse[::4, ::4] = 7.5
    dense = pipe.complete(image, sparse)
    assert dense.shape == (16, 16)
    assert np.allclose(dense[::4, ::4], 7.5, rtol=1e-3)  # measurements are imposed exactly
    with pytest.raises(ValueError, match="no measured"):
        pipe.complete(image, np.zeros((16, 16), np.float32))


def test_complete_fits_its_estimate_to_the_measurements(pipe):
    """At 1 step the model's estimate is the 1-step i2d map (same noise), blurred by
    `COMPLETE_SMOOTH` of a patch; measurements whose inverse is an affine map of the blurred
    map's inverse are recovered everywhere by the least-squares fit (within the clip to [0.5, 2] times
    the measured range), and kept where measured."""
    from scipy import ndimage

    from mofo.pipeline import COMPLETE_SMOOTH

    res = pipe.res
    image = np.random.default_rng(2).integers(0, 255, (res, res, 3), dtype=np.uint8)
    rel = pipe.depth(image, steps=1, seed=3).astype(np.float64)
    sigma = COMPLETE_SMOOTH * pipe.depth_codec.patch_size
    truth = 1 / (3.0 / ndimage.gaussian_filter(rel, sigma, mode="nearest") + 2.0)
    sparse = np.where(np.random.default_rng(4).random((res, res)) < 0.2, truth, 0).astype(np.float32)
    dense = pipe.complete(image, sparse, steps=1, seed=3)
    measured = sparse > 0
    np.testing.assert_allclose(dense, np.clip(truth, 0.5 * sparse[measured].min(), 2 * sparse[measured].max()), rtol=1e-4)
    assert np.array_equal(dense[measured], sparse[measured])


def mofo(*args):
    return subprocess.run([sys.executable, "-m", "mofo.cli", *map(str, args)], capture_output=True, text=True)


def test_cli_every_mode_writes_outputs(ckpt, tmp_path):
    out = mofo("generate", "--prompt", "", "--model", ckpt, "--out", tmp_path / "g", "--seed", 2)
    assert out.returncode == 0, out.stderr
    folder = next((tmp_path / "g").iterdir())
    assert {"rgb.png", "depth.npy", "depth16.png", "depth_color.png", "cloud.ply", "cloud.glb", "metadata.json"} <= {
        p.name for p in folder.iterdir()}
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["seed"] == 2 and meta["model"] == str(ckpt) and meta["seconds"] >= 0
    Image.fromarray(np.zeros((20, 30), np.uint8)).save(tmp_path / "gray.png")
    assert mofo("depth", folder / "rgb.png", tmp_path / "gray.png", "--model", ckpt, "--out", tmp_path / "d").returncode == 0
    assert len(list((tmp_path / "d").iterdir())) == 2
    depth_out = next(p for p in (tmp_path / "d").iterdir() if p.name.endswith("gray"))
    assert np.load(depth_out / "depth.npy").shape == (20, 30)
    assert mofo("image", "--depth", folder, "--model", ckpt, "--out", tmp_path / "i").returncode == 0
    assert mofo("complete", "--image", folder / "rgb.png", "--sparse-depth", folder / "depth.npy",
                "--model", ckpt, "--out", tmp_path / "c").returncode == 0


def test_cli_bad_input(ckpt, tmp_path):
    (tmp_path / "bad.png").write_text("hello")
    np.save(tmp_path / "nan.npy", np.full((4, 4), np.nan, np.float32))
    np.save(tmp_path / "zero.npy", np.zeros((4, 4), np.float32))
    cases = [
        (("depth", tmp_path / "missing.png"), "no such file"),
        (("depth", tmp_path / "bad.png"), "not an image"),
        (("image", "--depth", tmp_path / "nan.npy"), "NaN"),
        (("image", "--depth", tmp_path / "zero.npy"), "all zero"),
        (("generate", "--prompt", "x", "--model", tmp_path / "nope"), "not found"),
    ]
    for args, message in cases:
        out = mofo(*args, "--model", ckpt, "--out", tmp_path / "o") if "--model" not in args else mofo(*args, "--out", tmp_path / "o")
        assert out.returncode == 2, (args, out.stderr)
        assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").iterdir())


def test_eval_runs_the_model(ckpt, tmp_path):
    """`mofo eval --model` end to end: i2d with the model's codec, aligned, JSON + CSV written."""
    (tmp_path / "bench" / "rgb").mkdir(parents=True)
    (tmp_path / "bench" / "depth").mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 255, (24, 40, 3), dtype=np.uint8)).save(tmp_path / "bench" / "rgb" / f"f{i}.png")
        np.save(tmp_path / "bench" / "depth" / f"f{i}.npy", rng.uniform(1, 5, (24, 40)).astype(np.float32))
    out = mofo("eval", "--benchmark", "folder", "--root", tmp_path / "bench", "--model", ckpt, "--ensemble", 2,
               "--json", tmp_path / "r.json")
    assert out.returncode == 0, out.stderr
    summary = json.loads((tmp_path / "r.json").read_text())
    assert summary["n_images"] == 2 and 0 < summary["abs_rel"] < 10 and 0 <= summary["delta1"] <= 1
    assert (tmp_path / "r.csv").is_file() and "abs_rel" in out.stdout


def test_bundled_default_model():
    """The shipped model loads offline (MiniLM text encoder) and runs every mode at its resolution."""
    from mofo.pipeline import DEFAULT_MODEL

    size = sum(p.stat().st_size for p in DEFAULT_MODEL.iterdir())
    assert size < 30e6
    pipe = Pipeline.from_pretrained()
    assert pipe.model.with_depth and pipe.res == 96 and pipe.sampling.depth_steps == 1
    rgb, depth = pipe.generate("a red ball on a wooden floor", steps=2)
    assert rgb.shape == (96, 96, 3) and depth.shape == (96, 96) and np.isfinite(depth).all()
    assert pipe.depth(rgb).shape == (96, 96)


def test_bundled_empty_prompt_encoding_matches_the_encoder():
    """The shipped encoding of "" (so `mofo depth` never loads MiniLM) is what MiniLM gives for ""."""
    from mofo.checkpoint import read_config, read_empty_text
    from mofo.pipeline import DEFAULT_MODEL
    from mofo.text import load_text_encoder

    cfg = read_config(DEFAULT_MODEL)
    stored = read_empty_text(DEFAULT_MODEL, cfg)
    assert stored is not None
    encoder = load_text_encoder(cfg.text_encoder, cfg.txt_dim, cfg.txt_len)
    fresh = encoder.empty().float()
    # float32 MiniLM is not bit-stable across transformers releases (5.25 moved it by up to 2e-4,
    # values up to ~6); a stale file (other encoder, layers, length or prompt) is off by O(0.1-1)
    torch.testing.assert_close(stored, fresh, atol=1e-3, rtol=1e-3)
    other = encoder(["a red ball on a wooden floor"]).float()
    assert (other - fresh).abs().max() > 0.1


def test_bundled_config_describes_the_bundled_weights():
    """config.json names every ModelConfig field under its current name and reads as the `small`
    preset with its training section's [model] overrides (as that section says), its weights fit it strictly and are float16 as its
    provenance says, its "sampling" dict is complete, and its training section is a valid config."""
    from mofo.checkpoint import load_strict, read_info, read_safetensors
    from mofo.config import ModelConfig, SamplingConfig, presets
    from mofo.pipeline import DEFAULT_MODEL
    from mofo.train import make_train_config

    info = read_info(DEFAULT_MODEL)
    cfg = ModelConfig.from_dict(info["model"])
    assert info["model"] == cfg.to_dict() | {"axes_dim": list(cfg.axes_dim)}
    assert cfg == presets["small"].replace(**info["train"]["model"]) == presets[info["train"]["preset"]].replace(
        **info["train"]["model"])
    assert set(info["sampling"]) == set(SamplingConfig().to_dict())
    flat = {f"flow.{k}": v for k, v in info["train"].pop("flow").items()}
    assert make_train_config(overrides=info["train"] | flat).preset == "small"
    state = read_safetensors(DEFAULT_MODEL / "model.safetensors")
    load_strict(cfg, state, "bundled")
    assert {v.dtype for v in state.values()} == {torch.float16} and "float16" in info["provenance"]["weights"]
    s = SamplingConfig.from_dict(info["sampling"])
    assert (s.steps, s.cfg, s.depth_steps, s.complete_steps) == (20, 4.0, 1, 1)


def test_prompts_are_encoded_once_and_match_the_encoder(pipe):
    calls = []
    encode = pipe.text.forward

    def counting(prompts):
        calls.append(list(prompts))
        return encode(prompts)

    pipe.text.forward = counting
    try:
        txt, unc = pipe._text(["a prompt seen by no other test", "", "a prompt seen by no other test"])
        again, _ = pipe._text(["", "a prompt seen by no other test"])
    finally:
        del pipe.text.forward
    assert calls.count(["a prompt seen by no other test"]) == 1 and calls.count([""]) <= 1 and len(calls) <= 2  # each prompt once at most
    torch.testing.assert_close(txt, encode(["a prompt seen by no other test", "", "a prompt seen by no other test"]))
    torch.testing.assert_close(again, torch.stack([txt[1], txt[0]]))


@pytest.fixture
def stored_empty(ckpt, tmp_path, monkeypatch):
    """A copy of the tiny model folder with its encoding of "" stored, and the list of text encoder loads."""
    import shutil

    import mofo.pipeline
    from mofo.checkpoint import read_config, save_empty_text
    from mofo.text import load_text_encoder

    folder = tmp_path / "model"
    shutil.copytree(ckpt, folder)
    cfg = read_config(folder)
    save_empty_text(folder, load_text_encoder(cfg.text_encoder, cfg.txt_dim, cfg.txt_len))
    loads = []

    def counting(*a, **kw):
        loads.append(a)
        return load_text_encoder(*a, **kw)

    monkeypatch.setattr(mofo.pipeline, "load_text_encoder", counting)
    return folder, loads


def test_stored_empty_prompt_skips_the_text_encoder(pipe, stored_empty):
    """With text_empty.safetensors, the empty-prompt modes never build the encoder and give the same
    outputs bit for bit as the pipeline that encoded "" itself; a prompt builds it once."""
    folder, loads = stored_empty
    lazy = Pipeline.from_pretrained(folder)
    rng = np.random.default_rng(5)
    image, other = (rng.integers(0, 255, (20, 28, 3), dtype=np.uint8) for _ in range(2))
    sparse = np.where(rng.random((20, 28)) < 0.3, rng.uniform(1, 4, (20, 28)), 0).astype(np.float32)
    assert np.array_equal(lazy.depth(image, cfg=2.0), pipe.depth(image, cfg=2.0))
    for a, b in zip(lazy.depths([image, other]), pipe.depths([image, other])):
        assert np.array_equal(a, b)
    assert np.array_equal(lazy.complete(image, sparse), pipe.complete(image, sparse))
    assert loads == []
    assert np.array_equal(lazy.depth(image, prompt="a room"), pipe.depth(image, prompt="a room"))
    rgb, depth = lazy.generate("a red ball", seed=1)
    rgb2, depth2 = pipe.generate("a red ball", seed=1)
    assert np.array_equal(rgb, rgb2) and np.array_equal(depth, depth2)
    assert len(loads) == 1


def test_stored_empty_prompt_of_another_shape_is_refused(stored_empty):
    from safetensors.torch import save_file

    folder, loads = stored_empty
    save_file({"empty": torch.zeros(1, 3, 16)}, str(folder / "text_empty.safetensors"))
    with pytest.raises(ValueError, match="text_empty.safetensors.*txt_len, txt_dim"):
        Pipeline.from_pretrained(folder)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "photo.png")
    out = mofo("depth", folder / "photo.png", "--model", folder, "--out", folder / "out")
    assert out.returncode == 2 and "text_empty.safetensors" in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_mirror_mean_is_the_harmonic_mean_of_the_realigned_halves():
    from mofo.pipeline import mirror_mean

    rng = np.random.default_rng(3)
    a, b = rng.uniform(0.2, 5, (2, 3, 1, 4, 6))
    want = 2 / (1 / a + 1 / b[..., ::-1])  # b was estimated on mirrored images
    got = mirror_mean(torch.from_numpy(np.concatenate([a, b])))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)


@pytest.fixture
def fake_i2d(ckpt, monkeypatch):
    """A pipeline whose sampler is a deterministic, position-dependent (so not mirror-symmetric) function
    of the image tokens, normalised depth in (0.2, 1.99): decoded depth from 0.2 to 100x the mean;
    and images of the model's size (fit is the identity)."""
    pipe = Pipeline.from_pretrained(ckpt)
    res, p = pipe.res, pipe.depth_codec.patch_size
    n = pipe.grid[0] * pipe.grid[1]
    weight = torch.randn(pipe.image_codec.encode(torch.zeros(1, 3, res, res)).shape[-1], p * p,
                         generator=torch.Generator().manual_seed(0))
    ramp = torch.linspace(-3, 3, n)[None, :, None]

    def fake_sample(mode, txt, unc, grid, image, **kw):
        assert mode == "i2d" and len(txt) == len(image)
        pipe.sampled.append(kw)
        return None, 0.2 + 1.79 * torch.sigmoid(image @ weight + ramp)

    monkeypatch.setattr(pipe, "_sample", fake_sample)
    pipe.sampled = []  # the keyword arguments of each sampler call
    rng = np.random.default_rng(4)
    return pipe, [rng.integers(0, 255, (res, res, 3), dtype=np.uint8) for _ in range(2)]


def test_depths_flip_averages_the_estimates_of_the_image_and_its_mirror(fake_i2d):
    """`flip` must equal the harmonic mean of the plain estimate and the mirrored-back estimate of the mirror."""
    pipe, images = fake_i2d
    plain = pipe.depths(images, flip=False)
    mirrored = pipe.depths([np.ascontiguousarray(im[:, ::-1]) for im in images], flip=False)
    for got, a, b in zip(pipe.depths(images, flip=True), plain, mirrored):
        assert not np.allclose(a, b[:, ::-1])  # the two estimates differ, so the average is tested
        np.testing.assert_allclose(got, 2 / (1 / a + 1 / b[:, ::-1]), rtol=1e-5)
    assert pipe.sampling.depth_flip is False  # default: a checkpoint without the field samples as before
    for a, b in zip(pipe.depths(images), plain):
        assert np.array_equal(a, b)
    pipe.sampling = dataclasses.replace(pipe.sampling, depth_flip=True)  # as a checkpoint that sets it
    for a, b in zip(pipe.depths(images), pipe.depths(images, flip=True)):
        assert np.array_equal(a, b)


def test_depth_max_caps_the_decoded_depth(fake_i2d):
    pipe, images = fake_i2d
    assert pipe.sampling.depth_max == 0  # default: no cap
    plain = pipe.depths(images)
    assert max(d.max() for d in plain) > 20 and min(d.min() for d in plain) < 1  # outliers to cap, and the rest
    pipe.sampling = dataclasses.replace(pipe.sampling, depth_max=10.0)
    for got, want in zip(pipe.depths(images), plain):
        np.testing.assert_allclose(got, np.minimum(want, 10.0), rtol=1e-6)
    flipped = pipe.depths(images, flip=True)  # the cap holds for each estimate, so for their mean
    assert max(d.max() for d in flipped) <= 10.0 + 1e-5


def test_depth_mu_sets_the_i2d_grid_shift(fake_i2d):
    pipe, images = fake_i2d
    pipe.depths(images)
    assert pipe.sampled[-1]["mu"] is None  # default: the model's own shift_mu (`sampling.sample`)
    pipe.sampling = dataclasses.replace(pipe.sampling, depth_mu=3.0)
    pipe.depths(images, steps=4)
    assert pipe.sampled[-1]["mu"] == 3.0 and pipe.sampled[-1]["steps"] == 4


def test_sampler_grid_under_a_shift():
    """The grid the i2d sampler walks for mu = 3: t' = e^3 t / (e^3 t + 1 - t), from 1 to 0 (independent formula)."""
    from mofo.sampling import timesteps

    t_img, t_depth = timesteps(10, "i2d", 3.0)
    u = np.linspace(1, 0, 11)
    np.testing.assert_allclose(t_depth.numpy(), np.exp(3) * u / (np.exp(3) * u + 1 - u), atol=1e-12)
    assert (t_img == 0).all() and t_depth[-2] > 0.6  # the last evaluation stays at high noise
