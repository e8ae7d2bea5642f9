"""Classical explicit Runge-Kutta 4 on the whole right-hand side ``L u + N(u)`` (order 4).

No splitting: the linear part is treated explicitly, so stiff ``L`` (high viscosity,
``k^4`` in Kuramoto-Sivashinsky) needs ``dt |L|_max < 2.8``. It is the reference method
for non-stiff problems and the start-up of :class:`~pdesurr.solvers.integrators.ab3.AB3`.
"""

from __future__ import annotations

from pdesurr.solvers.integrators.base import Integrator, step_size


class RK4(Integrator):
    order = 4

    def __init__(self, linear, nonlinear, dt):
        super().__init__(linear, nonlinear, dt)
        self.h = step_size(dt, linear)
        self.lin = linear

    def rhs(self, u_hat):
        return self.lin * u_hat + self.nonlinear(u_hat)

    def step(self, u_hat, carry):
        h = self.h
        k1 = self.rhs(u_hat)
        k2 = self.rhs(u_hat + (0.5 * h) * k1)
        k3 = self.rhs(u_hat + (0.5 * h) * k2)
        k4 = self.rhs(u_hat + h * k3)
        return u_hat + (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4), carry
