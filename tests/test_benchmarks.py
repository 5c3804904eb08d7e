"""benchmarks/report.py: the table and the JSON every benchmark script writes."""
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))
from report import publish, table  # noqa: E402


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
