"""Third-order Adams-Bashforth on ``L u + N(u)``, as pyqg steps its models.

    u+ = u + h (23/12 F_n - 16/12 F_{n-1} + 5/12 F_{n-2}),   F = L u + N(u)

Adams-Bashforth is not self-starting. ``startup="euler"`` is pyqg's choice (one forward
Euler step, then one AB2 step ``3/2 F_n - 1/2 F_{n-1}``): bit-for-bit the scheme that
reproduces pyqg's trajectories, but the Euler step's local error makes the *global* error
O(h^2). ``startup="rk4"`` computes the first two steps with classical RK4 and keeps the
declared order 3. The filter of the PDE (pyqg's exponential filter) is applied by the
stepper after each step, which is exactly pyqg's ``qh_new = filtr * (qh + ...)``.

``carry = (F_{n-1}, F_{n-2}, level)``: the past tendencies and how many exist.
"""

from __future__ import annotations

from pdesurr.solvers.integrators.base import Integrator, step_size
from pdesurr.solvers.integrators.rk4 import RK4


class AB3(Integrator):
    order = 3

    def __init__(self, linear, nonlinear, dt, startup: str = "euler"):
        super().__init__(linear, nonlinear, dt)
        if startup not in ("euler", "rk4"):
            raise ValueError(f"AB3 startup must be 'euler' or 'rk4', got {startup!r}")
        self.startup = startup
        self.h = step_size(dt, linear)
        self._rk4 = RK4(linear, nonlinear, dt) if startup == "rk4" else None

    def rhs(self, u_hat):
        return self.linear * u_hat + self.nonlinear(u_hat)

    def init(self, u_hat):
        return (None, None, 0)

    def step(self, u_hat, carry):
        f_p, f_pp, level = carry
        f = self.rhs(u_hat)
        h = self.h
        if level == 0:
            new = self._rk4.step(u_hat, None)[0] if self._rk4 else u_hat + h * f
        elif level == 1:
            new = self._rk4.step(u_hat, None)[0] if self._rk4 else u_hat + h * (1.5 * f - 0.5 * f_p)
        else:
            new = u_hat + h * ((23 / 12) * f - (16 / 12) * f_p + (5 / 12) * f_pp)
        return new, (f, f_p, min(level + 1, 2))
