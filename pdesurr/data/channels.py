"""A store's fields as the channels of one state, and the conditioning scalars beside it.

Fields are stacked into channels in store order: a scalar field (stored without a channel
axis) is one channel, a field with ``k`` channels (QG's two layers) is ``k``; the result
has the channel axis where the caller says (``(T, C, *S)`` for a window read, ``(N, T,
C, *S)`` for whole trajectories). The conditioning of a sample is a row of named
scalars in the order asked for: ``"dt"`` is the time between consecutive frames of the
window (save interval x stride), any other name a per-trajectory parameter.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def stack_fields(fields: list[dict], arrays, axis: int) -> np.ndarray:
    """The arrays of ``fields`` (one per field, as the store holds them) concatenated into
    one channel axis at ``axis`` of the result."""
    parts = [
        np.asarray(x) if f["channels"] > 1 else np.expand_dims(np.asarray(x), axis)
        for f, x in zip(fields, arrays, strict=True)
    ]
    return np.concatenate(parts, axis)


def spatial_ndim(store, split: str) -> int:
    """The number of spatial axes of ``split``'s states: a field array is ``(trajectory,
    time, [channel], *S)``."""
    first = store.fields[0]
    return store.array(split, first["name"]).ndim - 2 - (1 if first["channels"] > 1 else 0)


def conditioning_columns(
    names, n: int, window_dt: float, value_of: Callable[[str], object]
) -> np.ndarray:
    """``(n, len(names))`` float64: a ``"dt"`` column of ``window_dt``, and
    ``value_of(name)`` (``n`` per-trajectory values) for every other name."""
    cols = [
        np.full(n, window_dt) if name == "dt" else np.asarray(value_of(name), dtype=np.float64)
        for name in names
    ]
    return np.stack(cols, 1) if cols else np.zeros((n, 0))
