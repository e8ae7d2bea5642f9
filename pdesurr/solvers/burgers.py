r"""Viscous Burgers in 1D, conservative form, periodic on ``[origin, origin + L)``.

.. math::

    u_t + \tfrac12 (u^2)_x = \nu\, u_{xx}, \qquad \hat L(k) = -\nu k^2, \qquad
    \hat N(\hat u) = -\tfrac12\, i k\, \mathcal P \widehat{u^2}

``viscosity = nu``, ``k = 2 pi n / L``, ``P`` the 2/3 rule (``dealias``). For smooth ``u``
this is ``u_t + u u_x - nu u_xx = 0``, the form of
:class:`pdesurr.physics.burgers.BurgersResidual`. ``origin`` as in
:mod:`pdesurr.solvers.allen_cahn`.

Analytic check (tests): Cole-Hopf, ``u = -2 nu phi_x / phi`` with
``phi = b + cos(k x) e^{-nu k^2 t}`` (``b > 1``), initial condition ``"cole_hopf"``.

Good values: ``u_0 = -sin(pi x)`` on ``[-1, 1)``, ``nu = 0.01/pi`` (Raissi et al. 2019),
``N >= 1024`` and ``dt <= 1e-4`` to resolve the steep front near ``t = 1/pi``.
"""

from __future__ import annotations

import math

import torch

from pdesurr.solvers.advection import conservative_advection
from pdesurr.solvers.pde import LinePDE, check, real_dtype
from pdesurr.solvers.system import Field, SpectralSystem
from pdesurr.spectral import energy_spectrum


class Burgers(LinePDE):
    """Viscous Burgers (see the module docstring).

    Args:
        resolution: grid points ``N`` (even).
        length: domain length ``L``.
        origin: coordinate of grid point 0.
        viscosity: ``nu >= 0``.
        dealias: 2/3 rule on ``u^2``.
    """

    name = "burgers"
    spatial_dims = 1

    def __init__(
        self,
        resolution: int = 256,
        length: float | str = "2pi",
        origin: float = 0.0,
        viscosity: float = 0.01,
        dealias: bool = True,
    ):
        self._set_line(resolution, length, origin)
        check(viscosity >= 0, "viscosity", f"must be >= 0, got {viscosity}")
        self.viscosity, self.dealias = float(viscosity), bool(dealias)
        self.fields = (Field("u", long_name="velocity u"),)

    def parameters(self) -> dict:
        return {
            "resolution": self.resolution,
            "length": self.length,
            "origin": self.origin,
            "viscosity": self.viscosity,
            "dealias": self.dealias,
        }

    def system(self, device, dtype, batch: int) -> SpectralSystem:
        (k,) = self.grid.wavenumbers(real_dtype(dtype), device)
        linear = (-self.viscosity * k * k)[None, None]
        nonlinear = conservative_advection(self.grid, k, self.dealias, device)
        return SpectralSystem(linear=linear, nonlinear=nonlinear)

    def invariants(self, u: torch.Tensor) -> dict[str, torch.Tensor]:
        """Mean ``<u>`` (conserved) and energy ``<u^2>/2`` (dissipated)."""
        return {"mean": u[:, 0].mean(-1), "energy": 0.5 * (u[:, 0] ** 2).mean(-1)}

    def energy_spectrum(self, u: torch.Tensor):
        k, e = energy_spectrum(u, self.grid)
        return k, e, ["energy"]

    def initial_conditions(self):
        """``"sine"``: ``amplitude sin(2 pi mode (x - origin) / L)``; ``"cole_hopf"``:
        ``-2 nu phi_x / phi`` with ``phi = offset + cos(2 pi (x - origin) / L)``."""
        return {"sine": self._sine, "cole_hopf": self._cole_hopf}

    def _sine(self, batch, generator, amplitude: float = 1.0, mode: int = 1):
        return (amplitude * torch.sin(mode * self.phase())).expand(batch, 1, -1).clone()

    def _cole_hopf(self, batch, generator, offset: float = 2.0):
        check(offset > 1, "initial.offset", f"must be > 1 (phi > 0), got {offset}")
        k, th = 2 * math.pi / self.length, self.phase()
        u = 2 * self.viscosity * k * torch.sin(th) / (offset + torch.cos(th))
        return u.expand(batch, 1, -1).clone()
