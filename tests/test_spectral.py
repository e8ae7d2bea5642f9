"""Spectral operators are exact on band-limited data; dealiasing and spectra behave."""

import math

import pytest
import torch

from pdesurr.spectral import (
    Grid,
    dealias,
    dealias_mask,
    derivative_symbol,
    energy_spectrum,
    laplacian_symbol,
    parse_length,
)


def test_parse_length():
    assert parse_length("2pi") == pytest.approx(2 * math.pi)
    assert parse_length("32*pi") == pytest.approx(32 * math.pi)
    assert parse_length("pi") == pytest.approx(math.pi)
    assert parse_length(3) == 3.0
    with pytest.raises(ValueError):
        parse_length("two pi")


@pytest.mark.parametrize("bad", [(7,), (2,), (6, 9)])
def test_grid_rejects_odd_or_tiny(bad):
    with pytest.raises(ValueError):
        Grid(bad, tuple(1.0 for _ in bad))


def test_derivatives_exact_1d():
    grid = Grid((32,), (3.0,))
    (x,) = grid.coords()
    (k,) = grid.wavenumbers()
    (nyq,) = grid.nyquist_masks()
    a = 2 * math.pi / 3.0
    u = torch.sin(3 * a * x) + 0.5 * torch.cos(7 * a * x)
    du = 3 * a * torch.cos(3 * a * x) - 3.5 * a * torch.sin(7 * a * x)
    d2u = -9 * a**2 * torch.sin(3 * a * x) - 0.5 * 49 * a**2 * torch.cos(7 * a * x)
    u_hat = grid.rfft(u)
    # exact up to round-off of O(N * eps * |k|^order)
    assert torch.allclose(grid.irfft(derivative_symbol(k, 1, nyq) * u_hat), du, atol=1e-12)
    assert torch.allclose(grid.irfft(derivative_symbol(k, 2, nyq) * u_hat), d2u, atol=1e-10)


def test_derivatives_and_laplacian_exact_2d():
    grid = Grid((16, 24), (2.0, 3.0))
    y, x = grid.meshgrid()
    ky, kx = grid.wavenumbers()
    ay, ax = 2 * math.pi / 2.0, 2 * math.pi / 3.0
    u = torch.sin(2 * ax * x) * torch.cos(3 * ay * y)
    u_hat = grid.rfft(u)
    dudx = 2 * ax * torch.cos(2 * ax * x) * torch.cos(3 * ay * y)
    lap = -((2 * ax) ** 2 + (3 * ay) ** 2) * u
    assert torch.allclose(grid.irfft(1j * kx * u_hat), dudx, atol=1e-12)
    assert torch.allclose(grid.irfft(laplacian_symbol(kx, ky) * u_hat), lap, atol=1e-11)


def test_nyquist_zeroed_for_odd_derivative():
    grid = Grid((8,), (2 * math.pi,))
    (x,) = grid.coords()
    u = torch.cos(4 * x)  # pure Nyquist mode: its derivative is not representable
    (k,) = grid.wavenumbers()
    (nyq,) = grid.nyquist_masks()
    assert torch.allclose(
        grid.irfft(derivative_symbol(k, 1, nyq) * grid.rfft(u)), torch.zeros(8, dtype=torch.float64)
    )


def test_dealias_idempotent_and_two_thirds(gen):
    grid = Grid((48, 48), (1.0, 1.0))
    mask = dealias_mask(grid)
    u_hat = grid.rfft(torch.randn(2, 1, 48, 48, generator=gen, dtype=torch.float64))
    once = dealias(u_hat, mask)
    assert torch.equal(dealias(once, mask), once)
    ky, kx = grid.mode_numbers()
    kept = (ky.abs() <= 15) & (kx.abs() <= 15)  # (48 - 1) // 3 = 15
    assert torch.equal(mask, kept.expand_as(mask))


def test_product_of_dealiased_fields_is_exact_on_kept_modes(gen):
    # the 2/3 rule's promise: no aliasing error in the kept modes of a quadratic product
    n = 24
    grid = Grid((n,), (2 * math.pi,))
    mask = dealias_mask(grid)
    u_hat = dealias(grid.rfft(torch.randn(n, generator=gen, dtype=torch.float64)), mask)
    fine = Grid((4 * n,), (2 * math.pi,))
    u_fine_hat = torch.zeros(2 * n + 1, dtype=torch.complex128)
    u_fine_hat[: n // 2 + 1] = u_hat * 4  # same function on a 4x finer grid (unnormalised DFT)
    p_fine = fine.rfft(fine.irfft(u_fine_hat) ** 2)[: n // 2 + 1] / 4
    p = grid.rfft(grid.irfft(u_hat) ** 2)
    assert torch.allclose(p * mask, p_fine * mask, atol=1e-12)


@pytest.mark.parametrize(
    "shape,length", [((64,), (5.0,)), ((32, 32), (2 * math.pi,) * 2), ((16, 32), (1.0, 2.0))]
)
def test_spectrum_sums_to_mean_energy(shape, length, gen):
    grid = Grid(shape, length)
    u = torch.randn(3, 2, *shape, generator=gen, dtype=torch.float64)
    k, E = energy_spectrum(u, grid)
    assert E.shape[:2] == (3, 2) and k.shape == E.shape[-1:]
    # Parseval, exact to round-off
    assert torch.allclose(E.sum(-1), 0.5 * (u**2).mean(tuple(range(-len(shape), 0))), rtol=1e-12)


def test_spectrum_of_single_mode_lands_in_its_shell():
    grid = Grid((32, 32), (2 * math.pi, 2 * math.pi))
    y, x = grid.meshgrid()
    u = torch.cos(3 * x + 4 * y)  # |k| = 5, energy 1/4
    k, E = energy_spectrum(u, grid)
    assert torch.isclose(E[5], torch.tensor(0.25, dtype=torch.float64), rtol=1e-12)
    assert E.sum() - E[5] < 1e-14
    assert k[5] == pytest.approx(5.0)
