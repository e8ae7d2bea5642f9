"""The three buffer policies of Melissa's online training (Meyer et al., ICML 2023,
arXiv:2306.16133), each a final class over :class:`pdesurr.stream.buffer.Buffer`:

    FIFOBuffer       each sample is trained on exactly once, in arrival order.
    FIROBuffer       first-in random-out: serves once ``watermark`` samples are held; each
                     batch removes n samples chosen uniformly at random (exactly once each,
                     but decorrelated from the order in which producers emit them).
    ReservoirBuffer  samples are kept and re-used: a batch draws n distinct held samples
                     uniformly without removing them; when full, a ``put`` replaces a
                     uniformly random *seen* sample (served at least once) and blocks while
                     every held sample is unseen. No sample leaves before it was trained on.

``BUFFERS`` names them for recipes (``online.buffer``); :func:`make_buffer` builds one.
"""

from __future__ import annotations

from typing import final

import numpy as np
import torch

from pdesurr.stream.buffer import Buffer, Sample, check_size


@final
class FIFOBuffer(Buffer):
    """Exactly once, in arrival order; ``watermark`` is fixed to 1 (serve as soon as n are held)."""

    kind = "fifo"

    def __init__(self, capacity: int):
        super().__init__(capacity, 1, 0)

    def _serve(self, n: int) -> list[Sample]:
        batch = self._samples[:n]
        self._count(torch.arange(len(batch)))
        del self._samples[:n]
        k = len(self._samples)
        self._counts[:k] = self._counts[len(batch) : len(batch) + k].clone()
        self._counts[k:] = 0
        return batch

    _drain = _serve


@final
class FIROBuffer(Buffer):
    """First-in random-out: exactly once, uniformly random order, once ``watermark`` are held."""

    kind = "firo"

    def _serve(self, n: int) -> list[Sample]:
        return self._remove_random(n)

    def _drain(self, n: int) -> list[Sample]:
        return self._remove_random(min(n, len(self._samples)))


@final
class ReservoirBuffer(Buffer):
    """Re-use held samples; a new one replaces a random seen sample when full."""

    kind = "reservoir"

    def _has_room(self) -> bool:
        k = len(self._samples)
        return k < self.capacity or bool(self._counts_np[:k].any())

    def _insert(self, sample: Sample) -> None:
        self._insert_many([sample])

    def _insert_many(self, samples: list[Sample]) -> int:
        """Fill free slots, then replace seen samples: for each, a uniform draw among the
        seen indices in increasing order (``floor(u * len(seen))``, ``u`` one double of the
        buffer's generator). One reduction and one draw of all the doubles per call: an
        evicted index leaves the sorted list as it would leave a recomputed ``nonzero``,
        and the generator yields the same doubles in one call as in several, so a bundle
        draws exactly what its samples put one by one draw (at ~1 us a sample; torch
        indexing of a few elements costs ~15 us a call, hence the NumPy view of the
        counts)."""
        free = min(len(samples), self.capacity - len(self._samples))
        seen: list = []
        if free < len(samples):
            seen = np.flatnonzero(self._counts_np > 0).tolist()
        m = min(len(samples) - free, len(seen))
        self._check_many(samples[: free + m])
        self._samples.extend(samples[:free])
        if m == 0:
            return free
        draws = torch.rand(m, generator=self._rng, dtype=torch.float64).tolist()
        evicted = [seen.pop(int(u * len(seen))) for u in draws]
        for i, sample in zip(evicted, samples[free : free + m], strict=True):
            self._samples[i] = sample
        self._counts_np[evicted] = 0
        self.evicted += m
        return free + m

    def _serve(self, n: int) -> list[Sample]:
        idx = torch.randperm(len(self._samples), generator=self._rng)[:n]
        self._count(idx)
        return [self._samples[i] for i in idx.tolist()]

    def _drain(self, n: int) -> list[Sample]:
        return self._remove_random(min(n, len(self._samples)))


BUFFERS = {"fifo": FIFOBuffer, "firo": FIROBuffer, "reservoir": ReservoirBuffer}


def make_buffer(kind: str, capacity: int, watermark: int = 1, seed: int = 0) -> Buffer:
    """A buffer by name; ``watermark`` must lie in [1, capacity]; FIFO ignores it and ``seed``."""
    if kind not in BUFFERS:
        raise ValueError(f"unknown buffer kind {kind!r}; choose one of {sorted(BUFFERS)}")
    if kind == "fifo":
        check_size(capacity, watermark)  # a recipe's watermark is checked for every kind
        return FIFOBuffer(capacity)
    return BUFFERS[kind](capacity, watermark, seed)
