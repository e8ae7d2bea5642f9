r"""AB3 for pyqg's two-layer QG model with fused kernels (CPU).

The tendency of :mod:`pdesurr.solvers.quasi_geostrophic` (pyqg's ``QGModel``),

.. math::

    \hat\psi_n = \sum_m a_{nm} \hat q_m, \qquad \hat u_n = -i l \hat\psi_n, \quad
    \hat v_n = i k \hat\psi_n,

    F_n = c_n \hat\psi_n - i k\, \mathrm{FFT}\big((u_n + U_n) q_n\big)
        - i l\, \mathrm{FFT}(v_n q_n), \qquad c_n = r_{ek} \kappa^2 \delta_{n2} - i k Q_{y,n},

stepped by Adams-Bashforth 3 with pyqg's filter ``F`` after each step
(:mod:`pdesurr.solvers.integrators.ab3`)::

    q+ = F (q + h (23/12 F_n - 16/12 F_{n-1} + 5/12 F_{n-2}))

The torch step makes ~20 element-wise passes over the state a step (the inversion, the
velocity symbols, the products, the tendency, the AB3 sums, the filter). Here a step is
five calls: ``pre`` (``psi``, ``(u, v, q)``-hat in one pass), one
inverse real FFT of the six fields (``ducc0``), ``products`` (``(u + U) q``, ``v q`` in
place), one forward FFT of the four products, and ``update`` (``F_n`` fused with the AB3
sum and the filter, ``psi`` recomputed from ``q``). The start-up steps (Euler and AB2, or
RK4) are the torch integrator's; the history of tendencies stays a valid ``carry`` of
:class:`~pdesurr.solvers.integrators.AB3`, so the two steps can alternate. Same
trajectories as the torch step to round-off (``tests/test_compiled_layers.py``), in
0.60-0.93 of its time (64² and 128², float64 and float32, one core:
``benchmarks/diagnostics.py --parts fused``, 2026-12-02); the kernels are compiled by numba
(``nogil``, cached on disk) and run one thread per block of trajectories
(:func:`~pdesurr.solvers.integrators.compiled.in_blocks`).
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from pdesurr.solvers.integrators.ab3 import AB3
from pdesurr.solvers.integrators.compiled import CompiledEngine, in_blocks, inapplicable_2d
from pdesurr.spectral.fft import ducc0  # None where it is not installed


def pre(q, spec, a, k, l):  # noqa: E741 (pyqg's name for the y wavenumber)
    """``spec = (u_1, u_2, v_1, v_2, q_1, q_2)``-hat from ``q``-hat ``(B, 2, Ny, Kx)``."""
    nb, _, ny, nk = q.shape
    for b in range(nb):
        for j in range(ny):
            for i in range(nk):
                q1, q2 = q[b, 0, j, i], q[b, 1, j, i]
                p1 = a[0, j, i] * q1 + a[1, j, i] * q2
                p2 = a[2, j, i] * q1 + a[3, j, i] * q2
                spec[b, 0, j, i] = complex(l[j] * p1.imag, -l[j] * p1.real)  # -i l psi
                spec[b, 1, j, i] = complex(l[j] * p2.imag, -l[j] * p2.real)
                spec[b, 2, j, i] = complex(-k[i] * p1.imag, k[i] * p1.real)  # i k psi
                spec[b, 3, j, i] = complex(-k[i] * p2.imag, k[i] * p2.real)
                spec[b, 4, j, i] = q1
                spec[b, 5, j, i] = q2


def products(fields, u1, u2):
    """``fields[:, :4] = ((u_1 + U_1) q_1, (u_2 + U_2) q_2, v_1 q_1, v_2 q_2)``, in place."""
    nb, _, ny, nx = fields.shape
    for b in range(nb):
        for j in range(ny):
            for x in range(nx):
                q1, q2 = fields[b, 4, j, x], fields[b, 5, j, x]
                fields[b, 0, j, x] = (fields[b, 0, j, x] + u1) * q1
                fields[b, 1, j, x] = (fields[b, 1, j, x] + u2) * q2
                fields[b, 2, j, x] = fields[b, 2, j, x] * q1
                fields[b, 3, j, x] = fields[b, 3, j, x] * q2


def update(q, flux, a, k, l, c, h, filt, f_new, f_p, f_pp):  # noqa: E741
    """``f_new = F(q)`` from the products' transforms ``flux``, then the AB3 step of ``q``
    with the filter, in place (the module docstring's equations)."""
    nb, _, ny, nk = q.shape
    for b in range(nb):
        hb = h[0] if h.shape[0] == 1 else h[b]
        for j in range(ny):
            for i in range(nk):
                q1, q2 = q[b, 0, j, i], q[b, 1, j, i]
                p = (a[0, j, i] * q1 + a[1, j, i] * q2, a[2, j, i] * q1 + a[3, j, i] * q2)
                for n in range(2):
                    fx, fy = flux[b, n, j, i], flux[b, 2 + n, j, i]
                    f = c[n, j, i] * p[n] + complex(  # - i k fx - i l fy
                        k[i] * fx.imag + l[j] * fy.imag, -k[i] * fx.real - l[j] * fy.real
                    )
                    f_new[b, n, j, i] = f
                    inc = (23 / 12) * f - (16 / 12) * f_p[b, n, j, i] + (5 / 12) * f_pp[b, n, j, i]
                    q[b, n, j, i] = filt[j, i] * (q[b, n, j, i] + hb * inc)


@functools.cache
def _kernels():
    import numba

    jit = numba.njit(nogil=True, cache=True)
    return jit(pre), jit(products), jit(update)


def inapplicable(integ, form, filt, shape, dtype, device) -> str | None:
    """Why the fused step does not cover this system (``None`` when it does)."""
    if why := inapplicable_2d(integ, AB3, 2, form, shape, dtype, device):
        return why
    if bool(torch.any(integ.linear != 0)):
        return "its linear operator is not zero"
    if filt is None or filt.is_complex() or filt.requires_grad:
        return "it needs a real spectral filter"
    return None


class _Work:
    def __init__(self, nb: int, ny: int, nx: int, cdt, rdt):
        kx = nx // 2 + 1
        self.spec = np.empty((nb, 6, ny, kx), cdt)
        self.fields = np.empty((nb, 6, ny, nx), rdt)
        self.flux = np.empty((nb, 4, ny, kx), cdt)


class FusedLayersAB3(CompiledEngine):
    """AB3 steps of ``(B, 2, Ny, Kx)`` QG spectra after the start-up (the module docstring)."""

    def __init__(self, integ, form, filt, shape, dtype: torch.dtype):
        self.form = form
        self.shape = tuple(shape)
        _, _, ny, nk = self.shape
        real = torch.float64 if dtype == torch.complex128 else torch.float32
        self.cdt = np.complex128 if dtype == torch.complex128 else np.complex64
        self.rdt = np.float64 if dtype == torch.complex128 else np.float32

        def arr(x, t, shape):
            return np.ascontiguousarray(x.to(t).reshape(shape).numpy())

        self.a = arr(form.inversion, real, (4, ny, nk))  # a00, a01, a10, a11
        self.k = arr(form.k, real, (nk,))
        self.l = arr(form.l, real, (ny,))
        self.c = arr(form.psi_coefficient, dtype, (2, ny, nk))
        self.u = tuple(float(x) for x in form.mean_flow)
        self.filt = arr(filt, real, (ny, nk))
        h = integ.h if isinstance(integ.h, torch.Tensor) else torch.tensor([integ.h])
        self.h = arr(h, real, (-1,))
        self._work: dict[tuple[int, int], _Work] = {}

    def describe(self) -> str:
        return "fused QG"

    def startup(self, carry) -> int:
        return 2 - carry[2]  # AB3's start-up steps are the torch integrator's

    def _advance(self, q, tend, lo, hi, n_steps, threads) -> None:
        key = (lo, hi)
        if key not in self._work:
            self._work[key] = _Work(hi - lo, *self.form.shape, self.cdt, self.rdt)
        w = self._work[key]
        pre_k, products_k, update_k = _kernels()
        h = self.h if self.h.shape[0] == 1 else self.h[lo:hi]
        v = q[lo:hi]
        f_new, f_p, f_pp = (t[lo:hi] for t in tend)
        nx = w.fields.shape[-1]
        for _ in range(n_steps):
            pre_k(v, w.spec, self.a, self.k, self.l)
            ducc0.fft.c2r(
                w.spec, axes=(-2, -1), lastsize=nx, forward=False, inorm=2, out=w.fields,
                nthreads=threads,
            )  # fmt: skip
            products_k(w.fields, *self.u)
            ducc0.fft.r2c(w.fields[:, :4], axes=(-2, -1), out=w.flux, nthreads=threads)
            update_k(v, w.flux, self.a, self.k, self.l, self.c, h, self.filt, f_new, f_p, f_pp)
            f_new, f_p, f_pp = f_pp, f_new, f_p  # the oldest buffer takes the next tendency

    def advance(self, u_hat: torch.Tensor, carry, n_steps: int):
        nb, _, ny, nk = self.shape

        def own(x):  # a contiguous array of ours (a copy of the caller's tensor)
            return np.array(x.detach().resolve_conj().resolve_neg().numpy(), dtype=self.cdt)

        q = own(u_hat)
        tend = [np.empty_like(q), own(carry[0]), own(carry[1])]  # F_n, F_{n-1}, F_{n-2}
        in_blocks(nb, lambda lo, hi, t: self._advance(q, tend, lo, hi, n_steps, t))
        for _ in range(n_steps):  # where the blocks' rotations left the newest two
            tend = [tend[2], tend[0], tend[1]]
        carry = (torch.from_numpy(tend[1]), torch.from_numpy(tend[2]), 2)
        return torch.from_numpy(q), carry
