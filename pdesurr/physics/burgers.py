r"""Viscous Burgers in 1D, conservative nonlinearity written pointwise.

.. math::  u_t + u\, u_x - \nu\, u_{xx} = f

``viscosity = nu``, as in :class:`pdesurr.solvers.burgers.Burgers` (which steps
``u_t = nu u_xx - (u^2/2)_x``, the same equation for smooth ``u``). Cole-Hopf: with
``phi_t = nu phi_xx``, ``u = -2 nu phi_x / phi`` solves it exactly (tests).
"""

from __future__ import annotations

from pdesurr.physics.residual import Residual


class BurgersResidual(Residual):
    name = "burgers"
    characteristics = True  # dx/dt = u
    coords = ("x", "t")
    fields = ("u",)
    needs = ("u", "u_t", "u_x", "u_xx")
    components = ("pde",)

    def __init__(self, viscosity: float = 0.01, forcing=None):
        super().__init__(forcing)
        self.viscosity = float(viscosity)

    def formula(self, d, points):
        r = d["u_t"] + d["u"] * d["u_x"] - self.viscosity * d["u_xx"] - self._rhs(points)
        return r[:, None]

    def parameters(self):
        return {"viscosity": self.viscosity}
