"""Validation during training: the one-step error on up to ``n`` evenly spaced windows of
the validation split, in standardised units (the loss) and in physical ones::

    valid_loss   = mean over windows, channels, space of ((pred - target) / std_c)^2
    valid_rel_l2 = mean over windows of ||pred - target|| / ||target||
"""

from __future__ import annotations

import numpy as np
import torch

from pdesurr.checkpoints.surrogate import Surrogate
from pdesurr.data.standardize import per_channel
from pdesurr.data.windows import WindowDataset

VALIDATION_CHUNK = 64  # windows per validation forward pass


@torch.no_grad()
def validate(surrogate: Surrogate, valid: WindowDataset, n: int, device, cmap=None) -> dict:
    """One-step loss (standardised MSE) and relative L2 (physical) on up to ``n`` windows.

    With a channel map ``cmap`` (:mod:`pdesurr.data.channel_map`) the loss is on the mapped
    channels less the masked ones, the relative L2 on the store's field (the prediction
    mapped back)."""
    surrogate.eval()
    idx = np.linspace(0, len(valid) - 1, min(n, len(valid))).round().astype(int)
    mse = rel = 0.0
    for chunk in np.array_split(idx, max(1, len(idx) // VALIDATION_CHUNK)):
        frames, cond = valid.batch(chunk)
        frames, cond = frames.to(device), cond.to(device)
        raw = frames[:, surrogate.history]
        frames = frames if cmap is None else cmap(frames)
        window, target = frames[:, : surrogate.history], frames[:, surrogate.history]
        pred = surrogate(window, cond if cond.shape[1] else None)
        z = (pred - target) / per_channel(surrogate.std, target, target.ndim - 2)
        if cmap is not None:
            keep = [c for c in range(z.shape[1]) if c not in cmap.masked]
            z, pred, target = z[:, keep], cmap.inverse(pred), raw
        mse += float((z**2).mean()) * len(chunk)
        num = (pred - target).flatten(1).norm(dim=1)
        rel += float((num / target.flatten(1).norm(dim=1).clamp_min(1e-12)).sum())
    surrogate.train()
    return {"valid_loss": mse / len(idx), "valid_rel_l2": rel / len(idx)}
