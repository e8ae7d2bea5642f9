"""Swin-v2 window attention as scOT uses it (Liu et al. 2022, arXiv:2111.09883, Sec. 3.2;
Herde et al. 2024, arXiv:2405.19101, App. B).

Tokens ``(B, H, W, C)`` are cut into non-overlapping ``w x w`` windows (row-major over the
window grid, batch outermost: ``(B * nW, w*w, C)``). In each window and head ``h``::

    A = softmax( s_h * q_hat k_hat^T + 16 sigmoid(CPB(r))_h + M ) v
    q_hat, k_hat = q / |q|, k / |k|          (cosine attention)
    s_h = exp(min(logit_scale_h, ln 100))

``CPB`` is the continuous position bias MLP ``Linear(2, 512) -> ReLU -> Linear(512, heads)``
applied to the table of relative offsets ``(dy, dx)`` in ``[-(w-1), w-1]^2``, scaled to
``8 * d / (w - 1)`` and log-spaced, ``sign(d) log2(|d| + 1) / log2(8)``; the table and the
pair index into it are computed once (in float32, as the reference does, then follow the
module's dtype) and held as non-persistent buffers. ``M`` is the shifted-window mask
(below). The per-head scale is folded into ``q`` and bias plus mask are handed to
``torch.nn.functional.scaled_dot_product_attention`` as ``attn_mask``.

The mask: after a cyclic shift by ``-w/2``, tokens of one window may come from different
regions of the unshifted grid; pairs across regions get ``-100``. The reference
(transformers' ``Swinv2SelfAttention``, which scOT imports) adds that mask **twice** to the
scores, so the effective value is ``-200``; it is kept so outputs match the published
model even where masked logits are large. The mask depends only on the (fixed) grid, so
it is built once per layer.

Keys: ``query.{weight,bias}``, ``key.weight`` (no bias), ``value.{weight,bias}``,
``logit_scale`` ``(heads, 1, 1)``, ``continuous_position_bias_mlp.{0.weight, 0.bias,
2.weight}``, then ``output.dense.{weight,bias}`` on the enclosing :class:`Attention`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# the reference adds its -100 mask twice (see the module docstring)
MASK_VALUE = -100.0
MASK_REPEATS = 2


def window_partition(x: torch.Tensor, w: int) -> torch.Tensor:
    """``(B, H, W, C)`` -> ``(B * H/w * W/w, w, w, C)``, windows row-major per sample."""
    b, h, wd, c = x.shape
    x = x.view(b, h // w, w, wd // w, w, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, w, w, c)


def window_reverse(windows: torch.Tensor, w: int, h: int, wd: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`: ``(B * nW, w, w, C)`` -> ``(B, H, W, C)``."""
    c = windows.shape[-1]
    x = windows.view(-1, h // w, wd // w, w, w, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, h, wd, c)


def shifted_window_mask(h: int, wd: int, w: int, shift: int) -> torch.Tensor:
    """Additive mask ``(nW, w*w, w*w)`` for windows of the grid rolled by ``-shift``.

    The padded grid ``h x wd`` is split along each axis into the regions
    ``[0, h-w)``, ``[h-w, h-shift)``, ``[h-shift, h)``; pairs in different regions get
    ``MASK_VALUE * MASK_REPEATS``, pairs in the same region 0.
    """
    region = torch.zeros(1, h, wd, 1)
    cuts = (slice(0, -w), slice(-w, -shift), slice(-shift, None))
    label = 0
    for rows in cuts:
        for cols in cuts:
            region[:, rows, cols, :] = label
            label += 1
    labels = window_partition(region, w).reshape(-1, w * w)
    differ = labels.unsqueeze(1) != labels.unsqueeze(2)
    return torch.where(differ, MASK_VALUE * MASK_REPEATS, 0.0)


def relative_coords_table(w: int) -> torch.Tensor:
    """Log-spaced relative offsets ``(1, 2w-1, 2w-1, 2)`` fed to the CPB MLP (float32)."""
    d = torch.arange(-(w - 1), w, dtype=torch.float32)
    table = torch.stack(torch.meshgrid(d, d, indexing="ij"), dim=-1).unsqueeze(0)
    if w > 1:
        table = table / (w - 1)
    table = table * 8
    return torch.sign(table) * torch.log2(table.abs() + 1.0) / math.log2(8)


def relative_position_index(w: int) -> torch.Tensor:
    """``(w*w, w*w)`` index of each token pair's offset in the flattened table."""
    coords = torch.stack(torch.meshgrid(torch.arange(w), torch.arange(w), indexing="ij"))
    coords = coords.flatten(1)  # (2, w*w)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (w - 1)
    return rel[..., 0] * (2 * w - 1) + rel[..., 1]


class SelfAttention(nn.Module):
    """Cosine multi-head attention within windows of ``w x w`` tokens, ``dim`` channels."""

    def __init__(
        self, dim: int, num_heads: int, window: int, qkv_bias: bool = True, dropout: float = 0.0
    ):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"scot: dim {dim} is not a multiple of num_heads {num_heads}")
        self.num_heads, self.window, self.dropout = num_heads, window, dropout
        self.logit_scale = nn.Parameter(torch.full((num_heads, 1, 1), math.log(10.0)))
        self.continuous_position_bias_mlp = nn.Sequential(
            nn.Linear(2, 512, bias=True),
            nn.ReLU(inplace=True),
            nn.Linear(512, num_heads, bias=False),
        )
        self.register_buffer(
            "relative_coords_table", relative_coords_table(window), persistent=False
        )
        self.register_buffer(
            "relative_position_index", relative_position_index(window), persistent=False
        )
        self.query = nn.Linear(dim, dim, bias=qkv_bias)
        self.key = nn.Linear(dim, dim, bias=False)
        self.value = nn.Linear(dim, dim, bias=qkv_bias)

    def position_bias(self) -> torch.Tensor:
        """``16 sigmoid(CPB(table))`` gathered per token pair: ``(heads, w*w, w*w)``."""
        n = self.window * self.window
        table = self.continuous_position_bias_mlp(self.relative_coords_table)
        table = table.reshape(-1, self.num_heads)
        bias = table[self.relative_position_index.reshape(-1)].reshape(n, n, self.num_heads)
        return 16 * torch.sigmoid(bias.permute(2, 0, 1))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """``x: (B * nW, N, C)``, ``mask: (nW, N, N)`` or None -> ``(B * nW, N, C)``."""
        bw, n, c = x.shape
        heads = self.num_heads

        def split(t):  # (B*nW, N, C) -> (B*nW, heads, N, d)
            return t.view(bw, n, heads, c // heads).transpose(1, 2)

        scale = torch.clamp(self.logit_scale, max=math.log(100.0)).exp()
        q = F.normalize(split(self.query(x)), dim=-1) * scale
        k = F.normalize(split(self.key(x)), dim=-1)
        v = split(self.value(x))
        bias = self.position_bias().to(q.dtype)
        p = self.dropout if self.training else 0.0
        if mask is None:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=p, scale=1.0)
        else:  # windows of one sample share the mask: (B, nW, heads, N, d)
            nw = mask.shape[0]
            q, k, v = (t.view(bw // nw, nw, heads, n, -1) for t in (q, k, v))
            full = bias.unsqueeze(0) + mask.to(q.dtype).unsqueeze(1)  # (nW, heads, N, N)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=full, dropout_p=p, scale=1.0)
            out = out.view(bw, heads, n, -1)
        return out.transpose(1, 2).reshape(bw, n, c)


class Projection(nn.Module):
    """``Linear`` then dropout, held as ``dense`` (the published ``*.output.dense`` keys)."""

    def __init__(self, dim_in: int, dim_out: int, dropout: float = 0.0):
        super().__init__()
        self.dense = nn.Linear(dim_in, dim_out)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.dense(x))


class Attention(nn.Module):
    """Window attention ``self`` followed by its output projection ``output.dense``."""

    def __init__(self, dim, num_heads, window, qkv_bias=True, attn_dropout=0.0):
        super().__init__()
        self.self = SelfAttention(dim, num_heads, window, qkv_bias, attn_dropout)
        self.output = Projection(dim, dim, attn_dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return self.output(self.self(x, mask))
