"""A stateless batch sampler: the batch of step ``s`` is a pure function of (seed, s).

Each epoch is a permutation drawn from a generator seeded by ``(seed, epoch)``; step
``s`` takes the slice ``s mod steps_per_epoch`` of it. Resuming at step ``s`` therefore
reads exactly the batches an uninterrupted run would, with no sampler state to save.
Under DDP each rank takes the strided share ``batch[rank::world]`` of the global batch.
"""

from __future__ import annotations

import torch

from pdesurr.training.distributed import DistContext

# a prime far above any epoch count: (seed, epoch) and (seed + 1, epoch') never share a seed
EPOCH_SEED_STRIDE = 1_000_003


class StepSampler:
    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world: int = 1):
        if n < 1:
            raise ValueError("no training windows: is the store empty or the window too long?")
        if batch_size < world:
            raise ValueError(f"batch_size {batch_size} is smaller than the {world} trainer ranks")
        self.n, self.batch_size, self.seed, self.rank, self.world = n, batch_size, seed, rank, world
        self.per_epoch = max(1, n // batch_size)  # drop the ragged tail of each epoch
        self._epoch, self._perm = None, None

    def batch(self, step: int) -> list[int]:
        epoch, pos = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            gen = torch.Generator().manual_seed(self.seed * EPOCH_SEED_STRIDE + epoch)
            self._perm = torch.randperm(self.n, generator=gen)
            self._epoch = epoch
        global_batch = self._perm[pos * self.batch_size : (pos + 1) * self.batch_size]
        if len(global_batch) < self.batch_size:  # n < batch_size: sample with wrap-around
            reps = -(-self.batch_size // self.n)
            global_batch = self._perm.repeat(reps)[: self.batch_size]
        return global_batch[self.rank :: self.world].tolist()


class OfflineBatches:
    """Batches of a store's windows: the stateless sampler makes step ``s`` reproducible."""

    kind = "offline"

    def __init__(self, source, batch_size: int, seed: int, ctx: DistContext):
        self.source = source
        self.sampler = StepSampler(len(source), batch_size, seed, ctx.rank, ctx.world)
        self.seed = seed

    def next(self, step: int):
        return self.source.batch(self.sampler.batch(step))

    def metrics(self) -> dict:
        return {}

    def state_dict(self) -> dict:
        return {"kind": "offline", "sampler_seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        pass
