r"""Incompressible Navier-Stokes in 2D, vorticity form, on a doubly periodic box.

.. math::

    \partial_t \omega + \mathbf u \cdot \nabla \omega = \nu \nabla^2 \omega - \alpha \omega + f,
    \qquad \mathbf u = (\partial_y \psi, -\partial_x \psi), \qquad \nabla^2 \psi = -\omega

with ``omega = dv/dx - du/dy`` (the standard convention; jax-cfd's with axis 0 = x;
exponax's state is ``-omega`` in it). Arrays are ``(B, 1, Ny, Nx)`` with ``x`` on the last
axis, as pyqg and most plotting do. In Fourier space, ``L = -nu |k|^2 - alpha`` and

.. math::

    N(\hat\omega) = -\mathcal P\big[i k_x \widehat{u\omega} + i k_y \widehat{v\omega}\big] + \hat f,

the advection in flux form (``div u = 0``), products computed on the grid and filtered by
the 2/3 rule ``P`` (:func:`pdesurr.spectral.dealias_mask`; applied to the product, with
the state kept inside the mask). One evaluation of ``N`` costs 3 inverse and 2 forward 2D
real FFTs (batched in one call each), so ETDRK4 spends 20 FFTs per step. ``nonlinear``
below is the definition, run by the torch step (CUDA, autograd, other integrators); with
the 2/3 rule the system also declares its form (``VorticityAdvection``), from which
:mod:`pdesurr.solvers.integrators.compiled_vorticity` steps dealiased CPU states with
fused kernels and pruned transforms (the same trajectories to round-off).

Symbols: ``viscosity = nu``, ``drag = alpha`` (linear drag on omega), forcing
``"kolmogorov"``: the velocity forcing ``(A sin(k_f y), 0)``, i.e. ``f = -A k_f cos(k_f y)``
on omega, ``forcing_wavenumber = k_f`` (mode number on a box of length ``L``: the physical
wavenumber is ``2 pi k_f / L``), ``forcing_amplitude = A``.

Good values: Kolmogorov flow of Kochkov et al. (2021, PNAS, doi:10.1073/pnas.2101784118):
``L = 2 pi``, ``nu = 1e-3``, ``alpha = 0.1``, ``k_f = 4``, ``A = 1``; ``dt = 0.5 dx / 7``
(CFL 0.5 at a maximum velocity of 7). At 128^2 that flow is under-resolved; generate at
512^2 or finer and down-sample spectrally. Decaying turbulence: ``nu = 1e-4 .. 1e-3``, no
forcing, random initial vorticity peaked at mode 4-10.

Analytic checks (tests): Taylor-Green ``omega = 2k sin(kx) sin(ky) e^{-(2 nu k^2 + alpha) t}``
(the nonlinear term vanishes); laminar Kolmogorov flow
``u = A sin(k_f y) / (nu k_f^2 + alpha)`` is steady.
"""

from __future__ import annotations

import math

import torch

from pdesurr.solvers.pde import PDE, ParameterError, batched, check, per_sample, real_dtype
from pdesurr.solvers.system import Field, SpectralSystem, VorticityAdvection
from pdesurr.spectral import (
    Grid,
    dealias_mask,
    derivative_symbol,
    energy_spectrum,
    fft,
    parse_length,
)

FORCINGS = ("none", "kolmogorov")


