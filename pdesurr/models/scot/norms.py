"""Normalisation layers of scOT (Herde et al. 2024, arXiv:2405.19101, Sec. 3 and App. B).

Every norm of a conditioned scOT is the time-conditioned LayerNorm

    mu = mean_c(x),  sigma^2 = mean_c(x^2) - mu^2        (one pass, E[x^2] - E[x]^2)
    out = (W_a t + b_a) * (x - mu) / sqrt(sigma^2 + eps) + (W_b t + b_b)

over the channel (last) axis of tokens ``x: (B, L, C)`` or ``(B, H, W, C)``, with ``t`` the
normalised lead time ``(B,)`` (or ``(B, cond_dim)``). The two affine maps are
``nn.Linear(cond_dim, C)`` held as the attributes ``weight`` and ``bias``, so the published
state-dict keys are ``<norm>.weight.weight``, ``<norm>.weight.bias``, ``<norm>.bias.weight``,
``<norm>.bias.bias``. The one-pass variance is kept on purpose: checkpoints were trained with
it, and it differs from ``nn.LayerNorm``'s two-pass variance in the last bits.

Without conditioning the norm is a plain ``nn.LayerNorm`` (keys ``.weight``, ``.bias``)
whose forward also takes (and ignores) ``t``, so every call site reads the same.

Generalisation beyond the paper: ``cond_dim > 1`` scalars enter the same two linear maps
(``cond[:, 0]`` the lead time); ``cond_dim = 1`` is exactly the published layer.
"""

from __future__ import annotations

import torch
from torch import nn


class ConditionalLayerNorm(nn.Module):
    """LayerNorm whose scale and shift are affine functions of the conditioning ``t``."""

    def __init__(self, dim: int, eps: float = 1e-5, cond_dim: int = 1):
        super().__init__()
        self.eps = eps
        self.weight = nn.Linear(cond_dim, dim)
        self.bias = nn.Linear(cond_dim, dim)

    def forward(self, x: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        if dtype in (torch.float16, torch.bfloat16):  # bf16 autocast: statistics in float32,
            x = x.float()  # as autocast runs layer_norm (E[x^2] - E[x]^2 in bf16 can be < 0)
        mean = x.mean(dim=-1, keepdim=True)
        var = (x * x).mean(dim=-1, keepdim=True) - mean * mean
        x = ((x - mean) / (var + self.eps).sqrt()).to(dtype)
        t = time.reshape(x.shape[0], -1).to(x.dtype)  # (B, cond_dim)
        view = (x.shape[0],) + (1,) * (x.ndim - 2) + (x.shape[-1],)
        return self.weight(t).reshape(view) * x + self.bias(t).reshape(view)


class LayerNorm(nn.LayerNorm):
    """``nn.LayerNorm`` with the conditioned norm's call signature (``t`` ignored)."""

    def forward(self, x: torch.Tensor, time: torch.Tensor | None = None) -> torch.Tensor:
        return super().forward(x)


def make_norm(dim: int, eps: float, cond_dim: int) -> nn.Module:
    """The norm every scOT layer uses: conditioned iff ``cond_dim > 0``."""
    if cond_dim > 0:
        return ConditionalLayerNorm(dim, eps=eps, cond_dim=cond_dim)
    return LayerNorm(dim, eps=eps)
