"""QG's derived parameters and growth rates, from pyqg's formulas written out here.

pyqg 0.7 (``QGModel``): ``F1 = 1 / (rd^2 (1 + delta))``, ``F2 = delta F1``,
``Qy1 = beta + F1 (U1 - U2)``, ``Qy2 = beta - F2 (U1 - U2)``. The Phillips model's
dispersion relation for ``psi ~ exp(i (k x + l y) + sigma t)``: with ``q_hat = P psi_hat``,
``P = [[-K - F1, F1], [F2, -K - F2]]`` (``K = k^2 + l^2``), the linearised PV equations
``sigma P psi = -i k (diag(U) P + diag(Qy)) psi + diag(0, r_ek K) psi`` have a non-zero
solution when ``det(sigma P + B) = 0``, ``B = i k (diag(U) P + diag(Qy)) - diag(0, r_ek K)``:
a quadratic in ``sigma`` solved below by its formula, without the code's ``linear_matrix``.
"""

import cmath
import math

import pytest
import torch

from pdesurr.solvers import QuasiGeostrophic, Stepper

# every test for the torch step and for what "auto" picks (compiled_layers.py's fused AB3)
pytestmark = pytest.mark.usefixtures("step_engine")

PARAMS = [
    {},  # pyqg's defaults
    {"delta": 1.0, "rd": 25000.0, "U1": 0.05, "U2": -0.01, "beta": 1e-11},
    {"delta": 0.1, "rd": 8000.0, "U1": 0.01, "U2": 0.02, "rek": 0.0, "beta": 0.0},
]


def pyqg_parameters(p: dict):
    d = {"beta": 1.5e-11, "rd": 15000.0, "delta": 0.25, "U1": 0.025, "U2": 0.0, "rek": 5.787e-7}
    d.update(p)
    f1 = 1.0 / (d["rd"] ** 2 * (1.0 + d["delta"]))
    f2 = d["delta"] * f1
    shear = d["U1"] - d["U2"]
    return d, f1, f2, (d["beta"] + f1 * shear, d["beta"] - f2 * shear)


def growth_rates(p: dict, k: float, l: float) -> tuple[complex, complex]:
    """The two roots ``sigma`` of ``det(sigma P + B) = 0`` (see the module docstring)."""
    d, f1, f2, qy = pyqg_parameters(p)
    kk = k * k + l * l
    P = [[-kk - f1, f1], [f2, -kk - f2]]
    U, R = (d["U1"], d["U2"]), (0.0, d["rek"] * kk)
    B = [
        [1j * k * (U[i] * P[i][j] + (qy[i] if i == j else 0.0)) for j in range(2)] for i in range(2)
    ]
    for i in range(2):
        B[i][i] -= R[i]
    # det(sigma P + B) = a sigma^2 + b sigma + c
    a = P[0][0] * P[1][1] - P[0][1] * P[1][0]
    b = P[0][0] * B[1][1] + B[0][0] * P[1][1] - P[0][1] * B[1][0] - B[0][1] * P[1][0]
    c = B[0][0] * B[1][1] - B[0][1] * B[1][0]
    disc = cmath.sqrt(b * b - 4 * a * c)
    return (-b + disc) / (2 * a), (-b - disc) / (2 * a)


def eigvector_q(p: dict, k: float, l: float, sigma: complex) -> tuple[complex, complex]:
    """PV of the mode with growth rate ``sigma``: null vector of ``sigma P + B``, then ``P psi``."""
    d, f1, f2, qy = pyqg_parameters(p)
    kk = k * k + l * l
    P = [[-kk - f1, f1], [f2, -kk - f2]]
    row = [sigma * P[0][0] + 1j * k * (d["U1"] * P[0][0] + qy[0]), sigma * P[0][1]]
    row[1] += 1j * k * d["U1"] * P[0][1]
    psi = (row[1], -row[0])  # orthogonal to the first row of the singular matrix
    return (P[0][0] * psi[0] + P[0][1] * psi[1], P[1][0] * psi[0] + P[1][1] * psi[1])


