"""Each integrator's fitted convergence order matches the order it declares."""

import math

import pytest
import torch

from pdesurr.solvers import INTEGRATORS, NavierStokes2D, Stepper


@pytest.fixture(scope="module")
def problem():
    # forced, damped NS on 16^2: nonlinear, non-stiff enough for explicit RK4/AB3 at these dt
    pde = NavierStokes2D(
        resolution=16, viscosity=0.02, drag=0.1, forcing="kolmogorov", forcing_wavenumber=2
    )
    u0 = pde.initial_condition("random", 1, torch.Generator().manual_seed(0), peak_wavenumber=3.0)
    ref = Stepper(pde, "etdrk4", 1 / 2048).step(u0, 2048)  # error ~1e-12, far below the others
    return pde, u0, ref


def observed_order(problem, name, **options):
    pde, u0, ref = problem
    errors = []
    for n in (64, 128, 256):
        out = Stepper(pde, name, 1.0 / n, **options).step(u0, n)
        errors.append(float((out - ref).norm() / ref.norm()))
    return math.log2(errors[-2] / errors[-1]), errors


@pytest.mark.parametrize("name", sorted(INTEGRATORS))
def test_declared_order(problem, name):
    order, errors = observed_order(problem, name, **({"startup": "rk4"} if name == "ab3" else {}))
    # asymptotic regime reached: the ratio of the last halving is within 0.15 of 2^p
    assert abs(order - INTEGRATORS[name].order) < 0.15, (order, errors)


def test_ab3_pyqg_startup_is_second_order_globally(problem):
    # pyqg's Euler/AB2 start-up: a one-off O(h^2) local error dominates the global error
    order, errors = observed_order(problem, "ab3", startup="euler")
    assert abs(order - 2) < 0.15, (order, errors)


def test_linear_problem_is_exact_for_exponential_integrators():
    # ETD integrates L exactly: Taylor-Green (N = 0 analytically) to round-off at any dt
    pde = NavierStokes2D(resolution=32, viscosity=0.05, drag=0.2)
    u0 = pde.initial_condition("taylor_green", 1, wavenumber=3)
    exact = u0 * math.exp(-(2 * 0.05 * 9 + 0.2) * 2.0)
    for name in ("etdrk1", "etdrk2", "etdrk4"):
        out = Stepper(pde, name, 0.5).step(u0, 4)
        assert (out - exact).abs().max() < 1e-13 * u0.abs().max()


def test_unknown_integrator_and_bad_dt():
    pde = NavierStokes2D(resolution=16)
    with pytest.raises(ValueError, match="unknown integrator"):
        Stepper(pde, "euler", 0.1)
    for dt in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="dt"):
            Stepper(pde, "etdrk4", dt)
