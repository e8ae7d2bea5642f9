"""One step of each integrator against the scheme written out here (from the papers).

The ``phi`` functions come from their Taylor series ``phi_j(z) = sum_k z^k / (k + j)!``
(not the contour integral the code uses), the ETDRK4 weights from the phi-function form
of Cox & Matthews' scheme (Hochbruck & Ostermann 2010, Acta Numerica, eq. 2.38:
``b1 = phi1 - 3 phi2 + 4 phi3``, ``b2 = b3 = 2 phi2 - 4 phi3``, ``b4 = 4 phi3 - phi2``),
RK4 from its Butcher tableau, AB3 from its textbook weights 23/12, -16/12, 5/12.
"""

import math

import pytest
import torch

from pdesurr.solvers.integrators import AB3, ETDRK1, ETDRK2, ETDRK4, RK4
from pdesurr.solvers.integrators.phi import cast_like, contour_mean, linear_times_dt

# a spread of stiff, mild, zero, growing and oscillatory modes; with h = 0.3, |z| <= 2.4
L = torch.tensor([[[-8.0, -2.0, -0.05, 0.0, 0.7, -1.0 + 3.0j, 2.0j]]], dtype=torch.complex128)
H = 0.3
# round-off of O(10) operations on O(1) numbers; a wrong coefficient changes ~1e-3 or more
TOL = 1e-12


def phi(j: int, z: torch.Tensor) -> torch.Tensor:
    """``phi_j(z)`` by its Taylor series (60 terms: converged to eps for |z| <= 3)."""
    out = torch.zeros_like(z)
    term = torch.ones_like(z) / math.factorial(j)
    for k in range(60):
        out = out + term
        term = term * z / (k + j + 1)
    return out


def nonlinear(u):
    # quadratic plus a constant: a non-trivial N whose stages all differ
    return 0.4 * u * u - 0.25j * u + 0.1


U0 = torch.tensor([[[0.5, -1.0, 0.3 + 0.2j, 1.2, -0.4, 0.8j, 0.25]]], dtype=torch.complex128)


def close(a, b, tol=TOL):
    return torch.allclose(a, b, rtol=tol, atol=tol)


def test_contour_mean_reproduces_phi_series():
    z = H * L
    assert close(contour_mean(z, lambda w: torch.expm1(w) / w), phi(1, z))
    assert close(contour_mean(z, lambda w: (torch.expm1(w) - w) / w**2), phi(2, z))
    # fewer points: still the same analytic function, to a looser but still tight tolerance
    assert close(contour_mean(z, lambda w: torch.expm1(w) / w, points=16), phi(1, z), 1e-9)


def test_etdrk1_step():
    z = H * L
    expected = torch.exp(z) * U0 + H * phi(1, z) * nonlinear(U0)
    out, carry = ETDRK1(L, nonlinear, H).step(U0, None)
    assert carry is None
    assert close(out, expected)


def test_etdrk2_step():
    z = H * L
    n_u = nonlinear(U0)
    a = torch.exp(z) * U0 + H * phi(1, z) * n_u
    expected = a + H * phi(2, z) * (nonlinear(a) - n_u)
    assert close(ETDRK2(L, nonlinear, H).step(U0, None)[0], expected)


def test_etdrk4_step():
    z = H * L
    e2 = torch.exp(z / 2)
    q = (H / 2) * phi(1, z / 2)
    p1, p2, p3 = phi(1, z), phi(2, z), phi(3, z)
    b1, b23, b4 = p1 - 3 * p2 + 4 * p3, 2 * p2 - 4 * p3, 4 * p3 - p2
    n_u = nonlinear(U0)
    a = e2 * U0 + q * n_u
    n_a = nonlinear(a)
    b = e2 * U0 + q * n_a
    n_b = nonlinear(b)
    c = e2 * a + q * (2 * n_b - n_u)
    n_c = nonlinear(c)
    expected = torch.exp(z) * U0 + H * (b1 * n_u + b23 * (n_a + n_b) + b4 * n_c)
    assert close(ETDRK4(L, nonlinear, H).step(U0, None)[0], expected)


def rk4_step(u, h):
    def f(v):
        return L * v + nonlinear(v)

    k1 = f(u)
    k2 = f(u + h / 2 * k1)
    k3 = f(u + h / 2 * k2)
    k4 = f(u + h * k3)
    return u + h * (k1 + 2 * k2 + 2 * k3 + k4) / 6


def test_rk4_step():
    out, carry = RK4(L, nonlinear, H).step(U0, None)
    assert carry is None
    assert close(out, rk4_step(U0, H))


def _f(v):
    return L * v + nonlinear(v)


