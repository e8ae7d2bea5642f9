"""Energy spectra, 1D and 2D shell-binned, normalised so they sum to the mean energy.

For a real field ``u`` on ``N`` points with unnormalised DFT ``u_hat``, Parseval gives
``mean(u^2) = sum_k |u_hat_k|^2 / N^2`` over the full spectrum. With the real FFT the
half spectrum carries weight 2 except the columns ``n = 0`` and ``n = N/2``. The spectrum
``E`` returned here satisfies ``sum(E) = 0.5 * mean(u^2)`` exactly: the mean energy per
unit mass of a velocity component (sum over components yourself), or the "energy"
``0.5 <u^2>`` of a scalar field.

2D shells: mode ``(n_y, n_x)`` falls in bin ``round(|k| / dk)`` with ``dk = 2 pi / max(L)``
(integer shells ``round(|n|)`` on a square box), so bin ``j`` holds ``j dk - dk/2 <= |k| <
j dk + dk/2``. Bins run up to the corner of the spectrum (``sqrt(2) N/2`` on a square), so
no energy is dropped; shells beyond ``N/2`` are only partly filled, so plots usually stop
at ``k = pi / dx``.
"""

from __future__ import annotations

import math

import torch

from pdesurr.spectral.grid import Grid


def _half_spectrum_weights(grid: Grid, device) -> torch.Tensor:
    nx = grid.shape[-1]
    w = torch.full((nx // 2 + 1,), 2.0, dtype=torch.float64, device=device)
    w[0] = 1.0
    w[-1] = 1.0  # Nyquist column (N even)
    return w


def energy_spectrum(u: torch.Tensor, grid: Grid) -> tuple[torch.Tensor, torch.Tensor]:
    """Energy spectrum of ``u`` of shape ``(..., *grid.shape)``.

    Returns:
        k: bin wavenumbers, shape ``(K,)`` (dtype of ``u``).
        E: spectrum of shape ``(..., K)`` with ``E.sum(-1) == 0.5 * mean(u**2)``.
    """
    if tuple(u.shape[-grid.ndim :]) != grid.shape:
        raise ValueError(f"field shape {tuple(u.shape)} does not end with grid {grid.shape}")
    u_hat = grid.rfft(u)
    n_total = math.prod(grid.shape)
    power = (u_hat.real**2 + u_hat.imag**2) * (
        0.5 * _half_spectrum_weights(grid, u.device).to(u.real.dtype) / n_total**2
    )
    dk = 2 * math.pi / max(grid.length)
    kmag = torch.sqrt(sum(k * k for k in grid.wavenumbers(device=u.device)))
    bins = torch.round(kmag / dk).long()
    bins = bins.expand(grid.spectral_shape).reshape(-1)
    n_bins = int(bins.max()) + 1
    flat = power.reshape(*power.shape[: -grid.ndim], -1)
    E = torch.zeros(*flat.shape[:-1], n_bins, dtype=flat.dtype, device=u.device)
    E.index_add_(-1, bins, flat)
    k = torch.arange(n_bins, dtype=E.dtype, device=u.device) * dk
    return k, E
