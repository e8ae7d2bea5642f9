"""Pointwise metrics per trajectory and lead time, each naming whose convention it follows.

Inputs are ``pred`` and ``true`` of shape ``(B, T, C, *S)``; every function returns
``(B, T)`` (one value per trajectory and lead time; average over ``B`` yourself). All are
exactly zero (correlation: one) for identical inputs.

* ``mse``: mean over channels and space of ``(p - t)^2``.
* ``rel_l2``: ``||p - t|| / ||t||`` over channels and space together.
* ``nrmse_pdebench``: PDEBench's nRMSE (Takamoto et al. 2022): per channel
  ``sqrt(mean_S (p - t)^2) / sqrt(mean_S t^2)`` (no epsilon), then the mean over channels.
  Source: ``pdebench/models/metrics.py``, ``metric_func`` (``err_nMSE``: the per-channel
  RMSE over space divided by the per-channel RMS of the target, averaged over batch and
  channels).
* ``vrmse_the_well``: The Well's VRMSE (Ohana et al. 2024): per channel
  ``sqrt(mean_S (p - t)^2 / (std_S(t)^2 + 1e-7))`` where ``std_S`` is ``torch.std``, the
  unbiased estimate ``sum_S (t - mean_S t)^2 / (N - 1)`` over the ``N`` spatial points,
  then the mean over channels. Source: ``the_well/benchmark/metrics/spatial.py``
  (``VRMSE`` = ``NRMSE`` with ``norm_mode="std"``: ``sqrt(MSE / (torch.std(y) ** 2 + eps))``,
  ``eps = 1e-7``); The Well reports one value per field, pdesurr averages the fields.
* ``rel_l1_poseidon``: Poseidon's relative L1 error in percent (Herde et al. 2024,
  arXiv:2405.19101): per sample ``100 sum|p - t| / sum|t|`` over space and the channels of
  a group, then the mean over channel groups (one group of all channels by default).
  Poseidon reports the *median* over test samples per group, then the mean over groups:
  :func:`rel_l1_poseidon_median`.
* ``correlation``: Pearson correlation of ``p`` and ``t`` over channels and space, as
  PDE-Refiner (Lippe et al. 2023) and Kochkov et al. (2021) compute it per sample.

:func:`correlation_time` turns the trajectory-mean correlation into the first lead time
at which it falls below a threshold (PDE-Refiner's "high-correlation time").
"""

from __future__ import annotations

import math

import torch

EPS_WELL = 1e-7


def _space(x: torch.Tensor) -> tuple[int, ...]:
    return tuple(range(3, x.ndim))


def mse(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    return ((pred - true) ** 2).flatten(2).mean(-1)


def rel_l2(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    num = (pred - true).flatten(2).norm(dim=-1)
    den = true.flatten(2).norm(dim=-1)
    return num / den.clamp_min(torch.finfo(den.dtype).tiny)


def nrmse_pdebench(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    s = _space(true)
    num = ((pred - true) ** 2).mean(s).sqrt()
    den = (true**2).mean(s).sqrt().clamp_min(torch.finfo(true.dtype).tiny)
    return (num / den).mean(-1)


def vrmse_the_well(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    s = _space(true)
    var = true.var(dim=s, correction=1)  # torch.std(y) ** 2, as The Well: unbiased, N - 1
    return (((pred - true) ** 2).mean(s) / (var + EPS_WELL)).sqrt().mean(-1)


def correlation(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    p = pred.flatten(2) - pred.flatten(2).mean(-1, keepdim=True)
    t = true.flatten(2) - true.flatten(2).mean(-1, keepdim=True)
    den = (p.norm(dim=-1) * t.norm(dim=-1)).clamp_min(torch.finfo(p.dtype).tiny)
    out = (p * t).sum(-1) / den
    same = (pred.flatten(2) == true.flatten(2)).all(-1)
    return torch.where(same, torch.ones_like(out), out)  # identical fields, constant included


def _rel_l1_groups(pred, true, groups):
    """``(B, T, G)``: percent relative L1 per sample, lead time and channel group
    (``groups`` a list of boundaries ``[c0, c1, ..., cG]`` as Poseidon's
    ``channel_slice_list_normalized_loss``; None: all channels)."""
    bounds = groups if groups is not None else [0, true.shape[2]]
    out = []
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=False):
        num = (pred[:, :, lo:hi] - true[:, :, lo:hi]).abs().flatten(2).sum(-1)
        den = true[:, :, lo:hi].abs().flatten(2).sum(-1)
        out.append(100 * num / den.clamp_min(torch.finfo(den.dtype).tiny))
    return torch.stack(out, -1)


def rel_l1_poseidon(pred, true, groups: list[int] | None = None) -> torch.Tensor:
    """Poseidon's per-sample relative L1 (percent), mean over channel groups: ``(B, T)``."""
    return _rel_l1_groups(pred, true, groups).mean(-1)


def rel_l1_poseidon_median(pred, true, groups: list[int] | None = None) -> torch.Tensor:
    """Poseidon's reported score ``(T,)``: the median over samples of each group's relative
    L1 (percent), then the mean over groups (Herde et al. 2024)."""
    return _rel_l1_groups(pred, true, groups).median(0).values.mean(-1)


POINTWISE = {
    "mse": mse,
    "rel_l2": rel_l2,
    "nrmse_pdebench": nrmse_pdebench,
    "vrmse_the_well": vrmse_the_well,
    "correlation": correlation,
    "rel_l1_poseidon": rel_l1_poseidon,
}


def correlation_time(mean_corr: torch.Tensor, lead_times: torch.Tensor, threshold: float) -> float:
    """First lead time at which ``mean_corr`` (shape ``(T,)``) is below ``threshold``
    (a non-finite correlation, from a rollout that blew up, counts as below); ``inf`` if
    it never is within the rollout."""
    below = (~(mean_corr >= threshold)).nonzero().flatten()
    return float(lead_times[below[0]]) if len(below) else math.inf
