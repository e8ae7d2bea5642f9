"""Fourier symbols of differential operators, and the 2/3-rule dealiasing mask.

On a periodic grid ``d/dx`` acts on mode ``k`` as multiplication by ``i k``. Odd
derivatives zero the Nyquist mode: its sine part is not representable on the grid, and
keeping ``i k_N`` there would make the inverse real FFT silently drop an imaginary part.
"""

from __future__ import annotations

import torch

from pdesurr.spectral.grid import Grid


def derivative_symbol(k: torch.Tensor, order: int, nyquist: torch.Tensor | None = None):
    """``(i k)^order``; with ``nyquist`` given, odd orders are zero on that mask."""
    if order < 0:
        raise ValueError(f"derivative order must be >= 0, got {order}")
    symbol = (1j * k) ** order
    if order % 2 and nyquist is not None:
        symbol = torch.where(nyquist, torch.zeros_like(symbol), symbol)
    return symbol


def laplacian_symbol(*ks: torch.Tensor) -> torch.Tensor:
    """``-|k|^2`` for the wavenumber vectors ``ks`` (broadcast together)."""
    total = 0
    for k in ks:
        total = total + k * k
    return -total


def inverse_laplacian_symbol(*ks: torch.Tensor) -> torch.Tensor:
    """``-1/|k|^2`` with the mean mode set to 0 (the mean of ``psi`` is free; we fix it to 0)."""
    k2 = -laplacian_symbol(*ks)
    safe = torch.where(k2 == 0, torch.ones_like(k2), k2)
    return torch.where(k2 == 0, torch.zeros_like(k2), -1.0 / safe)


def dealias_mask(grid: Grid, device=None) -> torch.Tensor:
    """Orszag's 2/3 rule: keep modes with ``|n_i| <= (N_i - 1) // 3`` on every axis.

    Symmetric in ``+-n`` and square (not circular). With the state kept inside the mask,
    a quadratic product filtered by it has no aliasing error on the kept modes, because
    ``N_i > 3 * max|n_i|``. (exponax keeps ``|n| <= (2/3)(N/2) - 1``, jax-cfd's mask is
    not symmetric; both are 1 mode away from this one.)
    """
    mask = None
    for m, n in zip(grid.mode_numbers(device=device), grid.shape, strict=True):
        keep = m.abs() <= (n - 1) // 3
        mask = keep if mask is None else mask & keep
    return mask


def dealias(u_hat: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Zero the modes outside ``mask`` (idempotent)."""
    return u_hat * mask
