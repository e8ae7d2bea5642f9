"""Spectral diagnostics of rollouts: energy spectra by lead time and band errors.

* Energy spectra come from each PDE's own :meth:`energy_spectrum` (kinetic energy from
  vorticity for NS, per layer for QG, ``u^2/2`` for KS), built on
  :func:`pdesurr.spectral.energy_spectrum` (shell-binned, summing to the mean energy).
* Band errors follow The Well's binned spectral error (Ohana et al. 2024): the wavenumbers
  between the first non-zero mode and the grid's Nyquist are cut into three
  log-spaced bands (low, mid, high); in each band the error is
  ``sum |p_hat - t_hat|^2 / sum |t_hat|^2`` over the band's modes and the channels, the
  squared error of the Fourier coefficients relative to the truth's power there.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from pdesurr.spectral import Grid

BANDS = ("low", "mid", "high")


def band_edges(grid: Grid, n_bands: int = 3) -> np.ndarray:
    """Mode-number edges, log-spaced from 1 to ``min(N)/2``."""
    return np.logspace(0, math.log10(min(grid.shape) // 2), n_bands + 1)


def band_errors(
    pred: torch.Tensor, true: torch.Tensor, grid: Grid, n_bands: int = 3
) -> torch.Tensor:
    """``(B, T, n_bands)`` relative spectral errors of ``(B, T, C, *S)`` fields."""
    ph, th = grid.rfft(pred.double()), grid.rfft(true.double())
    n = torch.sqrt(sum(m * m for m in grid.mode_numbers(device=pred.device)))  # |n| per mode
    weight = torch.full((grid.shape[-1] // 2 + 1,), 2.0, dtype=torch.float64, device=pred.device)
    weight[0] = weight[-1] = 1.0  # the real FFT's half spectrum
    err = (ph - th).abs() ** 2 * weight
    power = th.abs() ** 2 * weight
    edges = band_edges(grid, n_bands)
    out = []
    for i in range(n_bands):
        hi = edges[i + 1] + (1e-9 if i == n_bands - 1 else 0.0)
        mask = ((n >= edges[i]) & (n < hi)).to(torch.float64)
        dims = tuple(range(2, err.ndim))
        out.append((err * mask).sum(dims) / (power * mask).sum(dims).clamp_min(1e-300))
    return torch.stack(out, -1)


def mean_spectrum(pde, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Trajectory-mean energy spectrum ``(T, G, K)`` of frames ``(B, T, C, *S)``."""
    b, t = frames.shape[:2]
    k, e, labels = pde.energy_spectrum(frames.double().flatten(0, 1))
    return k, e.reshape(b, t, *e.shape[1:]).mean(0), labels
