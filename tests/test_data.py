"""Shards, datasets and the `mofo data` commands (mofo/data/shards.py, datasets.py, cli)."""
import json
import subprocess
import sys
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from conftest import assert_refuses_huge, png_header
from mofo.cli import main
from mofo.data import FolderDataset, ShardDataset, SynthDataset, colorize_depth, open_dataset
from mofo.data.datasets import crop_resize
from mofo.data.shards import write_split


def members(out):
    files = {}
    for path in sorted(out.glob("*.tar")):
        with tarfile.open(path) as tar:
            files.update({m.name: tar.extractfile(m).read() for m in tar.getmembers()})
    return files


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    out = tmp_path_factory.mktemp("shards")
    write_split(out, 40, res=32, seed=3, shard_size=16, progress=False)
    return out


def test_samples_are_identical_across_shard_sizes_and_workers(shards, tmp_path):
    write_split(tmp_path / "b", 40, res=32, seed=3, shard_size=7, workers=2, progress=False)
    a, b = members(shards), members(tmp_path / "b")
    assert len(a) == 5 * 40 and a == b
    assert sorted(p.name for p in shards.glob("*.tar")) == ["train-000000.tar", "train-000001.tar", "train-000002.tar"]


def test_rerun_keeps_complete_shards(shards):
    before = {p.name: p.stat().st_mtime_ns for p in shards.glob("*.tar")}
    (shards / "train-000001.tar").unlink()
    write_split(shards, 40, res=32, seed=3, shard_size=16, progress=False)
    after = {p.name: p.stat().st_mtime_ns for p in shards.glob("*.tar")}
    assert after.keys() == before.keys()
    assert after["train-000000.tar"] == before["train-000000.tar"] and after["train-000002.tar"] == before["train-000002.tar"]
    assert not list(shards.glob("*.tmp*"))
    with pytest.raises(ValueError, match="different"):
        write_split(shards, 41, res=32, seed=3, shard_size=16, progress=False)


def test_train_and_test_splits_share_no_scene(tmp_path):
    write_split(tmp_path, 20, res=16, seed=0, split="train", progress=False)
    write_split(tmp_path, 20, res=16, seed=0, split="test", progress=False)
    seeds = {split: {json.loads(v)["seed"] for k, v in members(tmp_path).items()
                     if k.endswith(".json") and k.startswith(split)} for split in ("train", "test")}
    assert len(seeds["train"]) == len(seeds["test"]) == 20 and not seeds["train"] & seeds["test"]


def test_shard_dataset_round_trip(shards):
    ds = ShardDataset(shards)
    synth = SynthDataset(res=32, seed=3)
    assert len(ds) == 40
    for i in (0, 17, 39):
        s, ref = ds[i], synth[i]
        assert s["key"] == ref["key"] == f"train-{i:08d}" and s["caption"] == ref["caption"]
        assert s["image"].shape == (3, 32, 32) and s["depth"].shape == s["valid_mask"].shape == (1, 32, 32)
        assert (s["image"] - ref["image"]).abs().max() <= 0.5 / 255 + 1e-6
        assert torch.equal(s["valid_mask"], ref["valid_mask"])
        assert (s["depth"] - ref["depth"]).abs().max() <= 0.5 / 256 + 1e-6  # 16-bit, metres * 256
        assert torch.allclose(s["intrinsics"], ref["intrinsics"])


def test_synth_dataloader_is_deterministic_across_workers():
    ds = SynthDataset(res=24, seed=1, sensor="lidar", augment=True, length=12)
    runs = [list(DataLoader(ds, batch_size=4, num_workers=w)) for w in (0, 2)]
    for a, b in zip(*runs):
        assert a["key"] == b["key"]
        for k in ("image", "depth", "valid_mask", "intrinsics"):
            assert torch.equal(a[k], b[k]), k
    single = ds[5]
    assert torch.equal(single["depth"], runs[0][1]["depth"][1])
    frac = torch.cat([b["valid_mask"] for b in runs[0]]).float().mean()
    assert 0.01 < frac < 0.06  # lidar-sparse (sky pixels have no returns)


