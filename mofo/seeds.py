"""Seeds: one integer per (seed, index) pair, so that every stream of random draws (a micro-step,
a sensor pattern, an epoch's order, a dataset sample) is reproducible and distinct from the others.

Imports nothing of mofo; data loaders and the trainer share it.
"""
from __future__ import annotations

STRIDE = 1_000_003  # a prime above any step or sample count a run reaches in one seed's range


def mix_seed(seed: int, index: int, stride: int = STRIDE) -> int:
    """`seed * stride + index`: distinct for distinct (seed, index) while 0 <= index < stride."""
    return seed * stride + index
