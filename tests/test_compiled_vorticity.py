"""The fused ETDRK4 step of 2D vorticity advection (compiled_vorticity.py) against the torch
step (itself checked by hand in test_mutants_solvers.py and against analytic flows in
test_navier_stokes.py), by hand, and its selection rules."""

import math

import pytest
import torch

from pdesurr.solvers import DivergenceError, NavierStokes2D, Stepper
from pdesurr.solvers.integrators import compiled_vorticity as cv

pytest.importorskip("numba")
pytest.importorskip("ducc0")


def turbulent(n=64, batch=2, dtype=torch.float64, seed=0, **kw):
    kw = {"viscosity": 1e-3, "drag": 0.1, **kw}
    pde = NavierStokes2D(n, **kw)
    u0 = pde.initial_condition("random", batch, torch.Generator().manual_seed(seed), energy=0.5)
    return pde, u0.to(dtype)


def pair(pde, dt, **kw):
    return (Stepper(pde, "etdrk4", dt, engine=e, **kw) for e in ("torch", "numba"))


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"forcing": "kolmogorov", "forcing_amplitude": [1.0, 0.5]},
        {"viscosity": [1e-3, 5e-3], "drag": [0.0, 0.2]},
    ],
)
def test_trajectories_equal_the_torch_step_to_round_off(kw):
    pde, u0 = turbulent(**kw)
    dt = 0.5 * (2 * math.pi / 64) / 7
    torch_step, fused = pair(pde, dt)
    assert fused.engine_for(u0) == "numba" and fused.engine_details(u0) == "numba fused NS"
    a = list(torch_step.trajectory(u0, 4, 100))
    b = list(fused.trajectory(u0, 4, 100))
    for x, y in zip(a[1:], b[1:], strict=True):
        # 400 steps of a turbulent flow: round-off grows but stays far below any bug
        assert float((x - y).abs().max()) < 1e-11 * float(x.abs().max())
    assert float((a[-1] - u0).abs().max()) > 0.1 * float(u0.abs().max())  # it moved


def test_a_rectangular_batch_of_odd_size_and_float32():
    pde, u0 = turbulent(n=48, batch=3, dtype=torch.float32)
    torch_step, fused = pair(pde, 0.02)
    a, b = torch_step.step(u0, 50), fused.step(u0, 50)
    assert b.dtype == torch.float32
    assert float((a - b).abs().max()) < 5e-5 * float(a.abs().max())


def test_one_step_by_hand_is_the_advection():
    # nu = alpha = 0: L = 0 and ETDRK4 is RK4, so (w(h) - w0) / h = N(w0) + O(h). For
    # psi = a sin x + b cos 2y: w = a sin x + 4b cos 2y, u = psi_y = -2b sin 2y,
    # v = -psi_x = -a cos x, and -(u . grad w) = -6ab cos x sin 2y
    a, b, h = 0.7, -0.4, 1e-5
    pde = NavierStokes2D(16, viscosity=0.0)
    y, x = pde.grid.meshgrid()
    w0 = (a * torch.sin(x) + 4 * b * torch.cos(2 * y)).reshape(1, 1, 16, 16)
    stepper = Stepper(pde, "etdrk4", h, engine="numba")
    rate = (stepper.step(w0, 1) - w0) / h
    want = -6 * a * b * torch.cos(x) * torch.sin(2 * y)
    assert float((rate[0, 0] - want).abs().max()) < 1e-4  # O(h), |want| ~ 1.7


def test_taylor_green_decays_exactly():
    nu = 0.01
    pde = NavierStokes2D(32, viscosity=nu)
    u0 = pde.initial_condition("taylor_green", 1, wavenumber=3)
    w = Stepper(pde, "etdrk4", 0.1, engine="numba").step(u0, 100)
    exact = u0 * math.exp(-2 * nu * 9 * 10.0)
    assert float((w - exact).abs().max()) < 1e-12 * float(u0.abs().max())


def test_modes_outside_the_mask_stay_zero():
    pde, u0 = turbulent(n=32, batch=1)
    stepper = Stepper(pde, "etdrk4", 0.02, engine="numba")
    u_hat = pde.grid.rfft(u0)
    prepared = stepper._prepared(u0)
    out = prepared[2](u_hat, 10)
    form = pde.system("cpu", torch.float64, 1).advection
    assert cv._outside(out, form) == 0.0
    assert float(out.abs().max()) > 0


