"""Run by tests under torchrun: trains, and dumps each rank's parameters at every checkpoint."""
import sys
from pathlib import Path

from safetensors.torch import save_file

from mofo import train as T

_save = T.save_training_checkpoint


def save_and_dump(run, step, model, ema, opt, cfg, model_cfg, rank, bad):
    params = {n: (p.full_tensor() if hasattr(p, "full_tensor") else p).detach().clone().contiguous()
              for n, p in model.named_parameters()}
    if rank >= 0:
        save_file(params, str(Path(run) / f"params_rank{rank}.safetensors"))
    return _save(run, step, model, ema, opt, cfg, model_cfg, rank, bad)


T.save_training_checkpoint = save_and_dump
config, out = sys.argv[1], sys.argv[2]
overrides = {"fsdp": True} if "--fsdp" in sys.argv else {}
T.train(T.make_train_config(config, overrides), out)  # closes the process group itself
