"""Third-order Adams-Bashforth on ``L u + N(u)``, as pyqg steps its models.

    u+ = u + h (23/12 F_n - 16/12 F_{n-1} + 5/12 F_{n-2}),   F = L u + N(u)

Adams-Bashforth is not self-starting. ``startup="euler"`` is pyqg's choice (one forward
Euler step, then one AB2 step ``3/2 F_n - 1/2 F_{n-1}``): bit-for-bit the scheme that
reproduces pyqg's trajectories, but the Euler step's local error makes the *global* error
O(h^2). ``startup="rk4"`` computes the first two steps with classical RK4 and keeps the
declared order 3. The filter of the PDE (pyqg's exponential filter) is applied by the
stepper after each step, which is exactly pyqg's ``qh_new = filtr * (qh + ...)``.

``carry = (F_{n-1}, F_{n-2}, level)``: the past tendencies and how many exist.

:meth:`AB3.step_` is the same step done in place, for a caller that owns the state (the
:class:`~pdesurr.solvers.stepper.Stepper`): the new tendency is written into the buffer of
the one that falls out of the history (when the PDE's ``nonlinear`` takes ``out=``, as
QG's does) and the increment into a work array, so a step allocates nothing.
"""

from __future__ import annotations

import inspect

import torch

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
        # a zero L (QG: everything explicit) needs no L u term
        self._has_linear = bool(torch.any(linear != 0))
        try:
            self._nonlinear_out = "out" in inspect.signature(nonlinear).parameters
        except (TypeError, ValueError):  # a builtin or C callable
            self._nonlinear_out = False
        self._spare: list[torch.Tensor] = []  # dead tendency buffers, reused by step_

    def rhs(self, u_hat, out=None):
        f = self.nonlinear(u_hat, out=out) if out is not None else self.nonlinear(u_hat)
        return f + self.linear * u_hat if self._has_linear else f

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

    def _buffer(self, like: torch.Tensor) -> torch.Tensor | None:
        while self._spare:
            b = self._spare.pop()
            if b.shape == like.shape and b.dtype == like.dtype and b.device == like.device:
                return b
        return None

    def step_(self, u_hat, carry):
        """:meth:`step` in place: ``u_hat`` is overwritten with the new state; ``carry``'s
        oldest tendency buffer is reused (pass the carry of the previous call only)."""
        f_p, f_pp, level = carry
        if level < 2 or (torch.is_grad_enabled() and u_hat.requires_grad):
            return self.step(u_hat, carry)  # the start-up steps allocate; autograd too
        f = self.rhs(u_hat, out=self._buffer(u_hat) if self._nonlinear_out else None)
        inc = self._buffer(u_hat)
        inc = torch.mul(f, 23 / 12, out=inc) if inc is not None else f * (23 / 12)
        inc.add_(f_p, alpha=-16 / 12).add_(f_pp, alpha=5 / 12)
        u_hat.add_(inc.mul_(self.h))
        self._spare[:] = [inc, f_pp]
        return u_hat, (f, f_p, 2)