@pytest.mark.parametrize("startup", ["euler", "rk4"])
def test_ab3_three_steps(startup):
    h = 0.05
    integ = AB3(L, nonlinear, h, startup=startup)
    carry = integ.init(U0)
    assert carry == (None, None, 0)
    u1, carry = integ.step(U0, carry)
    u2, carry = integ.step(u1, carry)
    u3, carry = integ.step(u2, carry)
    u4, carry = integ.step(u3, carry)
    if startup == "euler":  # pyqg: forward Euler, then AB2
        e1 = U0 + h * _f(U0)
        e2 = e1 + h * (1.5 * _f(e1) - 0.5 * _f(U0))
    else:
        e1 = rk4_step(U0, h)
        e2 = rk4_step(e1, h)
    e3 = e2 + h * (23 * _f(e2) - 16 * _f(e1) + 5 * _f(U0)) / 12
    e4 = e3 + h * (23 * _f(e3) - 16 * _f(e2) + 5 * _f(e1)) / 12
    for got, want in ((u1, e1), (u2, e2), (u3, e3), (u4, e4)):
        assert close(got, want)
    # the carry holds the last two tendencies and saturates at level 2
    assert carry[2] == 2
    assert close(carry[0], _f(u3)) and close(carry[1], _f(u2))


def test_ab3_rejects_unknown_startup():
    with pytest.raises(ValueError, match=r"AB3 startup must be 'euler' or 'rk4', got 'heun'"):
        AB3(L, nonlinear, 0.1, startup="heun")


@pytest.mark.parametrize("cls", [ETDRK1, ETDRK2, ETDRK4, RK4, AB3])
def test_per_sample_dt_equals_separate_runs(cls):
    # dt of shape (B,) must act as B separate integrators, one per row
    dts = torch.tensor([0.1, 0.3], dtype=torch.float64)
    u = U0.expand(2, 1, -1).clone()
    integ = cls(L, nonlinear, dts)
    out, carry = integ.step(u, integ.init(u))
    out, _ = integ.step(out, carry)
    for i, dt in enumerate(dts.tolist()):
        ref = cls(L, nonlinear, dt)
        r, c = ref.step(U0, ref.init(U0))
        r, _ = ref.step(r, c)
        assert close(out[i : i + 1], r)


def test_linear_times_dt_shapes_and_dtype():
    lin = torch.tensor([[[-1.0, 2.0]]], dtype=torch.float32)
    z = linear_times_dt(lin, torch.tensor([0.5, 2.0]))
    assert z.dtype == torch.complex128 and z.shape == (2, 1, 2)
    assert torch.equal(z, torch.tensor([[[-0.5, 1.0]], [[-2.0, 4.0]]], dtype=torch.complex128))
    scalar = torch.tensor([[[-0.5, 1.0]]], dtype=torch.complex128)
    assert torch.equal(linear_times_dt(lin, 0.5), scalar)


@pytest.mark.parametrize(
    "dtype,want",
    [
        (torch.float16, torch.complex64),
        (torch.float32, torch.complex64),
        (torch.complex64, torch.complex64),
        (torch.float64, torch.complex128),
        (torch.complex128, torch.complex128),
    ],
)
def test_coefficients_follow_the_state_precision(dtype, want):
    like = torch.zeros(3, dtype=dtype)
    assert cast_like(torch.ones(3, dtype=torch.complex128), like).dtype == want


def test_float32_linear_gives_float32_steps():
    lin = torch.tensor([[[-1.0, -4.0, 0.0]]], dtype=torch.float32)
    u = torch.tensor([[[1.0, 0.5, -0.2]]], dtype=torch.complex64)
    for cls in (ETDRK1, ETDRK2, ETDRK4):
        integ = cls(lin, lambda v: 0.1 * v * v, torch.tensor([0.2]))
        assert integ.E.dtype == torch.complex64
        assert integ.step(u, None)[0].dtype == torch.complex64
    # a float64 per-sample dt is cast to the state's real precision, never complex
    rk = RK4(lin, lambda v: 0.1 * v * v, torch.tensor([0.2], dtype=torch.float64))
    assert rk.h.dtype == torch.float32
    assert RK4(L, nonlinear, torch.tensor([0.2, 0.1])).h.dtype == torch.float64
    assert RK4(L.to(torch.complex64), nonlinear, torch.tensor([0.2])).h.dtype == torch.float32


@pytest.mark.parametrize("cls", [ETDRK1, ETDRK2, ETDRK4, RK4, AB3])
def test_integrator_keeps_its_system_and_dt(cls):
    # the base-class contract: linear, nonlinear and dt stay readable on every integrator
    integ = cls(L, nonlinear, 0.25)
    assert integ.linear is L and integ.nonlinear is nonlinear and integ.dt == 0.25
    assert cls.order == {ETDRK1: 1, ETDRK2: 2, ETDRK4: 4, RK4: 4, AB3: 3}[cls]


def test_ab3_records_its_startup():
    assert AB3(L, nonlinear, 0.1).startup == "euler"
    assert AB3(L, nonlinear, 0.1, startup="rk4").startup == "rk4"


def test_per_sample_dt_moves_to_the_state_device():
    # "meta" stands in for CUDA: a per-sample dt given on the CPU must follow L's device
    lin = torch.zeros(1, 1, 3, device="meta")
    assert linear_times_dt(lin, torch.tensor([0.1, 0.2])).device == torch.device("meta")
    assert RK4(lin, nonlinear, torch.tensor([0.1, 0.2])).h.device == torch.device("meta")


def test_contour_points_follow_the_device():
    # "meta" stands in for CUDA: the contour's points must be made on z's device
    z = torch.zeros(2, device="meta", dtype=torch.complex128)
    assert contour_mean(z, torch.exp).device == torch.device("meta")
