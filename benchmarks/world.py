"""Throughput of the synthetic world: rendering + captioning, and writing a shard set.

    .venv/bin/python benchmarks/world.py [--write-count 50000] [--json benchmarks/results/world.json]

Prints a table of samples/s at 32, 64 and 256 px in one process (all threads) and through
a DataLoader with worker processes (one thread each) for the open family, the same at 64 px
for each scene family (room, street, mix), then the time to write a 64-px training set with
`mofo data synth`-equivalent code, and saves everything as JSON. `--only-families` skips the
resolution table and the write.
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from mofo.data import SynthDataset, WorldConfig, render_scenes, scene_seed
from mofo.data.shards import write_split
from report import publish


def single(res: int, n: int, batch: int, family: str = "open") -> float:
    cfg = WorldConfig(res=res, family=family)
    render_scenes([scene_seed(9, "train", i) for i in range(min(batch, 8))], cfg)  # warm-up
    start = time.perf_counter()
    for first in range(0, n, batch):
        render_scenes([scene_seed(0, "train", i) for i in range(first, min(first + batch, n))], cfg)
    return n / (time.perf_counter() - start)


def _one_thread(_):
    torch.set_num_threads(1)


def loader(res: int, n: int, batch: int, workers: int, family: str = "open") -> float:
    data = SynthDataset(res=res, length=n, family=family)
    batches = DataLoader(data, batch_size=batch, num_workers=workers, worker_init_fn=_one_thread,
                         prefetch_factor=2, persistent_workers=False)
    start = time.perf_counter()
    count = sum(b["image"].shape[0] for b in batches)
    return count / (time.perf_counter() - start)


def write(count: int, workers: int) -> float:
    out = Path(tempfile.mkdtemp(prefix="mofo-bench-"))
    try:
        start = time.perf_counter()
        write_split(out, count, res=64, seed=0, workers=workers, progress=False)
        return time.perf_counter() - start
    finally:
        shutil.rmtree(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write-count", type=int, default=50_000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--family-count", type=int, default=4096, help="samples per family row")
    ap.add_argument("--only-families", action="store_true", help="only the per-family rows at 64 px")
    ap.add_argument("--json", default="benchmarks/results/world.json")
    args = ap.parse_args()
    # res: (samples, batch); enough samples that worker start-up (~0.5 s) is a small share
    sizes = {} if args.only_families else {32: (16384, 256), 64: (8192, 128), 256: (256, 16)}
    columns = (f"samples/s; single: 1 process, {torch.get_num_threads()} thread(s); "
               f"workers: DataLoader, {args.workers} worker process(es) of 1 thread")
    rows = [{"res": res, "single": single(res, n, batch), "workers": loader(res, n, batch, args.workers)}
            for res, (n, batch) in sizes.items()]
    if rows:
        publish(rows, None, title=f"open family, {columns}")
    n = args.family_count
    families = [{"family": family, "res": 64, "single": single(64, n, 128, family),
                 "workers": loader(64, n, 128, args.workers, family)} for family in ("open", "room", "street", "mix")]
    publish(families, None, title=f"64 px, {columns}")
    result = {"workers": args.workers, "render": rows, "families": families, "load": os.getloadavg()}
    if not args.only_families:
        seconds = write(args.write_count, args.workers)
        print(f"write {args.write_count} samples at 64 px with {args.workers} workers: {seconds:.1f} s "
              f"({args.write_count / seconds:.0f} samples/s)")
        result["write"] = {"count": args.write_count, "res": 64, "seconds": seconds}
    publish(None, args.json, **result)


if __name__ == "__main__":
    main()
