"""Per-channel standardisation: ``z = (x - mean_c) / std_c``, the one convention of the data,
the trainer and the surrogate.

``mean`` and ``std`` are ``(C,)`` vectors: the training split's statistics of every field,
concatenated in store order (a field with ``k`` channels contributes ``k`` entries), a
zero ``std`` (a constant channel) counted as 1 so that the channel passes unchanged.
States are channels first with the spatial axes last, ``(..., C, *S)``, so the channel
axis of any batch, window or trajectory is ``-(len(S) + 1)``: every function here takes
the number of spatial axes ``ndim`` and broadcasts over whatever precedes the channels.
"""

from __future__ import annotations

import numpy as np
import torch

from pdesurr.data.store import StoreError


def channel_statistics(store, split: str, fields: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, std)``, each ``(C,)``, of ``split`` for ``fields`` (std 0 counts as 1)."""
    stats = store.statistics(split)
    if not stats:
        raise StoreError(f"{store.path}: no statistics in split {split!r} to normalise with")
    mean = np.concatenate([stats[f["name"]]["mean"] for f in fields])
    std = np.concatenate([stats[f["name"]]["std"] for f in fields])
    return mean, np.where(std > 0, std, 1.0)


def per_channel(v: torch.Tensor, x: torch.Tensor, ndim: int) -> torch.Tensor:
    """A ``(C,)`` vector shaped ``(C, 1, ..., 1)`` (``ndim`` ones) in ``x``'s dtype and device,
    so that it broadcasts over ``x = (..., C, *S)``."""
    return v.to(device=x.device, dtype=x.dtype).reshape(-1, *([1] * ndim))


def standardize(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, ndim: int) -> torch.Tensor:
    """``(x - mean) / std`` per channel of ``x = (..., C, *S)`` with ``ndim = len(S)``."""
    return (x - per_channel(mean, x, ndim)) / per_channel(std, x, ndim)


def destandardize(
    z: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, ndim: int
) -> torch.Tensor:
    """The inverse of :func:`standardize`: ``z * std + mean``."""
    return z * per_channel(std, z, ndim) + per_channel(mean, z, ndim)
