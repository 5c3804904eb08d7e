"""`mofo <verb>` (mofo/cli.py) with bad input, tried as a new user would.

One table: every row is a command that must fail with exit code 2, one line on
stderr (`mofo VERB: error: ...`) that contains the given text, and no run folder
left behind. A new flag joins the table with its bad values.
"""
import json
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import png_header
from mofo.cli import main

# (argv, the text the error line must hold); {name} is a file made by `files`, {ckpt} the tiny checkpoint
BAD = [
    # files and folders
    (["depth", "{tmp}/missing.png"], "no such file"),
    (["depth", "{text}"], "not an image"),
    (["depth", "{tiny_image}"], "needs at least 8 a side"),
    (["depth", "{huge}"], "above the limit of 40,000,000 pixels"),
    (["eval", "--benchmark", "folder", "--root", "{huge_bench}", "--baseline", "ramp"],
     "above the limit of 40,000,000 pixels"),
    (["image", "--depth", "{nan}"], "NaN"),
    (["image", "--depth", "{zero}"], "all zero"),
    (["complete", "--image", "{image}", "--sparse-depth", "{small_sparse}"],
     "sparse depth map is 40x30 pixels but the image is 56x42"),
    (["complete", "--image", "{image}", "--sparse-depth", "{zero_sparse}"], "all zero"),
    (["generate", "--prompt", "x", "--model", "{tmp}/nope"], "not found"),
    (["generate", "--prompt", "x", "--out", "{text}"], "is a file, not a folder"),
    (["depth", "{image}", "--out", "{text}/sub"], "is a file, not a folder"),
    (["eval", "--benchmark", "folder", "--root", "{tmp}", "--baseline", "ramp", "--json", "{text}/r.json"],
     "is a file, not a folder"),
    (["eval", "--benchmark", "folder", "--root", "{tmp}", "--baseline", "ramp", "--json", "{tmp}"], "is a folder"),
    (["info", "--model", "{tmp}/nope"], "no mofo checkpoint"),
    (["info", "--preset", "nope"], "unknown preset"),
    (["train", "--out", "{text}"], "is a file, not a folder"),
    (["train", "--config", "{tmp}/missing.toml", "--out", "{tmp}/run"], "config file not found"),
    (["train", "--out", "{tmp}/run", "--set", "flow.p_joint"], "--set expects KEY=VALUE"),
    # devices
    (["generate", "--prompt", "x", "--device", "banana"], "unknown device 'banana'"),
    (["depth", "{image}", "--device", "cuda"], "is not available: this machine has no CUDA GPU (use --device cpu)"),
    (["depth", "{image}", "--device", "cuda:7"], "not available"),
    (["demo", "--device", "banana"], "unknown device 'banana'"),
    # numbers, checked at parse time
    (["generate", "--prompt", "x", "--cfg", "-1"], "argument --cfg: must be at least 0, got -1"),
    (["generate", "--prompt", "x", "--steps", "0"], "argument --steps: must be at least 1, got 0"),
    (["generate", "--prompt", "x", "--steps", "ten"], "argument --steps: expected a whole number, got 'ten'"),
    (["generate", "--prompt", "x", "--log2-alpha", "nan"], "argument --log2-alpha: expected a finite number"),
    (["generate", "--prompt", "x", "--fov", "0"], "argument --fov: must be from 1 to 179, got 0"),
    (["depth", "{image}", "--batch-size", "0"], "argument --batch-size: must be at least 1, got 0"),
    (["image", "--depth", "{sparse}", "--depth-scale", "-1"], "argument --depth-scale: must be above 0, got -1"),
    (["complete", "--image", "{image}", "--sparse-depth", "{sparse}", "--depth-scale", "0"],
     "argument --depth-scale: must be above 0"),
    (["eval", "--benchmark", "folder", "--ensemble", "0"], "argument --ensemble: must be at least 1"),
    (["eval", "--benchmark", "folder", "--limit", "0"], "argument --limit: must be at least 1"),
    (["eval", "--benchmark", "folder", "--depth-scale", "-0.001"], "argument --depth-scale: must be above 0"),
    (["demo", "--port", "70000"], "argument --port: must be from 1 to 65535, got 70000"),
    (["train", "--out", "{tmp}/run", "--batch-size", "0"], "argument --batch-size: must be at least 1"),
    (["train", "--out", "{tmp}/run", "--lr", "0"], "argument --lr: must be above 0"),
    (["train", "--out", "{tmp}/run", "--workers", "-1"], "argument --workers: must be at least 0"),
    # choices and combinations
    (["depth", "{image}", "--fit", "crop"], "invalid choice: 'crop'"),
    (["generate"], "the following arguments are required: --prompt"),
    (["complete", "--image", "{image}", "--sparse-depth", "{sparse}", "--cfg", "2"], "unrecognized arguments: --cfg"),
    (["eval", "--benchmark", "folder", "--root", "{tmp}", "--baseline", "ramp", "--grey-input"],
     "--grey-input applies when the model runs"),
    (["eval", "--benchmark", "folder", "--root", "{tmp}", "--baseline", "ramp", "--no-flip"],
     "--flip applies when the model runs"),
    (["eval", "--benchmark", "nyuv2", "--baseline", "ramp", "--depth-scale", "0.001"],
     "--depth-scale applies to --benchmark folder only"),
    (["convert", "--from", "diffusers", "{tmp}", "--out", "{tmp}/c", "--variant", "v1"], "--variant v1|v2 goes with"),
]
OUT_COMMANDS = ("generate", "depth", "image", "complete")