def test_a_state_with_modes_outside_the_mask_takes_the_torch_step():
    pde, u0 = turbulent(n=32, batch=1)
    y, x = pde.grid.meshgrid()
    rough = u0 + 1e-3 * torch.cos(14 * x)  # mode 14 > (32 - 1) // 3
    auto = Stepper(pde, "etdrk4", 0.02)
    assert auto.engine_for(u0) == "numba" and auto.engine_for(rough) == "torch"
    a = auto.step(rough, 20)
    b = Stepper(pde, "etdrk4", 0.02, engine="torch").step(rough, 20)
    assert torch.equal(a, b)  # the torch step itself, mode 14 included
    with pytest.raises(ValueError, match="modes outside the 2/3 dealiasing mask"):
        Stepper(pde, "etdrk4", 0.02, engine="numba").step(rough, 1)


def test_float32_round_off_outside_the_mask_is_accepted():
    pde, u0 = turbulent(n=32, batch=1, dtype=torch.float32)
    assert Stepper(pde, "etdrk4", 0.02).engine_for(u0) == "numba"


@pytest.mark.parametrize(
    "make,why",
    [
        (lambda: (NavierStokes2D(16, dealias=False), "etdrk4"), "nor 2D vorticity advection"),
        (lambda: (NavierStokes2D(16), "rk4"), "covers ETDRK4 only, not RK4"),
        (lambda: (NavierStokes2D(16), "etdrk2"), "covers ETDRK4 only, not ETDRK2"),
        (
            lambda: (NavierStokes2D(16, forcing="kolmogorov", forcing_wavenumber=6), "etdrk4"),
            "forcing has modes outside",
        ),
    ],
)
def test_what_the_fused_step_does_not_cover_takes_the_torch_step(make, why):
    pde, kind = make()
    u0 = pde.initial_condition("taylor_green", 1)
    assert Stepper(pde, kind, 0.01).engine_for(u0) == "torch"
    with pytest.raises(ValueError, match=why):
        Stepper(pde, kind, 0.01, engine="numba").step(u0, 1)


def test_gradients_take_the_torch_step():
    pde, u0 = turbulent(n=16, batch=1)
    u = u0.clone().requires_grad_(True)
    g = {}
    for e in ("torch", "auto"):
        (Stepper(pde, "etdrk4", 0.02, engine=e).step(u, 3) ** 2).sum().backward()
        g[e], u.grad = u.grad.clone(), None
    assert torch.equal(g["torch"], g["auto"]) and float(g["torch"].abs().max()) > 0


def test_a_batch_split_over_threads_equals_one_block():
    # 2 threads, 3 trajectories: blocks 0:1 and 1:3 on their own threads, each with its
    # own viscosity, drag and forcing amplitude rows; 1 thread: one block
    pde, u0 = turbulent(
        n=32,
        batch=3,
        viscosity=[1e-3, 2e-3, 4e-3],
        drag=[0.0, 0.1, 0.2],
        forcing="kolmogorov",
        forcing_amplitude=[1.0, 0.5, 2.0],
    )
    old = torch.get_num_threads()
    out = {}
    try:
        for t in (1, 2):
            torch.set_num_threads(t)
            out[t] = Stepper(pde, "etdrk4", 0.02, engine="numba").step(u0, 40)
    finally:
        torch.set_num_threads(old)
    # not bitwise: ducc0 vectorises across the transforms of a call, so how many share
    # a call changes the rounding
    assert float((out[1] - out[2]).abs().max()) < 1e-13 * float(out[1].abs().max())
    single = Stepper(pde, "etdrk4", 0.02, engine="torch").step(u0, 40)
    assert float((out[1] - single).abs().max()) < 1e-12 * float(single.abs().max())


def test_a_diverging_fused_run_is_reported_with_its_step():
    pde, u0 = turbulent(n=32, batch=2, viscosity=0.0, drag=0.0)
    stepper = Stepper(pde, "etdrk4", 5.0, engine="numba")  # far past the CFL limit
    with pytest.raises(DivergenceError, match="non-finite state at step 200"):
        stepper.step(100 * u0, 200)


def test_the_uncompiled_source_is_the_same_scheme(monkeypatch):
    pde, u0 = turbulent(n=16, batch=2, forcing="kolmogorov", forcing_wavenumber=2)
    compiled = Stepper(pde, "etdrk4", 0.02, engine="numba").step(u0, 3)
    monkeypatch.setattr(cv, "_kernels", lambda: (cv.pre, cv.stage))
    plain = Stepper(pde, "etdrk4", 0.02, engine="numba").step(u0, 3)
    assert float((compiled - plain).abs().max()) < 1e-13 * float(plain.abs().max())
