"""Modern U-Net of PDEArena (Gupta & Brandstetter 2022, arXiv:2209.15616), for periodic
1D and 2D grids, conditioned on per-sample scalars by FiLM.

Structure, with ``L = len(channel_mults)`` levels and ``n = blocks_per_level``::

    h = Conv3(x)                                              (B, hidden, *S)
    level i = 0..L-1:  n x ResBlock, then Down (level < L-1)  channels C_i, size S / 2**i
    middle:            ResBlock, [SelfAttention], ResBlock    (B, C_{L-1}, *S / 2**(L-1))
    level i = L-1..0:  n+1 x ResBlock(cat(h, skip)), then Up (level > 0)
    y = Conv3(GELU(GroupNorm(h)))                             (B, out_channels, *S)

with ``C_i = hidden * prod(channel_mults[:i + 1])``: the multipliers are cumulative, as in
PDEArena (``hidden=64, channel_mults=(1, 2, 2, 4)`` gives 64, 128, 256, 1024 channels).
Every output of a down-path block (and of ``Conv3(x)``) is a skip, popped in reverse by
the up path. ``Down`` is a stride-2 3x3 convolution, ``Up`` a stride-2 4x4 transposed
convolution.

ResBlock (pre-activation, "wide" residual block) with conditioning embedding ``e``::

    h = Conv3(GELU(GroupNorm(x)))
    h = GroupNorm(h) * (1 + scale(e)) + shift(e)              FiLM / AdaGN
    ResBlock(x) = Conv3(GELU(h)) + Shortcut(x)                Shortcut: 1x1 conv or identity

Conditioning: each of the ``cond_dim`` scalars ``c_j`` is lifted to sinusoidal features
``[cos(w_k c_j), sin(w_k c_j)]``, ``w_k = 10000**(-k / (hidden/2))`` (frequencies 1 down to
1e-4: feed scalars of order 1 to 1000, e.g. a step index), the features of all scalars are
concatenated and an MLP maps them to ``e`` of size ``cond_embedding_dim``; each ResBlock
owns the linear map ``e -> (scale, shift)``. With ``cond_dim = 0`` there is no embedding
and no FiLM. A wrapper such as PDE-Refiner conditions on its refinement step by building
the U-Net with one more ``cond`` scalar.

Periodic domains: every convolution pads circularly, including the transposed one (the
input is padded circularly and the overlap cropped, so the wrap-around contributions are
kept), and GroupNorm/attention are permutation-invariant over space. The network is
therefore exactly equivariant to circular shifts by multiples of ``2**(L-1)``, the stride
of the coarsest level; each spatial size must be divisible by ``2**(L-1)``.

Resolution: the 3x3 kernels act in grid units, so applying a trained U-Net on another grid
changes the physical receptive field; it runs but is not resolution-invariant.

Simplified relative to PDEArena: attention only in the middle block (``mid_attention``),
single-head, with its GroupNorm applied; no zero-initialisation of the last convolution of
each block; the output convolution is zero-initialised only with ``zero_init_output``
(PDE-Refiner's KS backbone; it blocks the gradients of every other weight at the first
step, so the contract tests run without it); circular instead of zero padding; one
embedding MLP over all conditioning scalars instead of one per scalar, summed.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from pdesurr.models.base import check_call, record_sizes

CONV = {1: nn.Conv1d, 2: nn.Conv2d}
CONV_T = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d}


def sinusoidal_features(c: torch.Tensor, dim: int, max_period: float = 1e4) -> torch.Tensor:
    """``(B, n)`` scalars -> ``(B, n * dim)`` features ``[cos(w_k c), sin(w_k c)]`` per scalar."""
    half = dim // 2
    freqs = torch.exp(
        -math.log(max_period) * torch.arange(half, device=c.device, dtype=c.dtype) / half
    )
    args = c[..., None] * freqs  # (B, n, half)
    return rearrange(torch.cat([args.cos(), args.sin()], dim=-1), "b n f -> b (n f)")


class CondEmbedding(nn.Module):
    """``(B, cond_dim)`` scalars -> ``(B, dim)``: sinusoidal features, then an MLP."""

    def __init__(self, cond_dim: int, features: int, dim: int):
        super().__init__()
        self.features = features
        width = cond_dim * 2 * (features // 2)  # an odd ``features`` drops one
        self.mlp = nn.Sequential(nn.Linear(width, dim), nn.GELU(), nn.Linear(dim, dim))

    def forward(self, cond: torch.Tensor) -> torch.Tensor:
        return self.mlp(sinusoidal_features(cond, self.features))


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, ndim: int, groups: int, emb_dim: int):
        super().__init__()
        conv = CONV[ndim]
        self.norm1, self.norm2 = nn.GroupNorm(groups, cin), nn.GroupNorm(groups, cout)
        self.conv1 = conv(cin, cout, 3, padding=1, padding_mode="circular")
        self.conv2 = conv(cout, cout, 3, padding=1, padding_mode="circular")
        self.shortcut = conv(cin, cout, 1) if cin != cout else nn.Identity()
        self.film = nn.Linear(emb_dim, 2 * cout) if emb_dim else None

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None) -> torch.Tensor:
        h = self.norm2(self.conv1(F.gelu(self.norm1(x))))
        if self.film is not None:
            film = self.film(emb)[(..., *[None] * (x.ndim - 2))]  # (B, 2 * cout, 1...)
            scale, shift = film.chunk(2, dim=1)
            h = h * (1 + scale) + shift
        return self.conv2(F.gelu(h)) + self.shortcut(x)


class SelfAttention(nn.Module):
    """Single-head, pre-norm self-attention over all grid points, with a residual."""

    def __init__(self, channels: int, groups: int):
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.out = nn.Linear(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = rearrange(self.norm(x), "b c ... -> b (...) c")
        q, k, v = self.qkv(tokens).chunk(3, dim=-1)
        h = self.out(F.scaled_dot_product_attention(q, k, v))  # (B, N, C)
        return x + h.transpose(1, 2).reshape(x.shape)


class PeriodicUpsample(nn.Module):
    """Stride-2 4-wide transposed convolution on a periodic grid: ``(B, C, *S) -> (B, C, *2S)``.

    The input is padded by one cell circularly and the transposed convolution crops 3 cells
    per side, which keeps exactly the wrap-around contributions a zero-padded one drops.
    """

    def __init__(self, channels: int, ndim: int):
        super().__init__()
        self.conv = CONV_T[ndim](channels, channels, 4, stride=2, padding=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (1, 1) * (x.ndim - 2), mode="circular"))


class UNet(nn.Module):
    """PDEArena's modern U-Net: ``len(channel_mults)`` levels of ``blocks_per_level``
    residual blocks, circular padding, FiLM conditioning on ``cond``."""

    resolution_invariant = False
    cond_range = 1000.0  # cond scalars of order 1 to 1000 suit the sinusoidal embedding

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        ndim: int,
        cond_dim: int = 0,
        hidden: int = 64,
        channel_mults: list[int] | tuple[int, ...] = (1, 2, 2, 4),
        blocks_per_level: int = 2,
        norm_groups: int = 1,
        cond_embedding_dim: int = 256,
        mid_attention: bool = False,
        zero_init_output: bool = False,
    ):
        super().__init__()
        record_sizes(self, in_channels, out_channels, ndim, cond_dim)
        mults = [int(m) for m in channel_mults]
        if not mults or min(mults) < 1 or blocks_per_level < 1 or hidden < 1:
            raise ValueError(
                f"UNet: need hidden >= 1, blocks_per_level >= 1 and channel_mults >= 1, got "
                f"hidden={hidden}, blocks_per_level={blocks_per_level}, channel_mults={mults}"
            )
        widths = [hidden * math.prod(mults[: i + 1]) for i in range(len(mults))]
        if any(c % norm_groups for c in [hidden, *widths]):
            raise ValueError(f"UNet: norm_groups={norm_groups} must divide every width {widths}")
        if cond_dim and hidden < 2:
            raise ValueError("UNet: hidden must be >= 2 to embed cond")
        self.levels = len(mults)
        emb = cond_embedding_dim if cond_dim else 0
        self.embed = CondEmbedding(cond_dim, hidden, emb) if cond_dim else None
        conv = CONV[ndim]

        def block(cin: int, cout: int) -> ResBlock:
            return ResBlock(cin, cout, ndim, norm_groups, emb)

        self.proj_in = conv(in_channels, hidden, 3, padding=1, padding_mode="circular")
        skips, c = [hidden], hidden
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        for i, width in enumerate(widths):
            blocks = nn.ModuleList()
            for _ in range(blocks_per_level):
                blocks.append(block(c, width))
                c = width
                skips.append(c)
            self.down.append(blocks)
            if i < self.levels - 1:
                self.downsample.append(conv(c, c, 3, stride=2, padding=1, padding_mode="circular"))
                skips.append(c)
        self.mid1, self.mid2 = block(c, c), block(c, c)
        self.mid_attn = SelfAttention(c, norm_groups) if mid_attention else nn.Identity()
        # Up path in execution order (coarsest level first); it pops the skips in reverse.
        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for i in reversed(range(self.levels)):
            blocks = nn.ModuleList(block(c + skips.pop(), c) for _ in range(blocks_per_level))
            blocks.append(block(c + skips.pop(), c // mults[i]))
            c //= mults[i]
            self.up.append(blocks)
            if i > 0:
                self.upsample.append(PeriodicUpsample(c, ndim))
        self.norm_out = nn.GroupNorm(norm_groups, hidden)
        self.proj_out = conv(hidden, out_channels, 3, padding=1, padding_mode="circular")
        if zero_init_output:  # PDE-Refiner's KS U-Net: the network starts at output 0
            nn.init.zeros_(self.proj_out.weight)
            nn.init.zeros_(self.proj_out.bias)

    def forward(self, x: torch.Tensor, *, cond: torch.Tensor | None = None) -> torch.Tensor:
        check_call(self, x, cond)
        stride = 2 ** (self.levels - 1)
        if any(s % stride for s in x.shape[2:]):
            raise ValueError(
                f"UNet: spatial size {tuple(x.shape[2:])} must be divisible by {stride} "
                f"(2**(levels-1) with {self.levels} levels)"
            )
        emb = self.embed(cond.to(x.dtype)) if self.embed is not None else None
        h = self.proj_in(x)  # (B, hidden, *S)
        skips = [h]
        for i, blocks in enumerate(self.down):
            for blk in blocks:
                h = blk(h, emb)
                skips.append(h)
            if i < self.levels - 1:
                h = self.downsample[i](h)
                skips.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, emb)), emb)
        for i, blocks in enumerate(self.up):
            for blk in blocks:
                h = blk(torch.cat([h, skips.pop()], dim=1), emb)
            if i < self.levels - 1:
                h = self.upsample[i](h)
        return self.proj_out(F.gelu(self.norm_out(h)))
