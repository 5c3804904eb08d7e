"""The one way a benchmark reports: a table on stdout and a JSON file with its provenance.

    from report import publish            # benchmarks/ is on sys.path when a script there runs
    publish(rows, "benchmarks/results/x.json", title="x", model=pipe.name)

`rows` is a list of dicts (one per table row, same keys); the JSON holds the rows plus
the git commit, torch version and thread count the numbers were measured with, and any
keyword given. Written atomically. A report of several tables prints each as it is ready,
`publish(rows, None, title=...)`, then saves them all at once, `publish(None, path, a=rows_a, b=rows_b)`.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import torch

from mofo.files import write_json


def provenance() -> dict:
    """Commit (with "+dirty" for uncommitted changes), torch version, intra-op threads."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True).stdout.strip()
        commit += "+dirty" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {"commit": commit, "torch": torch.__version__, "threads": torch.get_num_threads()}


def named_files(items: list[str]) -> dict[str, Path]:
    """`NAME=PATH` arguments -> {NAME: PATH}, in order; exits naming the first one that is malformed,
    missing or a repeated name."""
    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not Path(path).is_file():
            raise SystemExit(f"expected NAME=FILE with an existing file, got {item!r}")
        if name in out:
            raise SystemExit(f"name {name!r} given twice")
        out[name] = Path(path)
    return out


def table(rows: list[dict]) -> str:
    """Rows as aligned text columns; floats with 4 significant digits."""
    if not rows:
        return "(no rows)"
    keys = list(dict.fromkeys(k for row in rows for k in row))
    cell = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)
    cells = [[cell(row.get(k, "")) for k in keys] for row in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    lines = ["  ".join(k.rjust(w) for k, w in zip(keys, widths))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def publish(rows: list[dict] | None, json_path: str | Path | None, title: str = "", **meta) -> dict:
    """Print the table (under `title`) and write `{**provenance, **meta, "rows": rows}` to `json_path`.

    `rows=None` prints no table and leaves "rows" out of the JSON."""
    data = {**provenance(), **meta}
    if rows is not None:
        data["rows"] = rows
        print((f"{title}\n" if title else "") + table(rows))
    if json_path is not None:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        write_json(json_path, data)
        print(f"wrote {json_path}")
    return data
