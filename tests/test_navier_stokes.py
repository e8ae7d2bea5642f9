"""Navier-Stokes 2D: analytic solutions, invariants, batching and dtypes."""

import math

import pytest
import torch

from pdesurr.solvers import DivergenceError, NavierStokes2D, Stepper

# every test for the torch step and for what "auto" picks (compiled_vorticity.py's fused
# step for ETDRK4 on dealiased states)
pytestmark = pytest.mark.usefixtures("step_engine")


def test_taylor_green_decays_exactly():
    nu = 0.01
    pde = NavierStokes2D(resolution=32, viscosity=nu)
    u0 = pde.initial_condition("taylor_green", 2, wavenumber=2)
    stepper = Stepper(pde, "etdrk4", 0.1)
    traj = list(stepper.trajectory(u0, 10, 10))  # t = 0 .. 10
    for i, w in enumerate(traj):
        t = i * 10 * 0.1
        exact = u0 * math.exp(-2 * nu * 4 * t)
        # the advection of Taylor-Green is zero up to round-off: relative error ~ 1e-13
        assert (w - exact).abs().max() < 1e-12 * u0.abs().max(), t


def test_kolmogorov_laminar_flow_is_steady():
    # the laminar state is an exact steady solution: it must stay put to round-off
    pde = NavierStokes2D(
        resolution=32,
        viscosity=0.1,
        drag=0.1,
        forcing="kolmogorov",
        forcing_wavenumber=2,
        forcing_amplitude=0.5,
    )
    w0 = pde.initial_condition("laminar", 1)
    w = Stepper(pde, "etdrk4", 0.1).step(w0, 100)
    assert (w - w0).abs().max() < 1e-13 * w0.abs().max()
    u = pde.velocity(w0)[:, 0]
    y, x = pde.grid.meshgrid()
    expected = 0.5 * torch.sin(2 * y) / (0.1 * 4 + 0.1)  # u = A sin(k_f y) / (nu k_f^2 + alpha)
    assert torch.allclose(u[0], expected, atol=1e-13)


def test_small_perturbation_of_laminar_flow_decays_at_low_reynolds(gen):
    # Re = u_max / (nu k_f) ~ 0.24, well below Kolmogorov flow's instability threshold
    pde = NavierStokes2D(
        resolution=32,
        viscosity=0.5,
        drag=0.1,
        forcing="kolmogorov",
        forcing_wavenumber=2,
        forcing_amplitude=0.5,
    )
    w0 = pde.initial_condition("laminar", 1)
    noise = pde.initial_condition("random", 1, gen, energy=1e-4)
    w = Stepper(pde, "etdrk4", 0.1).step(w0 + noise, 200)
    assert (w - w0).norm() < 1e-3 * noise.norm()


@pytest.mark.parametrize("dt", [0.02, 0.01])
def test_inviscid_energy_and_enstrophy_conserved(gen, dt):
    # Galerkin truncation by the 2/3 rule conserves both exactly in the semi-discrete
    # system; what drifts is the O(dt^4) time-integration error of ETDRK4
    pde = NavierStokes2D(resolution=32, viscosity=0.0)
    w0 = pde.initial_condition("random", 1, gen, peak_wavenumber=3.0, energy=0.5)
    w = Stepper(pde, "etdrk4", dt).step(w0, round(1.0 / dt))
    inv0, inv1 = pde.invariants(w0), pde.invariants(w)
    for key in ("energy", "enstrophy"):
        rel = abs(float(inv1[key] / inv0[key]) - 1)
        assert rel < 2e-6 * (dt / 0.02) ** 4, (key, rel)


def test_energy_and_enstrophy_decay_with_viscosity(gen):
    pde = NavierStokes2D(resolution=32, viscosity=1e-2)
    w0 = pde.initial_condition("random", 1, gen)
    traj = list(Stepper(pde, "etdrk4", 0.02).trajectory(w0, 5, 10))
    for key in ("energy", "enstrophy"):
        vals = torch.stack([pde.invariants(w)[key][0] for w in traj])
        assert (vals.diff() < 0).all()


def test_velocity_is_divergence_free_and_curl_is_vorticity(gen):
    pde = NavierStokes2D(resolution=32, length="2pi")
    w = pde.initial_condition("random", 2, gen)
    vel = pde.velocity(w)
    ky, kx = pde.grid.wavenumbers()
    u_hat, v_hat = pde.grid.rfft(vel[:, 0]), pde.grid.rfft(vel[:, 1])
    div = pde.grid.irfft(1j * kx * u_hat + 1j * ky * v_hat)
    curl = pde.grid.irfft(1j * kx * v_hat - 1j * ky * u_hat)
    assert div.abs().max() < 1e-12
    # the random field has zero mean and no Nyquist content, so curl(u) recovers it exactly
    assert torch.allclose(curl, w[:, 0], atol=1e-12)


