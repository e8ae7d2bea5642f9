"""Spectral down-sampling: keep the low Fourier modes of a finer simulation.

Kochkov et al. (2021) train on 2048^2 Kolmogorov flow filtered down to 32^2-64^2; the
spectral equivalent here keeps every mode with ``|n_i| < M_i / 2`` of the ``N_i``-point
field and evaluates it on ``M_i`` points. The output's Nyquist mode is dropped (it cannot
be represented symmetrically), so the result is the band-limited projection of the input:
down-sampling a field that already lives on those modes reproduces it exactly, and
up-sampling back returns the projection.
"""

from __future__ import annotations

import itertools
import math

import torch


def spectral_resample(u: torch.Tensor, shape_out: tuple[int, ...]) -> torch.Tensor:
    """Resample the real periodic field ``u`` (``(..., *S)``) to ``shape_out`` (even sizes).

    Works for down- and up-sampling; modes present on both grids except the Nyquist of
    the smaller are kept, the others are zero.
    """
    ndim = len(shape_out)
    shape_in = tuple(u.shape[-ndim:])
    if shape_in == tuple(shape_out):
        return u
    if any(n % 2 for n in shape_out):
        raise ValueError(f"output resolution must be even, got {shape_out}")
    u_hat = torch.fft.rfftn(u, dim=tuple(range(-ndim, 0)))
    out_spec = (*shape_out[:-1], shape_out[-1] // 2 + 1)
    out = torch.zeros(*u_hat.shape[:-ndim], *out_spec, dtype=u_hat.dtype, device=u.device)
    # per axis, keep |n| < min(N, M) / 2
    src, dst = [], []
    for axis in range(ndim):
        n_in, n_out = shape_in[axis], shape_out[axis]
        keep = min(n_in, n_out) // 2
        if axis == ndim - 1:
            src.append([slice(0, keep)])
            dst.append([slice(0, keep)])
        else:
            src.append([slice(0, keep), slice(n_in - keep + 1, n_in)])
            dst.append([slice(0, keep), slice(n_out - keep + 1, n_out)])
    for idx in itertools.product(*(range(len(s)) for s in src)):
        s = tuple(src[a][i] for a, i in enumerate(idx))
        d = tuple(dst[a][i] for a, i in enumerate(idx))
        out[(Ellipsis, *d)] = u_hat[(Ellipsis, *s)]
    scale = math.prod(shape_out) / math.prod(shape_in)
    return torch.fft.irfftn(out * scale, s=tuple(shape_out), dim=tuple(range(-ndim, 0)))
