"""Latent Spectral Model (Wu, Hu, Luo, Wang, Long; ICML 2023, arXiv:2301.12664), for periodic
1D and 2D grids.

A U-Net whose skip features pass through a neural spectral block at every scale::

    h = Lift(cat(x, cond, grid))        1x1 conv, (B, Cin + n_cond + ndim, *S) -> (B, w, *S)
    x_0 = DoubleConv(h);  x_l = DoubleConv(MaxPool2(x_{l-1}))       (B, C_l, *S / 2**l), l < L
    y_{L-1} = NSB(x_{L-1});  y_l = DoubleConv(cat(NSB(x_l), Up2(y_{l+1})))
    out = Conv1(GELU(Conv1(y_0)))       (B, out_channels, *S)

with widths ``C_l = w * 2**l`` for ``l < L - 1`` and ``C_{L-1} = C_{L-2}`` (``w = hidden``,
``L = levels``), ``DoubleConv = (Conv3 -> BatchNorm -> ReLU) x 2``, ``MaxPool2`` 2-wide max
pooling and ``Up2`` periodic linear (bilinear) interpolation by 2.

Neural spectral block (NSB) on a feature map ``x`` of ``C`` channels: the map is cut into
patches of ``p**ndim`` points (``p = patch_size``); within each patch, independently,

1. projection onto ``T = num_token`` latent tokens by attention, with a learned query set
   ``Q`` (``(heads, T, C / heads)``, shared by all patches) and keys/values from a 1x1
   projection of the patch points ``X`` (``(P, C)``)::

       Z = softmax(Q K(X)^T / sqrt(d)) V(X) + Q                                (T, C)

2. transition by the learned spectral basis, per channel ``c`` and token ``t``, with
   ``M = num_basis`` frequencies ``w_m = m / M``::

       Z'[t, c] = Z[t, c] + sum_m A[c, m] sin(pi w_m Z[t, c]) + B[c, m] cos(pi w_m Z[t, c])

3. back to the points by attention, the points as queries, the tokens as keys and values::

       X' = softmax(Q'(X) Z'^T / sqrt(d)) Z' + X                               (P, C)

Patches are per sample, so the block never mixes samples. Each spatial size must be
divisible by ``2**(levels-1) * patch_size`` (every level is cut into whole patches).

Conditioning: each scalar of ``cond`` is a constant input channel. ``positional_embedding =
"grid"`` appends the periodic coordinates ``i / S`` per axis, as the reference appends its
grid; ``"none"`` drops them, and the model is then exactly equivariant to circular shifts
by multiples of ``2**(levels-1) * patch_size``.

Resolution: convolutions and patches have a fixed size in grid points, so a trained LSM
applied on another grid sees different physical scales; it runs (on valid sizes) but is not
resolution-invariant.

Relative to the paper and its reference code (github.com/thuml/Latent-Spectral-Models,
``models/LSM_2D.py``): circular padding and periodic up-sampling instead of zero padding and
``align_corners`` interpolation (the domains here are periodic); attention scores scaled by
``1/sqrt(d)``; the spectral weights are per channel and shared by tokens and patches, as in
the reference code; the input is not padded to a valid size (invalid sizes raise); the
reference's output 1x1 conv and first projection layer (linear maps with no activation in
between) are merged into one; 1D is supported with the same blocks.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from pdesurr.models.base import check_call, cond_as_channels, record_sizes

CONV = {1: nn.Conv1d, 2: nn.Conv2d}
BATCHNORM = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d}
MAXPOOL = {1: nn.MaxPool1d, 2: nn.MaxPool2d}
PATCHIFY = {1: "b c (n p) -> (b n) p c", 2: "b c (h p) (w q) -> (b h w) (p q) c"}
UNPATCHIFY = {1: "(b n) p c -> b c (n p)", 2: "(b h w) (p q) c -> b c (h p) (w q)"}
PATCH_AXES, COUNT_AXES = {1: "p", 2: "pq"}, {1: "n", 2: "hw"}


class DoubleConv(nn.Sequential):
    def __init__(self, cin: int, cout: int, ndim: int, mid: int | None = None):
        mid = mid or cout
        conv, norm = CONV[ndim], BATCHNORM[ndim]
        super().__init__(
            conv(cin, mid, 3, padding=1, padding_mode="circular", bias=False),
            norm(mid),
            nn.ReLU(),
            conv(mid, cout, 3, padding=1, padding_mode="circular", bias=False),
            norm(cout),
            nn.ReLU(),
        )


def periodic_upsample(x: torch.Tensor) -> torch.Tensor:
    """Linear interpolation by 2 on a periodic grid: ``(B, C, *S) -> (B, C, *2S)``."""
    mode = {3: "linear", 4: "bilinear"}[x.ndim]
    up = F.interpolate(F.pad(x, (1, 1) * (x.ndim - 2), mode="circular"), scale_factor=2, mode=mode)
    return up[(..., *[slice(2, -2)] * (x.ndim - 2))]


class NeuralSpectralBlock(nn.Module):
    """Patchwise latent-token attention and spectral transition; ``(B, C, *S)`` preserved."""

    def __init__(
        self, channels: int, ndim: int, num_token: int, num_basis: int, patch: int, heads: int
    ):
        super().__init__()
        self.ndim, self.patch, self.heads, self.num_basis = ndim, patch, heads, num_basis
        self.latent = nn.Parameter(torch.rand(heads, num_token, channels // heads) / channels)
        self.to_kv = nn.Linear(channels, 2 * channels)
        self.to_q = nn.Linear(channels, channels)
        self.basis_weights = nn.Parameter(torch.rand(channels, 2 * num_basis) / channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        patch = {a: self.patch for a in PATCH_AXES[self.ndim]}
        counts = {
            a: s // self.patch for a, s in zip(COUNT_AXES[self.ndim], x.shape[2:], strict=True)
        }
        pts = rearrange(x, PATCHIFY[self.ndim], **patch)  # (B * n_patches, P, C)
        k, v = rearrange(self.to_kv(pts), "n p (two h d) -> two n h p d", two=2, h=self.heads)
        q = self.latent.expand(pts.shape[0], -1, -1, -1)  # (N, heads, T, d)
        z = rearrange(F.scaled_dot_product_attention(q, k, v) + q, "n h t d -> n t (h d)")
        m = torch.arange(self.num_basis, dtype=z.dtype, device=z.device)
        arg = z[..., None] * (math.pi / self.num_basis * m)  # (N, T, C, M)
        basis = torch.cat([arg.sin(), arg.cos()], dim=-1)  # (N, T, C, 2M)
        z = z + torch.einsum("ntcm,cm->ntc", basis, self.basis_weights)
        zh = rearrange(z, "n t (h d) -> n h t d", h=self.heads)
        qx = rearrange(self.to_q(pts), "n p (h d) -> n h p d", h=self.heads)
        out = rearrange(F.scaled_dot_product_attention(qx, zh, zh), "n h p d -> n p (h d)") + pts
        return rearrange(out, UNPATCHIFY[self.ndim], b=x.shape[0], **patch, **counts)


class LSM(nn.Module):
    """Latent Spectral Model: a ``levels``-deep U-Net with a neural spectral block per scale."""

    resolution_invariant = False

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        ndim: int,
        cond_dim: int = 0,
        hidden: int = 64,
        levels: int = 5,
        num_token: int = 4,
        num_basis: int = 12,
        patch_size: int = 4,
        heads: int = 8,
        projection_hidden: int = 128,
        positional_embedding: str = "grid",
    ):
        super().__init__()
        record_sizes(self, in_channels, out_channels, ndim, cond_dim)
        if (
            levels < 2
            or min(hidden, num_token, num_basis, patch_size, heads, projection_hidden) < 1
        ):
            raise ValueError("LSM: need levels >= 2 and positive sizes")
        if hidden % heads:
            raise ValueError(f"LSM: heads={heads} must divide hidden={hidden}")
        if positional_embedding not in ("grid", "none"):
            raise ValueError(
                f"LSM: positional_embedding must be 'grid' or 'none', got {positional_embedding!r}"
            )
        self.levels, self.patch_size, self.grid = levels, patch_size, positional_embedding == "grid"
        widths = [hidden * 2**l for l in range(levels - 1)]
        widths.append(widths[-1])
        conv = CONV[ndim]
        self.lift = conv(in_channels + cond_dim + (ndim if self.grid else 0), hidden, 1)
        self.encoder = nn.ModuleList([DoubleConv(hidden, widths[0], ndim)])
        for l in range(1, levels):
            self.encoder.append(
                nn.Sequential(MAXPOOL[ndim](2), DoubleConv(widths[l - 1], widths[l], ndim))
            )
        self.spectral = nn.ModuleList(
            NeuralSpectralBlock(c, ndim, num_token, num_basis, patch_size, heads) for c in widths
        )
        # decoder[l] for l = 0..levels-2; it reads cat(skip_l, up(y_{l+1})), 2 * C_l channels.
        self.decoder = nn.ModuleList(
            DoubleConv(2 * widths[l], widths[l - 1] if l else hidden, ndim, mid=widths[l])
            for l in range(levels - 1)
        )
        self.project = nn.Sequential(
            conv(hidden, projection_hidden, 1), nn.GELU(), conv(projection_hidden, out_channels, 1)
        )

    def _grid(self, x: torch.Tensor) -> torch.Tensor:
        """Periodic coordinates ``i / S`` per axis: ``(B, ndim, *S)``."""
        axes = [torch.arange(s, dtype=x.dtype, device=x.device) / s for s in x.shape[2:]]
        grid = torch.stack(torch.meshgrid(*axes, indexing="ij"))
        return grid.expand(x.shape[0], *grid.shape)

    def forward(self, x: torch.Tensor, *, cond: torch.Tensor | None = None) -> torch.Tensor:
        check_call(self, x, cond)
        divisor = 2 ** (self.levels - 1) * self.patch_size
        if any(s % divisor for s in x.shape[2:]):
            raise ValueError(
                f"LSM: spatial size {tuple(x.shape[2:])} must be divisible by {divisor} "
                f"(2**(levels-1) * patch_size, levels={self.levels}, patch_size={self.patch_size})"
            )
        h = cond_as_channels(x, cond)
        if self.grid:
            h = torch.cat([h, self._grid(x)], dim=1)
        h = self.lift(h)  # (B, hidden, *S)
        skips = []
        for enc in self.encoder:
            h = enc(h)
            skips.append(h)
        y = self.spectral[-1](skips[-1])
        for l in reversed(range(self.levels - 1)):
            y = self.decoder[l](
                torch.cat([self.spectral[l](skips[l]), periodic_upsample(y)], dim=1)
            )
        return self.project(y)