def test_random_initial_condition_properties(gen):
    pde = NavierStokes2D(resolution=64)
    w = pde.initial_condition("random", 3, gen, peak_wavenumber=5.0, energy=0.7)
    assert w.shape == (3, 1, 64, 64)
    assert torch.allclose(pde.invariants(w)["energy"], torch.full((3,), 0.7, dtype=torch.float64))
    assert w.mean((-2, -1)).abs().max() < 1e-12
    assert not torch.equal(w[0], w[1])
    k, E, labels = pde.energy_spectrum(w)
    assert int(E[0, 0].argmax()) in (4, 5, 6)  # E(k) ~ k^4 exp(-2 (k/5)^2) peaks at 5


def test_batch_members_independent_with_per_sample_viscosity(gen):
    nus = [1e-3, 5e-3, 2e-2]
    w0 = NavierStokes2D(resolution=32).initial_condition("random", 3, gen)
    batched = Stepper(NavierStokes2D(resolution=32, viscosity=nus), "etdrk4", 0.02).step(w0, 20)
    for i, nu in enumerate(nus):
        single = Stepper(NavierStokes2D(resolution=32, viscosity=nu), "etdrk4", 0.02).step(
            w0[i : i + 1], 20
        )
        assert torch.allclose(batched[i : i + 1], single, atol=1e-13, rtol=0)


def test_float32_follows_input_and_stays_close_to_float64(gen):
    pde = NavierStokes2D(resolution=32, viscosity=1e-2, forcing="kolmogorov", drag=0.1)
    w0 = pde.initial_condition("random", 2, gen)
    stepper = Stepper(pde, "etdrk4", 0.02)
    w64 = stepper.step(w0, 50)
    w32 = stepper.step(w0.float(), 50)
    assert w32.dtype == torch.float32
    # single precision: relative error a few 1e-6 after 50 steps
    assert (w32.double() - w64).norm() / w64.norm() < 1e-5


def test_divergence_reports_step_and_time(gen):
    pde = NavierStokes2D(resolution=32, viscosity=1e-3)
    w0 = pde.initial_condition("random", 2, gen, energy=50.0)
    stepper = Stepper(pde, "rk4", 1.0)  # far past the explicit stability limit
    with pytest.raises(DivergenceError) as info:
        for _ in stepper.trajectory(w0, 100, 1):
            pass
    err = info.value
    assert err.step > 0 and err.time == pytest.approx(err.step * 1.0)
    assert "step" in str(err) and "t =" in str(err)
    assert err.members == [0, 1]


def test_divergence_masking_keeps_other_members(gen):
    pde = NavierStokes2D(resolution=32, viscosity=1e-3)
    w0 = pde.initial_condition("random", 2, gen)
    w0[1] *= 1e3  # member 1 is violently unstable at this dt, member 0 is not
    stepper = Stepper(pde, "rk4", 0.05)
    diverged = {}
    traj = list(stepper.trajectory(w0, 20, 5, on_divergence="mask", diverged=diverged))
    assert 1 in diverged and 0 not in diverged
    assert torch.isfinite(traj[-1]).all()
    ref = Stepper(pde, "rk4", 0.05).step(w0[:1], 100)
    assert torch.allclose(traj[-1][:1], ref, atol=1e-12)


def test_bad_state_shape_is_reported():
    pde = NavierStokes2D(resolution=32)
    with pytest.raises(ValueError, match=r"\(B, 1, 32, 32\)"):
        Stepper(pde, "etdrk4", 0.1).step(torch.zeros(1, 32, 32, dtype=torch.float64))


@pytest.mark.parametrize(
    "kwargs,key",
    [
        ({"resolution": 33}, "resolution"),
        ({"viscosity": -1.0}, "viscosity"),
        ({"drag": -0.1}, "drag"),
        ({"forcing": "gravity"}, "forcing"),
        ({"length": 0.0}, "length"),
    ],
)
def test_impossible_parameters_name_the_key(kwargs, key):
    with pytest.raises(ValueError, match=key):
        NavierStokes2D(**kwargs)


def test_without_dealiasing_taylor_green_is_still_exact():
    pde = NavierStokes2D(resolution=32, viscosity=0.01, dealias=False)
    w0 = pde.initial_condition("taylor_green", 1)
    # the advection of a single Taylor-Green mode is zero with or without the 2/3 rule
    w = Stepper(pde, "etdrk4", 0.1).step(w0, 10)
    assert (w - w0 * math.exp(-2 * 0.01 * 1.0)).abs().max() < 1e-13
