"""The compiled ETDRK4 loop (engine "numba") against the eager torch step, and the rules
that choose between them (its Cole-Hopf order test: tests/test_pinn_solvers.py)."""

import dataclasses
import math
import threading

import pytest
import torch

from pdesurr.solvers import Burgers, KuramotoSivashinsky, NavierStokes2D, Stepper
from pdesurr.solvers.integrators import compiled
from pdesurr.solvers.system import SpectralSystem

pytest.importorskip("numba")
pytest.importorskip("rocket_fft")


def ks_state(pde, batch, dtype=torch.float64, seed=0):
    u = pde.initial_condition("random_sines", batch, torch.Generator().manual_seed(seed))
    return u.to(dtype)


@pytest.mark.parametrize(
    "length", [64.0, [58.0, 64.0, 70.5]], ids=["shared length", "length per trajectory"]
)
@pytest.mark.parametrize("threads", [1, 3], ids=["3 rows at once", "one row a thread"])
def test_ks_trajectories_equal_the_torch_step_to_round_off(length, threads, monkeypatch):
    # 400 steps of dt 0.05 (t = 20): chaotic KS amplifies round-off by ~e^(0.1 t) only;
    # one thread steps the 3 rows together, three threads one row each (the 1D path)
    monkeypatch.setattr(torch, "get_num_threads", lambda: threads)
    pde = KuramotoSivashinsky(256, length=length)
    u0 = ks_state(pde, 3)
    ref = Stepper(pde, "etdrk4", 0.05, engine="torch")
    fast = Stepper(pde, "etdrk4", 0.05, engine="numba")
    a = list(ref.trajectory(u0, 4, save_every=100))
    b = list(fast.trajectory(u0, 4, save_every=100))
    assert fast.engine_for(u0) == "numba" and ref.engine_for(u0) == "torch"
    for x, y in zip(a, b, strict=True):
        assert float((x - y).abs().max()) < 1e-11 * float(x.abs().max())
    # and the states moved: a wrong coefficient would not hide behind a static field
    assert float((a[-1] - a[0]).abs().max()) > 0.5


