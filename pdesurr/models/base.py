"""The grid-surrogate contract, shared by every model in :data:`pdesurr.models.MODELS`.

A model is an ``nn.Module`` built as ``Model(in_channels, out_channels, ndim, cond_dim=0,
**options)`` and called as ``model(x, cond=cond)``:

* ``x``: ``(B, in_channels, *S)`` with ``len(S) == ndim`` (1 or 2), channels first; history
  frames are stacked into channels by the data layer.
* ``cond``: ``(B, cond_dim)`` per-sample scalars (lead time, PDE parameters, dt), or None
  when ``cond_dim == 0``.
* returns ``(B, out_channels, *S)``, same dtype and device as ``x`` once the model has
  been moved there (``model.to(x)``); normalisation layers that couple a batch
  (LSM's BatchNorm) make samples independent only in ``eval()`` mode.

Class attribute ``resolution_invariant``: True when a trained model may be applied on
another grid (FNO, GNN); the contract tests then run it at a second resolution. Graph
models also offer ``forward_graph(data)`` for irregular point sets (torch_geometric
``Data``/``Batch`` with ``x``, ``pos``, ``edge_index``, optional ``cond``).

The constructor's signature is the schema of ``[model]`` in a recipe: keyword options
only, with defaults, plain types (int, float, bool, str, lists), so a checkpoint can
rebuild the model from its saved arguments. Models never read the environment.
"""

from __future__ import annotations

import torch
from torch import nn

GRID_DIMS = (1, 2)  # spatial dimensions the grid models are built for


def record_sizes(
    model: nn.Module, in_channels: int, out_channels: int, ndim: int, cond_dim: int
) -> None:
    """The constructor preamble of a grid model: check ``ndim`` and keep the four sizes of
    the contract on the model (``in_channels``, ``out_channels``, ``ndim``, ``cond_dim``)."""
    name = type(model).__name__
    if ndim not in GRID_DIMS:
        raise ValueError(f"{name}: ndim must be 1 or 2, got {ndim}")
    model.in_channels, model.out_channels = in_channels, out_channels
    model.ndim, model.cond_dim = ndim, cond_dim


def check_call(model: nn.Module, x: torch.Tensor, cond: torch.Tensor | None) -> None:
    """The forward preamble: ``x`` is ``(B, in_channels, *S)`` and ``cond`` ``(B, cond_dim)``."""
    name = type(model).__name__
    check_input(x, model.in_channels, model.ndim, name)
    check_cond(cond, model.cond_dim, x.shape[0], name)


def check_input(x: torch.Tensor, in_channels: int, ndim: int, name: str) -> None:
    if x.ndim != ndim + 2 or x.shape[1] != in_channels:
        raise ValueError(
            f"{name}: expected input (B, {in_channels}, {', '.join('S' * ndim)}) with "
            f"{ndim} spatial dims, got {tuple(x.shape)}"
        )


def check_cond(cond: torch.Tensor | None, cond_dim: int, batch: int, name: str) -> None:
    if cond_dim == 0:
        if cond is not None and cond.numel() > 0:
            raise ValueError(f"{name}: built with cond_dim=0 but got cond {tuple(cond.shape)}")
        return
    if cond is None or tuple(cond.shape) != (batch, cond_dim):
        got = None if cond is None else tuple(cond.shape)
        raise ValueError(f"{name}: expected cond of shape ({batch}, {cond_dim}), got {got}")


def cond_as_channels(x: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
    """Append each conditioning scalar as a constant channel: ``(B, C + n_cond, *S)``."""
    if cond is None or cond.shape[-1] == 0:
        return x
    view = cond.to(device=x.device, dtype=x.dtype).reshape(*cond.shape, *([1] * (x.ndim - 2)))
    return torch.cat([x, view.expand(-1, -1, *x.shape[2:])], dim=1)
