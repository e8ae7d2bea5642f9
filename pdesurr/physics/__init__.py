"""PDE residuals for physics-informed networks, and the networks themselves.

``NETWORKS`` is the registry of coordinate networks (points in, fields out).

``RESIDUALS`` is the registry a ``[physics]`` recipe names with ``pde = ...``; each
residual has the sign convention and parameter names of the matching solver.
"""

from pdesurr.physics.allen_cahn import AllenCahnResidual
from pdesurr.physics.burgers import BurgersResidual
from pdesurr.physics.convection import ConvectionResidual
from pdesurr.physics.derivatives import ENGINES, derivatives
from pdesurr.physics.kuramoto_sivashinsky import KuramotoSivashinskyResidual
from pdesurr.physics.navier_stokes import NavierStokesResidual
from pdesurr.physics.networks import NETWORKS
from pdesurr.physics.residual import Residual

RESIDUALS: dict[str, type[Residual]] = {
    "convection": ConvectionResidual,
    "burgers": BurgersResidual,
    "allen_cahn": AllenCahnResidual,
    "kuramoto_sivashinsky": KuramotoSivashinskyResidual,
    "navier_stokes_2d": NavierStokesResidual,
}

__all__ = ["ENGINES", "NETWORKS", "RESIDUALS", "Residual", "derivatives"]
