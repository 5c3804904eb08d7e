"""Training batches: which samples each process reads at each micro-step, and how they stack.

Sample positions are laid out for the global batch and sliced per rank, so a run
reads the same samples whatever the number of processes, and a resumed run
continues where it stopped (`StepBatches(start=...)`).
"""
from __future__ import annotations

import torch

from mofo.data.datasets import SynthDataset, open_dataset
from mofo.seeds import mix_seed


class StepBatches(torch.utils.data.Sampler):
    """Index lists for this rank's micro-batches, from micro-batch `start` on, forever.

    Global micro-batch m covers positions [m*M, (m+1)*M), M = micro * world;
    rank r takes its contiguous slice. Datasets are read in a seeded permutation
    per epoch, procedural ones (a fresh scene per index) in order.
    """

    def __init__(self, n: int, micro: int, rank: int, world: int, start: int, seed: int, shuffle: bool = True):
        self.n, self.micro, self.rank, self.world, self.start, self.seed = n, micro, rank, world, start, seed
        self.shuffle = shuffle
        self._perm_epoch, self._perm = -1, None

    def _index(self, pos: int) -> int:
        if not self.shuffle:
            return pos
        epoch, i = divmod(pos, self.n)
        if epoch != self._perm_epoch:
            g = torch.Generator().manual_seed(mix_seed(self.seed, epoch, stride=7919))
            self._perm, self._perm_epoch = torch.randperm(self.n, generator=g), epoch
        return int(self._perm[i])

    def __iter__(self):
        m = self.start
        while True:
            base = (m * self.world + self.rank) * self.micro
            yield [self._index(p) for p in range(base, base + self.micro)]
            m += 1


def collate(samples: list[dict]) -> dict:
    out = {k: torch.stack([s[k] for s in samples]) for k in ("image", "depth", "valid_mask")}
    out["caption"] = [s["caption"] for s in samples]
    return out


def make_loader(spec: str, res: int, micro: int, rank: int, world: int, start: int, *, seed: int = 0,
                augment: bool = False, workers: int = 0) -> torch.utils.data.DataLoader:
    """Batches of the dataset `spec` (`open_dataset`) for one rank, from micro-batch `start` on."""
    data = open_dataset(spec, res=res, split="train", seed=seed, augment=augment)
    shuffle = not isinstance(data, SynthDataset)
    sampler = StepBatches(len(data), micro, rank, world, start, seed, shuffle)
    return torch.utils.data.DataLoader(
        data, batch_sampler=sampler, num_workers=workers, collate_fn=collate, persistent_workers=workers > 0,
    )
