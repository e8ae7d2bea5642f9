"""The allocation-free QG step (work arrays, AB3 in place) equals the functional formulas."""

import pytest
import torch

from pdesurr.solvers import QuasiGeostrophic, Stepper
from pdesurr.solvers.integrators import AB3


def functional_tendency(pde, qh):
    """The QG tendency as the functional expression it was before the work arrays:
    ``-(i k FFT((u + U) q) + i l FFT(v q) + i k Q_y psi_hat) + r_ek kappa^2 psi_hat_2``."""
    ll, kk = pde.grid.wavenumbers(torch.float64)
    k2 = kk * kk + ll * ll
    a = pde.inversion_matrix(dtype=torch.float64).to(qh.dtype)
    ph = torch.einsum("nmyx,bmyx->bnyx", a, qh)
    u = pde.grid.irfft(-1j * ll * ph)
    v = pde.grid.irfft(1j * kk * ph)
    q = pde.grid.irfft(qh)
    ubg = torch.tensor([pde.U1, pde.U2], dtype=torch.float64).reshape(1, 2, 1, 1)
    uq, vq = pde.grid.rfft((u + ubg) * q), pde.grid.rfft(v * q)
    qy = torch.tensor(pde.Qy, dtype=torch.float64).reshape(1, 2, 1, 1)
    out = -(1j * kk * uq + 1j * ll * vq + 1j * kk * qy * ph)
    out[:, 1] += pde.rek * k2 * ph[:, 1]
    return out


@pytest.fixture
def state():
    pde = QuasiGeostrophic(nx=32, ny=16, L=1e6, W=5e5, U2=-0.01)
    gen = torch.Generator().manual_seed(3)
    q = 1e-5 * torch.randn(3, 2, 16, 32, generator=gen, dtype=torch.float64)
    return pde, q


def test_tendency_equals_functional_formula(state):
    pde, q = state
    system = pde.system("cpu", torch.float64, 3)
    qh = pde.grid.rfft(q)
    ref = functional_tendency(pde, qh)
    scale = float(ref.abs().max())
    # same arithmetic in another order: float64 round-off only
    assert float((system.nonlinear(qh) - ref).abs().max()) < 1e-13 * scale
    buf = torch.full_like(qh, float("nan"))
    got = system.nonlinear(qh, out=buf)
    assert got.data_ptr() == buf.data_ptr()
    assert float((got - ref).abs().max()) < 1e-13 * scale
    # the result is not a work array: a second call leaves the first result alone
    first = system.nonlinear(qh)
    kept = first.clone()
    system.nonlinear(2 * qh)
    assert torch.equal(first, kept)


def test_inplace_ab3_steps_equal_functional_steps(state):
    pde, q = state
    system = pde.system("cpu", torch.float64, 3)
    uh = pde.grid.rfft(q)
    functional = AB3(system.linear, system.nonlinear, 7200.0)
    inplace = AB3(system.linear, system.nonlinear, 7200.0)
    a, ca = uh.clone(), functional.init(uh)
    b, cb = uh.clone(), inplace.init(uh)
    for _ in range(12):  # past the start-up, through several turns of the buffer ring
        a, ca = functional.step(a, ca)
        a = a * system.filter
        b, cb = inplace.step_(b, cb)
        b.mul_(system.filter)
        # round-off of the reordered sums (and fused multiply-adds) only
        assert float((a - b).abs().max()) < 1e-13 * float(a.abs().max())


def test_stepper_leaves_its_input_alone_and_matches_a_functional_loop(state):
    pde, q = state
    q0 = q.clone()
    ours = Stepper(pde, "ab3", 7200.0).step(q, 20)
    assert torch.equal(q, q0)  # the stepper works in place on its own copy only
    system = pde.system("cpu", torch.float64, 3)
    ab3 = AB3(system.linear, system.nonlinear, 7200.0)
    uh, carry = pde.grid.rfft(q), ab3.init(None)
    for _ in range(20):
        uh, carry = ab3.step(uh, carry)
        uh = uh * system.filter
    ref = pde.grid.irfft(uh)
    # 20 steps of round-off differences in a still-linear flow
    assert float((ours - ref).abs().max()) < 1e-12 * float(ref.abs().max())


def test_steady_steps_allocate_nothing(state):
    # the promise of AB3.step_: after the two start-up steps, the state is updated in place
    # and the tendencies and the increment cycle through four buffers. Every carry is held
    # here, so a step that allocated would show a new address (held memory is not reused).
    pde, q = state
    system = pde.system("cpu", torch.float64, 3)
    ab3 = AB3(system.linear, system.nonlinear, 7200.0)
    uh = pde.grid.rfft(q)
    carry = ab3.init(uh)
    for _ in range(2):
        uh, carry = ab3.step_(uh, carry)
    assert carry[2] == 2  # two past tendencies: the AB3 level
    state_ptr, held, storages = uh.data_ptr(), [], set()
    for _ in range(9):
        uh, carry = ab3.step_(uh, carry)
        # the carry and the integrator's work arrays (the increment buffer among them)
        held.append((carry, list(ab3._spare)))
        storages |= {t.data_ptr() for t in [*carry[:2], *ab3._spare]}
        assert uh.data_ptr() == state_ptr and carry[2] == 2
    assert len(storages) <= 4, f"{len(storages)} work buffers over 9 steps"


def test_work_arrays_follow_the_state_shape(state):
    # one system serves states of several batch sizes (a stepper's members dropped after a
    # divergence, an evaluation batch): each gets work arrays of its own shape
    pde, q = state
    system = pde.system("cpu", torch.float64, 3)
    for qh in (pde.grid.rfft(q), pde.grid.rfft(q[:1]), pde.grid.rfft(2 * q)):
        ref = functional_tendency(pde, qh)
        got = system.nonlinear(qh)
        assert got.shape == qh.shape
        assert float((got - ref).abs().max()) < 1e-13 * float(ref.abs().max())
