"""The inverse transform's workspace: a faster memory layout, the same transform."""

import pytest
import torch

from pdesurr.solvers.navier_stokes import NavierStokes2D
from pdesurr.spectral import fft


@pytest.mark.parametrize("dtype", [torch.complex128, torch.complex64])
def test_workspace_is_ky_contiguous_on_cpu_and_transforms_as_usual(dtype):
    shape = (2, 3, 16, 9)  # (B, C, Ny, Nx // 2 + 1)
    work = fft.inverse_workspace(shape, dtype, "cpu")
    assert work.shape == shape and work.dtype == dtype and work.stride(-2) == 1
    usual = fft.inverse_workspace(shape, dtype, "cpu", "ducc0")  # ducc0 takes contiguous input
    assert usual.is_contiguous() and usual.shape == shape and usual.dtype == dtype
    for other in [(16, 9), (3, 16, 9)]:  # one field; fields without a batch axis
        w = fft.inverse_workspace(other, dtype, "cpu")
        assert w.shape == other and w.stride(-2) == 1 and w.stride(-1) == other[-2]
    assert fft.inverse_workspace((9,), dtype, "cpu").is_contiguous()
    # off the CPU (the meta device standing for a GPU) the usual layout, on that device
    meta = fft.inverse_workspace(shape, dtype, "meta")
    assert meta.device.type == "meta" and meta.is_contiguous() and meta.dtype == dtype
    with torch.device("meta"):  # the device asked for, whatever the default
        assert fft.inverse_workspace(shape, dtype, "cpu").device.type == "cpu"
    gen = torch.Generator().manual_seed(3)
    real = torch.randn((2, 3, 16, 16), generator=gen, dtype=torch.float64)
    u_hat = torch.fft.rfft2(real).to(dtype)
    work.copy_(u_hat)
    tol = 1e-13 if dtype == torch.complex128 else 1e-5
    back = fft.irfftn(work, (16, 16))
    assert back.is_contiguous()
    torch.testing.assert_close(back, fft.irfftn(u_hat, (16, 16)), rtol=tol, atol=tol)
    torch.testing.assert_close(back.double(), real, rtol=tol * 10, atol=tol * 10)


def test_times_into_writes_the_product_or_falls_back():
    gen = torch.Generator().manual_seed(0)
    symbol = torch.randn((1, 3, 8, 5), generator=gen, dtype=torch.complex128)
    u_hat = torch.randn((2, 1, 8, 5), generator=gen, dtype=torch.complex128)
    work = fft.inverse_workspace((2, 3, 8, 5), torch.complex128, "cpu")
    out = fft.times_into(work, symbol, u_hat)
    assert out.data_ptr() == work.data_ptr() and out.stride(-2) == 1
    # equal to round-off (a strided write may take another vector path: FMA or not)
    torch.testing.assert_close(out, symbol * u_hat, rtol=1e-15, atol=1e-15)
    # another batch, another dtype or an autograd graph: a fresh product, the same values
    one = fft.times_into(work, symbol, u_hat[:1])
    assert one.data_ptr() != work.data_ptr() and one.shape == (1, 3, 8, 5)
    torch.testing.assert_close(one, symbol * u_hat[:1], rtol=0, atol=0)
    low = fft.times_into(work, symbol.to(torch.complex64), u_hat.to(torch.complex64))
    assert low.dtype == torch.complex64 and low.data_ptr() != work.data_ptr()
    ug = u_hat.clone().requires_grad_(True)
    prod = fft.times_into(work, symbol, ug)
    assert prod.data_ptr() != work.data_ptr() and prod.requires_grad
    prod.real.sum().backward()
    # d/d(u) of sum Re(s u) over the channels: sum_c conj(s_c) as torch's convention gives
    expected = symbol.conj().sum(1, keepdim=True).expand(2, 1, 8, 5)
    torch.testing.assert_close(ug.grad, expected)


def test_navier_stokes_nonlinear_term_is_the_same_through_the_workspace_or_autograd():
    """The solver's nonlinear term through the workspace (no grad) equals the one under
    autograd (fresh products), call after call, and gradients flow through the latter."""
    pde = NavierStokes2D(16, viscosity=1e-2, forcing="none")
    system = pde.system(torch.device("cpu"), torch.float64, batch=2)
    w = pde.initial_condition("random", 2, torch.Generator().manual_seed(1))
    w_hat = pde.grid.rfft(w)
    plain = system.nonlinear(w_hat)
    other = system.nonlinear(2 * w_hat)  # the workspace is re-used: no stale state
    torch.testing.assert_close(system.nonlinear(w_hat), plain, rtol=0, atol=0)
    # quadratic in omega: N(2 w) = 4 N(w)
    torch.testing.assert_close(other, 4 * plain, rtol=1e-12, atol=1e-12)
    wg = w_hat.clone().requires_grad_(True)
    graded = system.nonlinear(wg)
    torch.testing.assert_close(graded.detach(), plain, rtol=1e-13, atol=1e-13)
    graded.abs().square().sum().backward()
    assert wg.grad is not None and torch.isfinite(wg.grad).all() and wg.grad.abs().sum() > 0
