"""Kuramoto-Sivashinsky with 2/3 dealiasing ON (the path every dataset uses), checked
against an independent NumPy solver whose products are computed exactly by zero padding.

With the state inside the 2/3 mask (``|n| <= (N - 1) // 3``), the dealiased
pseudo-spectral term ``-1/2 i k (u^2)_hat`` equals the exact (alias-free) product
truncated to the mask, and the state stays inside the mask (the linear part is diagonal).
So a solver that never aliases, here a NumPy integrating-factor RK4 on the kept modes
with ``u^2`` evaluated on ``M >= 3 K + 1`` points, follows the same trajectory.
"""

import math

import numpy as np
import pytest
import torch

from pdesurr.solvers import KuramotoSivashinsky, Stepper


def exact_nonlinear(u_hat_kept: np.ndarray, length: float) -> np.ndarray:
    """``-1/2 i k (u^2)_hat`` on the modes ``0..K`` of ``u_hat_kept`` (unnormalised on
    ``N``-point grids is avoided: coefficients here are Fourier amplitudes ``c_n`` with
    ``u = sum c_n e^{i k_n x}``), computed by a direct convolution of the amplitudes."""
    kmax = len(u_hat_kept) - 1
    full = np.concatenate([np.conj(u_hat_kept[:0:-1]), u_hat_kept])  # n = -K..K
    square = np.convolve(full, full)  # n = -2K..2K, exact
    kept = square[2 * kmax : 3 * kmax + 1]  # n = 0..K
    k = 2 * math.pi * np.arange(kmax + 1) / length
    return -0.5j * k * kept


def numpy_ifrk4(c0: np.ndarray, length: float, dt: float, n_steps: int) -> np.ndarray:
    """Integrating-factor RK4 on amplitudes ``c_n`` (``n = 0..K``): exact linear part
    ``exp((k^2 - k^4) t)``, RK4 on the (exact) nonlinear term."""
    k = 2 * math.pi * np.arange(len(c0)) / length
    lin = k**2 - k**4
    e_half, e_full = np.exp(lin * dt / 2), np.exp(lin * dt)
    c = c0.astype(complex)
    for _ in range(n_steps):
        a = dt * exact_nonlinear(c, length)
        b = dt * exact_nonlinear(e_half * (c + a / 2), length)
        cc = dt * exact_nonlinear(e_half * c + b / 2, length)
        d = dt * exact_nonlinear(e_full * c + e_half * cc, length)
        c = e_full * c + (e_full * a + 2 * e_half * (b + cc) + d) / 6
    return c


def _band_limited_state(n_points, kmax, seed, amp=0.6):
    rng = np.random.default_rng(seed)
    c = np.zeros(n_points // 2 + 1, complex)
    c[1 : kmax + 1] = amp * (rng.normal(size=kmax) + 1j * rng.normal(size=kmax)) / kmax
    return c  # amplitudes c_n, zero mean


def _field(c, n_points):
    return np.fft.irfft(c * n_points, n=n_points)


@pytest.mark.parametrize("n_points,length", [(32, 22.0), (48, 30.0)])
def test_dealiased_nonlinear_term_is_the_exact_truncated_product(n_points, length):
    kmax = (n_points - 1) // 3
    pde = KuramotoSivashinsky(resolution=n_points, length=length)  # dealias defaults on
    assert pde.dealias
    system = pde.system("cpu", torch.float64, 1)
    # a state filling every mode up to the mask edge: products reach 2 K > N / 2 and alias
    # without the mask
    c = _band_limited_state(n_points, kmax, seed=n_points, amp=2.0)
    u_hat = torch.as_tensor(c * n_points).reshape(1, 1, -1)
    got = system.nonlinear(u_hat)[0, 0].numpy() / n_points
    want = exact_nonlinear(c[: kmax + 1], length)
    scale = np.abs(want).max()
    # float64 FFT round-off ~1e-15 of the largest term
    np.testing.assert_allclose(got[: kmax + 1], want, rtol=0, atol=1e-12 * scale)
    assert np.abs(got[kmax + 1 :]).max() < 1e-12 * scale  # nothing outside the mask
    # without dealiasing the product's modes K+1..2K fold back onto the grid's modes above
    # K: the check above can tell the two apart
    raw = KuramotoSivashinsky(resolution=n_points, length=length, dealias=False)
    aliased = raw.system("cpu", torch.float64, 1).nonlinear(u_hat)[0, 0].numpy() / n_points
    assert np.abs(aliased[kmax + 1 :]).max() > 1e-2 * scale


def test_dealiased_trajectory_matches_an_alias_free_numpy_solver():
    n_points, length, kmax = 32, 22.0, 10
    c0 = _band_limited_state(n_points, kmax, seed=7, amp=1.5)
    u0 = torch.as_tensor(_field(c0, n_points)).reshape(1, 1, -1)
    t_end, dt = 4.0, 0.005
    n = round(t_end / dt)
    ref_c = numpy_ifrk4(c0[: kmax + 1], length, dt / 4, 4 * n)
    ref = _field(np.concatenate([ref_c, np.zeros(n_points // 2 - kmax, complex)]), n_points)
    pde = KuramotoSivashinsky(resolution=n_points, length=length)
    ours = Stepper(pde, "etdrk4", dt).step(u0, n)[0, 0].numpy()
    rel = np.linalg.norm(ours - ref) / np.linalg.norm(ref)
    # both fourth order: ETDRK4 at dt = 0.005 is 6e-8 from the reference (16x less than at
    # 0.01, as 4th order says), the reference at dt / 4 another 1e-9
    assert rel < 3e-7, rel
    assert np.linalg.norm(ref) > 0.3 * np.linalg.norm(_field(c0, n_points))  # not decayed
    # the state never leaves the mask (the linear part does not couple modes)
    assert np.abs(np.fft.rfft(ours)[kmax + 1 :]).max() < 1e-10 * np.abs(np.fft.rfft(ours)).max()
    # the un-dealiased solver follows a different trajectory from the same state
    raw = KuramotoSivashinsky(resolution=n_points, length=length, dealias=False)
    other = Stepper(raw, "etdrk4", dt).step(u0, n)[0, 0].numpy()
    assert np.linalg.norm(other - ref) / np.linalg.norm(ref) > 30 * 3e-7


def test_dealias_mask_keeps_a_third_of_the_modes():
    # Orszag: keep |n| <= (N - 1) // 3, i.e. N > 3 max|n|
    for n_points in (32, 48, 64, 256):
        pde = KuramotoSivashinsky(resolution=n_points, length=50.0)
        system = pde.system("cpu", torch.float64, 1)
        u_hat = torch.zeros(1, 1, n_points // 2 + 1, dtype=torch.complex128)
        u_hat[..., 1 : n_points // 2] = 1.0  # every mode but the mean and Nyquist
        out = system.nonlinear(u_hat)[0, 0]
        nonzero = (out.abs() > 1e-9 * out.abs().max()).nonzero().flatten()
        assert int(nonzero.max()) == (n_points - 1) // 3, n_points