@pytest.mark.parametrize("batch", [1, 2])
def test_float32_agrees_with_the_torch_step_and_stays_float32(batch, monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    pde = KuramotoSivashinsky(128, length=32 * math.pi)
    u0 = ks_state(pde, batch, torch.float32)
    a = Stepper(pde, "etdrk4", 0.25, engine="torch").step(u0, 40)
    b = Stepper(pde, "etdrk4", 0.25, engine="numba").step(u0, 40)
    assert b.dtype == torch.float32
    assert float((a - b).abs().max()) < 2e-5 * float(a.abs().max())


class FilteredBurgers(Burgers):
    """Burgers with an exponential spectral filter applied after every step."""

    def system(self, device, dtype, batch):
        system = super().system(device, dtype, batch)
        n = torch.arange(self.resolution // 2 + 1, dtype=torch.float64)
        filt = torch.exp(-36 * (n / n[-1]) ** 8).to(dtype)[None, None]
        return dataclasses.replace(system, filter=filt)


@pytest.mark.parametrize("batch", [1, 2])
def test_a_spectral_filter_is_applied_after_every_step(batch, monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    pde = FilteredBurgers(resolution=64, viscosity=0.02)
    u0 = pde.initial_condition("sine", batch, amplitude=1.5)
    a = Stepper(pde, "etdrk4", 0.01, engine="torch").step(u0, 50)
    b = Stepper(pde, "etdrk4", 0.01, engine="numba").step(u0, 50)
    plain = Stepper(Burgers(resolution=64, viscosity=0.02), "etdrk4", 0.01).step(u0, 50)
    assert float((a - b).abs().max()) < 1e-13
    assert float((a - plain).abs().max()) > 1e-6  # the filter changed the result


def test_auto_compiles_cpu_batches_of_any_size():
    pde = KuramotoSivashinsky(256)
    stepper = Stepper(pde, "etdrk4", 0.05)
    for batch in (1, 8, 200):
        assert stepper.engine_details(ks_state(pde, batch)) == "numba compiled loop"
    # other integrators and other nonlinear terms keep the torch step
    assert Stepper(pde, "etdrk2", 0.05).engine_for(ks_state(pde, 1)) == "torch"
    ns = NavierStokes2D(16, dealias=False)  # no declared form (QG neither)
    assert Stepper(ns, "etdrk4", 0.01).engine_for(ns.initial_condition("random", 1)) == "torch"


def test_auto_without_numba_takes_the_torch_step(monkeypatch):
    monkeypatch.setattr(compiled, "numba_missing", lambda: "numba is not installed")
    pde = KuramotoSivashinsky(64)
    assert Stepper(pde, "etdrk4", 0.05).engine_for(ks_state(pde, 1)) == "torch"
    with pytest.raises(ValueError, match="engine 'numba' requested but numba is not installed"):
        Stepper(pde, "etdrk4", 0.05, engine="numba")


def test_engine_errors_name_the_value_and_the_reason():
    pde = KuramotoSivashinsky(64)
    with pytest.raises(ValueError, match="unknown engine 'jax'"):
        Stepper(pde, "etdrk4", 0.05, engine="jax")
    with pytest.raises(ValueError, match="covers ETDRK4 only, not RK4"):
        Stepper(pde, "rk4", 0.01, engine="numba").step(ks_state(pde, 1), 1)
    ns = NavierStokes2D(16, dealias=False)
    with pytest.raises(ValueError, match="neither 1D quadratic advection"):
        Stepper(ns, "etdrk4", 0.01, engine="numba").step(ns.initial_condition("random", 1), 1)


def test_gradients_flow_through_the_torch_step_whatever_the_engine():
    pde = Burgers(resolution=32, viscosity=0.1)
    u0 = pde.initial_condition("sine", 1).requires_grad_(True)
    out = Stepper(pde, "etdrk4", 0.05, engine="numba").step(u0, 5)
    (grad,) = torch.autograd.grad(out.square().sum(), u0)
    u1 = u0.detach().clone().requires_grad_(True)
    out1 = Stepper(pde, "etdrk4", 0.05, engine="torch").step(u1, 5)
    (grad1,) = torch.autograd.grad(out1.square().sum(), u1)
    assert torch.allclose(grad, grad1, rtol=0, atol=1e-14) and float(grad.abs().max()) > 0.1


def test_threads_step_concurrently_with_the_serial_results():
    # the loop releases the GIL: solver threads (in-process online transport) run at once
    pde = KuramotoSivashinsky(256)
    states = [ks_state(pde, 1, seed=s) for s in range(4)]
    serial = [Stepper(pde, "etdrk4", 0.05, engine="numba").step(u, 300) for u in states]
    results = [None] * 4

    def run(i):
        results[i] = Stepper(pde, "etdrk4", 0.05, engine="numba").step(states[i], 300)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(serial, results, strict=True):
        assert torch.equal(a, b)


def test_a_diverging_compiled_run_is_reported_with_its_step():
    from pdesurr.solvers.system import DivergenceError

    pde = Burgers(resolution=32, viscosity=1e-4, dealias=False)
    u0 = 50 * pde.initial_condition("sine", 1)
    stepper = Stepper(pde, "etdrk4", 0.5, engine="numba")
    with pytest.raises(DivergenceError) as err:
        stepper.step(u0, 400)
    assert err.value.step == 400


def test_the_uncompiled_source_is_the_same_scheme():
    # etdrk4_square is plain NumPy that numba compiles: run as Python it gives the result
    pde = KuramotoSivashinsky(64, length=22.0)
    u0 = ks_state(pde, 2)
    stepper = Stepper(pde, "etdrk4", 0.05, engine="numba")
    fast = stepper._prepared(u0)[2]
    u_hat = pde.grid.rfft(u0).reshape(2, -1).numpy()
    slow = compiled.etdrk4_square(u_hat, 30, 64, *fast._arrays, fast.filtered)
    expected = stepper.step(u0, 30)
    got = torch.fft.irfft(torch.from_numpy(slow), n=64).reshape(expected.shape)
    assert float((got - expected).abs().max()) < 1e-13


class UnfactoredKS(KuramotoSivashinsky):
    """The same equation with its nonlinear term as a plain function (no declared form)."""

    def system(self, device, dtype, batch):
        system = super().system(device, dtype, batch)
        return SpectralSystem(system.linear, lambda u_hat: system.nonlinear(u_hat))


def test_a_nonlinear_term_of_no_declared_form_is_not_compiled():
    pde = UnfactoredKS(64)
    stepper = Stepper(pde, "etdrk4", 0.05)
    u0 = ks_state(pde, 1)
    assert stepper.engine_for(u0) == "torch"
    expected = Stepper(KuramotoSivashinsky(64), "etdrk4", 0.05, engine="numba").step(u0, 20)
    assert float((stepper.step(u0, 20) - expected).abs().max()) < 1e-12


def test_presets_choose_the_engine_and_name_a_bad_one():
    from pdesurr.config import ConfigError, SolverConfig

    preset = "ks_kassam_trefethen"
    cfg = SolverConfig.load(preset, ['integrator.engine="torch"'])
    stepper = cfg.build_stepper()
    assert stepper.engine == "torch"
    u0 = cfg.initial_state(batch=1)
    assert stepper.engine_for(u0) == "torch"
    assert SolverConfig.load(preset).build_stepper().engine_for(u0) == "numba"  # auto
    bad = r"integrator\.engine: 'numbaa' is not an engine.*did you mean 'numba'"
    with pytest.raises(ConfigError, match=bad):
        SolverConfig.load(preset, ['integrator.engine="numbaa"'])


def test_a_batch_split_over_threads_equals_one_block():
    pde = KuramotoSivashinsky(128, length=[50.0, 55.0, 60.0, 65.0, 70.0])
    u0 = ks_state(pde, 5)
    stepper = Stepper(pde, "etdrk4", 0.05, engine="numba")
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = stepper.step(u0, 60)
        torch.set_num_threads(3)  # blocks of 1, 2 and 2 rows, each with its own lengths
        split = stepper.step(u0, 60)
    finally:
        torch.set_num_threads(threads)
    # not bitwise: pocketfft vectorises across the rows of a call, so how many share one
    # changes the rounding
    assert float((one - split).abs().max()) < 1e-13 * float(one.abs().max())
    ref = Stepper(pde, "etdrk4", 0.05, engine="torch").step(u0, 60)
    assert float((ref - split).abs().max()) < 1e-11 * float(ref.abs().max())


def test_the_uncompiled_source_steps_several_rows_alike(monkeypatch):
    # several rows at once: stage_square's loops, run as Python, give the compiled result
    pde = KuramotoSivashinsky(64, length=[20.0, 22.0])
    u0 = ks_state(pde, 2)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    fast = Stepper(pde, "etdrk4", 0.05, engine="numba").step(u0, 5)
    monkeypatch.setattr(compiled, "_compiled", lambda: compiled.etdrk4_square)
    monkeypatch.setattr(compiled, "_stage", compiled.stage_square)
    slow = Stepper(pde, "etdrk4", 0.05, engine="numba").step(u0, 5)
    assert float((fast - slow).abs().max()) < 1e-13 * float(fast.abs().max())
