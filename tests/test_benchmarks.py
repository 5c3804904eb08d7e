"""benchmarks/report.py: the table and the JSON every benchmark script writes (sweep.py and world.py through it)."""
import json
import sys
import tarfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))
import families  # noqa: E402
import paired  # noqa: E402
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


def test_paired_interval_matches_the_normal_approximation():
    """Images alone: the bootstrap interval of a mean difference ~ mean +- 1.96 sd / sqrt(n)."""
    import numpy as np
    import pytest

    diff = np.random.default_rng(1).normal(0.02, 0.05, size=400)
    low, high = paired.bootstrap_interval(diff, np.arange(400), resamples=20000)
    half = 1.96 * diff.std() / np.sqrt(400)
    assert low == pytest.approx(diff.mean() - half, abs=0.15 * half)
    assert high == pytest.approx(diff.mean() + half, abs=0.15 * half)


def test_paired_clusters_resample_whole_groups():
    """Keys sharing the regex's match form one group; a group resampled whole is wider than its images apart."""
    import numpy as np

    keys = [f"seq/a/{i}" for i in range(6)] + [f"seq/b/{i}" for i in range(6)] + ["x/1", "x/2"]
    group = paired.clusters(keys, r"seq/\w")
    assert len(set(group)) == 4 and len(set(group[:6])) == 1 and group[0] != group[6] and group[12] != group[13]
    assert list(paired.clusters(keys, None)) == list(np.argsort(np.argsort(keys)))
    diff = np.array([0.1] * 6 + [-0.1] * 6 + [0.0, 0.0])  # the spread sits between the two sequences
    apart = paired.bootstrap_interval(diff, np.arange(14), 5000)
    pooled = paired.bootstrap_interval(diff, group, 5000)
    assert pooled[1] - pooled[0] > 1.5 * (apart[1] - apart[0])


def test_paired_table_from_csvs(tmp_path, monkeypatch):
    """Means, differences and win shares checked by hand; mismatched images and odd arguments are refused."""
    import csv

    import pytest

    def write(name, values):
        with open(tmp_path / name, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["key", "abs_rel", "delta1"])
            w.writeheader()
            w.writerows({"key": k, "abs_rel": v, "delta1": 1 - v} for k, v in values.items())
        return f"{name[:-4]}={tmp_path / name}"

    ref = write("ref.csv", {"a": 0.2, "b": 0.3, "c": 0.4, "d": 0.1})
    new = write("new.csv", {"a": 0.1, "b": 0.25, "c": 0.45, "d": 0.05})
    monkeypatch.setattr(sys, "argv", ["paired.py", ref, new, "--json", str(tmp_path / "p.json")])
    paired.main()
    rows = json.loads((tmp_path / "p.json").read_text())["rows"]
    assert rows[0]["abs_rel"] == pytest.approx(0.25) and rows[1]["abs_rel"] == pytest.approx(0.2125)
    assert rows[1]["diff"] == pytest.approx(-0.0375) and rows[1]["better on"] == pytest.approx(0.75)
    assert rows[1]["ci95 low"] <= -0.0375 <= rows[1]["ci95 high"]
    monkeypatch.setattr(sys, "argv", ["paired.py", ref, new, "--metric", "delta1", "--json", str(tmp_path / "d.json")])
    paired.main()
    assert json.loads((tmp_path / "d.json").read_text())["rows"][1]["better on"] == pytest.approx(0.75)
    short = write("short.csv", {"a": 0.1, "b": 0.2})
    for argv, message in (([ref, short], "different images"), ([ref], "at least two"),
                          ([ref, new, "--metric", "silog"], "no column"), ([ref, ref], "given twice")):
        monkeypatch.setattr(sys, "argv", ["paired.py", *argv])
        with pytest.raises(SystemExit, match=message):
            paired.main()
