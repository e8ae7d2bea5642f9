r"""Allen-Cahn in 1D.

.. math::  u_t - d\, u_{xx} + r\,(u^3 - u) = f

``diffusion = d``, ``reaction = r``, as in :class:`pdesurr.solvers.allen_cahn.AllenCahn`
(which steps ``u_t = d u_xx + r (u - u^3)``). The causal-PINN benchmark (Wang, Sankaran &
Perdikaris 2022, arXiv:2203.07404): ``d = 1e-4``, ``r = 5``, ``u_0 = x^2 cos(pi x)``,
periodic on ``[-1, 1]``, ``t in [0, 1]``. The constants ``u = -1, 0, 1`` are exact
(steady) solutions.
"""

from __future__ import annotations

from pdesurr.physics.residual import Residual


class AllenCahnResidual(Residual):
    name = "allen_cahn"
    coords = ("x", "t")
    fields = ("u",)
    needs = ("u", "u_t", "u_xx")
    components = ("pde",)

    def __init__(self, diffusion: float = 1e-4, reaction: float = 5.0, forcing=None):
        super().__init__(forcing)
        self.diffusion, self.reaction = float(diffusion), float(reaction)

    def formula(self, d, points):
        u = d["u"]
        r = d["u_t"] - self.diffusion * d["u_xx"] + self.reaction * (u**3 - u)
        return (r - self._rhs(points))[:, None]

    def parameters(self):
        return {"diffusion": self.diffusion, "reaction": self.reaction}
