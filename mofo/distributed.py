"""Devices and processes: which device a run uses, process groups under torchrun,
bf16 support, FSDP2 sharding, gradient sync and logging across ranks.

Never imports the model; the trainer and `Pipeline` call in.
"""
from __future__ import annotations

import os
from contextlib import nullcontext

import torch
import torch.distributed as dist


def check_device(name: str | torch.device) -> torch.device:
    """`name` as a torch.device, or a ValueError naming why it cannot be used here (before anything loads)."""
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {str(name)!r}; use cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {str(name)!r} is not available: this machine has no CUDA GPU (use --device cpu)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {str(name)!r} is not available: this machine has {torch.cuda.device_count()} "
                             "CUDA GPU(s)")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {str(name)!r} is not available on this machine (use --device cpu)")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unsupported device {str(name)!r}; use cpu, cuda, cuda:N or mps")
    return device


def setup_distributed() -> tuple[int, int, torch.device]:
    """(rank, world, device); initialises the process group under torchrun (gloo on CPU, nccl on GPU)."""
    if "RANK" not in os.environ:
        return 0, 1, torch.device("cuda" if torch.cuda.is_available() else "cpu")
    local = int(os.environ.get("LOCAL_RANK", 0))
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size(), device


def close_distributed():
    """End cleanly: every rank waits for the others (rank 0's files), then the group closes."""
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def bf16_supported(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()) or bool(
        getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
    )


def use_bf16(precision: str, device: torch.device) -> bool:
    if precision == "bf16" and not bf16_supported(device):
        raise ValueError(f"bf16 is not supported on this {device.type} device; use --precision fp32")
    return precision == "bf16" or (precision == "auto" and bf16_supported(device))


def shard_model(model: torch.nn.Module):
    """FSDP2: shard every block, then the root."""
    from torch.distributed.fsdp import fully_shard

    for stack in ("double_blocks", "single_blocks", "depth_decoder_blocks"):
        for block in getattr(model, stack, []):
            fully_shard(block)
    fully_shard(model)
    return model


def sync_context(model, last_micro: bool):
    """Skip the gradient all-reduce on all but the last micro-step of an accumulation."""
    if last_micro or not dist.is_initialized():
        return nullcontext()
    if hasattr(model, "no_sync"):
        return model.no_sync()
    model.set_requires_gradient_sync(False)
    return nullcontext()


def all_finite(loss: torch.Tensor, grad_norm: torch.Tensor, device) -> bool:
    """True when the loss and gradient norm are finite on every rank."""
    finite = torch.isfinite(loss) & torch.isfinite(grad_norm)
    if dist.is_initialized():
        flag = finite.float().to(device)
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
        finite = flag > 0
    return bool(finite)


def mean_over_ranks(values: dict[str, float], device) -> dict[str, float]:
    """Average logged scalars over processes (each rank logs its local batch)."""
    if not dist.is_initialized():
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return {k: v / dist.get_world_size() for k, v in zip(keys, t.tolist())}
