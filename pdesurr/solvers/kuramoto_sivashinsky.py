r"""Kuramoto-Sivashinsky in 1D, conservative form, periodic on ``[0, L)``.

.. math::

    u_t + u u_x + u_{xx} + u_{xxxx} = 0, \qquad
    \hat L(k) = k^2 - k^4, \qquad \hat N(\hat u) = -\tfrac12\, i k\, \widehat{u^2}

with ``k = 2 pi n / L``. This is the form of Kassam & Trefethen (2005, ``kursiv.m``) and of
the PDE-Refiner / LPSDA data (Lippe et al. 2023; Brandstetter et al. 2022); APEBench's
"combustion" form ``u_t + |u_x|^2/2 + u_xx + u_xxxx = 0`` is a different equation.

The domain length ``length = L`` may differ per trajectory inside one batch (the
PDE-Refiner data draws ``L ~ U[0.9 * 64, 1.1 * 64]``): the wavenumbers, ``L`` and the
ETDRK coefficients are then per sample. With per-trajectory lengths the grid is stored in
units of the domain (``x / L`` in ``[0, 1)``) and each trajectory's ``L`` beside it.

Real FFTs keep long runs stable: with complex FFTs the round-off in the imaginary part
grows through the unstable modes (``0 < |k| < 1``) until it overflows near ``t ~ 300``;
here the state is real by construction.

``dealias``: 2/3 rule on ``u^2`` (Kassam-Trefethen's original does not dealias; the
``ks_kassam_trefethen`` preset turns it off).

Good values: ``L = 32 pi``, ``N = 128``, ``dt = 1/4`` (Kassam-Trefethen); ``L ~ 64``,
``N = 256``, ``dt ~ 0.2`` saved, smaller inside (PDE-Refiner).
"""

from __future__ import annotations

import math

import torch

from pdesurr.solvers.advection import conservative_advection
from pdesurr.solvers.pde import PDE, ParameterError, batched, check, per_sample, real_dtype
from pdesurr.solvers.system import Field, SpectralSystem
from pdesurr.spectral import Grid, energy_spectrum, parse_length


class KuramotoSivashinsky(PDE):
    """Kuramoto-Sivashinsky (see the module docstring).

    Args:
        resolution: grid points ``N`` (even).
        length: domain length ``L``: a number, ``"32pi"``, or a list with one per trajectory.
        dealias: 2/3 rule on the product ``u^2``.
    """

    name = "kuramoto_sivashinsky"
    spatial_dims = 1
    wavenumber_label = r"wavenumber $k = 2\pi n$ (x in units of the domain length)"

    def __init__(
        self,
        resolution: int = 256,
        length: float | str | list[float] = 64.0,
        dealias: bool = True,
    ):
        check(
            isinstance(resolution, int) and resolution >= 8 and resolution % 2 == 0,
            "resolution",
            f"must be an even integer >= 8, got {resolution}",
        )
        try:
            if isinstance(length, list | tuple | torch.Tensor):
                length = per_sample(length, "length", positive=True)
            else:
                length = parse_length(length)
        except ValueError as e:
            raise ParameterError("length", str(e)) from None
        check(bool(torch.all(torch.as_tensor(length) > 0)), "length", f"must be > 0, got {length}")
        self.resolution = resolution
        self.length = length
        self.dealias = bool(dealias)
        self.per_sample_length = isinstance(length, torch.Tensor)
        self.grid = Grid((resolution,), (1.0 if self.per_sample_length else length,))
        self.fields = (Field("u", long_name="KS field u"),)

    def parameters(self) -> dict:
        return {"resolution": self.resolution, "length": self.length, "dealias": self.dealias}

    def _k(self, batch, device, dtype):
        """Wavenumbers ``2 pi n / L``: ``(K,)`` shared or ``(B, 1, K)`` per trajectory."""
        (n,) = self.grid.mode_numbers(dtype, device)
        length = batched(self.length, batch, 3, dtype, device)
        return n * (2 * math.pi) / length

    def system(self, device, dtype, batch: int) -> SpectralSystem:
        rdt = real_dtype(dtype)
        k = self._k(batch, device, rdt)
        linear = k * k - k**4
        if linear.ndim == 1:
            linear = linear[None, None]
        nonlinear = conservative_advection(self.grid, k, self.dealias, device)
        return SpectralSystem(linear=linear, nonlinear=nonlinear)

    def invariants(self, u: torch.Tensor) -> dict[str, torch.Tensor]:
        """Mean ``<u>`` (conserved) and energy ``<u^2>/2`` per trajectory."""
        return {"mean": u[:, 0].mean(-1), "energy": 0.5 * (u[:, 0] ** 2).mean(-1)}

    def energy_spectrum(self, u: torch.Tensor):
        """Spectrum by mode number ``n`` (``k = 2 pi n / L`` differs per trajectory when
        ``L`` does); ``k`` returned for the grid's nominal length."""
        k, e = energy_spectrum(u, self.grid)
        return k, e, ["energy"]

    def initial_conditions(self):
        """``"kassam_trefethen"``: ``cos(2 pi x/L)(1 + sin(2 pi x/L))`` (``cos(x/16)(1 +
        sin(x/16))`` on ``L = 32 pi``); ``"random_sines"``: LPSDA's sum of ``n_sines``
        waves ``A sin(2 pi l x / L + phi)``, ``A ~ U(-amplitude, amplitude)``,
        ``l ~ {1..max_mode}``, ``phi ~ U(0, 2 pi)``."""
        return {"kassam_trefethen": self._kassam_trefethen, "random_sines": self._random_sines}

    def _phase(self, batch):
        """``2 pi x / L`` on the grid, shape ``(B or 1, 1, N)``."""
        (x,) = self.grid.coords()
        return (2 * math.pi * x / self.grid.length[0]).reshape(1, 1, -1)

    def _kassam_trefethen(self, batch, generator):
        theta = self._phase(batch)
        return (torch.cos(theta) * (1 + torch.sin(theta))).expand(batch, 1, -1).clone()

    def _random_sines(
        self, batch, generator, n_sines: int = 10, max_mode: int = 2, amplitude: float = 0.5
    ):
        check(n_sines >= 1, "initial.n_sines", "must be >= 1")
        check(max_mode >= 1, "initial.max_mode", "must be >= 1")
        theta = self._phase(batch).unsqueeze(-2)  # (1, 1, 1, N)
        shape = (batch, 1, n_sines, 1)
        amp = (torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1) * amplitude
        mode = torch.randint(1, max_mode + 1, shape, generator=generator).to(torch.float64)
        phi = torch.rand(shape, generator=generator, dtype=torch.float64) * (2 * math.pi)
        return (amp * torch.sin(mode * theta + phi)).sum(-2)