@pytest.fixture(scope="module")
def files(tmp_path_factory, tiny_ckpt):
    tmp = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (42, 56, 3), dtype=np.uint8)).save(tmp / "image.png")
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(tmp / "tiny_image.png")
    (tmp / "huge.png").write_bytes(png_header(10_000, 10_000))
    (tmp / "huge_bench" / "rgb").mkdir(parents=True)
    (tmp / "huge_bench" / "rgb" / "huge.png").write_bytes(png_header(10_000, 10_000))
    (tmp / "huge_bench" / "depth").mkdir()
    np.save(tmp / "huge_bench" / "depth" / "huge.npy", np.ones((4, 4), np.float32))
    (tmp / "text.txt").write_text("hello")
    np.save(tmp / "nan.npy", np.full((4, 4), np.nan, np.float32))
    np.save(tmp / "zero.npy", np.zeros((4, 4), np.float32))
    np.save(tmp / "small_sparse.npy", np.ones((30, 40), np.float32))
    np.save(tmp / "zero_sparse.npy", np.zeros((42, 56), np.float32))
    np.save(tmp / "sparse.npy", np.where(rng.random((42, 56)) < 0.1, 2.0, 0.0).astype(np.float32))
    names = {p.stem: str(p) for p in tmp.iterdir()}
    return {**names, "text": str(tmp / "text.txt"), "ckpt": str(tiny_ckpt)}


def run(argv, capsys) -> tuple[int, str, str]:
    """(exit code, stderr, stdout) of `mofo argv` run in this process."""
    try:
        code = main(argv)
    except SystemExit as e:  # argparse
        code = e.code
    out = capsys.readouterr()
    return code, out.err, out.out


@pytest.mark.parametrize("argv,message", BAD, ids=[" ".join(a[:2]) + f" #{i}" for i, (a, _) in enumerate(BAD)])
def test_bad_input_fails_cleanly(argv, message, files, tmp_path, capsys):
    if ("cuda" in argv and torch.cuda.is_available()) or ("cuda:7" in argv and torch.cuda.device_count() > 7):
        pytest.skip("this machine has the GPU")
    argv = [a.format(tmp=tmp_path, **files) for a in argv]
    if argv[0] in OUT_COMMANDS and "--out" not in argv:
        argv += ["--out", str(tmp_path / "out")]
    if argv[0] in OUT_COMMANDS + ("eval",) and "--model" not in argv and "--baseline" not in argv:
        argv += ["--model", files["ckpt"]]
    before = set(tmp_path.rglob("*"))
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # any warning (PIL's DecompressionBombWarning on the huge rows) would
        code, err, _ = run(argv, capsys)  # be a second line on stderr: `main` prints warnings there
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("mofo") and ": error: " in err, err
    assert message in err, err
    assert set(tmp_path.rglob("*")) == before  # no run folder, no partial file


def test_defaults_are_recorded_and_long_prompts_warn(files, tmp_path, capsys):
    """metadata.json holds the steps and cfg actually used; a truncated prompt is one warning line."""
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        code, err, _ = run(["generate", "--prompt", "word " * 2000, "--model", files["ckpt"], "--out", str(tmp_path)], capsys)
    assert code == 0 and err.count("\n") == 1, err
    assert err.startswith("mofo generate: warning: the prompt is 10000 tokens long; the model reads its first 8")
    meta = json.loads(next(tmp_path.glob("*/metadata.json")).read_text())
    assert (meta["steps"], meta["cfg"], meta["log2_alpha"]) == (3, 4.0, 5.0)  # the checkpoint's steps, the defaults
    assert meta["depth_max"] == 0.0 and "depth_mu" not in meta  # the shift applies to depth / complete only


def test_bundled_text_encoder_loads_without_a_progress_bar(files, tmp_path, capsys):
    """A prompt makes `mofo depth` load the bundled model's MiniLM encoder; transformers' "Loading
    weights" bar stays off (mofo/text.py), so stderr stays empty."""
    code, err, _ = run(["depth", files["image"], "--prompt", "a room", "--out", str(tmp_path)], capsys)
    assert code == 0 and err == "", err  # e.g. no "Loading weights: 100%|..." line


def test_depth_in_a_folder_skips_depth_maps(files, tmp_path, capsys):
    """Folder mode runs on the images only, not on `*_depth.png` / `.pgm` maps beside them."""
    folder = tmp_path / "in"
    folder.mkdir()
    Image.open(files["image"]).save(folder / "a.png")
    Image.fromarray(np.full((42, 56), 1000, np.uint16)).save(folder / "a_depth.png")
    Image.fromarray(np.full((42, 56), 100, np.uint8)).save(folder / "b.pgm")
    code, err, _ = run(["depth", str(folder), "--model", files["ckpt"], "--out", str(tmp_path / "out")], capsys)
    assert code == 0 and err == "", err
    (run_folder,) = (tmp_path / "out").iterdir()
    meta = json.loads((run_folder / "metadata.json").read_text())
    assert meta["input"].endswith("a.png") and (meta["steps"], meta["cfg"]) == (20, 1.0)
    assert (meta["depth_max"], meta["depth_mu"], meta["flip"]) == (0.0, None, False)  # the tiny model's defaults


def test_info_reads_a_checkpoint(files, capsys):
    """`mofo info --model CKPT` counts the checkpoint's parts from its config.json."""
    from mofo.checkpoint import read_config
    from mofo.model import parameter_counts

    code, err, out = run(["info", "--model", files["ckpt"], "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["parts"] == parameter_counts(read_config(files["ckpt"]))
