r"""Kuramoto-Sivashinsky in 1D, the conservative form of the solver.

.. math::  u_t + u\, u_x + u_{xx} + u_{xxxx} = f

as :class:`pdesurr.solvers.kuramoto_sivashinsky.KuramotoSivashinsky` (Kassam & Trefethen
2005; PDE-Refiner data). The equation has no parameters; the domain length ``L`` of the
solver enters the network (periodic embedding with ``omega = 2 pi / L``), not the
residual. The causal-PINN paper's chaotic case is time-marched over windows.
"""

from __future__ import annotations

from pdesurr.physics.residual import Residual


class KuramotoSivashinskyResidual(Residual):
    name = "kuramoto_sivashinsky"
    coords = ("x", "t")
    fields = ("u",)
    needs = ("u", "u_t", "u_x", "u_xx", "u_xxxx")
    components = ("pde",)

    def formula(self, d, points):
        r = d["u_t"] + d["u"] * d["u_x"] + d["u_xx"] + d["u_xxxx"] - self._rhs(points)
        return r[:, None]