def test_crop_flip_keeps_depth_and_intrinsics_consistent():
    ds = SynthDataset(res=32, seed=2)
    s = ds[0]
    out = crop_resize(s, 16, (4, 6, 16), flip=True)  # a 16 px crop, no resampling, mirrored
    k0, k1 = s["intrinsics"], out["intrinsics"]
    v, u = torch.nonzero(out["valid_mask"][0], as_tuple=True)
    z = out["depth"][0, v, u]
    x1 = (u + 0.5 - k1[0, 2]) / k1[0, 0] * z
    src_u = 6 + 15 - u  # mirrored column in the crop, then shifted
    src_v = 4 + v
    x0 = (src_u + 0.5 - k0[0, 2]) / k0[0, 0] * s["depth"][0, src_v, src_u]
    assert torch.equal(z, s["depth"][0, src_v, src_u])
    assert torch.allclose(x1, -x0, atol=1e-5)  # the pinhole image of the mirrored scene


def test_folder_dataset(tmp_path):
    rgb = (np.random.default_rng(0).random((40, 50, 3)) * 255).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    np.save(tmp_path / "a.npy", np.full((40, 50), 2.5, np.float32))
    Image.fromarray(rgb).save(tmp_path / "b.jpg")
    Image.fromarray(np.full((40, 50), 1500, np.uint16)).save(tmp_path / "b_depth.png")
    Image.fromarray(rgb).save(tmp_path / "c.png")
    (tmp_path / "c.txt").write_text("a caption\n")
    ds = open_dataset(str(tmp_path), res=20)
    assert isinstance(ds, FolderDataset) and len(ds) == 3
    a, b, c = ds[0], ds[1], ds[2]
    assert a["image"].shape == (3, 20, 20) and (a["depth"] == 2.5).all() and a["valid_mask"].all()
    assert torch.allclose(b["depth"], torch.tensor(1.5))
    assert not c["valid_mask"].any() and (c["depth"] == 0).all() and c["caption"] == "a caption"


def test_folder_dataset_refuses_huge_images_without_a_pil_warning(tmp_path):
    (tmp_path / "a.png").write_bytes(png_header(10_000, 10_000))
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "b.png")
    (tmp_path / "b_depth.png").write_bytes(png_header(10_000, 10_000))
    ds = FolderDataset(tmp_path, res=8)
    assert_refuses_huge(lambda: ds[0])  # the image
    assert_refuses_huge(lambda: ds[1])  # the depth map beside it


def test_open_dataset_kinds(shards, tmp_path):
    assert isinstance(open_dataset("synth", res=16), SynthDataset)
    assert isinstance(open_dataset(str(shards), res=32), ShardDataset)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        open_dataset(str(tmp_path / "nope"), res=16)


def test_colorize_depth_near_is_bright():
    depth = torch.tensor([[1.0, 2.0, 4.0, 0.0]])
    rgb = colorize_depth(depth, depth > 0)
    lum = rgb.astype(float).sum(-1)[0]
    assert rgb.dtype == np.uint8 and rgb.shape == (1, 4, 3)
    assert lum[0] > lum[1] > lum[2] and (rgb[0, 3] == 0).all()


def test_cli_synth_and_show(tmp_path, capsys):
    assert main(["data", "synth", "--out", str(tmp_path), "--count", "5", "--res", "16"]) == 0
    assert main(["data", "show", str(tmp_path), "--count", "3", "--sensor", "random"]) == 0
    sheet = Image.open(tmp_path / "contact_sheet.png")
    assert sheet.width > 3 * 16 * 3 and sheet.height >= 3 * 16 * 3


