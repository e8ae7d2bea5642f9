"""Windowed torch datasets over a store split: ``history`` frames in, ``horizon`` out.

``dataset[i]`` is a dict (a DataLoader's sample)::

    input       (history * C, *S)   the history frames stacked into channels (oldest first)
    target      (horizon, C, *S)    the following frames
    cond        (n_cond,)           conditioning scalars, in the order of ``conditioning``:
                                    "dt" is the time between consecutive frames of the window
                                    (save interval x stride); other names are per-trajectory
                                    parameters of the store (e.g. "length", "viscosity")
    trajectory  ()                  index of the trajectory in its split
    time_index  ()                  index of the window's first frame

The trainer reads :meth:`WindowDataset.batch` instead: raw (unstandardised) frames
``(B, history + horizon, C, *S)`` and ``cond (B, n_cond)``, the same pair that the online
stream's buffers collate from their :class:`pdesurr.stream.buffer.Sample` (``frames``
``(W, C, *S)``, ``cond``, ``trajectory``, ``time_index``), so the fit loop takes either.

Frames ``t0, t0 + stride, ..., t0 + (history + horizon - 1) stride`` make a window; every
complete, non-diverged trajectory contributes all its windows. ``C`` stacks the fields in
store order (QG's two layers are two channels). With ``normalize=True`` each channel is
standardised with the train split's statistics (``(x - mean) / std``).

Reading touches only the chunks of the window. The store is opened lazily in each
process, so DataLoader workers (fork or spawn) each get their own handle.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from pdesurr.data.channels import conditioning_columns, spatial_ndim, stack_fields
from pdesurr.data.integrity import check_values
from pdesurr.data.standardize import channel_statistics, destandardize, standardize
from pdesurr.data.store import StoreError, open_store


@dataclass(frozen=True)
class WindowSpec:
    """What a window is: ``history`` input frames, ``horizon`` targets, ``stride`` apart,
    with the ``conditioning`` scalars; the same for a store's windows and the stream's."""

    history: int = 1
    horizon: int = 1
    stride: int = 1
    conditioning: tuple[str, ...] = ()

    @property
    def span(self) -> int:
        """Frames from the first to the last of a window, inclusive."""
        return (self.history + self.horizon - 1) * self.stride + 1


def shift_window(window: torch.Tensor, nxt: torch.Tensor) -> torch.Tensor:
    """The window one step on: drop the oldest frame of ``(B, H, C, *S)``, append ``nxt``
    ``(B, C, *S)``."""
    return torch.cat([window[:, 1:], nxt.unsqueeze(1)], dim=1)


class WindowDataset(Dataset):
    def __init__(
        self,
        path: str | Path,
        split: str = "train",
        history: int = 1,
        horizon: int = 1,
        stride: int = 1,
        normalize: bool = False,
        conditioning: tuple[str, ...] = (),
        dtype: torch.dtype = torch.float32,
        store=None,
    ):
        """``store``: the store at ``path`` already open (the caller keeps it and closes
        it); by default it is opened here for the metadata and closed again."""
        if history < 1 or horizon < 1 or stride < 1:
            raise ValueError(
                f"history, horizon, stride must be >= 1; got {history}, {horizon}, {stride}"
            )
        self.path, self.split = str(path), split
        self.history, self.horizon, self.stride = history, horizon, stride
        self.dtype = dtype
        own = store is None
        store = open_store(path) if own else store
        try:
            if split not in store.splits:
                raise StoreError(f"{path} has no split {split!r} (splits: {store.splits})")
            self.fields = store.fields
            self.trajectories = store.usable(split)
            # a missing chunk would read as zeros: refuse the split, naming it
            store.check_chunks(split, store.field_names, self.trajectories)
            times = np.asarray(store.read(split, "time"))
            self.frames = len(times)
            span = (history + horizon - 1) * stride
            if span >= self.frames:
                raise ValueError(
                    f"a window of {history} + {horizon} frames at stride {stride} needs "
                    f"{span + 1} frames; {path} has {self.frames}"
                )
            self.per_trajectory = self.frames - span
            frame_dt = float(times[1] - times[0])

            def parameter(name):
                if not store.has(split, name) or name in store.field_names:
                    raise StoreError(
                        f"conditioning {name!r} is not 'dt' nor a per-trajectory "
                        f"parameter of {path}"
                    )
                return np.asarray(store.read(split, name))[self.trajectories]

            cond = conditioning_columns(
                conditioning, len(self.trajectories), frame_dt * stride, parameter
            )
            self.cond = torch.as_tensor(cond, dtype=dtype)
            self.conditioning = tuple(conditioning)
            self.ndim = spatial_ndim(store, split)
            self.mean = self.std = None
            if normalize:
                stats_split = "train" if "train" in store.splits else split
                mean, std = channel_statistics(store, stats_split, self.fields)
                self.mean = torch.as_tensor(mean, dtype=dtype)
                self.std = torch.as_tensor(std, dtype=dtype)
        finally:
            if own:
                store.close()
        self._store = None
        self._pid = None

    @property
    def channels(self) -> int:
        return sum(f["channels"] for f in self.fields)

    def handle(self):
        """The store, opened once per process (a forked worker opens its own)."""
        if self._store is None or self._pid != os.getpid():
            self._store = open_store(self.path)
            self._pid = os.getpid()
        return self._store

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_store"] = None  # never pickle an open file handle into a worker
        return state

    def __len__(self) -> int:
        return len(self.trajectories) * self.per_trajectory

    def locate(self, index: int) -> tuple[int, int]:
        """``(position in self.trajectories, first frame)`` of window ``index``."""
        if not 0 <= index < len(self):
            raise IndexError(f"window {index} out of range ({len(self)})")
        return divmod(index, self.per_trajectory)

    def window(self, index: int) -> torch.Tensor:
        """The raw (unnormalised) frames of a window, ``(history + horizon, C, *S)``."""
        pos, t0 = self.locate(index)
        traj = int(self.trajectories[pos])
        stop = t0 + (self.history + self.horizon - 1) * self.stride + 1
        store = self.handle()
        parts = []
        for f in self.fields:
            x = np.asarray(store.read(self.split, f["name"], (traj, slice(t0, stop, self.stride))))
            check_values(store, self.split, f, x[None], [traj])  # a damaged chunk is refused
            parts.append(x)
        return torch.as_tensor(stack_fields(self.fields, parts, 1), dtype=self.dtype)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """``(x - mean) / std`` over the channel axis ``-1 - spatial ndim``."""
        return x if self.mean is None else standardize(x, self.mean, self.std, self.ndim)

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.mean is None else destandardize(x, self.mean, self.std, self.ndim)

    def __getitem__(self, index: int) -> dict:
        pos, t0 = self.locate(index)
        frames = self.normalize(self.window(index))
        return {
            "input": frames[: self.history].flatten(0, 1),
            "target": frames[self.history :],
            "cond": self.cond[pos],
            "trajectory": torch.tensor(int(self.trajectories[pos])),
            "time_index": torch.tensor(t0),
        }

    # --- batches for the trainer ----------------------------------------------------
    def batch(self, indices) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw frames ``(B, history + horizon, C, *S)`` and cond ``(B, n_cond)`` of windows."""
        frames = torch.stack([self.window(int(i)) for i in indices])
        pos = torch.as_tensor([self.locate(int(i))[0] for i in indices])
        return frames, self.cond[pos]

    def nbytes(self) -> int:
        """Bytes of the whole split (usable trajectories) at this dataset's dtype."""
        store = self.handle()
        per = sum(int(np.prod(store.array(self.split, f["name"]).shape[1:])) for f in self.fields)
        return per * len(self.trajectories) * torch.finfo(self.dtype).bits // 8

    def to_memory(self) -> MemoryWindows:
        """The same windows served from one in-memory tensor (no reads per batch)."""
        store = self.handle()
        # damaged chunks are refused
        parts = [store.read_usable(self.split, f, self.trajectories) for f in self.fields]
        data = torch.as_tensor(stack_fields(self.fields, parts, 2), dtype=self.dtype)
        return MemoryWindows(self, data)


class MemoryWindows:
    """The windows of a :class:`WindowDataset` from an in-memory ``(N, T, C, *S)`` tensor."""

    def __init__(self, source: WindowDataset, data: torch.Tensor):
        self.data = data
        self.cond = source.cond
        self.per_trajectory = source.per_trajectory
        self.offsets = torch.arange(source.history + source.horizon) * source.stride

    def __len__(self) -> int:
        return self.data.shape[0] * self.per_trajectory

    def batch(self, indices) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.as_tensor(list(indices))
        pos, t0 = idx // self.per_trajectory, idx % self.per_trajectory
        frames = self.data[pos[:, None], t0[:, None] + self.offsets]  # (B, W, C, *S)
        return frames, self.cond[pos]
