r"""Allen-Cahn in 1D, periodic on ``[origin, origin + L)``.

.. math::

    u_t = d\, u_{xx} + r\,(u - u^3), \qquad \hat L(k) = -d k^2, \qquad
    \hat N(\hat u) = r\, \mathcal F[u - u^3]

``diffusion = d``, ``reaction = r``, ``k = 2 pi n / L``. The physics residual
:class:`pdesurr.physics.allen_cahn.AllenCahnResidual` writes the same equation as
``u_t - d u_xx + r (u^3 - u) = 0``. The constants ``-1, 0, 1`` are steady states (``0``
unstable). ``dealias``: the cubic needs a 1/2 rule to be alias-free; with the smooth
fronts of the benchmark a 2/3 mask (the default, as the other solvers) suffices at the
resolutions used, and ``dealias = false`` keeps every mode.

``origin`` places the grid: point ``j`` is at ``origin + j L / N`` (the equation is
translation invariant, so it enters only the initial condition and the coordinates a
PINN reads; stores keep the solver's ``x`` in ``[0, L)``).

Good values: the causal-PINN benchmark (Wang, Sankaran & Perdikaris 2022,
arXiv:2203.07404): ``d = 1e-4``, ``r = 5``, ``[-1, 1)``, ``u_0 = x^2 cos(pi x)``,
``t in [0, 1]``; the reference data of that paper use 512 points and ``dt = 5e-3``
(Chebfun, ETDRK4); here ETDRK4 with ``dt = 1e-4``.
"""

from __future__ import annotations

import math

import torch

from pdesurr.solvers.pde import LinePDE, check, real_dtype
from pdesurr.solvers.system import Field, SpectralSystem
from pdesurr.spectral import dealias_mask, energy_spectrum


class AllenCahn(LinePDE):
    """Allen-Cahn (see the module docstring).

    Args:
        resolution: grid points ``N`` (even).
        length: domain length ``L`` (number or ``"2pi"``).
        origin: coordinate of grid point 0.
        diffusion: ``d >= 0``.
        reaction: ``r``.
        dealias: 2/3 mask on the nonlinear term.
    """

    name = "allen_cahn"
    spatial_dims = 1

    def __init__(
        self,
        resolution: int = 512,
        length: float | str = 2.0,
        origin: float = -1.0,
        diffusion: float = 1e-4,
        reaction: float = 5.0,
        dealias: bool = True,
    ):
        self._set_line(resolution, length, origin)
        check(diffusion >= 0, "diffusion", f"must be >= 0, got {diffusion}")
        self.diffusion, self.reaction, self.dealias = float(diffusion), float(reaction), dealias
        self.fields = (Field("u", long_name="order parameter u"),)

    def parameters(self) -> dict:
        return {
            "resolution": self.resolution,
            "length": self.length,
            "origin": self.origin,
            "diffusion": self.diffusion,
            "reaction": self.reaction,
            "dealias": self.dealias,
        }

    def system(self, device, dtype, batch: int) -> SpectralSystem:
        (k,) = self.grid.wavenumbers(real_dtype(dtype), device)
        linear = (-self.diffusion * k * k)[None, None]
        mask = dealias_mask(self.grid, device) if self.dealias else None
        r, grid = self.reaction, self.grid

        def nonlinear(u_hat: torch.Tensor) -> torch.Tensor:
            u = grid.irfft(u_hat)
            n_hat = grid.rfft(r * (u - u**3))
            return n_hat if mask is None else n_hat * mask

        return SpectralSystem(linear=linear, nonlinear=nonlinear)

    def invariants(self, u: torch.Tensor) -> dict[str, torch.Tensor]:
        """Mean ``<u>`` and the free energy ``<d u_x^2 / 2 + r (u^2 - 1)^2 / 4>`` (never
        increases)."""
        (k,) = self.grid.wavenumbers(u.dtype, u.device)
        ux = self.grid.irfft(1j * k * self.grid.rfft(u))
        free = 0.5 * self.diffusion * ux[:, 0] ** 2 + 0.25 * self.reaction * (u[:, 0] ** 2 - 1) ** 2
        return {"mean": u[:, 0].mean(-1), "free_energy": free.mean(-1)}

    def energy_spectrum(self, u: torch.Tensor):
        k, e = energy_spectrum(u, self.grid)
        return k, e, ["energy"]

    def initial_conditions(self):
        """``"cosine_square"``: ``x^2 cos(pi x)`` (the benchmark; ``x`` physical);
        ``"constant"``: ``value``; ``"sine"``: ``value + amplitude sin(2 pi n x / L)``."""
        return {
            "cosine_square": self._cosine_square,
            "constant": self._constant,
            "sine": self._sine,
        }

    def _cosine_square(self, batch, generator):
        x = self.x()
        return (x**2 * torch.cos(math.pi * x)).expand(batch, 1, -1).clone()

    def _constant(self, batch, generator, value: float = 1.0):
        return torch.full((batch, 1, self.resolution), float(value), dtype=torch.float64)

    def _sine(self, batch, generator, value: float = 0.0, amplitude: float = 1.0, mode: int = 1):
        theta = mode * self.phase()
        return (value + amplitude * torch.sin(theta)).expand(batch, 1, -1).clone()
