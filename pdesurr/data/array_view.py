"""Lazy ``(trajectory, time, ...)`` arrays over the files of a foreign dataset.

A split of The Well or PDEBench spans several HDF5 files; :class:`ArrayView` concatenates
them along the trajectory axis without reading them: ``view[i, t0:t1]`` asks each file's
loader for only its rows ``i`` and frames ``t0:t1`` (pdesurr's axis order), then applies the
rest of the index in memory. :func:`read_rows` reads rows in any order from an h5py
dataset, which accepts only increasing indices.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# (local trajectory indices, time selection) -> (n, t, *rest) in pdesurr's axis order
Loader = Callable[[np.ndarray, object], np.ndarray]


class ArrayView:
    """A lazily read ``(trajectory, time, ...)`` array concatenated over files.

    ``parts`` are ``(n_trajectories_in_file, loader)``; indexing reads only the
    trajectories and frames asked for, then applies the rest of the index in memory.
    """

    def __init__(self, shape: tuple[int, ...], dtype, parts: list[tuple[int, Loader]]):
        self.shape, self.dtype, self.parts = tuple(shape), np.dtype(dtype), parts
        self.offsets = np.cumsum([0] + [n for n, _ in parts])

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __array__(self, dtype=None, copy=None):
        out = self[:]
        return out if dtype is None else out.astype(dtype)

    def __getitem__(self, index):
        index = index if isinstance(index, tuple) else (index,)
        traj, rest = index[0], index[1:]
        tsel = rest[0] if rest else slice(None)
        one_frame = isinstance(tsel, int | np.integer)
        if one_frame:  # loaders always take a slice of frames
            t = int(tsel) % self.shape[1]
            tsel = slice(t, t + 1)
        scalar = isinstance(traj, int | np.integer)
        rows = np.arange(self.shape[0])[traj]
        rows = np.atleast_1d(rows)
        blocks = []
        for f in range(len(self.parts)):
            lo, hi = self.offsets[f], self.offsets[f + 1]
            mine = rows[(rows >= lo) & (rows < hi)]
            if mine.size:
                blocks.append((np.flatnonzero((rows >= lo) & (rows < hi)), mine - lo, f))
        out = None
        for where, local, f in blocks:
            part = self.parts[f][1](local, tsel)
            if out is None:
                out = np.empty((rows.size, *part.shape[1:]), dtype=part.dtype)
            out[where] = part
        if out is None:  # an empty selection
            probe = self.parts[0][1](np.zeros(1, dtype=int), tsel)
            out = np.empty((0, *probe.shape[1:]), dtype=probe.dtype)
        out = out[(slice(None), 0 if one_frame else slice(None), *rest[1:])]
        return out[0] if scalar else out


def read_rows(ds, local: np.ndarray, *lead) -> np.ndarray:
    """``ds[local, *lead]`` for sorted or unsorted row indices (h5py wants increasing ones)."""
    order = np.argsort(local)
    uniq, inverse = np.unique(local[order], return_inverse=True)
    if uniq.size == uniq[-1] - uniq[0] + 1:
        block = ds[(slice(int(uniq[0]), int(uniq[-1]) + 1), *lead)]
    else:
        block = np.stack([ds[(int(i), *lead)] for i in uniq])
    out = np.empty((local.size, *block.shape[1:]), dtype=block.dtype)
    out[order] = block[inverse]
    return out