@pytest.mark.parametrize("argv,message", [
    (["data", "synth", "--out", "{tmp}", "--count", "0"], "--count must be positive"),
    (["data", "synth", "--out", "{tmp}/file/sub", "--count", "3"], "cannot create --out"),
    (["data", "show", "synth", "--sensor", "sonar"], "unknown sensor 'sonar'"),
])
def test_cli_bad_input_is_one_line(argv, message, tmp_path, capsys):
    (tmp_path / "file").write_text("")
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_cli_bad_input_subprocess(tmp_path):
    r = subprocess.run([sys.executable, "-m", "mofo.cli", "data", "synth", "--out", str(tmp_path), "--count", "0"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.strip() == "mofo data: error: --count must be positive, got 0"


def test_open_dataset_wraps_benchmark_loaders(tmp_path):
    """`NAME:ROOT` trains on a benchmark loader, brought to the training resolution."""
    import numpy as np
    from PIL import Image

    from mofo.data import open_dataset

    (tmp_path / "rgb").mkdir()
    (tmp_path / "depth").mkdir()
    Image.fromarray(np.full((24, 32, 3), 128, np.uint8)).save(tmp_path / "rgb" / "a.png")
    depth = np.full((24, 32), 2000, np.uint16)
    depth[0, 0] = 0
    Image.fromarray(depth).save(tmp_path / "depth" / "a.png")
    data = open_dataset(f"folder:{tmp_path}", res=16)
    s = data[0]
    assert s["image"].shape == (3, 16, 16) and s["depth"].shape == (1, 16, 16)
    assert torch.allclose(s["depth"][s["valid_mask"]], torch.tensor(2.0)) and s["caption"] == ""


def test_object_mask_in_shards_and_on_the_fly(shards):
    from mofo.data.datasets import ShardDataset, SynthDataset

    data = ShardDataset(shards)
    fly = SynthDataset(res=32, seed=3)
    for i in range(6):
        s, f = data[i], fly[i]
        graph = json.loads(members(shards)[f"train-{i:08d}.json"])["graph"]
        assert s["object_mask"].shape == s["valid_mask"].shape and s["object_mask"].dtype == torch.bool
        assert int(s["object_mask"].sum()) == sum(o["pixels"] for o in graph["objects"])
        assert torch.equal(s["object_mask"], f["object_mask"])
    resized = crop_resize(data[0], 16, (0, 0, 32), flip=True)
    assert resized["object_mask"].shape == (1, 16, 16)


def test_sample_seeds_are_fixed_numbers(shards, tmp_path):
    """The per-sample seeds behind crop, flip and sensor: `seed * 1_000_003 + i` for folders and
    benchmarks, `scene_seed` (train even, test odd) for the world and shards; numbers by hand."""
    from mofo.data.world import scene_seed

    assert [scene_seed(3, "train", 5), scene_seed(3, "test", 5), scene_seed(0, "train", 7)] == [
        6_597_069_766_666, 6_597_069_766_667, 14]  # (3 * 2**40 + 5) * 2 (+ 1 for test)
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "b.png")
    (tmp_path / "rgb").mkdir()
    (tmp_path / "depth").mkdir()
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "rgb" / "a.png")
    Image.fromarray(np.full((20, 30), 1000, np.uint16)).save(tmp_path / "depth" / "a.png")
    cases = [(FolderDataset(tmp_path, res=8, seed=9, augment=True), 1, 9_000_028),
             (open_dataset(f"folder:{tmp_path}", res=8, seed=4, augment=True), 0, 4_000_012),
             (ShardDataset(shards, seed=2, augment=True), 3, 2 * 2**41 + 6),
             (SynthDataset(res=8, seed=1, split="test", augment=True, length=4), 2, 2**41 + 5)]
    for ds, i, expected in cases:
        seen, transform = [], ds.transform
        ds.transform = lambda sample, seed: seen.append(seed) or transform(sample, seed)  # noqa: E731
        ds[i]
        assert seen == [expected], type(ds).__name__


def test_folder_dataset_reads_the_image_suffixes_of_files_py(tmp_path):
    """One list of image suffixes (`mofo.files`): a folder scan takes .bmp / .tif / .ppm too, and
    leaves out the depth maps beside images (`*_depth.png`, NYU's raw `.pgm`)."""
    rgb = np.zeros((12, 12, 3), np.uint8)
    for name in ("a.bmp", "b.tif", "c.ppm", "d.PNG", "e.jpeg"):
        Image.fromarray(rgb).save(tmp_path / name)
    Image.fromarray(np.full((12, 12), 900, np.uint16)).save(tmp_path / "d_depth.png")
    Image.fromarray(np.full((12, 12), 9, np.uint8)).save(tmp_path / "raw.pgm")
    ds = FolderDataset(tmp_path, res=8)
    assert [p.name for p in ds.images] == ["a.bmp", "b.tif", "c.ppm", "d.PNG", "e.jpeg"]
    assert ds[3]["valid_mask"].all() and not ds[0]["valid_mask"].any()
