r"""Two-layer quasi-geostrophic (Phillips) model in pyqg's formulation (``QGModel``, 0.7).

.. math::

    q_1 = \nabla^2\psi_1 + F_1(\psi_2 - \psi_1), \qquad
    q_2 = \nabla^2\psi_2 + F_2(\psi_1 - \psi_2), \qquad
    F_1 = \frac{1}{r_d^2 (1 + \delta)}, \quad F_2 = \delta F_1, \quad \delta = H_1/H_2,

    \partial_t q_n + J(\psi_n, q_n) + U_n \partial_x q_n + Q_{y,n}\,\partial_x \psi_n
        = -\delta_{n2}\, r_{ek} \nabla^2 \psi_2,

with ``Q_{y,1} = beta + F_1 (U_1 - U_2)``, ``Q_{y,2} = beta - F_2 (U_1 - U_2)``,
``u = -psi_y``, ``v = psi_x``. As in pyqg, the advection is in flux form with the mean flow
added to ``u`` on the grid: ``dq_hat/dt = -(i k FFT((u + U) q) + i l FFT(v q) + i k Q_y
psi_hat) + r_ek kappa^2 psi_hat_2``, with no dealiasing: after every step the PV is
multiplied by pyqg's exponential filter ``exp(-filterfac (kappa* - 0.65 pi)^4)`` for
``kappa* = sqrt((k dx)^2 + (l dy)^2) > 0.65 pi`` (1 below). The grid is pyqg's: ``(layer, y,
x)``, ``x`` on the last axis, points at cell centres ``(i + 1/2) dx``.

Everything is explicit (``L = 0``), so pyqg's own scheme is the ``ab3`` integrator with
``startup = "euler"`` (forward Euler, then AB2, then AB3), which with the same parameters
and initial PV reproduces pyqg's trajectory; other integrators (``rk4``, ``etdrk4``) work
too. Parameters keep pyqg's names and SI units (defaults are pyqg's): ``L``, ``W`` (domain
size, m), ``nx``, ``ny``, ``beta`` (1/(m s)), ``rd`` (deformation radius, m), ``delta``,
``H1`` (m), ``U1``, ``U2`` (m/s), ``rek`` (1/s), ``filterfac``. pyqg's ``dt = 7200 s``
goes in the ``[integrator]`` table. Simplified relative to pyqg: uniform (scalar) mean
flows ``U1``, ``U2``; no parameterizations; no diagnostics accumulation.

``nonlinear`` in :meth:`QuasiGeostrophic.system` is the definition (the torch step: CUDA,
autograd, other integrators); the system also declares it as a ``TwoLayerAdvection``, from
which :mod:`pdesurr.solvers.integrators.compiled_layers` runs AB3 on CPU with fused
kernels (the same trajectories to round-off).

The linear stability matrix :meth:`linear_matrix` gives the Phillips model's
baroclinic-instability growth rates that the tests check the solver against.
"""

from __future__ import annotations

import math

import torch

from pdesurr.solvers.pde import PDE, check, real_dtype
from pdesurr.solvers.system import Field, SpectralSystem, TwoLayerAdvection
from pdesurr.spectral import Grid, energy_spectrum


