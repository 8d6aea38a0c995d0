"""Samplers that make shuffling a function of (seed, epoch) and evaluation exact under DDP.

Both subclass `DistributedSampler`, so Lightning keeps them instead of injecting its own.
They yield *keys* `epoch * n + index`: the dataset decodes the index and seeds any
augmentation with the key, so a resumed run sees exactly the same batches.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.distributed as dist
from torch.utils.data import DistributedSampler


def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


class ShuffledShardSampler(DistributedSampler):
    """Training: a permutation seeded by (seed, epoch), sharded over ranks (padded to equal length)."""

    def __init__(self, size: int, seed: int) -> None:
        world, rank = _world()
        super().__init__(range(size), num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=False)
        self.size = size

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(self.size, generator=g).tolist()
        order += order[: self.total_size - len(order)]  # pad so every rank has the same count
        return iter([self.epoch * self.size + i for i in order[self.rank : self.total_size : self.num_replicas]])


class UnpaddedShardSampler(DistributedSampler):
    """Evaluation: indices rank, rank + world, ...; no sample repeated, so metrics equal one device's."""

    def __init__(self, size: int) -> None:
        world, rank = _world()
        super().__init__(range(size), num_replicas=world, rank=rank, shuffle=False, drop_last=False)
        self.size = size
        self.num_samples = len(range(rank, size, world))

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.size, self.num_replicas))

    def __len__(self) -> int:
        return self.num_samples
