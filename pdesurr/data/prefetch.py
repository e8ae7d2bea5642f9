"""Read-ahead for training from a store larger than memory.

``fit`` reads a batch of windows per step when the training split does not fit in memory
(:data:`pdesurr.training.fit.IN_MEMORY_LIMIT`). :class:`PrefetchedBatches` computes the
batches of the next ``depth`` steps in background reader threads (zarr and HDF5
decompression and file reads release the GIL), so the trainer's step overlaps the reads;
with a CUDA device the batches land in pinned host memory, so the copy to the GPU can be
asynchronous. The stateless sampler makes the batch of step ``s`` a function of ``s``:
the batches, in order, are exactly those :class:`~pdesurr.training.fit.OfflineBatches`
would give (only the timing changes), and a resumed run reads ahead from its start step.

:func:`read_batch` reads a batch by trajectory: the windows of one trajectory that lie
within a chunk's worth of frames of each other come from one read (one decompression of
each chunk touched) instead of one read per window; when a chunk holds a whole trajectory
(small frames), one call per field reads all the batch's trajectories.
"""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from pdesurr.data.channels import stack_fields


def _frames_per_chunk(ds) -> int:
    store = ds.handle()
    chunks = getattr(store.array(ds.split, ds.fields[0]["name"]), "chunks", None)
    return int(chunks[1]) if chunks else 1


def read_batch(ds, indices, chunk_frames: int | None = None):
    """``ds.batch(indices)`` (raw frames ``(B, W, C, *S)``, cond ``(B, n_cond)``), reading
    the windows of each trajectory together when they lie close (``chunk_frames``)."""
    locs = [ds.locate(int(i)) for i in indices]
    span = (ds.history + ds.horizon - 1) * ds.stride + 1
    if chunk_frames is None:
        chunk_frames = _frames_per_chunk(ds)
    groups: dict[int, list[tuple[int, int]]] = {}
    for k, (pos, t0) in enumerate(locs):
        groups.setdefault(pos, []).append((k, t0))
    store = ds.handle()
    out: list = [None] * len(locs)

    def read(traj: int, lo: int, hi: int) -> np.ndarray:  # frames lo..hi-1, (T, C, *S)
        parts = [store.read(ds.split, f["name"], (traj, slice(lo, hi))) for f in ds.fields]
        return stack_fields(ds.fields, parts, 1)

    if chunk_frames >= ds.frames and store.rows_by_index:
        # a chunk holds a whole trajectory: one call per field for all of the batch's
        # trajectories (increasing ids, as HDF5 requires; zarr decodes the chunks together)
        order = sorted(groups, key=lambda pos: int(ds.trajectories[pos]))
        ids = [int(ds.trajectories[pos]) for pos in order]
        parts = [store.array(ds.split, f["name"])[ids] for f in ds.fields]
        block = stack_fields(ds.fields, parts, 2)  # (k, T, C, *S)
        for j, pos in enumerate(order):
            for k, t0 in groups[pos]:
                out[k] = block[j, t0 : t0 + span : ds.stride]
        groups = {}
    for pos, items in groups.items():
        traj = int(ds.trajectories[pos])
        items.sort(key=lambda kt: kt[1])
        run: list[tuple[int, int]] = []
        for item in [*items, None]:  # runs of windows within a chunk's reach, one read each
            if item is not None and (
                not run or item[1] + span - run[0][1] <= max(chunk_frames, 2 * span)
            ):
                run.append(item)
                continue
            lo = run[0][1]
            block = read(traj, lo, run[-1][1] + span)
            for k, t0 in run:
                out[k] = block[t0 - lo : t0 - lo + span : ds.stride]
            run = [item] if item is not None else []
    frames = torch.as_tensor(np.stack(out), dtype=ds.dtype)
    pos = torch.as_tensor([p for p, _ in locs])
    return frames, ds.cond[pos]


class _StepBatches(torch.utils.data.Dataset):
    """Item ``s`` is the batch of step ``s`` (for DataLoader worker processes)."""

    def __init__(self, source, sampler, chunk_frames: int):
        self.source, self.sampler, self.chunk_frames = source, sampler, chunk_frames

    def __getitem__(self, step: int):
        return read_batch(self.source, self.sampler.batch(step), self.chunk_frames)


class PrefetchedBatches:
    """Wraps :class:`~pdesurr.training.fit.OfflineBatches` over a store: same batches,
    read ``depth`` steps ahead by ``workers`` threads; :meth:`close` ends the threads."""

    kind = "offline"

    def __init__(
        self, inner, depth: int = 4, workers: int = 2, pin: bool = False, processes: int = 0
    ):
        if depth < 1 or workers < 1 or processes < 0:
            raise ValueError(
                f"depth, workers >= 1, processes >= 0; got {depth}, {workers}, {processes}"
            )
        self.inner, self.source, self.sampler = inner, inner.source, inner.sampler
        self.depth, self.pin, self.processes = depth, pin, processes
        self.chunk_frames = _frames_per_chunk(self.source)
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="pdesurr-prefetch")
        self.ahead: deque = deque()  # (step, future), consecutive steps
        self.wait_time = 0.0  # s the trainer waited for a batch not yet read
        self._loader = None  # (next step, DataLoader iterator) with processes

    def _read(self, indices):
        frames, cond = read_batch(self.source, indices, self.chunk_frames)
        if self.pin:
            frames, cond = frames.pin_memory(), cond.pin_memory()
        return frames, cond

    def _submit(self, step: int) -> None:
        indices = self.sampler.batch(step)  # here, not in a thread: the sampler caches
        self.ahead.append((step, self.pool.submit(self._read, indices)))

    def _next_process(self, step: int):
        from itertools import count

        if self._loader is None or self._loader[0] != step:
            self._stop_loader()
            loader = torch.utils.data.DataLoader(
                _StepBatches(self.source, self.sampler, self.chunk_frames),
                batch_size=None,
                sampler=count(step),
                num_workers=self.processes,
                prefetch_factor=self.depth,
                pin_memory=self.pin,
            )
            self._loader = [step, iter(loader)]
        self._loader[0] += 1
        return next(self._loader[1])

    def _stop_loader(self) -> None:
        if self._loader is not None:
            self._loader[1]._shutdown_workers()
            self._loader = None

    def next(self, step: int):
        if self.processes:
            return self._next_process(step)
        if not self.ahead or self.ahead[0][0] != step:  # first call, or a jump (resume)
            self._cancel()
            self._submit(step)
        _, future = self.ahead.popleft()
        last = self.ahead[-1][0] if self.ahead else step
        while len(self.ahead) < self.depth:
            last += 1
            self._submit(last)
        if not future.done():
            t = time.perf_counter()
            got = future.result()
            self.wait_time += time.perf_counter() - t
            return got
        return future.result()

    def _cancel(self) -> None:
        for _, f in self.ahead:
            f.cancel()
        self.ahead.clear()

    def close(self) -> None:
        """Drop the batches read ahead and end the reader threads (waits for them)."""
        self._cancel()
        self._stop_loader()
        self.pool.shutdown(wait=True, cancel_futures=True)

    def metrics(self) -> dict:
        return self.inner.metrics()

    def state_dict(self) -> dict:
        return self.inner.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.inner.load_state_dict(state)