class NavierStokes2D(PDE):
    """2D Navier-Stokes in vorticity form (see the module docstring for the equation).

    Args:
        resolution: grid points per side (even).
        length: side of the square box (number or ``"2pi"``).
        viscosity: kinematic viscosity ``nu`` >= 0 (one value, or one per trajectory).
        drag: linear drag ``alpha`` >= 0 on the vorticity (one value or one per trajectory).
        forcing: ``"none"`` or ``"kolmogorov"``.
        forcing_wavenumber: ``k_f`` (mode number of the forcing).
        forcing_amplitude: ``A`` (one value or one per trajectory).
        dealias: apply the 2/3 rule to the advection term.
    """

    name = "navier_stokes_2d"
    spatial_dims = 2

    def __init__(
        self,
        resolution: int = 128,
        length: float | str = "2pi",
        viscosity: float | list[float] = 1e-3,
        drag: float | list[float] = 0.0,
        forcing: str = "none",
        forcing_wavenumber: int = 4,
        forcing_amplitude: float | list[float] = 1.0,
        dealias: bool = True,
    ):
        check(forcing in FORCINGS, "forcing", f"must be one of {FORCINGS}, got {forcing!r}")
        check(
            isinstance(forcing_wavenumber, int) and 0 < forcing_wavenumber < resolution // 2,
            "forcing_wavenumber",
            f"must be an integer in [1, resolution/2), got {forcing_wavenumber}",
        )
        check(
            isinstance(resolution, int) and resolution >= 8 and resolution % 2 == 0,
            "resolution",
            f"must be an even integer >= 8, got {resolution}",
        )
        try:
            side = parse_length(length)
        except ValueError as e:
            raise ParameterError("length", str(e)) from None
        check(side > 0, "length", f"must be > 0, got {length}")
        self.resolution = resolution
        self.length = side
        self.viscosity = per_sample(viscosity, "viscosity", nonnegative=True)
        self.drag = per_sample(drag, "drag", nonnegative=True)
        self.forcing = forcing
        self.forcing_wavenumber = forcing_wavenumber
        self.forcing_amplitude = per_sample(forcing_amplitude, "forcing_amplitude")
        self.dealias = bool(dealias)
        self.grid = Grid((resolution, resolution), (side, side))
        self.fields = (Field("vorticity", long_name="relative vorticity", units="1/time"),)

    def parameters(self) -> dict:
        return {
            "resolution": self.resolution,
            "length": self.length,
            "viscosity": self.viscosity,
            "drag": self.drag,
            "forcing": self.forcing,
            "forcing_wavenumber": self.forcing_wavenumber,
            "forcing_amplitude": self.forcing_amplitude,
            "dealias": self.dealias,
        }

    # --- operators -------------------------------------------------------------------
    def _symbols(self, device, dtype):
        ky, kx = self.grid.wavenumbers(dtype, device)
        nyq_y, nyq_x = self.grid.nyquist_masks(device)
        dy = derivative_symbol(ky, 1, nyq_y)
        dx = derivative_symbol(kx, 1, nyq_x)
        k2 = kx * kx + ky * ky
        inv_k2 = torch.where(k2 == 0, torch.zeros_like(k2), 1.0 / torch.where(k2 == 0, 1.0, k2))
        return dx, dy, k2, inv_k2

    def forcing_field(self, dtype=torch.float64, device=None) -> torch.Tensor:
        """The vorticity forcing ``f(y, x)`` for unit amplitude, shape ``(Ny, Nx)``."""
        y, x = self.grid.meshgrid(dtype, device)
        if self.forcing == "none":
            return torch.zeros_like(x)
        k = 2 * math.pi * self.forcing_wavenumber / self.length
        return -k * torch.cos(k * y)

    def system(self, device, dtype, batch: int) -> SpectralSystem:
        rdt = real_dtype(dtype)
        dx, dy, k2, inv_k2 = self._symbols(device, rdt)
        nu = batched(self.viscosity, batch, 4, rdt, device)
        alpha = batched(self.drag, batch, 4, rdt, device)
        linear = (-nu * k2 - alpha) * torch.ones_like(k2)
        if linear.ndim == 2:
            linear = linear[None, None]
        mask = dealias_mask(self.grid, device) if self.dealias else None
        f_hat = None
        if self.forcing != "none":
            amp = batched(self.forcing_amplitude, batch, 4, rdt, device)
            f_hat = amp * self.grid.rfft(self.forcing_field(rdt, device))
        # u_hat = i ky psi_hat, v_hat = -i kx psi_hat, psi_hat = omega_hat / |k|^2: one
        # (1, 3, Ny, Kx) symbol maps omega_hat to (u, v, omega) in a single multiply
        to_uvw = torch.stack([dy * inv_k2, -dx * inv_k2, torch.ones_like(dx * inv_k2)])[None]
        keep = (
            mask
            if mask is not None
            else torch.ones(self.grid.spectral_shape, dtype=torch.bool, device=device)
        )
        neg_div = torch.stack([-dx * keep, -dy * keep])[None]  # -(d/dx, d/dy), dealiased
        grid = self.grid
        # (u, v, omega)-hat, laid out for the fastest inverse (fft.inverse_workspace)
        work = fft.inverse_workspace(
            (batch, 3, *grid.spectral_shape), to_uvw.dtype, device, grid.fft_backend
        )

        def nonlinear(w_hat: torch.Tensor) -> torch.Tensor:
            uvw = grid.irfft(fft.times_into(work, to_uvw, w_hat))  # (B, 3, Ny, Nx): u, v, omega
            flux = grid.rfft(uvw[:, :2] * uvw[:, 2:3]) * neg_div  # (B, 2, Ny, Kx)
            adv = flux[:, :1] + flux[:, 1:]
            return adv if f_hat is None else f_hat + adv

        form = None
        if mask is not None:  # what the fused CPU step needs (compiled_vorticity.py)
            ny, nx = grid.shape
            form = VorticityAdvection(
                shape=(ny, nx),
                kx=dx.imag.reshape(-1),
                ky=dy.imag.reshape(-1),
                inv_k2=inv_k2,
                rows=(ny - 1) // 3,  # dealias_mask's 2/3 rule
                cols=(nx - 1) // 3 + 1,
                forcing=f_hat,
            )
        return SpectralSystem(linear=linear, nonlinear=nonlinear, advection=form)

    # --- diagnostics -----------------------------------------------------------------
    def velocity(self, omega: torch.Tensor) -> torch.Tensor:
        """Velocity ``(B, 2, Ny, Nx)`` = ``(u, v)`` from vorticity ``(B, 1, Ny, Nx)``."""
        dx, dy, _, inv_k2 = self._symbols(omega.device, omega.dtype)
        w_hat = self.grid.rfft(omega)
        return self.grid.irfft(torch.cat([dy * inv_k2 * w_hat, -dx * inv_k2 * w_hat], dim=1))

    def invariants(self, u: torch.Tensor) -> dict[str, torch.Tensor]:
        """Mean kinetic energy ``<|u|^2>/2`` and enstrophy ``<omega^2>/2`` per trajectory."""
        vel = self.velocity(u)
        return {
            "energy": 0.5 * (vel**2).sum(1).mean((-2, -1)),
            "enstrophy": 0.5 * (u[:, 0] ** 2).mean((-2, -1)),
        }

    def energy_spectrum(self, u: torch.Tensor):
        k, e = energy_spectrum(self.velocity(u), self.grid)
        return k, e.sum(1, keepdim=True), ["kinetic energy"]

    # --- initial conditions ----------------------------------------------------------
    def initial_conditions(self):
        """``"taylor_green"`` (``wavenumber``, ``amplitude``), ``"random"``
        (``peak_wavenumber``, ``energy``), ``"laminar"`` (the steady Kolmogorov flow)."""
        return {
            "taylor_green": self._taylor_green,
            "random": self._random,
            "laminar": self._laminar,
        }

    def _taylor_green(self, batch, generator, wavenumber: int = 1, amplitude: float = 1.0):
        y, x = self.grid.meshgrid()
        k = 2 * math.pi * wavenumber / self.length
        w = amplitude * 2 * k * torch.sin(k * x) * torch.sin(k * y)
        return w.expand(batch, 1, *w.shape).clone()

    def _laminar(self, batch, generator):
        check(self.forcing == "kolmogorov", "initial.kind", "laminar needs kolmogorov forcing")
        k = 2 * math.pi * self.forcing_wavenumber / self.length
        nu = torch.as_tensor(self.viscosity, dtype=torch.float64).reshape(-1, 1, 1, 1)
        alpha = torch.as_tensor(self.drag, dtype=torch.float64).reshape(-1, 1, 1, 1)
        amp = torch.as_tensor(self.forcing_amplitude, dtype=torch.float64).reshape(-1, 1, 1, 1)
        check(
            bool((nu * k * k + alpha > 0).all()), "viscosity", "laminar flow needs nu or drag > 0"
        )
        w = amp * self.forcing_field()[None, None] / (nu * k * k + alpha)
        return w.expand(batch, 1, *self.grid.shape).clone()

    def _random(self, batch, generator, peak_wavenumber: float = 4.0, energy: float = 0.5):
        """Gaussian random vorticity with energy spectrum ``E(k) ~ k^4 exp(-2 (k/k_p)^2)``
        (peak at ``k_p``)
        (the shape used for decaying 2D turbulence, e.g. San & Staples 2012), zero mean,
        inside the dealiasing mask, scaled to mean kinetic energy ``energy``."""
        check(peak_wavenumber > 0, "initial.peak_wavenumber", "must be > 0")
        check(energy > 0, "initial.energy", "must be > 0")
        noise = torch.randn(batch, 1, *self.grid.shape, generator=generator, dtype=torch.float64)
        n_hat = self.grid.rfft(noise)
        ky, kx = self.grid.wavenumbers()
        kmag = torch.sqrt(kx * kx + ky * ky) * self.length / (2 * math.pi)  # in mode numbers
        spectrum = kmag**4 * torch.exp(-2 * (kmag / peak_wavenumber) ** 2)
        w_hat = n_hat * torch.sqrt(spectrum * kmag)  # |w_hat|^2 ~ k E(k) for isotropic 2D
        w_hat = w_hat * dealias_mask(self.grid)
        w = self.grid.irfft(w_hat)
        e = self.invariants(w)["energy"].reshape(-1, 1, 1, 1)
        return w * torch.sqrt(energy / e)
