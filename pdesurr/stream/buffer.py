"""The training buffer's interface: what a producer puts and a trainer draws.

Online training (Melissa; Meyer, Schouler, Caulk, Ribes, Raffin, "Training Deep Surrogate
Models with Large Scale Online Learning", ICML 2023, PMLR 202:24614-24630,
arXiv:2306.16133): producers ``put`` samples as the solver makes them, the trainer draws
batches with ``get_batch``. :class:`Buffer` holds the bookkeeping every policy shares
(blocking, counters, replay after close, checkpoints); the final policies (FIFO, FIRO,
reservoir) are in :mod:`pdesurr.stream.buffers`.

Producers are throttled, never dropped: ``put`` blocks while there is no room (or returns
False with ``block=False`` / on timeout). ``get_batch(n)`` blocks until it can serve n;
after ``close()`` (all producers done) every buffer drains: each batch removes up to n held
samples (the oldest for FIFO, random ones otherwise) and ``[]`` means exhausted, so every
received sample is served at least once. A ``put`` on a closed buffer returns False.

Memory: at most ``capacity`` samples are held, i.e. ``capacity * (W*C*prod(S) + n_cond) * 4``
bytes of float32 (``state_dict`` makes one stacked copy of that). All methods take one
``threading.Condition``, so producers may be threads. Randomness comes from a
``torch.Generator`` seeded by ``seed``: deterministic given the sequence of calls.
Simplified relative to Melissa: one buffer per trainer rank, no per-client queues.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from typing import NamedTuple

import torch
from torch import Tensor

ROOM_WAIT = 0.05  # s: a transport's longest wait_room before it checks its stop flag


class Sample(NamedTuple):
    """One window of the stream. Immutable; a named tuple rather than a frozen dataclass
    because a receiver builds one per sample (0.21 µs against 0.48 µs a sample, measured)."""

    frames: Tensor  # (W, C, *S) float32
    cond: Tensor  # (n_cond,)
    trajectory: int
    time_index: int


def collate(samples: list[Sample]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Stack samples into (frames (B, W, C, *S), cond (B, n_cond), trajectory (B,), time (B,))."""
    frames, cond = collate_inputs(samples)
    return (
        frames,
        cond,
        torch.tensor([s.trajectory for s in samples], dtype=torch.int64),
        torch.tensor([s.time_index for s in samples], dtype=torch.int64),
    )


def collate_inputs(samples: list[Sample]) -> tuple[Tensor, Tensor]:
    """What a training step needs of a batch: (frames (B, W, C, *S), cond (B, n_cond))."""
    if not samples:
        raise ValueError("cannot collate an empty batch")
    return torch.stack([s.frames for s in samples]), torch.stack([s.cond for s in samples])


def _layout(s: Sample) -> tuple:
    """What every sample of one buffer shares: shapes, dtype, devices."""
    f, c = s.frames, s.cond
    return f.shape, f.dtype, f.device, c.shape, c.device


def check_size(capacity: int, watermark: int) -> None:
    """``capacity >= 1`` and ``1 <= watermark <= capacity``, both integers."""
    if not isinstance(capacity, int) or capacity < 1:
        raise ValueError(f"capacity must be an integer >= 1, got {capacity!r}")
    if not isinstance(watermark, int) or not 1 <= watermark <= capacity:
        raise ValueError(
            f"watermark must be an integer in [1, capacity={capacity}], got {watermark!r}"
        )


