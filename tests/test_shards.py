"""mofo/data/shards.py: what is written reads back equal, a shard appears whole or not at all,
bad input fails before anything is written."""
import json

import numpy as np
import pytest
import torch

from mofo.data import shards as shards_mod
from mofo.data.shards import ShardReader, shard_name, write_split
from mofo.data.world import OBJ0, WorldConfig, render_scenes, scene_seed


def test_written_shards_read_back_equal(tmp_path):
    """Every stored field equals the render, to the storage's own precision (8-bit RGB, depth * 256)."""
    paths = write_split(tmp_path, 7, res=16, seed=2, shard_size=3, progress=False)
    assert [p.name for p in paths] == [shard_name("train", k) for k in range(3)]
    reader = ShardReader(tmp_path)
    out = render_scenes([scene_seed(2, "train", i) for i in range(7)], WorldConfig(res=16))
    assert len(reader) == 7 and reader.res == 16
    for i in range(7):
        s = reader[i]
        rgb = np.floor(out["image"][i].double().clamp(0, 1).numpy() * 255 + 0.5) / 255
        depth = np.round(out["depth"][i].double().numpy() * 256) / 256
        assert s["key"] == f"train-{i:08d}" and s["caption"] == out["caption"][i]
        np.testing.assert_array_equal(s["image"].double().numpy(), rgb.astype(np.float32))
        np.testing.assert_array_equal(s["depth"].numpy(), depth.astype(np.float32))
        assert torch.equal(s["valid_mask"], torch.from_numpy(depth > 0))
        assert torch.equal(s["object_mask"], out["ids"][i] >= OBJ0)
        assert torch.equal(s["intrinsics"], out["intrinsics"][i])


def test_manifest_records_the_set(tmp_path):
    write_split(tmp_path, 5, res=16, seed=4, split="test", shard_size=2, progress=False)
    meta = json.loads((tmp_path / "test.json").read_text())
    assert {k: meta[k] for k in ("format", "split", "count", "seed", "shard_size", "depth_scale")} == {
        "format": "mofo-synth/1", "split": "test", "count": 5, "seed": 4, "shard_size": 2, "depth_scale": 256.0}
    assert meta["world"]["res"] == 16 and "family" not in meta["world"]  # the open family, as before families
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test-000000.tar", "test-000001.tar", "test-000002.tar",
                                                         "test.json"]


def test_a_failed_shard_leaves_no_file_and_a_rerun_completes(tmp_path, monkeypatch):
    encode, calls = shards_mod.encode, []

    def failing(out, b, key):
        calls.append(key)
        if key == "train-00000003":  # inside the second shard, after its first sample
            raise RuntimeError("disk on fire")
        return encode(out, b, key)

    monkeypatch.setattr(shards_mod, "encode", failing)
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_split(tmp_path, 6, res=16, seed=1, shard_size=2, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train-000000.tar", "train.json"]  # no half shard, no temp
    monkeypatch.setattr(shards_mod, "encode", encode)
    write_split(tmp_path, 6, res=16, seed=1, shard_size=2, progress=False)
    write_split(tmp_path / "clean", 6, res=16, seed=1, shard_size=2, progress=False)
    for k in range(3):
        name = shard_name("train", k)
        assert (tmp_path / name).read_bytes() == (tmp_path / "clean" / name).read_bytes()


@pytest.mark.parametrize("kw, error, message", [
    ({"count": 0}, ValueError, "--count must be positive, got 0"),
    ({"shard_size": 0}, ValueError, "--shard-size must be positive, got 0"),
    ({"split": "val"}, ValueError, "split must be 'train' or 'test', got 'val'"),
    ({"family": "forest"}, ValueError, "unknown scene family 'forest'"),
])
def test_bad_input_fails_before_writing(tmp_path, kw, error, message):
    out = tmp_path / "out"
    with pytest.raises(error, match=message):
        write_split(out, **{"count": 4, "res": 16, "progress": False, **kw})
    assert not out.exists()


def test_out_must_be_a_folder_for_this_set(tmp_path):
    file = tmp_path / "file"
    file.write_text("")
    with pytest.raises(NotADirectoryError, match="exists and is not a directory"):
        write_split(file, 2, res=16, progress=False)
    write_split(tmp_path / "set", 2, res=16, seed=0, progress=False)
    with pytest.raises(ValueError, match="already holds a different train set"):
        write_split(tmp_path / "set", 2, res=16, seed=1, progress=False)


def test_reader_without_shards_names_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"no test-\\*.tar shards in {tmp_path}"):
        ShardReader(tmp_path, split="test")
