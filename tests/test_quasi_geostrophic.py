"""Two-layer QG: Phillips instability growth rates, and pyqg's algorithm step for step."""

import math

import numpy as np
import pytest
import torch

from pdesurr.solvers import QuasiGeostrophic, Stepper

# every test for the torch step and for what "auto" picks (compiled_layers.py's fused AB3)
pytestmark = pytest.mark.usefixtures("step_engine")


@pytest.mark.parametrize("mode", [(2, 0), (4, 0), (6, 2), (3, 3), (10, 0)])
def test_baroclinic_growth_rate_matches_linear_theory(mode):
    # a single Fourier mode has J(psi, q) = 0, so its evolution is exactly linear: the
    # measured growth rate equals the eigenvalue of the 2x2 dispersion matrix (AB3 error
    # (sigma dt)^3 ~ 1e-7 relative); stable modes (mode 2) decay at their rate
    pde = QuasiGeostrophic()
    mx, my = mode
    q0 = pde.initial_condition("baroclinic_mode", 1, mode_x=mx, mode_y=my)
    n = 400
    traj = list(Stepper(pde, "ab3", 7200.0, startup="rk4").trajectory(q0, 2, n))
    amp = [float(pde.grid.rfft(q)[0, 0].abs().max()) for q in traj]
    measured = math.log(amp[2] / amp[1]) / (n * 7200.0)
    k, l = 2 * math.pi * mx / pde.L, 2 * math.pi * my / pde.W
    expected = float(torch.linalg.eigvals(pde.linear_matrix(k, l)).real.max())
    assert measured == pytest.approx(expected, rel=1e-5)


def test_no_shear_no_drag_is_neutral():
    pde = QuasiGeostrophic(U1=0.0, U2=0.0, rek=0.0)
    ev = torch.linalg.eigvals(pde.linear_matrix(2 * math.pi * 4 / pde.L, 0.0))
    assert ev.real.abs().max() < 1e-20  # Rossby waves: purely imaginary eigenvalues


def test_filter_is_pyqgs():
    pde = QuasiGeostrophic(nx=64)
    filt = pde.filter()
    assert filt[0, 0] == 1 and filt.max() == 1
    # at the x-Nyquist column kappa* = pi: exp(-23.6 (0.35 pi)^4)
    assert float(filt[0, -1]) == pytest.approx(math.exp(-23.6 * (0.35 * math.pi) ** 4))


