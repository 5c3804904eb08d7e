"""Weight interpolation between a model and its fine-tuned continuation (WiSE-FT, Wortsman et al. 2022):
(1 - alpha) * A + alpha * B, tensor by tensor, both loaded strictly as the same architecture (EMA weights when present).

    python benchmarks/results/s16/soup.py A B ALPHA OUT

OUT gets model.safetensors (float32) and B's config.json; A's text_empty.safetensors is copied when it has one.
"""
import json
import shutil
import sys
from pathlib import Path

from mofo.checkpoint import CONFIG, EMPTY_TEXT, WEIGHTS, load_checkpoint, read_info, sampling_weights, write_safetensors
from mofo.files import atomic_folder


def weights(folder: Path) -> dict:
    return load_checkpoint(folder, weights=sampling_weights(folder))[0].float().state_dict()


a, b, alpha, out = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3]), Path(sys.argv[4])
wa, wb = weights(a), weights(b)
if wa.keys() != wb.keys():
    sys.exit(f"{a} and {b} are different architectures")
mixed = {k: wa[k].lerp(wb[k], alpha) if wa[k].is_floating_point() else wb[k] for k in wa}
info = read_info(b) | {"soup": {"a": str(a), "b": str(b), "alpha": alpha}}
with atomic_folder(out) as tmp:
    write_safetensors(tmp / WEIGHTS, mixed, metadata={"format": "pt"})
    (tmp / CONFIG).write_text(json.dumps(info, indent=1))
    if (a / EMPTY_TEXT).is_file():
        shutil.copy(a / EMPTY_TEXT, tmp / EMPTY_TEXT)
print(out)
