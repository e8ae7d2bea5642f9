"""The solvers the PINN problems use: Allen-Cahn, viscous Burgers, linear convection."""

import math

import pytest
import torch

from pdesurr.config import SolverConfig
from pdesurr.solvers import AllenCahn, Burgers, Convection, Stepper


def fitted_order(errors, dts):
    logs = [math.log(e) for e in errors]
    return (logs[0] - logs[-1]) / (math.log(dts[0]) - math.log(dts[-1]))


def test_convection_is_exact_for_any_step():
    c = 50.0
    pde = Convection(resolution=64, velocity=c)
    u0 = pde.initial_condition("sine", 1, mode=3)
    x = pde.x()
    for dt in (0.1, 0.013):
        n = round(1.0 / dt)
        u = Stepper(pde, "etdrk4", dt).step(u0, n)
        exact = torch.sin(3 * (x - c * n * dt))
        # e^{L dt} per mode is exact; round-off of exp(-i c k t) with c k t ~ 150
        assert float((u[0, 0] - exact).abs().max()) < 1e-11, dt


def test_convection_diffusion_decays_each_mode():
    pde = Convection(resolution=32, velocity=2.0, viscosity=0.1)
    u0 = pde.initial_condition("sine", 1, mode=2)
    u = Stepper(pde, "etdrk1", 0.5).step(u0, 2)
    exact = math.exp(-0.1 * 4 * 1.0) * torch.sin(2 * (pde.x() - 2.0))
    assert float((u[0, 0] - exact).abs().max()) < 1e-13  # linear: exact to round-off


def cole_hopf(x, t, nu, offset=2.0):
    # phi = offset + cos(x) e^{-nu t} solves the heat equation; u = -2 nu phi_x / phi
    d = math.exp(-nu * t)
    return 2 * nu * torch.sin(x) * d / (offset + torch.cos(x) * d)


@pytest.mark.parametrize("engine", ["torch", "numba"])  # numba: the compiled ETDRK4 loop
def test_burgers_matches_cole_hopf_with_fourth_order_in_time(engine):
    if engine == "numba":
        pytest.importorskip("numba")
        pytest.importorskip("rocket_fft")
    nu = 0.5
    pde = Burgers(resolution=64, viscosity=nu)
    u0 = pde.initial_condition("cole_hopf", 1)
    assert torch.allclose(u0[0, 0], cole_hopf(pde.x(), 0.0, nu), atol=1e-15)
    exact = cole_hopf(pde.x(), 1.0, nu)
    dts, errors = [0.2, 0.1, 0.05], []
    for dt in dts:
        stepper = Stepper(pde, "etdrk4", dt, engine=engine)
        assert stepper.engine_for(u0) == engine
        u = stepper.step(u0, round(1.0 / dt))
        errors.append(float((u[0, 0] - exact).abs().max()))
    # ETDRK4 is fourth order; spatial error ~ 0.27^21 ~ 1e-12 is far below these
    assert 3.5 < fitted_order(errors, dts) < 4.6, errors
    assert errors[-1] < 1e-7


def test_burgers_mean_conserved_and_energy_dissipated():
    pde = Burgers(resolution=128, viscosity=0.05)
    u0 = pde.initial_condition("sine", 1) + 0.2
    stepper = Stepper(pde, "etdrk4", 0.01)
    inv0 = pde.invariants(u0)
    u = stepper.step(u0, 100)
    inv = pde.invariants(u)
    assert abs(float(inv["mean"] - inv0["mean"])) < 1e-13  # k = 0 untouched by L and N
    assert float(inv["energy"]) < float(inv0["energy"])


@pytest.mark.parametrize("value", [-1.0, 0.0, 1.0])
def test_allen_cahn_constant_states_are_steady(value):
    pde = AllenCahn(resolution=32)
    u0 = pde.initial_condition("constant", 1, value=value)
    u = Stepper(pde, "etdrk4", 0.05).step(u0, 20)
    assert float((u - value).abs().max()) < 1e-13  # r (u - u^3) = 0 exactly


def test_allen_cahn_without_reaction_is_the_heat_equation():
    pde = AllenCahn(resolution=32, diffusion=0.01, reaction=0.0)
    u0 = pde.initial_condition("sine", 1, mode=2)
    u = Stepper(pde, "etdrk4", 0.1).step(u0, 10)
    k = 2 * math.pi * 2 / 2.0
    exact = math.exp(-0.01 * k * k) * torch.sin(k * (pde.x() + 1.0))
    assert float((u[0, 0] - exact).abs().max()) < 1e-13


def test_allen_cahn_fourth_order_and_spatially_converged_preset():
    # the benchmark initial condition to t = 0.2 against a fine-step run
    pde = AllenCahn(resolution=256)
    u0 = pde.initial_condition("cosine_square", 1)
    ref = Stepper(pde, "etdrk4", 1 / 1600).step(u0, 320)
    dts, errors = [1 / 25, 1 / 50, 1 / 100], []
    for dt in dts:
        u = Stepper(pde, "etdrk4", dt).step(u0, round(0.2 / dt))
        errors.append(float((u - ref).abs().max()))
    assert 3.5 < fitted_order(errors, dts) < 4.8, errors
    # the preset (N = 512, dt = 1e-4) is converged in space to 1e-3 at t = 1 vs N = 1024
    cfg = SolverConfig.load("allen_cahn_pinn")
    n = cfg.n_steps()
    coarse = cfg.build_stepper().step(cfg.initial_state(), n)
    fine_pde = AllenCahn(resolution=1024)
    fine = Stepper(fine_pde, "etdrk4", 1e-4).step(fine_pde.initial_condition("cosine_square", 1), n)
    rel = float((coarse[0, 0] - fine[0, 0, ::2]).norm() / fine[0, 0, ::2].norm())
    assert rel < 1e-3, rel


def test_allen_cahn_free_energy_decreases():
    pde = AllenCahn(resolution=256)
    u = pde.initial_condition("cosine_square", 1)
    stepper, last = Stepper(pde, "etdrk4", 1e-3), float("inf")
    for _ in range(5):
        u = stepper.step(u, 50)
        f = float(pde.invariants(u)["free_energy"])
        assert f <= last + 1e-12
        last = f
