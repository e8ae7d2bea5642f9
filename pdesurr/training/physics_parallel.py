r"""Data-parallel physics-informed training over the ranks of a :class:`DistContext`.

Every rank draws the same collocation set ``(points_t * points_x, 2)`` (same seeded
generator) and keeps its share of the columns, ``x`` index ``j = rank, rank + W, ...``,
so each rank holds ``points_x / W`` points of *every* time row. Then

* the plain and Lagrangian losses (means over points) average over ranks to the
  one-process loss, and so do their gradients: :func:`average_gradients` is the
  all-reduce DDP does, written out because PINN losses differentiate the network with
  respect to its inputs (nested ``autograd.grad``), which DDP's hooks do not support;
* causal chunk losses ``L_i`` are means over the chunk's rows: their rank average is the
  one-process ``L_i``; the weights ``w_i`` are computed from that average
  (:func:`mean_over_ranks`, no gradient), identical on all ranks, and
  ``mean_i w_i L_i^{rank}`` averages to the one-process loss;
* the initial-condition loss uses the full reference grid on every rank (identical).

So ``W`` ranks follow the one-process trajectory up to the round-off of the reductions.
The ranks are the group :func:`pdesurr.training.distributed.init_from_mpi` joins.
"""

from __future__ import annotations

import torch

from pdesurr.training.distributed import DistContext


def share_points(points: torch.Tensor, rows: int, ctx: DistContext) -> torch.Tensor:
    """This rank's columns of ``points`` ``(rows * cols, D)`` (rows kept in order)."""
    if not ctx.active:
        return points
    grid = points.reshape(rows, -1, points.shape[-1])
    return grid[:, ctx.rank :: ctx.world].reshape(-1, points.shape[-1])


def mean_over_ranks(value: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """The average of ``value`` over ranks (a detached copy; ``value`` itself untouched)."""
    value = value.detach().clone()
    if ctx.active:
        torch.distributed.all_reduce(value)
        value /= ctx.world
    return value


def mean_info(info: dict, ctx: DistContext, keep=("eps", "min_w", "weights")) -> dict:
    """Rank averages of the logged numbers (those in ``keep`` are global already)."""
    if not ctx.active:
        return info
    keys = sorted(k for k in info if k not in keep)
    values = mean_over_ranks(torch.tensor([info[k] for k in keys], dtype=torch.float64), ctx)
    return {**info, **dict(zip(keys, values.tolist(), strict=True))}


def average_gradients(parameters, ctx: DistContext) -> None:
    """``grad <- mean over ranks of grad`` for every parameter (one flat all-reduce)."""
    if not ctx.active:
        return
    grads = [p.grad for p in parameters if p.grad is not None]
    flat = torch.cat([g.flatten() for g in grads])
    torch.distributed.all_reduce(flat)
    flat /= ctx.world
    for g, part in zip(grads, flat.split([g.numel() for g in grads]), strict=True):
        g.copy_(part.view_as(g))
