"""Damaged stores are refused, never read as zeros or garbage.

Three kinds of damage, three checks, all naming the chunk:

* a **missing chunk** (a truncated copy, a deleted file): zarr would return the fill value
  (zeros) silently. :func:`missing_chunks` lists the chunk keys of usable trajectories
  that are absent (HDF5 files have no per-chunk files: truncation shows when opening).
* an **unreadable chunk** (truncated, or failing its checksum): stores written now carry
  checksums (zarr's ``crc32c`` codec, HDF5's Fletcher-32 filter), so a flipped byte is a
  decoding error; :func:`locate_unreadable` reads chunk by chunk to name the ones at fault.
* **values a generated trajectory cannot hold** (a flipped byte in an old store without
  checksums): generation never marks a trajectory usable unless all its values are finite,
  and the split's statistics hold the exact per-channel min and max over the usable
  trajectories, so a value outside ``[min, max]`` is damage (:func:`check_values`).

:func:`verify_split` runs all three over a split, trajectory by trajectory (``info``);
training and evaluation check the arrays they read (``StoreBase.read_usable``).
"""

from __future__ import annotations

import itertools

import numpy as np

from pdesurr.data.store import StoreError

SHOWN = 5  # chunk names given in a message; the rest are counted


def describe(names: list[str]) -> str:
    more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return ", ".join(names[:SHOWN]) + more


def frame_blocks(arr) -> list[tuple[int, int]]:
    """``[(start, stop)]`` of the chunks along the time axis of a field array."""
    frames, per = arr.shape[1], arr.chunks[1]
    return [(a, min(a + per, frames)) for a in range(0, frames, per)]


def missing_chunks(store, split: str, names, rows) -> list[str]:
    """Names of absent chunks of fields ``names`` for trajectories ``rows``."""
    out = []
    for name in names:
        arr = store.array(split, name)
        rest = [0] * (arr.ndim - 2)  # a chunk spans every axis after time
        for i, (j, _) in itertools.product(rows, enumerate(frame_blocks(arr))):
            coords = (int(i), j, *rest)
            if not store.chunk_exists(split, name, coords):
                out.append(store.chunk_name(split, name, coords))
    return out


def locate_unreadable(store, split: str, name: str, rows) -> list[str]:
    """Names of the chunks of ``name`` for ``rows`` that fail to decode."""
    arr = store.array(split, name)
    bad = []
    for i in rows:
        for j, (a, b) in enumerate(frame_blocks(arr)):
            try:
                store.raw_read(split, name, (int(i), slice(a, b)))
            except Exception:  # any codec error: checksum, truncated frame, bad header
                bad.append(store.chunk_name(split, name, (int(i), j, *[0] * (arr.ndim - 2))))
    return bad


def check_values(store, split: str, field: dict, x: np.ndarray, rows) -> None:
    """Refuse data of usable trajectories ``rows`` (``x``: ``(len(rows), T, [C], *S)``)
    holding non-finite values or values outside the split's recorded [min, max]."""
    stats = store.cached_statistics(split).get(field["name"])
    channels = field["channels"]
    per_channel = np.moveaxis(x, 2, 0) if channels > 1 else x[None]
    for c, values in enumerate(per_channel):
        flat = values.reshape(len(rows), -1)
        bad = ~np.isfinite(flat).all(1)
        if stats is not None:
            lo, hi = stats["min"][c], stats["max"][c]
            with np.errstate(invalid="ignore"):
                bad |= (flat.min(1) < lo) | (flat.max(1) > hi)
        if bad.any():
            which = [int(r) for r, b in zip(rows, bad, strict=True) if b]
            raise StoreError(
                f"{store.path}: {split}/{field['name']} of trajectories {which[:SHOWN]} holds "
                "values no generated trajectory can (non-finite, or outside the recorded "
                "min/max): damaged chunks; regenerate the store (delete it and run the "
                "same `pdesurr generate`)"
            )


def verify_split(store, split: str) -> None:
    """Every chunk of every usable trajectory of ``split``: present, decodable, plausible."""
    rows = [int(i) for i in store.usable(split)]
    store.check_chunks(split, store.field_names, rows)
    for field in store.fields:
        for i in rows:
            store.read_usable(split, field, [i])
