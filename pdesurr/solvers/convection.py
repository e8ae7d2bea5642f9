r"""Linear convection-diffusion in 1D, periodic on ``[origin, origin + L)``: exact in time.

.. math::

    u_t + c\, u_x = \nu\, u_{xx}, \qquad \hat L(k) = -i c k - \nu k^2, \qquad \hat N = 0

``velocity = c``, ``viscosity = nu``. With ``N = 0`` every ETDRK integrator multiplies
each mode by ``e^{L dt}``, so the band-limited solution ``u_0(x - c t)`` (times
``e^{-nu k^2 t}`` per mode) is reproduced to round-off for any ``dt``: this is the
"exact" reference of the PINN failure-mode benchmark (Krishnapriyan et al. 2021,
arXiv:2109.01050: ``c = 30 .. 50``, ``u_0 = sin x`` on ``[0, 2 pi)``, ``t in [0, 1]``).
The residual :class:`pdesurr.physics.convection.ConvectionResidual` uses the same names.
"""

from __future__ import annotations

import math

import torch

from pdesurr.solvers.pde import LinePDE, check, real_dtype
from pdesurr.solvers.system import Field, SpectralSystem
from pdesurr.spectral import derivative_symbol, energy_spectrum


class Convection(LinePDE):
    """Linear convection-diffusion (see the module docstring).

    Args:
        resolution: grid points ``N`` (even).
        length: domain length ``L``.
        origin: coordinate of grid point 0.
        velocity: ``c``.
        viscosity: ``nu >= 0``.
    """

    name = "convection"
    spatial_dims = 1

    def __init__(
        self,
        resolution: int = 256,
        length: float | str = "2pi",
        origin: float = 0.0,
        velocity: float = 1.0,
        viscosity: float = 0.0,
    ):
        self._set_line(resolution, length, origin)
        check(viscosity >= 0, "viscosity", f"must be >= 0, got {viscosity}")
        self.velocity, self.viscosity = float(velocity), float(viscosity)
        self.fields = (Field("u", long_name="transported scalar u"),)

    def parameters(self) -> dict:
        return {
            "resolution": self.resolution,
            "length": self.length,
            "origin": self.origin,
            "velocity": self.velocity,
            "viscosity": self.viscosity,
        }

    def system(self, device, dtype, batch: int) -> SpectralSystem:
        (k,) = self.grid.wavenumbers(real_dtype(dtype), device)
        (nyq,) = self.grid.nyquist_masks(device)
        # the Nyquist mode cannot travel (its sine part is not on the grid): it only decays
        linear = -self.velocity * derivative_symbol(k, 1, nyq) - self.viscosity * k * k
        return SpectralSystem(linear=linear[None, None], nonlinear=torch.zeros_like)

    def invariants(self, u: torch.Tensor) -> dict[str, torch.Tensor]:
        """Mean ``<u>`` and energy ``<u^2>/2`` (both conserved when ``nu = 0``)."""
        return {"mean": u[:, 0].mean(-1), "energy": 0.5 * (u[:, 0] ** 2).mean(-1)}

    def energy_spectrum(self, u: torch.Tensor):
        k, e = energy_spectrum(u, self.grid)
        return k, e, ["energy"]

    def initial_conditions(self):
        """``"sine"``: ``amplitude sin(2 pi mode (x - origin) / L)``; ``"gaussian"``: a
        periodic bump ``exp(-(d / width)^2)``, ``d`` the periodic distance to ``center``."""
        return {"sine": self._sine, "gaussian": self._gaussian}

    def _sine(self, batch, generator, amplitude: float = 1.0, mode: int = 1):
        th = mode * self.phase()
        return (amplitude * torch.sin(th)).expand(batch, 1, -1).clone()

    def _gaussian(self, batch, generator, center: float = math.pi, width: float = 0.5):
        check(width > 0, "initial.width", f"must be > 0, got {width}")
        d = torch.remainder(self.x() - center + self.length / 2, self.length) - self.length / 2
        return torch.exp(-((d / width) ** 2)).expand(batch, 1, -1).clone()
