"""The fused AB3 step of the two-layer QG model (compiled_layers.py) against the torch step
(itself checked against pyqg's algorithm and linear theory in test_quasi_geostrophic.py
and test_qg_parameters.py, which run both steps), and its selection rules."""

import pytest
import torch

from pdesurr.solvers import QuasiGeostrophic, Stepper
from pdesurr.solvers.integrators import compiled_layers as cl

pytest.importorskip("numba")
pytest.importorskip("ducc0")

DT = 7200.0


def nonlinear_state(nx=32, batch=2, steps=1500, **kw):
    """A QG state past its linear growth (eddies): the products matter."""
    pde = QuasiGeostrophic(nx=nx, **kw)
    q0 = pde.initial_condition("pyqg_default", batch, torch.Generator().manual_seed(5))
    return pde, Stepper(pde, "ab3", DT, engine="torch").step(q0, steps)


def rel(a, b):
    return float((a - b).abs().max()) / float(b.abs().max())


@pytest.mark.parametrize("startup", ["euler", "rk4"])
def test_trajectories_equal_the_torch_step_to_round_off(startup):
    pde, q = nonlinear_state(ny=16, W=5e5, U2=-0.01)  # a rectangular box
    torch_step, fused = (
        Stepper(pde, "ab3", DT, engine=e, startup=startup) for e in ("torch", "numba")
    )
    assert Stepper(pde, "ab3", DT).engine_details(q) == "numba fused QG"
    a = list(torch_step.trajectory(q, 6, 50))
    b = list(fused.trajectory(q, 6, 50))  # the history carried across the calls
    for x, y in zip(a[1:], b[1:], strict=True):
        assert rel(y, x) < 1e-11
    assert rel(a[-1], q) > 0.1  # it moved


def test_the_carry_is_the_torch_steps_tendency_history():
    # the fused step hands back AB3's (F_n, F_{n-1}, 2): a torch step can go on from it
    pde, q = nonlinear_state(batch=1)
    stepper = Stepper(pde, "ab3", DT, engine="numba")
    integ, filt, engine = stepper._prepared(q)
    u_hat = pde.grid.rfft(q)
    carry = integ.init(u_hat)
    for _ in range(2):  # the start-up, in torch (what Stepper does)
        u_hat, carry = integ.step(u_hat, carry)
        u_hat = u_hat * filt
    ref_u, ref_c = u_hat.clone(), carry
    for _ in range(7):
        ref_u, ref_c = integ.step(ref_u, ref_c)
        ref_u = ref_u * filt
    got_u, got_c = engine.advance(u_hat, carry, 7)
    assert rel(got_u, ref_u) < 1e-13 and got_c[2] == 2
    assert rel(got_c[0], ref_c[0]) < 1e-12 and rel(got_c[1], ref_c[1]) < 1e-12
    # and the torch step goes on from it as from its own
    a, _ = integ.step(ref_u, ref_c)
    b, _ = integ.step(got_u, got_c)
    assert rel(b, a) < 1e-13


def test_per_trajectory_dt_batch_split_over_threads_and_float32():
    pde, q = nonlinear_state(batch=3)
    dt = torch.tensor([3600.0, 7200.0, 5400.0], dtype=torch.float64)
    ref = Stepper(pde, "ab3", dt, engine="torch").step(q, 40)
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(2)  # blocks 0:1 and 1:3
        two = Stepper(pde, "ab3", dt, engine="numba").step(q, 40)
    finally:
        torch.set_num_threads(old)
    one = Stepper(pde, "ab3", dt, engine="numba").step(q, 40)
    assert rel(one, ref) < 1e-12 and rel(two, ref) < 1e-12
    q32 = q.float()
    a = Stepper(pde, "ab3", DT, engine="torch").step(q32, 40)
    b = Stepper(pde, "ab3", DT, engine="numba").step(q32, 40)
    assert b.dtype == torch.float32 and rel(b, a) < 1e-4


def test_the_uncompiled_source_is_the_same_scheme(monkeypatch):
    pde, q = nonlinear_state(nx=8, batch=2, steps=300)
    compiled = Stepper(pde, "ab3", DT, engine="numba").step(q, 6)
    monkeypatch.setattr(cl, "_kernels", lambda: (cl.pre, cl.products, cl.update))
    plain = Stepper(pde, "ab3", DT, engine="numba").step(q, 6)
    assert rel(plain, compiled) < 1e-13


@pytest.mark.parametrize("kind,why", [("rk4", "covers AB3 only, not RK4")])
def test_other_integrators_take_the_torch_step(kind, why):
    pde, q = nonlinear_state(nx=16, batch=1, steps=10)
    assert Stepper(pde, kind, DT).engine_for(q) == "torch"
    with pytest.raises(ValueError, match=why):
        Stepper(pde, kind, DT, engine="numba").step(q, 1)


def test_gradients_take_the_torch_step():
    pde, q = nonlinear_state(nx=16, batch=1, steps=200)
    u = q.clone().requires_grad_(True)
    g = {}
    for e in ("torch", "auto"):
        (Stepper(pde, "ab3", DT, engine=e).step(u, 5) ** 2).sum().backward()
        g[e], u.grad = u.grad.clone(), None
    assert torch.equal(g["torch"], g["auto"]) and float(g["torch"].abs().max()) > 0
