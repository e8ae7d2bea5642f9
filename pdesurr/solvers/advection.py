"""The conservative quadratic advection term shared by Burgers and Kuramoto-Sivashinsky.

    N(u) = -u u_x = -1/2 d/dx (u^2)   ->   N_hat = -1/2 (i k) FFT(u^2)

computed pseudo-spectrally (the product in physical space), with the 2/3 rule applied to
the product when ``dealias`` is on (Orszag; :func:`pdesurr.spectral.dealias_mask`). ``k``
may be per trajectory (KS with one length per trajectory: ``(B, 1, K)``).
"""

from __future__ import annotations

import torch

from pdesurr.solvers.system import FactoredNonlinear
from pdesurr.spectral import Grid, dealias_mask, derivative_symbol


def conservative_advection(grid: Grid, k: torch.Tensor, dealias: bool, device) -> FactoredNonlinear:
    """``N(u_hat)`` of ``-1/2 (u^2)_x`` on ``grid`` with wavenumbers ``k``, as
    ``D * FFT(u^2)`` with ``D = -1/2 i k`` (times the 2/3 mask) factored out."""
    (nyq,) = grid.nyquist_masks(device)
    half_dx = -0.5 * derivative_symbol(k, 1, nyq)
    if dealias:
        half_dx = half_dx * dealias_mask(grid, device)

    def square(u_hat: torch.Tensor) -> torch.Tensor:
        u = grid.irfft(u_hat)
        return grid.rfft(u * u)

    return FactoredNonlinear(half_dx, square, square_points=grid.shape[-1])
