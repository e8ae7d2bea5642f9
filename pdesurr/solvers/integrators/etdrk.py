"""Exponential time differencing Runge-Kutta methods (Cox & Matthews 2002).

For ``u_t = L u + N(u)`` with diagonal ``L`` the linear part is integrated exactly; the
nonlinear part is approximated by Runge-Kutta stages. Reference: S. M. Cox and
P. C. Matthews, "Exponential time differencing for stiff systems", J. Comput. Phys. 176
(2002), doi:10.1006/jcph.2002.6995; coefficients as in Kassam & Trefethen (2005).

With ``z = h L`` (``h = dt``), ``E = e^z``:

* ETDRK1 (exponential Euler, order 1): ``u+ = E u + h phi1(z) N(u)``.
* ETDRK2 (order 2): ``a = E u + h phi1 N(u)``; ``u+ = a + h phi2(z) (N(a) - N(u))`` with
  ``phi2(z) = (e^z - 1 - z)/z^2``.
* ETDRK4 (order 4): the four-stage scheme of Cox & Matthews, eq. (26)-(29), with the
  coefficients ``f1, f2, f3`` of Kassam & Trefethen (2005), eq. (2.5)::

      a = E2 u + Q N(u),   b = E2 u + Q N(a),   c = E2 a + Q (2 N(b) - N(u)),
      u+ = E u + f1 N(u) + 2 f2 (N(a) + N(b)) + f3 N(c)

  with ``E2 = e^{z/2}``, ``Q = h phi1(z/2) / 2``. Every ``N`` enters multiplied by a
  coefficient, so a :class:`~pdesurr.solvers.system.FactoredNonlinear` ``N = D M`` has
  its ``D`` folded into ``Q, f1, f2, f3`` and the stages evaluate ``M``; products and
  sums are fused (``addcmul``), 11 element-wise operations per step instead of 18, which
  is what a small batch pays for (eager per-operation overhead, not arithmetic).

A linear PDE (``N = 0``) is integrated exactly by all three: Taylor-Green decays to
round-off whatever ``dt``.
"""

from __future__ import annotations

import torch

from pdesurr.solvers.integrators.base import Integrator, step_size
from pdesurr.solvers.integrators.phi import cast_like, contour_mean, linear_times_dt


class ETDRK1(Integrator):
    order = 1

    def __init__(self, linear, nonlinear, dt):
        super().__init__(linear, nonlinear, dt)
        z = linear_times_dt(linear, dt)
        h = step_size(dt, z)
        self.E = cast_like(torch.exp(z), linear)
        self.phi1 = cast_like(h * contour_mean(z, lambda w: torch.expm1(w) / w), linear)

    def step(self, u_hat, carry):
        return self.E * u_hat + self.phi1 * self.nonlinear(u_hat), carry


class ETDRK2(Integrator):
    order = 2

    def __init__(self, linear, nonlinear, dt):
        super().__init__(linear, nonlinear, dt)
        z = linear_times_dt(linear, dt)
        h = step_size(dt, z)
        self.E = cast_like(torch.exp(z), linear)
        self.phi1 = cast_like(h * contour_mean(z, lambda w: torch.expm1(w) / w), linear)
        self.phi2 = cast_like(h * contour_mean(z, lambda w: (torch.expm1(w) - w) / w**2), linear)

    def step(self, u_hat, carry):
        n_u = self.nonlinear(u_hat)
        a = self.E * u_hat + self.phi1 * n_u
        return a + self.phi2 * (self.nonlinear(a) - n_u), carry


class ETDRK4(Integrator):
    order = 4

    def __init__(self, linear, nonlinear, dt):
        super().__init__(linear, nonlinear, dt)
        z = linear_times_dt(linear, dt)
        h = step_size(dt, z)

        def f1(w):
            return (-4 - w + torch.exp(w) * (4 - 3 * w + w**2)) / w**3

        def f2(w):
            return (2 + w + torch.exp(w) * (-2 + w)) / w**3

        def f3(w):
            return (-4 - 3 * w - w**2 + torch.exp(w) * (4 - w)) / w**3

        # a factored N = D M: D goes into the coefficients of N, the stages evaluate M
        factor = getattr(nonlinear, "factor", None)
        self._n = nonlinear.unscaled if factor is not None else nonlinear
        d = 1 if factor is None else factor.to(torch.complex128)
        q = h * contour_mean(z / 2, lambda w: torch.expm1(w) / w) / 2
        self.E = cast_like(torch.exp(z), linear)
        self.E2 = cast_like(torch.exp(z / 2), linear)
        self.Q = cast_like(q * d, linear)
        self.Q2 = cast_like(2 * q * d, linear)
        self.f1 = cast_like(h * contour_mean(z, f1) * d, linear)
        self.f2x2 = cast_like(2 * h * contour_mean(z, f2) * d, linear)
        self.f3 = cast_like(h * contour_mean(z, f3) * d, linear)

    def step(self, u_hat, carry):
        n, q = self._n, self.Q
        n_u = n(u_hat)
        e2u = self.E2 * u_hat
        a = torch.addcmul(e2u, q, n_u)  # E2 u + Q N(u)
        n_a = n(a)
        b = torch.addcmul(e2u, q, n_a)  # E2 u + Q N(a)
        n_b = n(b)
        c = (self.E2 * a).addcmul_(self.Q2, n_b).addcmul_(q, n_u, value=-1)  # + Q(2N(b) - N(u))
        n_c = n(c)
        new = (self.E * u_hat).addcmul_(self.f1, n_u).addcmul_(self.f2x2, n_a + n_b)
        return new.addcmul_(self.f3, n_c), carry