def pyqg_reference(q, nsteps, p):
    """pyqg 0.7's QGModel time loop, transcribed in NumPy from its documented algorithm:
    invert, advect in flux form with the mean flow, Ekman drag, AB3 (Euler, AB2 start-up),
    filter."""
    ny, nx = q.shape[-2:]
    dx, dy = p.L / nx, p.W / ny
    # pyqg's derived parameters from the raw ones, not from the object under test
    f1 = 1.0 / (p.rd**2 * (1.0 + p.delta))
    f2 = p.delta * f1
    qy = (p.beta + f1 * (p.U1 - p.U2), p.beta - f2 * (p.U1 - p.U2))
    k = 2 * np.pi / p.L * np.arange(nx // 2 + 1)
    l = 2 * np.pi / p.W * np.fft.fftfreq(ny, 1 / ny)
    kk, ll = np.meshgrid(k, l)
    wv2 = kk**2 + ll**2
    with np.errstate(divide="ignore"):
        det_inv = np.where(wv2 == 0, 0.0, 1.0 / (wv2 * (wv2 + f1 + f2)))
    a = np.array([[-(wv2 + f2) * det_inv, -f1 * det_inv], [-f2 * det_inv, -(wv2 + f1) * det_inv]])
    ikqy = 1j * kk[None] * np.array(qy)[:, None, None]
    wvx = np.sqrt((kk * dx) ** 2 + (ll * dy) ** 2)
    filtr = np.where(wvx <= 0.65 * np.pi, 1.0, np.exp(-p.filterfac * (wvx - 0.65 * np.pi) ** 4))
    ubg = np.array([p.U1, p.U2])[:, None, None]
    qh = np.fft.rfftn(q, axes=(-2, -1))
    dq_p = dq_pp = np.zeros_like(qh)
    for step in range(nsteps):
        ph = np.einsum("ijyx,jyx->iyx", a, qh)
        u = np.fft.irfftn(-1j * ll * ph, axes=(-2, -1))
        v = np.fft.irfftn(1j * kk * ph, axes=(-2, -1))
        qq = np.fft.irfftn(qh, axes=(-2, -1))
        uqh = np.fft.rfftn((u + ubg) * qq, axes=(-2, -1))
        vqh = np.fft.rfftn(v * qq, axes=(-2, -1))
        dq = -(1j * kk * uqh + 1j * ll * vqh + ikqy * ph)
        dq[-1] += p.rek * wv2 * ph[-1]
        if step == 0:
            c = (1.0, 0.0, 0.0)
        elif step == 1:
            c = (1.5, -0.5, 0.0)
        else:
            c = (23 / 12, -16 / 12, 5 / 12)
        qh = filtr * (qh + p_dt * (c[0] * dq + c[1] * dq_p + c[2] * dq_pp))
        dq_pp, dq_p = dq_p, dq
    return np.fft.irfftn(qh, axes=(-2, -1))


p_dt = 7200.0


def test_reproduces_pyqg_algorithm_step_for_step(gen):
    pde = QuasiGeostrophic(nx=32)
    q0 = pde.initial_condition("pyqg_default", 1, gen)
    # strengthen the initial PV so that the 1500 steps (125 days) reach the nonlinear regime
    q0 = q0 * 200
    ours = Stepper(pde, "ab3", p_dt, startup="euler").step(q0, 1500)
    ref = pyqg_reference(q0[0].numpy(), 1500, pde)
    rel = np.linalg.norm(ours[0].numpy() - ref) / np.linalg.norm(ref)
    # same algorithm in float64: FFT round-off (1e-16) amplified by the unstable flow
    assert rel < 1e-9, rel
    # and the run is in the nonlinear regime: advection dominates the linear tendency
    system = pde.system("cpu", torch.float64, 1)
    qh = pde.grid.rfft(ours)
    linear_part = system.nonlinear(1e-8 * qh) / 1e-8
    assert (system.nonlinear(qh) - linear_part).norm() > linear_part.norm()


def test_streamfunction_inverts_pv(gen):
    pde = QuasiGeostrophic(nx=32)
    q = pde.initial_condition("pyqg_default", 2, gen)
    q = q - q.mean((-2, -1), keepdim=True)
    psi = pde.streamfunction(q)
    ky, kx = pde.grid.wavenumbers()
    lap = pde.grid.irfft(-(kx**2 + ky**2) * pde.grid.rfft(psi))
    q1 = lap[:, 0] + pde.F1 * (psi[:, 1] - psi[:, 0])
    q2 = lap[:, 1] + pde.F2 * (psi[:, 0] - psi[:, 1])
    assert torch.allclose(torch.stack([q1, q2], 1), q, atol=1e-12 * float(q.abs().max()))


def test_default_run_is_finite_and_float32_works(gen):
    pde = QuasiGeostrophic(nx=32)
    q0 = pde.initial_condition("pyqg_default", 1, gen)
    stepper = Stepper(pde, "ab3", p_dt)
    q64 = stepper.step(q0, 200)
    q32 = stepper.step(q0.float(), 200)
    assert q32.dtype == torch.float32 and torch.isfinite(q32).all()
    assert (q32.double() - q64).norm() / q64.norm() < 1e-4
    inv = pde.invariants(q64)
    assert set(inv) >= {"kinetic_energy_1", "kinetic_energy_2", "potential_energy"}


@pytest.mark.parametrize(
    "kwargs,key", [({"nx": 63}, "nx"), ({"rd": -1.0}, "rd"), ({"rek": -1e-7}, "rek")]
)
def test_bad_parameters_name_the_key(kwargs, key):
    with pytest.raises(ValueError, match=key):
        QuasiGeostrophic(**kwargs)


def test_gradients_through_the_solver_match_finite_differences(gen):
    # autograd through AB3 and the QG tendency (the in-place step and the work arrays are
    # bypassed under autograd): <grad f, v> against a central difference of f
    pde = QuasiGeostrophic(nx=16)
    q = 1e-6 * torch.randn(1, 2, 16, 16, generator=gen, dtype=torch.float64)
    v = 1e-6 * torch.randn(1, 2, 16, 16, generator=gen, dtype=torch.float64)
    stepper = Stepper(pde, "ab3", 7200.0)

    def f(x):
        return (stepper.step(x, 8) ** 2).sum()

    x = q.clone().requires_grad_(True)
    f(x).backward()
    eps = 1e-3
    with torch.no_grad():
        fd = (f(q + eps * v) - f(q - eps * v)) / (2 * eps)
    assert float((x.grad * v).sum()) == pytest.approx(float(fd), rel=1e-6)
