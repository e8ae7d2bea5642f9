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
    parse_length,
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


# --- grid ---------------------------------------------------------------------------------


def test_parse_length_forms_and_messages():
    assert parse_length("2pi") == 2 * math.pi
    assert parse_length(" 0.5 * pi ") == 0.5 * math.pi
    assert parse_length("1e1pi") == 10 * math.pi
    assert parse_length(2.5) == 2.5 and isinstance(parse_length(4), float)
    with pytest.raises(ValueError, match=r"^expected a length, got True$"):
        parse_length(True)
    for bad in ("two pi", "2pix", None):
        with pytest.raises(ValueError, match=r"a multiple of pi like '2pi'\), got "):
            parse_length(bad)


@pytest.mark.parametrize(
    "shape,length,msg",
    [
        ((8, 8, 8), (1.0, 1.0, 1.0), r"grid shape \(8, 8, 8\) and length .* must be 1D or 2D"),
        ((8, 8), (1.0,), r"grid shape \(8, 8\) and length \(1.0,\) must be 1D or 2D"),
        ((), (), r"must be 1D or 2D"),
        ((8, 7), (1.0, 1.0), r"grid resolution must be even and >= 4, got 7"),
        ((2,), (1.0,), r"grid resolution must be even and >= 4, got 2"),
        ((8,), (0.0,), r"domain length must be positive, got 0.0"),
        ((8, 8), (1.0, float("nan")), r"domain length must be positive, got nan"),
    ],
)
def test_grid_validation_messages(shape, length, msg):
    with pytest.raises(ValueError, match=msg):
        Grid(shape, length)


def test_smallest_grid_is_accepted():
    grid = Grid((4,), (1.0,))  # N = 4 is the documented minimum
    assert grid.spectral_shape == (3,)


def test_grid_geometry_2d():
    grid = Grid((6, 8), (3.0, 2.0), offset=0.5)
    assert grid.ndim == 2 and grid.dims == ("y", "x")
    assert grid.spacing == (0.5, 0.25)
    assert grid.spectral_shape == (6, 5)
    y, x = grid.coords()
    # cell centres (j + 1/2) dx
    assert torch.equal(y, torch.tensor([0.25, 0.75, 1.25, 1.75, 2.25, 2.75], dtype=torch.float64))
    assert torch.equal(x, (torch.arange(8, dtype=torch.float64) + 0.5) * 0.25)
    yy, xx = grid.meshgrid()
    assert yy.shape == (6, 8) and torch.equal(yy[:, 3], y) and torch.equal(xx[2], x)
    assert Grid((8,), (1.0,)).dims == ("x",) and Grid((8,), (1.0,)).ndim == 1
    assert grid.coords(dtype=torch.float32)[0].dtype == torch.float32


def test_mode_numbers_wavenumbers_and_nyquist_layout():
    grid = Grid((6, 8), (3.0, 2.0))
    my, mx = grid.mode_numbers()
    # FFT layout written out: full axis 0, 1, 2, -3, -2, -1; real-FFT half axis 0..4
    assert my.shape == (6, 1) and mx.shape == (1, 5)
    assert my.flatten().tolist() == [0, 1, 2, -3, -2, -1]
    assert mx.flatten().tolist() == [0, 1, 2, 3, 4]
    assert my.dtype == torch.float64
    ky, kx = grid.wavenumbers()
    n_y = torch.tensor([0, 1, 2, -3, -2, -1.0], dtype=torch.float64)
    assert torch.allclose(ky.flatten(), n_y * (2 * math.pi / 3))
    assert torch.allclose(kx.flatten(), torch.arange(5.0, dtype=torch.float64) * math.pi)
    assert kx.dtype == torch.float64 and grid.wavenumbers(torch.float32)[1].dtype == torch.float32
    ny, nx = grid.nyquist_masks()
    assert ny.flatten().tolist() == [False, False, False, True, False, False]
    assert nx.flatten().tolist() == [False, False, False, False, True]
    (m1,) = Grid((8,), (1.0,)).mode_numbers()
    assert m1.tolist() == [0, 1, 2, 3, 4]


def test_rfft_acts_on_the_spatial_axes_only():
    grid = Grid((4, 6), (1.0, 1.0))
    u = torch.arange(2 * 3 * 24, dtype=torch.float64).reshape(2, 3, 4, 6) ** 0.5
    u_hat = grid.rfft(u)
    assert u_hat.shape == (2, 3, 4, 4)
    # the mean mode is the sum over the 24 points of each (batch, channel) field
    assert torch.allclose(u_hat[..., 0, 0].real, u.sum((-2, -1)), rtol=1e-14)
    assert torch.allclose(grid.irfft(u_hat), u, atol=1e-12)
    one_d = Grid((6,), (1.0,))
    v = torch.arange(12, dtype=torch.float64).reshape(2, 6)
    assert torch.allclose(one_d.rfft(v), torch.fft.rfft(v, dim=-1))
    assert one_d.irfft(one_d.rfft(v)).shape == (2, 6)


def test_device_follows_the_argument():
    # PyTorch's "meta" device stands in for CUDA on a CPU-only machine: shapes and devices
    # are computed, no data; a dropped device= argument would put the result on the CPU
    meta = torch.device("meta")
    grid = Grid((8, 6), (1.0, 2.0))
    for fn in (grid.coords, grid.meshgrid, grid.mode_numbers, grid.wavenumbers):
        assert all(t.device == meta for t in fn(device=meta)), fn.__name__
    assert all(t.device == meta for t in grid.nyquist_masks(device=meta))
    assert dealias_mask(grid, device=meta).device == meta
    u_hat = grid.rfft(torch.zeros(2, 1, 8, 6, device=meta))
    assert u_hat.device == meta and u_hat.shape == (2, 1, 8, 4)
    assert grid.irfft(u_hat).shape == (2, 1, 8, 6)
