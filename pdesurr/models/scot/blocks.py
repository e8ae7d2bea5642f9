"""Building blocks of scOT (Herde et al. 2024, arXiv:2405.19101, App. B): the Swin-v2
res-post-norm layer, patch merging and unmerging, the ConvNeXt/ResNet skip blocks, and the
encoder/decoder stages built from them.

Tokens travel as ``(B, L, C)`` with ``L = h * w`` row-major over a square ``h x w`` grid.

Layer (res-post-norm, ``t`` the conditioning)::

    x = x + DropPath(LN_before(WindowAttention(x), t))
    x = x + DropPath(LN_after(Linear(act(Linear(x))), t))

The window is clamped to the grid (``w = h`` where ``h <= window``) and the shift is
``window // 2`` only where the grid is larger than the clamped window; grids not a
multiple of the window are zero-padded at the bottom/right and cropped afterwards.
Padding, window, shift and the shifted-window mask are fixed at construction (the model
always runs on its own ``image_size`` grid), so nothing is rebuilt per call.

Patch merging: ``cat(x[0::2, 0::2], x[1::2, 0::2], x[0::2, 1::2], x[1::2, 1::2])`` on the
channel axis, ``Linear(4C, 2C, no bias)``, norm. Unmerging: ``Linear(C, 2C, no bias)``,
reshape ``(B, h, w, 2, 2, C/2)``, permute to ``(B, h, 2, w, 2, C/2)``, norm, ``Linear(C/2,
C/2, no bias)``. An encoder stage returns ``(merge(out + in), out)``: the stage residual
feeds only the merge, the skip is the blocks' output. Decoder stages build their blocks in
reversed order (the first one is the shifted one when the depth is even).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from pdesurr.models.scot.attention import (
    Attention,
    Projection,
    shifted_window_mask,
    window_partition,
    window_reverse,
)
from pdesurr.models.scot.norms import make_norm

# merging, unmerging and the embedding norm use nn.LayerNorm's default eps in the
# reference, not the config's layer_norm_eps
DEFAULT_EPS = 1e-5

ACTIVATIONS = {
    "gelu": F.gelu,
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
    "silu": F.silu,
    "swish": F.silu,
}


def drop_path(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Stochastic depth: zero the whole residual branch of a sample with probability p."""
    if p == 0.0 or not training:
        return x
    keep = torch.rand((x.shape[0],) + (1,) * (x.ndim - 1), dtype=x.dtype, device=x.device)
    return x / (1 - p) * torch.floor(keep + (1 - p))


class Intermediate(nn.Module):
    def __init__(self, dim: int, hidden: int, act: str):
        super().__init__()
        if act not in ACTIVATIONS:
            raise ValueError(f"scot: hidden_act {act!r} unknown; known: {sorted(ACTIVATIONS)}")
        self.dense = nn.Linear(dim, hidden)
        self.act = ACTIVATIONS[act]

    def forward(self, x):
        return self.act(self.dense(x))


class ScOTLayer(nn.Module):
    """One Swin-v2 block on a fixed ``grid x grid`` token grid."""

    def __init__(self, dim, grid, num_heads, window, shift, cfg, cond_dim, drop_path_rate=0.0):
        super().__init__()
        self.grid = grid
        self.window = grid if grid <= window else window
        self.shift = 0 if (grid, grid) <= (self.window, self.window) else shift
        self.pad = (self.window - grid % self.window) % self.window
        self.drop_path_rate = drop_path_rate
        self.attention = Attention(
            dim, num_heads, self.window, cfg["qkv_bias"], cfg["attention_probs_dropout_prob"]
        )
        eps = cfg["layer_norm_eps"]
        self.layernorm_before = make_norm(dim, eps, cond_dim)
        hidden = int(cfg["mlp_ratio"] * dim)
        self.intermediate = Intermediate(dim, hidden, cfg["hidden_act"])
        self.output = Projection(hidden, dim, cfg["hidden_dropout_prob"])
        self.layernorm_after = make_norm(dim, eps, cond_dim)
        mask = None
        if self.shift > 0:
            mask = shifted_window_mask(grid + self.pad, grid + self.pad, self.window, self.shift)
        self.register_buffer("attn_mask", mask, persistent=False)

    def forward(self, x: torch.Tensor, time: torch.Tensor | None) -> torch.Tensor:
        b, n, c = x.shape
        g, w, s, pad = self.grid, self.window, self.shift, self.pad
        h = x.view(b, g, g, c)
        if pad:
            h = F.pad(h, (0, 0, 0, pad, 0, pad))
        if s:
            h = torch.roll(h, shifts=(-s, -s), dims=(1, 2))
        windows = window_partition(h, w).view(-1, w * w, c)
        att = self.attention(windows, self.attn_mask)
        h = window_reverse(att.view(-1, w, w, c), w, g + pad, g + pad)
        if s:
            h = torch.roll(h, shifts=(s, s), dims=(1, 2))
        if pad:
            h = h[:, :g, :g, :].contiguous()
        h = h.reshape(b, n, c)
        p, train = self.drop_path_rate, self.training
        x = x + drop_path(self.layernorm_before(h, time), p, train)
        y = self.output(self.intermediate(x))
        return x + drop_path(self.layernorm_after(y, time), p, train)


