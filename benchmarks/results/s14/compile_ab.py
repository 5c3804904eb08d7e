"""Training step of the `small` layout at a given width, eager vs torch.compile, interleaved (session 14).

    python benchmarks/results/s14/compile_ab.py 288 32 joint|t2i   # width, batch, model
"""
import sys, time, torch
sys.path.insert(0, "/work/main/benchmarks")
from speed import randomize, inputs, training, interleaved
from mofo.model import ModalityDiT
from mofo.config import get_preset
torch.set_num_threads(1)
width = int(sys.argv[1]); batch = int(sys.argv[2]); depth = sys.argv[3] == "joint"
c = get_preset("small").replace(image_target="x", hidden_size=width, num_heads=width // 32, axes_dim=(8, 8, 8, 8),
                                with_depth=depth)
model = randomize(ModalityDiT(c))
x = inputs(c, batch, (8, 8), c.txt_len, depth=depth)
compiled = torch.compile(model)
cases = {"eager": training(lambda: model(**x), model, "bf16"), "compiled": training(lambda: compiled(**x), model, "bf16")}
t0 = time.perf_counter(); cases["compiled"](); print("compile+first", round(time.perf_counter() - t0, 1), "s", flush=True)
t = interleaved(cases, 7, 2)
print(width, batch, sys.argv[3], {k: round(v * 1000, 1) for k, v in t.items()}, "compiled/eager", round(t["compiled"] / t["eager"], 3))
