"""Session 15 probe: the 60 M T2I training step (and the `tiny` one), ours vs the diffusers peer, eager and
`torch.compile`d, fp32 and bf16 autocast, interleaved in one process; GFLOP/s against the bf16/fp32 matmul peak.

    OMP_NUM_THREADS=2 python benchmarks/results/s15/compile_peer.py [60m|tiny] [reps]
"""
import sys
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import speed as S  # noqa: E402
from mofo.model import ModalityDiT  # noqa: E402

size = sys.argv[1] if len(sys.argv) > 1 else "60m"
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
warnings.filterwarnings("ignore", message="Mismatch dtype between input and weight")
torch.set_num_threads(int(__import__("os").environ.get("OMP_NUM_THREADS", "2")))
cfg, batch, grid = (S.PEER_60M, 8, (16, 16)) if size == "60m" else (S.get_preset("tiny").replace(with_depth=False), 8, (16, 16))
_, peak = S.matmul_peaks(SimpleNamespace(quick=False, reps=3, warmup=1))
model = S.randomize(ModalityDiT(cfg))
peer = S.peer_twin(model)
x = S.inputs(cfg, batch, grid, cfg.txt_len, depth=False)
n = grid[0] * grid[1]
flops = S.step_flops(cfg, cfg.txt_len, n, 0, train=True) * batch
fns = {"ours": model, "ours compiled": torch.compile(model), "peer": lambda **k: S.peer_forward(peer, k)}
fns["peer compiled"] = lambda _c=torch.compile(peer), **k: S.peer_forward(_c, k)
owners = {"ours": model, "ours compiled": model, "peer": peer, "peer compiled": peer}
cases = {(who, dt): S.training(lambda f=f: f(**x), owners[who], dt) for who, f in fns.items() for dt in ("fp32", "bf16")}
start = time.perf_counter()
for key, fn in cases.items():  # compile outside the timing
    t0 = time.perf_counter(); fn(); print(f"first call {key}: {time.perf_counter() - t0:.1f} s", flush=True)
t = S.interleaved(cases, reps, 1)
print(f"| model | dtype | ours ms | peer ms | peer/ours | ours GFLOP/s | of peak |")
for who in ("", " compiled"):
    for dt in ("fp32", "bf16"):
        o, p = t[("ours" + who, dt)], t[("peer" + who, dt)]
        g = flops / o / 1e9
        print(f"| {size}{who} | {dt} | {o * 1e3:.0f} | {p * 1e3:.0f} | {p / o:.2f} | {g:.0f} | {g / peak[dt]:.0%} |")
print("peaks", {k: round(v) for k, v in peak.items()})