class PatchMerging(nn.Module):
    def __init__(self, dim: int, cond_dim: int):
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = make_norm(2 * dim, DEFAULT_EPS, cond_dim)

    def forward(self, x: torch.Tensor, time: torch.Tensor | None) -> torch.Tensor:
        b, n, c = x.shape
        g = math.isqrt(n)
        x = x.view(b, g, g, c)
        parts = (x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2])
        x = torch.cat(parts, dim=-1).reshape(b, -1, 4 * c)
        return self.norm(self.reduction(x), time)


class PatchUnmerging(nn.Module):
    def __init__(self, dim: int, cond_dim: int):
        super().__init__()
        self.upsample = nn.Linear(dim, 2 * dim, bias=False)
        self.mixup = nn.Linear(dim // 2, dim // 2, bias=False)
        self.norm = make_norm(dim // 2, DEFAULT_EPS, cond_dim)

    def forward(self, x: torch.Tensor, time: torch.Tensor | None) -> torch.Tensor:
        b, n, c = x.shape
        g = math.isqrt(n)
        x = self.upsample(x).reshape(b, g, g, 2, 2, c // 2).permute(0, 1, 3, 2, 4, 5)
        x = x.reshape(b, 4 * n, c // 2)
        return self.mixup(self.norm(x, time))


class ConvNeXtBlock(nn.Module):
    """Skip processing: depthwise 7x7 conv, norm, C -> 4C -> C MLP, layer scale, residual."""

    def __init__(self, dim: int, eps: float, cond_dim: int):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = make_norm(dim, eps, cond_dim)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.weight = nn.Parameter(torch.full((dim,), 1e-6))  # layer scale

    def forward(self, x: torch.Tensor, time: torch.Tensor | None) -> torch.Tensor:
        b, n, c = x.shape
        g = math.isqrt(n)
        h = self.dwconv(x.reshape(b, g, g, c).permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        h = self.pwconv2(self.act(self.pwconv1(self.norm(h, time))))
        return x + (self.weight * h).reshape(b, n, c)


class ResNetBlock(nn.Module):
    """The reference's alternative skip block: conv-BN-leaky ReLU-conv-BN plus identity."""

    def __init__(self, dim: int, eps: float, cond_dim: int):
        super().__init__()
        self.conv1 = nn.Conv2d(dim, dim, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(dim, dim, kernel_size=3, padding=1)
        self.bn1 = nn.BatchNorm2d(dim)
        self.bn2 = nn.BatchNorm2d(dim)

    def forward(self, x: torch.Tensor, time: torch.Tensor | None) -> torch.Tensor:
        b, n, c = x.shape
        g = math.isqrt(n)
        h = x.reshape(b, g, g, c).permute(0, 3, 1, 2)
        h = self.bn2(self.conv2(F.leaky_relu(self.bn1(self.conv1(h)))))
        return x + h.permute(0, 2, 3, 1).reshape(b, n, c)


SKIP_BLOCKS = {"convnext": ConvNeXtBlock, "resnet": ResNetBlock}


def layer_shifts(depth: int, window: int, reverse: bool) -> list[tuple[int, int]]:
    """(index, shift) of each block in construction order: odd indices are shifted."""
    order = reversed(range(depth)) if reverse else range(depth)
    return [(i, 0 if i % 2 == 0 else window // 2) for i in order]


class EncodeStage(nn.Module):
    def __init__(self, dim, grid, depth, num_heads, cfg, cond_dim, rates, downsample):
        super().__init__()
        w = cfg["window_size"]
        self.blocks = nn.ModuleList(
            ScOTLayer(dim, grid, num_heads, w, s, cfg, cond_dim, rates[i])
            for i, s in layer_shifts(depth, w, reverse=False)
        )
        self.downsample = PatchMerging(dim, cond_dim) if downsample else None

    def forward(self, x, time):
        """``(B, L, C)`` -> (next stage's input, skip = the blocks' output)."""
        h = x
        for block in self.blocks:
            h = block(h, time)
        if self.downsample is None:
            return h, h
        return self.downsample(h + x, time), h


class DecodeStage(nn.Module):
    def __init__(self, dim, grid, depth, num_heads, cfg, cond_dim, rates, upsample):
        super().__init__()
        w = cfg["window_size"]
        self.blocks = nn.ModuleList(
            ScOTLayer(dim, grid, num_heads, w, s, cfg, cond_dim, rates[depth - 1 - i])
            for i, s in layer_shifts(depth, w, reverse=True)
        )
        self.upsample = PatchUnmerging(dim, cond_dim) if upsample else None

    def forward(self, x, time):
        for block in self.blocks:
            x = block(x, time)
        return x if self.upsample is None else self.upsample(x, time)
