"""benchmarks/report.py: the table and the JSON every benchmark script writes (sweep.py and world.py through it)."""
import json
import sys
import tarfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))
import families  # noqa: E402
import sweep  # noqa: E402
import world  # noqa: E402
from report import publish, table  # noqa: E402

PROVENANCE = ("commit", "torch", "threads")


def test_publish_prints_a_table_and_writes_provenance(tmp_path, capsys):
    rows = [{"steps": 1, "abs_rel": 0.123456}, {"steps": 10, "abs_rel": 0.2}]
    data = publish(rows, tmp_path / "sub" / "r.json", title="depth steps", model="m")
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "depth steps" and out[1].split() == ["steps", "abs_rel"] and out[2].split() == ["1", "0.1235"]
    saved = json.loads((tmp_path / "sub" / "r.json").read_text())
    assert saved == data and saved["rows"] == rows and saved["model"] == "m"
    assert saved["torch"] == torch.__version__ and saved["threads"] == torch.get_num_threads() and saved["commit"]


def test_table_aligns_columns_of_mixed_rows():
    lines = table([{"a": "x", "b": 1.0}, {"a": "longer"}]).splitlines()
    assert len({len(line) for line in lines}) == 1 and lines[2].split() == ["longer"]


def test_sweep_report_keeps_each_arm_result_and_adds_provenance(tmp_path, monkeypatch, capsys):
    arm = {"arm": "tiny-32-4", "preset": "tiny", "model": {}, "steps": 4, "train_minutes": 1.5, "params": 2_600_000,
           "synth": {"abs_rel": 0.29, "delta1": 0.57, "n": 4}}
    (tmp_path / "runs/sweep/tiny-32-4").mkdir(parents=True)
    (tmp_path / "runs/sweep/tiny-32-4/result.json").write_text(json.dumps(arm))
    monkeypatch.chdir(tmp_path)
    sweep.report("sweep.json")
    saved = json.loads((tmp_path / "sweep.json").read_text())
    assert saved["arms"] == [arm] and all(saved[k] for k in PROVENANCE)
    assert "synth AbsRel" in capsys.readouterr().out


def test_world_families_json_carries_provenance(tmp_path, monkeypatch):
    out = tmp_path / "world.json"
    argv = ["world.py", "--only-families", "--family-count", "2", "--workers", "1", "--json", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    world.main()
    saved = json.loads(out.read_text())
    assert all(saved[k] for k in PROVENANCE) and saved["workers"] == 1 and saved["render"] == []
    assert [r["family"] for r in saved["families"]] == ["open", "room", "street", "mix"] and "load" in saved


def test_families_splits_a_per_image_csv_by_scene_family(tmp_path, monkeypatch, capsys):
    """Each image's family is read from the split's scene graphs; means per family, checked by hand."""
    import csv

    import pytest
    from mofo.data.shards import ShardReader, write_split

    write_split(tmp_path / "split", 12, res=16, seed=0, split="test", family="mix", progress=False)
    with tarfile.open(next((tmp_path / "split").glob("test-*.tar"))) as tar:
        graphs = {m.name[:-5]: json.load(tar.extractfile(m))["graph"] for m in tar.getmembers() if m.name.endswith(".json")}
    truth = {k: g["family"] + ((" indoor" if g["indoor"] else " outdoor") if g["family"] == "open" else "")
             for k, g in graphs.items()}
    assert families.families(tmp_path / "split") == truth and len(set(truth.values())) > 1
    keys = [ShardReader(tmp_path / "split", "test")[i]["key"] for i in range(12)]
    rows = [{"key": k, "abs_rel": 0.01 * i, "delta1": 1 - 0.01 * i} for i, k in enumerate(keys)]
    with open(tmp_path / "m.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["key", "abs_rel", "delta1"])
        w.writeheader()
        w.writerows(rows)
    monkeypatch.setattr(sys, "argv", ["families.py", "--root", str(tmp_path / "split"), f"m={tmp_path / 'm.csv'}",
                                      "--json", str(tmp_path / "f.json")])
    families.main()
    out = {r["family"]: r for r in json.loads((tmp_path / "f.json").read_text())["rows"]}
    assert out["all"]["n"] == 12 and out["all"]["m abs_rel"] == pytest.approx(0.055)
    for fam in set(truth.values()):
        mine = [0.01 * i for i, k in enumerate(keys) if truth[k] == fam]
        assert out[fam]["n"] == len(mine) and out[fam]["m abs_rel"] == pytest.approx(sum(mine) / len(mine))
    rows[0]["key"] = "elsewhere"
    with pytest.raises(SystemExit, match="not in the split"):
        families.by_family(rows, truth)
    with pytest.raises(SystemExit, match="no test-"):
        families.families(tmp_path)
