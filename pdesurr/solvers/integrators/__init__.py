"""Time integrators for ``u_t = L u + N(u)``, each declaring its order.

``INTEGRATORS`` is the registry that presets name (``[integrator] kind = "etdrk4"``).
"""

from pdesurr.solvers.integrators.ab3 import AB3
from pdesurr.solvers.integrators.base import Integrator
from pdesurr.solvers.integrators.etdrk import ETDRK1, ETDRK2, ETDRK4
from pdesurr.solvers.integrators.rk4 import RK4

INTEGRATORS: dict[str, type[Integrator]] = {
    "etdrk1": ETDRK1,
    "etdrk2": ETDRK2,
    "etdrk4": ETDRK4,
    "rk4": RK4,
    "ab3": AB3,
}
DEFAULT_INTEGRATOR = "etdrk4"  # what a preset without [integrator] kind gets

__all__ = [
    "AB3",
    "DEFAULT_INTEGRATOR",
    "ETDRK1",
    "ETDRK2",
    "ETDRK4",
    "INTEGRATORS",
    "RK4",
    "Integrator",
]