@pytest.mark.parametrize("p", PARAMS)
def test_derived_parameters_are_pyqgs(p):
    pde = QuasiGeostrophic(**p)
    _, f1, f2, qy = pyqg_parameters(p)
    # the same three-term formulas: round-off only
    assert pde.F1 == pytest.approx(f1, rel=1e-14)
    assert pde.F2 == pytest.approx(f2, rel=1e-14)
    assert pde.Qy[0] == pytest.approx(qy[0], rel=1e-14)
    assert pde.Qy[1] == pytest.approx(qy[1], rel=1e-14, abs=1e-30)


@pytest.mark.parametrize("p", PARAMS)
@pytest.mark.parametrize("mode", [(1, 0), (4, 0), (6, 2), (3, -3), (10, 0)])
def test_linear_matrix_eigenvalues_solve_the_dispersion_relation(p, mode):
    pde = QuasiGeostrophic(**p)
    k, l = 2 * math.pi * mode[0] / pde.L, 2 * math.pi * mode[1] / pde.W
    want = sorted(growth_rates(p, k, l), key=lambda s: (s.real, s.imag))
    got = sorted(
        (complex(e) for e in torch.linalg.eigvals(pde.linear_matrix(k, l))),
        key=lambda s: (s.real, s.imag),
    )
    scale = max(abs(s) for s in want)
    for g, w in zip(got, want, strict=True):
        # a 2x2 eigenproblem vs the quadratic formula: agree to ~1e-12 of |sigma|
        assert abs(g - w) < 1e-10 * scale, (g, w)


@pytest.mark.parametrize("p", PARAMS)
@pytest.mark.parametrize("mode", [(2, 0), (4, 0), (5, 3), (3, -3)])
def test_solver_tendency_on_a_single_mode_is_the_dispersion_relation(p, mode):
    # on one wavevector J(psi, q) = 0, so the solver's tendency at that mode is exactly
    # linear: the 2x2 matrix read off the solver has the dispersion relation's roots
    pde = QuasiGeostrophic(nx=32, **p)
    system = pde.system("cpu", torch.float64, 1)
    ny = pde.grid.shape[0]
    iy, ix = mode[1] % ny, mode[0]
    cols = []
    for layer in range(2):
        qh = torch.zeros(1, 2, *pde.grid.spectral_shape, dtype=torch.complex128)
        qh[0, layer, iy, ix] = 1e-7 * 32 * 32
        cols.append(system.nonlinear(qh)[0, :, iy, ix] / qh[0, layer, iy, ix])
    a = torch.stack(cols, 1)
    k, l = 2 * math.pi * mode[0] / pde.L, 2 * math.pi * mode[1] / pde.W
    want = sorted(growth_rates(p, k, l), key=lambda s: (s.real, s.imag))
    got = sorted((complex(e) for e in torch.linalg.eigvals(a)), key=lambda s: (s.real, s.imag))
    scale = max(abs(s) for s in want)
    for g, w in zip(got, want, strict=True):
        # FFT round-off on the quadratic flux terms (~1e-16 of the mode) only
        assert abs(g - w) < 1e-9 * scale, (mode, g, w)


@pytest.mark.parametrize("mode", [(4, 0), (6, 2)])
def test_time_stepped_mode_grows_at_the_dispersion_rate(mode):
    # the fastest root's eigenvector, built here, grows as exp(Re(sigma) t) under the full
    # solver: AB3 error (sigma dt)^3 ~ 1e-7 relative on the rate
    p = {}
    pde = QuasiGeostrophic(nx=32)
    k, l = 2 * math.pi * mode[0] / pde.L, 2 * math.pi * mode[1] / pde.W
    sigma = max(growth_rates(p, k, l), key=lambda s: s.real)
    assert sigma.real > 0  # baroclinically unstable at pyqg's defaults
    vec = eigvector_q(p, k, l, sigma)
    y, x = pde.grid.meshgrid()
    phase = torch.exp(1j * (k * x + l * y))
    q0 = torch.stack([(vec[n] * phase).real for n in range(2)])[None]
    q0 = q0 * (1e-7 / q0[0, 0].abs().max())
    n = 300
    a, b = list(Stepper(pde, "ab3", 7200.0, startup="rk4").trajectory(q0, 2, n))[-2:]
    amp = [float(pde.grid.rfft(q)[0, 0].abs().max()) for q in (a, b)]
    measured = math.log(amp[1] / amp[0]) / (n * 7200.0)
    assert measured == pytest.approx(sigma.real, rel=1e-5)