class Buffer(ABC):
    """Shared bookkeeping; each final policy class decides which samples a batch serves
    (open) or drains (closed), and may replace the default room and insertion (a free slot,
    appended: FIFO and FIRO keep them; the reservoir also replaces seen samples)."""

    kind = ""

    def __init__(self, capacity: int, watermark: int = 1, seed: int = 0):
        check_size(capacity, watermark)
        self.capacity, self.watermark = capacity, watermark
        self._cond = threading.Condition()
        self._rng = torch.Generator().manual_seed(int(seed))
        self._samples: list[Sample] = []
        self._counts = torch.zeros(capacity, dtype=torch.int64)  # times each held sample was served
        self._counts_np = self._counts.numpy()  # the same memory: cheap scalar/small-index work
        self.received = self.served = self.evicted = 0
        self._distinct = self._max_reuse = 0  # samples served at least once; most serves of one
        self.wait_time = 0.0  # seconds get_batch spent blocked: the trainer's idle time
        self.throttle_time = 0.0  # seconds put spent blocked: the producers' idle time
        self.closed = False
        self.replay: int | None = None  # after close: None drains; see replay_after_close

    # -- policy -------------------------------------------------------------------------
    def _has_room(self) -> bool:
        """May a ``put`` add a sample now (default: a free slot; the reservoir also has
        room while it holds a seen sample)."""
        return len(self._samples) < self.capacity

    def _insert(self, sample: Sample) -> None:
        """Hold ``sample`` (there is room; default: in a free slot, after the others)."""
        self._samples.append(sample)

    def _insert_many(self, samples: list[Sample]) -> int:
        """Hold as many of ``samples`` as there are free slots for, in order; how many. What
        would be held is checked first, in one pass: a bundle with a sample of another
        layout is refused whole. A policy with another notion of room overrides it."""
        held = samples[: self.capacity - len(self._samples)]
        self._check_many(held)
        for sample in held:
            self._insert(sample)
        return len(held)

    @abstractmethod
    def _serve(self, n: int) -> list[Sample]:
        """The buffer is open and ready: pick n samples."""

    @abstractmethod
    def _drain(self, n: int) -> list[Sample]:
        """The buffer is closed: up to n held samples, removed."""

    def _ready(self, n: int) -> bool:
        return len(self._samples) >= max(n, self.watermark)

    # -- public -------------------------------------------------------------------------
    def __len__(self) -> int:
        with self._cond:
            return len(self._samples)

    @property
    def fill(self) -> float:
        return len(self) / self.capacity

    @property
    def reuse(self) -> dict[str, float]:
        """Mean and max number of times a sample was served (1.0 and 1 for FIFO/FIRO)."""
        with self._cond:
            mean = self.served / self._distinct if self._distinct else 0.0
            return {"mean": mean, "max": self._max_reuse}

    def put(self, sample: Sample, block: bool = True, timeout: float | None = None) -> bool:
        """Add a sample; False if not added (closed, ``block=False`` and no room, timeout)."""
        with self._cond:
            self._check(sample)
            if not self.closed and not self._has_room():
                if not block:
                    return False
                start = time.perf_counter()
                ok = self._cond.wait_for(lambda: self.closed or self._has_room(), timeout)
                self.throttle_time += time.perf_counter() - start
                if not ok:
                    return False
            if self.closed:
                return False
            self._insert(sample)
            self.received += 1
            self._cond.notify_all()
            return True

    def put_many(self, samples: list[Sample]) -> int:
        """Add as many of ``samples`` as there is room for, in order, without blocking (one
        lock for all: a transport delivering a bundle); returns how many were added."""
        with self._cond:
            k = 0 if self.closed else self._insert_many(samples)
            self.received += k
            if k:
                self._cond.notify_all()
            return k

    def get_batch(self, n: int, timeout: float | None = None) -> list[Sample]:
        """n samples; after ``close()`` possibly fewer, ``[]`` once exhausted.

        Raises TimeoutError if ``timeout`` seconds pass with the buffer open and not ready.
        """
        if not isinstance(n, int) or not 1 <= n <= self.capacity:
            raise ValueError(
                f"batch size must be an integer in [1, capacity={self.capacity}], got {n!r}"
            )
        with self._cond:
            if not self.closed and not self._ready(n):
                start = time.perf_counter()
                ok = self._cond.wait_for(lambda: self.closed or self._ready(n), timeout)
                self.wait_time += time.perf_counter() - start
                if not ok:
                    raise TimeoutError(
                        f"no batch of {n} within {timeout} s ({len(self._samples)} held)"
                    )
            if not self.closed:
                batch = self._serve(n)
            else:
                batch = self._drain(n) if self.replay is None else self._replay(n)
            self._cond.notify_all()
            return batch

    def replay_after_close(self, max_reuse: int = 0) -> None:
        """Once closed, keep serving the held samples instead of draining them: each batch
        draws min(n, held) distinct ones uniformly without removing them; a sample served
        ``max_reuse`` times in all (``0``: no bound) is retired; ``[]`` once none is left."""
        if not isinstance(max_reuse, int) or max_reuse < 0:
            raise ValueError(f"max_reuse must be an integer >= 0, got {max_reuse!r}")
        with self._cond:
            self.replay = max_reuse

    def _replay(self, n: int) -> list[Sample]:
        k = len(self._samples)
        if self.replay:
            spent = torch.nonzero(self._counts[:k] >= self.replay).flatten().tolist()
            for i in sorted(spent, reverse=True):  # swap-remove, as in _remove_random
                last = len(self._samples) - 1
                self._samples[i], self._counts[i] = self._samples[last], self._counts[last]
                self._samples.pop()
                self._counts[last] = 0
        idx = torch.randperm(len(self._samples), generator=self._rng)[:n]
        self._count(idx)
        return [self._samples[i] for i in idx.tolist()]

    def wait_room(self, timeout: float | None = None) -> bool:
        """Block until a ``put`` would find room (or the buffer is closed, or ``timeout``
        seconds pass); True if there is room. A transport that must not hold other locks
        while it waits (:func:`pdesurr.stream.bundled.deliver`) waits here, then puts."""
        with self._cond:
            if not self.closed and not self._has_room():
                start = time.perf_counter()
                self._cond.wait_for(lambda: self.closed or self._has_room(), timeout)
                self.throttle_time += time.perf_counter() - start
            return not self.closed and self._has_room()

    def close(self) -> None:
        """No more samples will come: unblock every waiting ``put`` and ``get_batch``."""
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    # -- helpers ------------------------------------------------------------------------
    def _check(self, sample: Sample, ref: Sample | None = None) -> None:
        """A :class:`Sample` with the layout of ``ref`` (default: the held samples'): shapes,
        dtype and devices (a batch is stacked on one device: a CPU sample among GPU ones,
        e.g. restored from a checkpoint, would fail there, steps later)."""
        if not isinstance(sample, Sample):
            raise TypeError(f"expected a Sample, got {type(sample).__name__}")
        ref = ref if ref is not None else (self._samples[0] if self._samples else None)
        if ref is not None and _layout(sample) != _layout(ref):
            raise ValueError(
                f"sample frames {tuple(sample.frames.shape)} {sample.frames.dtype} on "
                f"{sample.frames.device}, cond {tuple(sample.cond.shape)} on {sample.cond.device} "
                f"differ from held frames {tuple(ref.frames.shape)} {ref.frames.dtype} on "
                f"{ref.frames.device}, cond {tuple(ref.cond.shape)} on {ref.cond.device}"
            )

    def _check_many(self, samples: list[Sample]) -> None:
        """:meth:`_check` for a bundle about to be held: one pass when every sample has
        the held layout (or the first sample's, in an empty buffer), else the per-sample
        check names the first offender."""
        if not samples:
            return
        ref = self._samples[0] if self._samples else samples[0]
        if isinstance(ref, Sample) and all(type(s) is Sample for s in samples):
            want = _layout(ref)
            if all(_layout(s) == want for s in samples):
                return
        for sample in samples:  # a non-Sample ref is samples[0]: its own check raises first
            self._check(sample, ref)

    def _count(self, idx: Tensor) -> None:
        """Record that held samples ``idx`` were served once more."""
        if len(idx) == 0:
            return
        i = idx.numpy()
        before = self._counts_np[i]
        self._counts_np[i] = before + 1
        self.served += len(i)
        self._distinct += int((before == 0).sum())
        self._max_reuse = max(self._max_reuse, int(before.max()) + 1)

    def _remove_random(self, n: int) -> list[Sample]:
        idx = torch.randperm(len(self._samples), generator=self._rng)[:n]
        self._count(idx)
        batch = [self._samples[i] for i in idx.tolist()]
        # swap-remove, largest index first: the last element is never one still to remove
        for i in sorted(idx.tolist(), reverse=True):
            last = len(self._samples) - 1
            self._samples[i], self._counts[i] = self._samples[last], self._counts[last]
            self._samples.pop()
            self._counts[last] = 0
        return batch

    # -- checkpoints --------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Held samples (stacked), counters and RNG; safe for ``torch.load(weights_only=True)``."""
        with self._cond:
            held, k = self._samples, len(self._samples)
            return {
                "kind": self.kind,
                "capacity": self.capacity,
                "frames": torch.stack([s.frames for s in held]) if held else torch.empty(0),
                "cond": torch.stack([s.cond for s in held]) if held else torch.empty(0),
                "trajectory": torch.tensor([s.trajectory for s in held], dtype=torch.int64),
                "time_index": torch.tensor([s.time_index for s in held], dtype=torch.int64),
                "counts": self._counts[:k].clone(),
                "received": self.received,
                "served": self.served,
                "evicted": self.evicted,
                "distinct": self._distinct,
                "max_reuse": self._max_reuse,
                "wait_time": self.wait_time,
                "throttle_time": self.throttle_time,
                "closed": self.closed,
                "rng": self._rng.get_state(),
            }

    def load_state_dict(self, state: dict, device: str | torch.device | None = None) -> None:
        """Restore :meth:`state_dict`'s content; ``device``: where the held samples go (the
        producers' device: checkpoints load on the CPU), default where they were loaded."""
        if state["kind"] != self.kind:
            raise ValueError(f"state of a {state['kind']!r} buffer, this one is {self.kind!r}")
        k = len(state["trajectory"])
        if k > self.capacity:
            raise ValueError(f"state holds {k} samples, more than capacity {self.capacity}")
        frames, cond = state["frames"], state["cond"]
        if device is not None:
            frames, cond = frames.to(device), cond.to(device)
        with self._cond:
            # clone each sample so that evicting one frees its memory (views would pin the stack)
            self._samples = [
                Sample(frames[i].clone(), cond[i].clone(), t, ti)
                for i, (t, ti) in enumerate(
                    zip(state["trajectory"].tolist(), state["time_index"].tolist(), strict=True)
                )
            ]
            self._counts.zero_()
            self._counts[:k] = state["counts"]
            self.received, self.served = int(state["received"]), int(state["served"])
            self.evicted = int(state["evicted"])
            self._distinct, self._max_reuse = int(state["distinct"]), int(state["max_reuse"])
            self.wait_time = float(state["wait_time"])
            self.throttle_time = float(state["throttle_time"])
            self.closed = bool(state["closed"])
            self._rng.set_state(state["rng"])
            self._cond.notify_all()