class QuasiGeostrophic(PDE):
    """Two-layer QG model, pyqg's parameters (see the module docstring)."""

    name = "quasi_geostrophic"
    spatial_dims = 2
    time_units = "s"  # SI units throughout (lengths in m)
    wavenumber_label = "wavenumber k [rad/m]"

    @classmethod
    def resolution_arguments(cls, shape) -> dict[str, int]:
        """A rectangular grid ``(ny, nx)``."""
        return {"ny": int(shape[-2]), "nx": int(shape[-1])}

    def __init__(
        self,
        nx: int = 64,
        ny: int | None = None,
        L: float = 1e6,
        W: float | None = None,
        beta: float = 1.5e-11,
        rd: float = 15000.0,
        delta: float = 0.25,
        H1: float = 500.0,
        U1: float = 0.025,
        U2: float = 0.0,
        rek: float = 5.787e-7,
        filterfac: float = 23.6,
    ):
        ny = nx if ny is None else ny
        W = L if W is None else W
        for key, n in (("nx", nx), ("ny", ny)):
            check(
                isinstance(n, int) and n >= 8 and n % 2 == 0,
                key,
                f"must be an even integer >= 8, got {n}",
            )
        for key, v in (("L", L), ("W", W), ("rd", rd), ("delta", delta), ("H1", H1)):
            check(v > 0, key, f"must be > 0, got {v}")
        check(rek >= 0, "rek", f"must be >= 0, got {rek}")
        check(filterfac >= 0, "filterfac", f"must be >= 0, got {filterfac}")
        self.nx, self.ny, self.L, self.W = nx, ny, float(L), float(W)
        self.beta, self.rd, self.delta, self.H1 = float(beta), float(rd), float(delta), float(H1)
        self.U1, self.U2, self.rek, self.filterfac = (
            float(U1),
            float(U2),
            float(rek),
            float(filterfac),
        )
        self.F1 = self.rd**-2 / (1.0 + self.delta)
        self.F2 = self.delta * self.F1
        self.Qy = (
            self.beta + self.F1 * (self.U1 - self.U2),
            self.beta - self.F2 * (self.U1 - self.U2),
        )
        self.grid = Grid((ny, nx), (self.W, self.L), offset=0.5)
        self.fields = (
            Field(
                "q",
                channels=2,
                dims=("layer",),
                long_name="potential vorticity anomaly",
                units="1/s",
            ),
        )

    def parameters(self) -> dict:
        return {
            "nx": self.nx,
            "ny": self.ny,
            "L": self.L,
            "W": self.W,
            "beta": self.beta,
            "rd": self.rd,
            "delta": self.delta,
            "H1": self.H1,
            "U1": self.U1,
            "U2": self.U2,
            "rek": self.rek,
            "filterfac": self.filterfac,
        }

    # --- operators -------------------------------------------------------------------
    def _wavenumbers(self, device, dtype):
        ll, kk = self.grid.wavenumbers(dtype, device)  # (ny, 1), (1, nx/2+1)
        return kk, ll, kk * kk + ll * ll

    def inversion_matrix(self, device=None, dtype=torch.float64) -> torch.Tensor:
        """pyqg's ``a``: ``psi_hat_n = sum_m a[n, m] q_hat_m``, shape ``(2, 2, ny, nx/2+1)``;
        zero at ``kappa = 0`` (the mean streamfunction is free)."""
        _, _, k2 = self._wavenumbers(device, dtype)
        det = k2 * (k2 + self.F1 + self.F2)
        inv = torch.where(det == 0, torch.zeros_like(det), 1.0 / torch.where(det == 0, 1.0, det))
        return torch.stack(
            [
                torch.stack([-(k2 + self.F2) * inv, -self.F1 * inv * torch.ones_like(k2)]),
                torch.stack([-self.F2 * inv * torch.ones_like(k2), -(k2 + self.F1) * inv]),
            ]
        )

    def filter(self, device=None, dtype=torch.float64) -> torch.Tensor:
        """pyqg's exponential small-scale filter on the spectral grid ``(ny, nx/2+1)``."""
        kk, ll, _ = self._wavenumbers(device, dtype)
        dy, dx = self.grid.spacing
        wvx = torch.sqrt((kk * dx) ** 2 + (ll * dy) ** 2)
        cphi = 0.65 * math.pi
        filt = torch.exp(-self.filterfac * (wvx - cphi) ** 4)
        return torch.where(wvx <= cphi, torch.ones_like(filt), filt)

    def streamfunction(self, q: torch.Tensor) -> torch.Tensor:
        """``psi`` of both layers, ``(B, 2, ny, nx)``, from the PV ``q``."""
        a = self.inversion_matrix(q.device, q.dtype)
        qh = self.grid.rfft(q)
        return self.grid.irfft(torch.einsum("nmyx,bmyx->bnyx", a.to(qh.dtype), qh))

    def system(self, device, dtype, batch: int) -> SpectralSystem:
        rdt = real_dtype(dtype)
        kk, ll, k2 = self._wavenumbers(device, rdt)
        a = self.inversion_matrix(device, rdt)
        ik, il = 1j * kk, 1j * ll  # pyqg keeps the Nyquist modes in its derivatives
        neg_il = -il
        ubg = torch.tensor([self.U1, self.U2], dtype=rdt, device=device).reshape(1, 2, 1, 1)
        ikqy = ik * torch.tensor(self.Qy, dtype=rdt, device=device).reshape(1, 2, 1, 1)
        drag = torch.zeros(1, 2, 1, 1, dtype=rdt, device=device)
        drag[0, 1] = self.rek
        drag = drag * k2  # (1, 2, ny, nk): r_ek kappa^2 on the lower layer
        # complex coefficients: a real factor would be cast to complex on every product
        cdt = ik.dtype
        a00, a01, a10, a11 = (a[i, j].to(cdt) for i in (0, 1) for j in (0, 1))
        coef_ph = (drag - ikqy).to(cdt)  # the terms linear in psi_hat: r_ek kappa^2 - i k Q_y
        grid = self.grid
        work: dict[tuple, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

        def buffers(qh: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            """Work arrays for states of ``qh``'s shape, allocated on the first call, so
            the step's own products allocate nothing (see allocator.py for the rest)."""
            key = (qh.shape, qh.dtype, qh.device)
            if key not in work:
                b, _, ny, nk = qh.shape
                work[key] = (
                    torch.empty(b, 2, ny, nk, dtype=qh.dtype, device=qh.device),  # psi_hat
                    torch.empty(b, 6, ny, nk, dtype=qh.dtype, device=qh.device),  # (u,v,q)_hat
                    torch.empty(b, 4, *grid.shape, dtype=rdt, device=qh.device),  # (u+U)q, vq
                )
            return work[key]

        def nonlinear(qh: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
            """``-(i k FFT((u + U) q) + i l FFT(v q)) + (r_ek kappa^2 delta_n2 - i k Q_y)
            psi_hat`` (the module docstring's equation), into ``out`` when given."""
            q1, q2 = qh[:, :1], qh[:, 1:]
            if torch.is_grad_enabled() and qh.requires_grad:  # out= records no gradient
                ph = torch.cat([a00 * q1 + a01 * q2, a10 * q1 + a11 * q2], 1)
                fields = grid.irfft(torch.cat([neg_il * ph, ik * ph, qh], 1))
                u, v, q = fields[:, :2], fields[:, 2:4], fields[:, 4:]
                flux = grid.rfft(torch.cat([(u + ubg) * q, v * q], 1))
                return coef_ph * ph - ik * flux[:, :2] - il * flux[:, 2:]
            ph, spec, prod = buffers(qh)
            torch.mul(q1, a00, out=ph[:, :1]).addcmul_(q2, a01)  # psi_hat = a q_hat
            torch.mul(q1, a10, out=ph[:, 1:]).addcmul_(q2, a11)
            torch.mul(ph, neg_il, out=spec[:, :2])  # u_hat = -i l psi_hat
            torch.mul(ph, ik, out=spec[:, 2:4])  # v_hat = i k psi_hat
            spec[:, 4:].copy_(qh)
            fields = grid.irfft(spec)  # u, v, q in one batched transform
            u, v, q = fields[:, :2], fields[:, 2:4], fields[:, 4:]
            torch.add(u, ubg, out=prod[:, :2]).mul_(q)  # (u + U) q
            torch.mul(v, q, out=prod[:, 2:])  # v q
            flux = grid.rfft(prod)
            out = torch.mul(ph, coef_ph, out=out) if out is not None else coef_ph * ph
            return out.addcmul_(ik, flux[:, :2], value=-1).addcmul_(il, flux[:, 2:], value=-1)

        linear = torch.zeros(1, 1, 1, 1, dtype=rdt, device=device)
        form = TwoLayerAdvection(  # what the fused CPU step needs (compiled_layers.py)
            shape=grid.shape,
            k=kk.reshape(-1),
            l=ll.reshape(-1),
            inversion=a,
            psi_coefficient=coef_ph.reshape(2, *coef_ph.shape[-2:]),
            mean_flow=(self.U1, self.U2),
        )
        return SpectralSystem(
            linear=linear,
            nonlinear=nonlinear,
            filter=self.filter(device, rdt),
            advection=form,
        )

    def linear_matrix(self, k: float, l: float) -> torch.Tensor:
        """The 2x2 complex matrix ``A`` of the linearised dynamics ``d q_hat/dt = A q_hat``
        at wavenumber ``(k, l)`` (rad/m). Its eigenvalues' real parts are the growth rates
        of the baroclinic (Phillips) instability; zero drag and ``U1 = U2`` make it neutral."""
        k2 = k * k + l * l
        det = k2 * (k2 + self.F1 + self.F2)
        a = (
            torch.tensor(
                [[-(k2 + self.F2), -self.F1], [-self.F2, -(k2 + self.F1)]], dtype=torch.float64
            )
            / det
        )
        a = a.to(torch.complex128)
        u = torch.diag(torch.tensor([self.U1, self.U2], dtype=torch.complex128))
        qy = torch.diag(torch.tensor(self.Qy, dtype=torch.complex128))
        drag = torch.diag(torch.tensor([0.0, self.rek * k2], dtype=torch.complex128))
        return -1j * k * u - 1j * k * qy @ a + drag @ a

    # --- diagnostics -----------------------------------------------------------------
    def velocity(self, q: torch.Tensor) -> torch.Tensor:
        """``(B, 2 layers, 2 components (u, v), ny, nx)`` eddy velocities."""
        psi_hat = self.grid.rfft(self.streamfunction(q))
        kk, ll, _ = self._wavenumbers(q.device, q.dtype)
        return torch.stack(
            [self.grid.irfft(-1j * ll * psi_hat), self.grid.irfft(1j * kk * psi_hat)], 2
        )

    def invariants(self, u: torch.Tensor) -> dict[str, torch.Tensor]:
        """Kinetic energy per layer ``<|grad psi_n|^2>/2``, available potential energy
        ``<(psi_1 - psi_2)^2>/(2 rd^2) H1 H2 / H^2`` and potential enstrophy per layer
        ``<q_n^2>/2`` (pyqg's layer weighting ``H_n / H`` gives the totals)."""
        psi = self.streamfunction(u)
        vel = self.velocity(u)
        ke = 0.5 * (vel**2).sum(2).mean((-2, -1))
        d1, d2 = self.delta / (1 + self.delta), 1 / (1 + self.delta)
        ape = 0.5 * d1 * d2 * ((psi[:, 0] - psi[:, 1]) ** 2).mean((-2, -1)) / self.rd**2
        ens = 0.5 * (u**2).mean((-2, -1))
        return {
            "kinetic_energy_1": ke[:, 0],
            "kinetic_energy_2": ke[:, 1],
            "potential_energy": ape,
            "potential_enstrophy_1": ens[:, 0],
            "potential_enstrophy_2": ens[:, 1],
        }

    def energy_spectrum(self, u: torch.Tensor):
        k, e = energy_spectrum(self.velocity(u), self.grid)  # (B, 2, 2, K)
        return k, e.sum(2), ["upper layer KE", "lower layer KE"]

    # --- initial conditions ----------------------------------------------------------
    def initial_conditions(self):
        """``"pyqg_default"``: pyqg's ``q1 = 1e-7 r(y, x) + 1e-6 r(x)``, ``q2 = 0`` with
        uniform ``r`` (drawn from ``generator``, not NumPy's RNG); ``"baroclinic_mode"``:
        the fastest-growing linear eigenvector at mode ``(mode_x, mode_y)``, scaled to
        ``amplitude`` in upper-layer PV."""
        return {"pyqg_default": self._pyqg_default, "baroclinic_mode": self._baroclinic_mode}

    def _pyqg_default(self, batch, generator):
        ny, nx = self.grid.shape
        r2 = torch.rand(batch, ny, nx, generator=generator, dtype=torch.float64)
        r1 = torch.rand(batch, 1, nx, generator=generator, dtype=torch.float64)
        q1 = 1e-7 * r2 + 1e-6 * r1.expand(batch, ny, nx)
        return torch.stack([q1, torch.zeros_like(q1)], 1)

    def _baroclinic_mode(
        self, batch, generator, mode_x: int = 4, mode_y: int = 0, amplitude: float = 1e-7
    ):
        k = 2 * math.pi * mode_x / self.L
        l = 2 * math.pi * mode_y / self.W
        evals, evecs = torch.linalg.eig(self.linear_matrix(k, l))
        vec = evecs[:, int(torch.argmax(evals.real))]
        vec = vec / vec[0]
        y, x = self.grid.meshgrid()
        phase = torch.exp(1j * (k * x + l * y))
        q = torch.stack([(vec[n] * phase).real for n in range(2)]) * amplitude
        return q.expand(batch, 2, *self.grid.shape).clone()
