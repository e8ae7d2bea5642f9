"""The FFT backends agree with each other and with the DFT's definition."""

import math

import pytest
import torch

from pdesurr.spectral import Grid
from pdesurr.spectral import fft as fft_mod

pytest.importorskip("ducc0")


@pytest.mark.parametrize("shape", [(3, 1, 32), (2, 3, 16, 24)])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_ducc0_matches_torch_and_the_definition(shape, dtype):
    gen = torch.Generator().manual_seed(0)
    u = torch.randn(shape, generator=gen, dtype=dtype)
    ndim = len(shape) - 2
    a = fft_mod.rfftn(u, ndim, "torch")
    b = fft_mod.rfftn(u, ndim, "ducc0")
    # round-off of an O(N log N) transform: ~1e-15 (f64) / 1e-6 (f32) relative
    tol = 1e-12 if dtype == torch.float64 else 1e-4
    assert b.dtype == a.dtype and torch.allclose(a, b, rtol=tol, atol=tol * u.abs().max())
    # the definition, mode (0, 1) on the last axis: sum_j u_j exp(-2 pi i j / N)
    n = shape[-1]
    phase = torch.exp(-2j * math.pi * torch.arange(n, dtype=torch.float64) / n)
    direct = (u.double() * phase).sum(-1)
    if ndim == 2:
        direct = direct.sum(-1)
    assert torch.allclose(
        b[..., 0, 1] if ndim == 2 else b[..., 1], direct.to(b.dtype), atol=tol * 50
    )
    back = fft_mod.irfftn(b, shape[-ndim:], "ducc0")
    assert torch.allclose(back, u, atol=tol * 10)


def test_gradients_and_odd_shapes_fall_back_to_torch():
    u = torch.randn(2, 1, 16, dtype=torch.float64, requires_grad=True)
    out = fft_mod.irfftn(fft_mod.rfftn(u, 1, "ducc0") * 2, (16,), "ducc0")
    out.sum().backward()  # would fail if ducc0 (no autograd) had been used
    assert torch.allclose(u.grad, torch.full_like(u, 2.0))
    spec = torch.randn(1, 1, 5, dtype=torch.complex128)  # not N // 2 + 1 modes of N = 16
    assert fft_mod.irfftn(spec, (16,), "ducc0").shape == (1, 1, 16)


def test_grid_backend_is_checked_and_not_part_of_identity():
    with pytest.raises(ValueError, match="unknown FFT backend 'fftw'"):
        Grid((16,), (1.0,), fft_backend="fftw")
    assert Grid((16,), (1.0,), fft_backend="ducc0") == Grid((16,), (1.0,))


@pytest.mark.parametrize(
    "vendor, two_d", [("AuthenticAMD", "ducc0"), ("GenuineIntel", "torch"), ("", "torch")]
)
def test_auto_takes_ducc0_for_2d_off_intel_cpus_only(monkeypatch, vendor, two_d):
    monkeypatch.setattr(fft_mod, "cpu_vendor", lambda: vendor)
    assert fft_mod.resolve("auto", 2) == two_d
    assert fft_mod.resolve("auto", 1) == "torch"  # 1D: ducc0 was no faster
    assert fft_mod.resolve("torch", 2) == "torch" and fft_mod.resolve("ducc0", 1) == "ducc0"
    monkeypatch.setattr(fft_mod, "ducc0", None)
    assert fft_mod.resolve("auto", 2) == "torch"  # not installed


def test_the_grid_default_is_auto_and_agrees_with_torch(monkeypatch):
    from pdesurr.solvers import NavierStokes2D, Stepper

    monkeypatch.setattr(fft_mod, "cpu_vendor", lambda: "AuthenticAMD")
    pde = NavierStokes2D(32, viscosity=1e-3)
    assert pde.grid.fft_backend == "auto"
    u0 = pde.initial_condition("random", 2, torch.Generator().manual_seed(1))
    # the NS work array takes the layout of the backend auto resolves to (contiguous here)
    work = fft_mod.inverse_workspace((2, 3, 32, 17), torch.complex128, "cpu", "auto")
    assert work.is_contiguous()
    auto = Stepper(pde, "etdrk4", 0.01).step(u0, 50)
    monkeypatch.setattr(fft_mod, "cpu_vendor", lambda: "GenuineIntel")
    assert not fft_mod.inverse_workspace((2, 3, 32, 17), torch.complex128, "cpu").is_contiguous()
    plain = Stepper(pde, "etdrk4", 0.01).step(u0, 50)
    assert float((auto - plain).abs().max()) < 1e-12 * float(plain.abs().max())
