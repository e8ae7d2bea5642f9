"""Fourier Neural Operator through ``neuraloperator``'s ``FNO`` (Li et al. 2021,
arXiv:2010.08895), wrapped in pdesurr's model contract.

Not a re-implementation: the spectral layers, lifting and projection are neuraloperator's.
The wrapper adds conditioning (each scalar of ``cond`` becomes a constant input channel,
as PDEBench/PDEArena condition FNOs), the ``(in_channels, out_channels, ndim)``
constructor and input checks. neuraloperator appends its own grid positional embedding
(``positional_embedding="grid"``), so on periodic domains the model is not exactly
translation-equivariant; pass ``positional_embedding=None`` for that.

Resolution: the learned weights act on ``modes`` Fourier modes per axis, so a trained FNO
evaluates on any grid with at least ``2 * modes`` points per axis (the "zero-shot
super-resolution" of the paper; accuracy at new resolutions is not guaranteed).
"""

from __future__ import annotations

import torch
from neuralop.models import FNO as _NeuralopFNO
from torch import nn

from pdesurr.models.base import check_call, cond_as_channels, record_sizes


class FNO(nn.Module):
    """FNO with ``layers`` Fourier layers of width ``width``, keeping ``modes`` per axis."""

    resolution_invariant = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        ndim: int,
        cond_dim: int = 0,
        modes: int = 16,
        width: int = 64,
        layers: int = 4,
        positional_embedding: str | None = "grid",
        norm: str | None = None,
    ):
        super().__init__()
        record_sizes(self, in_channels, out_channels, ndim, cond_dim)
        self.net = _NeuralopFNO(
            n_modes=(modes,) * ndim,
            in_channels=in_channels + cond_dim,
            out_channels=out_channels,
            hidden_channels=width,
            n_layers=layers,
            positional_embedding=positional_embedding,
            norm=norm,
        )

    def state_dict(self, *args, **kwargs):
        """Tensors only: neuraloperator adds a ``_metadata`` dict holding Python functions
        and classes, which must never reach a checkpoint (it would need unpickling)."""
        out = super().state_dict(*args, **kwargs)
        for key in [k for k, v in out.items() if not isinstance(v, torch.Tensor)]:
            del out[key]
        return out

    def forward(self, x: torch.Tensor, *, cond: torch.Tensor | None = None) -> torch.Tensor:
        check_call(self, x, cond)
        return self.net(cond_as_channels(x, cond))
