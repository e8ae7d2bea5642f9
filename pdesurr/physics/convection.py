r"""Linear convection-diffusion in 1D.

.. math::  u_t + c\, u_x - \nu\, u_{xx} = f

``velocity = c``, ``viscosity = nu`` (0: pure convection), as in
:class:`pdesurr.solvers.convection.Convection`. Exact for ``nu = 0`` and ``f = 0``:
``u = u_0(x - c t)``. The failure-mode benchmark of Krishnapriyan et al. (2021,
arXiv:2109.01050): ``u_0 = sin x`` on ``[0, 2 pi)``, ``t in [0, 1]``, ``c = 30 .. 50``.
"""

from __future__ import annotations

from pdesurr.physics.residual import Residual


class ConvectionResidual(Residual):
    name = "convection"
    characteristics = True  # dx/dt = c
    coords = ("x", "t")
    fields = ("u",)
    components = ("pde",)

    def __init__(self, velocity: float = 1.0, viscosity: float = 0.0, forcing=None):
        super().__init__(forcing)
        self.velocity, self.viscosity = float(velocity), float(viscosity)
        self.needs = ("u_t", "u_x", "u_xx") if self.viscosity else ("u_t", "u_x")

    def formula(self, d, points):
        r = d["u_t"] + self.velocity * d["u_x"] - self._rhs(points)
        if self.viscosity:
            r = r - self.viscosity * d["u_xx"]
        return r[:, None]

    def parameters(self):
        return {"velocity": self.velocity, "viscosity": self.viscosity}
