"""Poseidon's training loss (Herde et al. 2024, arXiv:2405.19101, Sec. 3; the reference
``ScOT.forward`` with labels).

With channel groups ``g`` given by boundaries ``[c0, c1, ..., cG]`` (the published
``channel_slice_list_normalized_loss``, e.g. ``[0, 1, 3, 4]`` for rho | u, v | p) and
``l`` the mean absolute error (``p = 1``) or the mean squared error (``p = 2``)::

    L = mean_g  l(pred_g, y_g) / (l(y_g, 0) + 1e-10)

(means over batch, the group's channels and space), and without groups plain ``l(pred,
y)``. ``pixel_mask`` ``(B, C)`` (True = masked, e.g. the pressure of incompressible data
filled with 0) overwrites the masked prediction channels with the labels *before* the
loss, so they contribute nothing, and the returned prediction carries them too, as the
reference returns it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

EPS = 1e-10
LOSSES = {1: F.l1_loss, 2: F.mse_loss}


def apply_pixel_mask(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None):
    """``pred`` with the channels where ``mask: (B, C)`` is True replaced by ``target``."""
    if mask is None:
        return pred
    if tuple(mask.shape) != tuple(pred.shape[:2]):
        raise ValueError(
            f"pixel_mask: expected shape {tuple(pred.shape[:2])}, got {tuple(mask.shape)}"
        )
    view = mask.to(torch.bool).reshape(*mask.shape, *([1] * (pred.ndim - 2)))
    return torch.where(view, target.to(pred.dtype), pred)


def poseidon_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    channel_slices: list[int] | None = None,
    p: int = 1,
    pixel_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(loss, pred)`` for ``pred, target: (B, C, *S)``; see the module docstring."""
    if p not in LOSSES:
        raise ValueError(f"poseidon_loss: p must be 1 or 2, got {p!r}")
    fn = LOSSES[p]
    pred = apply_pixel_mask(pred, target, pixel_mask)
    if channel_slices is None:
        return fn(pred, target), pred
    bounds = [int(c) for c in channel_slices]
    if bounds != sorted(bounds) or bounds[0] < 0 or bounds[-1] > pred.shape[1] or len(bounds) < 2:
        raise ValueError(
            f"channel_slice_list_normalized_loss {channel_slices} is not an increasing list of "
            f"boundaries within {pred.shape[1]} channels"
        )
    terms = [
        fn(pred[:, lo:hi], target[:, lo:hi])
        / (fn(target[:, lo:hi], torch.zeros_like(target[:, lo:hi])) + EPS)
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=False)
    ]
    return torch.stack(terms).mean(), pred
