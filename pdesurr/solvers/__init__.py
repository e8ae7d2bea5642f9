"""Batched pseudo-spectral solvers: one PDE per file, integrators apart, a Stepper joins them.

``PDES`` is the registry presets name with ``[pde] kind = ...``.
"""

from pdesurr.solvers.allen_cahn import AllenCahn
from pdesurr.solvers.burgers import Burgers
from pdesurr.solvers.convection import Convection
from pdesurr.solvers.integrators import DEFAULT_INTEGRATOR, INTEGRATORS
from pdesurr.solvers.kuramoto_sivashinsky import KuramotoSivashinsky
from pdesurr.solvers.navier_stokes import NavierStokes2D
from pdesurr.solvers.pde import PDE, ParameterError
from pdesurr.solvers.quasi_geostrophic import QuasiGeostrophic
from pdesurr.solvers.stepper import Stepper
from pdesurr.solvers.system import DivergenceError, Field, SpectralSystem

PDES: dict[str, type[PDE]] = {
    "navier_stokes_2d": NavierStokes2D,
    "kuramoto_sivashinsky": KuramotoSivashinsky,
    "quasi_geostrophic": QuasiGeostrophic,
    "allen_cahn": AllenCahn,
    "burgers": Burgers,
    "convection": Convection,
}

__all__ = [
    "AllenCahn",
    "Burgers",
    "Convection",
    "DEFAULT_INTEGRATOR",
    "INTEGRATORS",
    "PDES",
    "PDE",
    "DivergenceError",
    "Field",
    "KuramotoSivashinsky",
    "NavierStokes2D",
    "ParameterError",
    "QuasiGeostrophic",
    "SpectralSystem",
    "Stepper",
]
