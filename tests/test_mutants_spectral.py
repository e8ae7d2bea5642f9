"""Tests written against surviving mutants of `pdesurr.spectral` (operators, grid).

Expected values are written out here: ``(i k)^p`` by hand, the Poisson solution of a
single Fourier mode, the FFT layout of mode numbers, and coordinates ``(j + offset) dx``.
"""

import math

import pytest
import torch

from pdesurr.spectral import (
    Grid,
    dealias_mask,
    derivative_symbol,
    inverse_laplacian_symbol,
    laplacian_symbol,
)


def test_derivative_symbol_order_zero_is_identity_and_negative_order_rejected():
    k = torch.tensor([0.0, 1.0, -2.5, 4.0], dtype=torch.float64)
    nyq = torch.tensor([False, False, False, True])
    # (i k)^0 = 1 everywhere, the Nyquist mode included (an even order keeps it)
    assert torch.equal(derivative_symbol(k, 0, nyq), torch.ones(4, dtype=torch.complex128))
    with pytest.raises(ValueError, match=r"derivative order must be >= 0, got -1"):
        derivative_symbol(k, -1)


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_derivative_symbol_on_nyquist_by_parity(order):
    # N = 8 on [0, 2 pi): k = 0..4, Nyquist at k = 4. Odd orders zero it, even orders keep
    # (i k)^p = i^p k^p, here written out from i^p = 1, i, -1, -i
    k = torch.arange(5, dtype=torch.float64)
    nyq = k == 4
    i_pow = {1: 1j, 2: -1.0, 3: -1j, 4: 1.0}[order]
    expected = torch.tensor([i_pow * float(n) ** order for n in range(5)], dtype=torch.complex128)
    if order % 2 == 1:
        expected[4] = 0
    # integer powers of small integers times a unit: exact up to one rounding
    assert torch.allclose(derivative_symbol(k, order, nyq), expected, rtol=1e-15, atol=0)
    # without a mask the Nyquist mode keeps (i k)^p whatever the parity
    full = derivative_symbol(k, order)
    assert full[4] == pytest.approx(i_pow * 4.0**order, rel=1e-15)


def test_second_derivative_of_nyquist_mode_is_kept():
    # cos(4x) on 8 points: d2/dx2 = -16 cos(4x) is representable (an even derivative)
    grid = Grid((8,), (2 * math.pi,))
    (x,) = grid.coords()
    (k,) = grid.wavenumbers()
    (nyq,) = grid.nyquist_masks()
    out = grid.irfft(derivative_symbol(k, 2, nyq) * grid.rfft(torch.cos(4 * x)))
    # one FFT round trip of O(16): round-off only
    assert torch.allclose(out, -16 * torch.cos(4 * x), atol=1e-12)


def test_inverse_laplacian_solves_poisson_and_zeroes_mean():
    # psi = sin(2x) cos(3y) + c on [0, 2pi)^2: lap psi = -13 (psi - c); the inverse returns
    # psi - c (the mean is fixed to 0)
    grid = Grid((16, 16), (2 * math.pi, 2 * math.pi))
    y, x = grid.meshgrid()
    ky, kx = grid.wavenumbers()
    psi = torch.sin(2 * x) * torch.cos(3 * y)
    lap_hat = grid.rfft(-13 * psi + 0.7)  # a non-zero mean the inverse must drop
    sym = inverse_laplacian_symbol(kx, ky)
    # one FFT round trip: round-off only
    assert torch.allclose(grid.irfft(sym * lap_hat), psi, atol=1e-13)
    k2 = kx * kx + ky * ky
    expected = torch.where(k2 == 0, 0.0, -1.0 / torch.where(k2 == 0, 1.0, k2))
    assert sym[0, 0] == 0
    assert torch.allclose(sym, expected, rtol=1e-15, atol=0)
    # and it inverts laplacian_symbol off the mean mode: product -1/|k|^2 * -|k|^2 = 1
    prod = sym * laplacian_symbol(kx, ky)
    assert torch.allclose(prod[k2 != 0], torch.ones_like(prod[k2 != 0]), rtol=1e-14)


def test_laplacian_symbol_1d_values():
    k = torch.tensor([0.0, 1.0, -3.0], dtype=torch.float64)
    assert torch.equal(laplacian_symbol(k), torch.tensor([0.0, -1.0, -9.0], dtype=torch.float64))


@pytest.mark.parametrize("n,cut", [(8, 2), (10, 3), (12, 3), (14, 4)])
def test_dealias_mask_cutoff_1d(n, cut):
    # the cut (N - 1) // 3 written out for each N: 7//3 = 2, 9//3 = 3, 11//3 = 3, 13//3 = 4
    mask = dealias_mask(Grid((n,), (1.0,)))
    assert mask.tolist() == [m <= cut for m in range(n // 2 + 1)]
