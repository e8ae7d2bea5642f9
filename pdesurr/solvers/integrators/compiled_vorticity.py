r"""ETDRK4 for 2D vorticity advection with fused kernels and pruned transforms (CPU).

For the 2D Navier-Stokes equations in vorticity form (:mod:`pdesurr.solvers.navier_stokes`)

.. math::

    N(\hat\omega) = -\mathcal P\big[i k_x \widehat{u\omega} + i k_y \widehat{v\omega}\big]
        + \hat f, \qquad \hat u = i k_y \hat\omega / |k|^2, \quad
        \hat v = -i k_x \hat\omega / |k|^2,

with ``P`` the 2/3 rule (keep ``|m_y| <= r``, ``m_x < c``;
:func:`pdesurr.spectral.dealias_mask`), the state and the forcing inside the mask. The
torch step (:class:`~pdesurr.solvers.integrators.ETDRK4`) spends a third of a 256² step in
element-wise passes over whole spectra (symbol products, the flux divergence, the stage
sums: ~30 passes over 0.5 MB arrays per step; 2.33 of 6.37 ms in
``benchmarks/diagnostics.py --parts ns-profile``, one core, 2026-12-02).
Here one ETDRK4 step is, per stage,

1. ``pre``: ``(u, v, omega)``-hat from the stage's state, on the kept modes only;
2. the inverse 2D real FFT, pruned: the ``y`` pass transforms the ``c`` kept columns only
   (the others are zero), then the ``x`` pass all rows (``ducc0``);
3. the products ``u omega``, ``v omega`` in place;
4. the forward FFT, pruned the same way (``x`` pass, then ``y`` on the kept columns);
5. ``stage``: ``N`` on the kept modes fused with that stage's ETDRK4 sums
   (:mod:`pdesurr.solvers.integrators.etdrk` for the scheme)::

       a = E2 u + Q N(u),   b = E2 u + Q N(a),   c = E2 a + 2Q N(b) - Q N(u),
       u+ = E u + f1 N(u) + 2 f2 (N(a) + N(b)) + f3 N(c)

   accumulated as the stages go (``acc = E u + f1 N(u)``, ``+ 2f2 N(a)``, ...).

Everything outside the mask stays exactly zero. Same trajectories as the torch step to
round-off (``tests/test_compiled_vorticity.py``): the step differs in the order of the
sums and in the out-of-mask modes, which the torch step carries at round-off level
(``rfft`` of a dealiased field) and this step sets to zero; a state with more than
round-off outside the mask (``OUTSIDE_EPS`` machine epsilons of its largest mode) takes
the torch step. The kernels are compiled by numba (``nogil``, cached on disk); a batch is
split over the threads (:class:`FusedVorticityETDRK4`). 0.60-0.70 of the torch step's
time (128² and 256², float64 and float32, one core: ``benchmarks/diagnostics.py --parts
fused``, 2026-12-02).
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from pdesurr.solvers.integrators.compiled import (
    CompiledEngine,
    _coefficients,
    in_blocks,
    inapplicable_2d,
)
from pdesurr.solvers.integrators.etdrk import ETDRK4
from pdesurr.spectral.fft import ducc0  # None where it is not installed

#: out-of-mask modes up to this many machine epsilons of the largest mode count as
#: round-off (a dealiased field's ``rfft`` has 0.2-1.2 eps there, 64² to 512²)
OUTSIDE_EPS = 64


def _rows(r: int, ny: int):
    """The kept rows ``m_y = 0..r`` and ``-r..-1``, as (start, stop) pairs."""
    return ((0, r + 1), (ny - r, ny))


def pre(v, spec, kx, ky, inv_k2, r, kc):
    """``spec[:, 0..2] = (i k_y, -i k_x, 1) / (|k|^2, |k|^2, 1) * v`` on the kept modes."""
    nb, ny, _ = v.shape
    for b in range(nb):
        for j0, j1 in ((0, r + 1), (ny - r, ny)):
            for j in range(j0, j1):
                for i in range(kc):
                    w = v[b, j, i]
                    s = inv_k2[j, i]
                    wr, wi = w.real * s, w.imag * s
                    spec[b, 0, j, i] = complex(-ky[j] * wi, ky[j] * wr)
                    spec[b, 1, j, i] = complex(kx[i] * wi, -kx[i] * wr)
                    spec[b, 2, j, i] = w


def stage(k, flux, f, kx, ky, r, kc, u, a, bc, acc, nu, E, E2, Q, Q2, f1, f2x2, f3):
    """ETDRK4's stage ``k`` (1-4) from the fluxes of its state (the module docstring)."""
    nb, ny, _ = u.shape
    one_f = f.shape[0] == 1
    one_c = E.shape[0] == 1
    for b in range(nb):
        bf = 0 if one_f else b
        c = 0 if one_c else b
        for j0, j1 in ((0, r + 1), (ny - r, ny)):
            for j in range(j0, j1):
                for i in range(kc):
                    p, q = flux[b, 0, j, i], flux[b, 1, j, i]  # F[u w], F[v w]
                    n = (
                        complex(  # -(i k_x p + i k_y q) + f
                            kx[i] * p.imag + ky[j] * q.imag, -kx[i] * p.real - ky[j] * q.real
                        )
                        + f[bf, j, i]
                    )
                    if k == 1:
                        nu[b, j, i] = n
                        a[b, j, i] = E2[c, j, i] * u[b, j, i] + Q[c, j, i] * n
                        acc[b, j, i] = E[c, j, i] * u[b, j, i] + f1[c, j, i] * n
                    elif k == 2:
                        bc[b, j, i] = E2[c, j, i] * u[b, j, i] + Q[c, j, i] * n
                        acc[b, j, i] += f2x2[c, j, i] * n
                    elif k == 3:
                        bc[b, j, i] = (
                            E2[c, j, i] * a[b, j, i] + Q2[c, j, i] * n - Q[c, j, i] * nu[b, j, i]
                        )
                        acc[b, j, i] += f2x2[c, j, i] * n
                    else:
                        u[b, j, i] = acc[b, j, i] + f3[c, j, i] * n


@functools.cache
def _kernels():
    import numba

    jit = numba.njit(nogil=True, cache=True)
    return jit(pre), jit(stage)


def inapplicable(integ, form, filt, shape, dtype, device) -> str | None:
    """Why the fused step does not cover this system (``None`` when it does)."""
    if why := inapplicable_2d(integ, ETDRK4, 1, form, shape, dtype, device):
        return why
    if filt is not None:
        return "the system has a spectral filter"
    coefs = _coefficients(integ)
    if any(t.requires_grad for t in coefs):
        return "its coefficients require grad"
    if integ.linear.is_complex():
        return "its linear operator is not real"
    if form.forcing is not None and not inside(form.forcing, form):
        return "the forcing has modes outside the dealiasing mask"
    return None


def _outside(x: torch.Tensor, form) -> float:
    """The largest modulus of ``x`` ``(..., Ny, Kx)`` outside the kept modes."""
    r, kc = form.rows, form.cols
    ny = x.shape[-2]
    parts = [x[..., kc:], x[..., r + 1 : ny - r, :kc]]
    return max(float(p.abs().max()) if p.numel() else 0.0 for p in parts)


def inside(x: torch.Tensor, form) -> bool:
    """Whether the spectra ``x`` are inside the mask to round-off (``OUTSIDE_EPS``)."""
    top = float(x.abs().max())
    eps = torch.finfo(x.real.dtype if x.is_complex() else x.dtype).eps
    return top == 0 or _outside(x, form) <= OUTSIDE_EPS * eps * top


class _Work:
    """Work arrays of a block of ``nb`` trajectories, zero where the step never writes
    (outside the kept modes; the pruned columns after the ``y`` pass)."""

    def __init__(self, nb: int, ny: int, nx: int, cdt, rdt):
        kx = nx // 2 + 1
        self.spec = np.zeros((nb, 3, ny, kx), cdt)  # (u, v, w)-hat of the stage's state
        self.ywork = np.zeros((nb, 3, ny, kx), cdt)  # after the inverse y pass
        self.fields = np.zeros((nb, 3, ny, nx), rdt)  # u, v, w; then u w, v w
        self.xwork = np.zeros((nb, 2, ny, kx), cdt)  # after the forward x pass
        self.flux = np.zeros((nb, 2, ny, kx), cdt)  # F[u w], F[v w] on the kept columns
        self.a, self.bc, self.acc, self.nu = (np.zeros((nb, ny, kx), cdt) for _ in range(4))


class FusedVorticityETDRK4(CompiledEngine):
    """``n`` ETDRK4 steps of ``(B, 1, Ny, Kx)`` vorticity spectra (the module docstring).

    With ``T = torch.get_num_threads()`` threads and ``B > 1`` trajectories, the batch is
    split into ``min(T, B)`` blocks stepped concurrently, one thread each (the kernels and
    ducc0 release the GIL); a single block gives its FFTs the ``T`` threads."""

    def __init__(self, integ, form, shape, dtype: torch.dtype):
        self.form = form
        self.shape = tuple(shape)
        _, _, ny, kx = self.shape
        self.real_dtype = real = torch.float64 if dtype == torch.complex128 else torch.float32
        self.cdt = np.complex128 if dtype == torch.complex128 else np.complex64
        self.rdt = np.float64 if dtype == torch.complex128 else np.float32

        def rows(c):  # (1 or B, ny, kx): shared or one per trajectory
            c = c.real if c.is_complex() else c
            return np.ascontiguousarray(c.to(real).reshape(-1, ny, kx).numpy())

        coefs = _coefficients(integ)
        self.coefs = [rows(c) for c in coefs]
        self.kx = form.kx.to(real).numpy().copy()
        self.ky = form.ky.to(real).numpy().copy()
        self.inv_k2 = np.ascontiguousarray(form.inv_k2.to(real).numpy())
        f = form.forcing
        f = torch.zeros(1, ny, kx, dtype=dtype) if f is None else f.to(dtype).reshape(-1, ny, kx)
        self.f = np.ascontiguousarray(f.numpy())
        self._work: dict[tuple[int, int], _Work] = {}

    def describe(self) -> str:
        return "fused NS"

    def applies(self, u_hat: torch.Tensor) -> bool:
        """Whether ``u_hat`` is inside the mask to round-off (else: the torch step)."""
        return inside(u_hat, self.form)

    def _fluxes(self, v, w: _Work, threads: int) -> None:
        """``w.flux`` = ``F[u w], F[v w]`` on the kept columns, from the state ``v``."""
        form = self.form
        kc = form.cols
        _kernels()[0](v, w.spec, self.kx, self.ky, self.inv_k2, form.rows, kc)
        c2c, nx = ducc0.fft.c2c, w.fields.shape[-1]
        inverse = {"forward": False, "inorm": 2, "nthreads": threads}  # inorm: divide by N
        c2c(w.spec[..., :kc], axes=(-2,), out=w.ywork[..., :kc], **inverse)
        ducc0.fft.c2r(w.ywork, axes=(-1,), lastsize=nx, out=w.fields, **inverse)
        uv = w.fields[:, :2]
        with np.errstate(over="ignore", invalid="ignore"):  # the stepper reports divergence
            np.multiply(uv, w.fields[:, 2:], out=uv)
        ducc0.fft.r2c(uv, axes=(-1,), out=w.xwork, nthreads=threads)
        c2c(w.xwork[..., :kc], axes=(-2,), forward=True, out=w.flux[..., :kc], nthreads=threads)

    def _advance(self, u, lo: int, hi: int, n_steps: int, threads: int) -> None:
        """``n_steps`` steps of the trajectories ``lo:hi`` of ``u``, in place."""
        key = (lo, hi)
        if key not in self._work:
            self._work[key] = _Work(hi - lo, *self.form.shape, self.cdt, self.rdt)
        w = self._work[key]
        v = u[lo:hi]

        def part(x):  # a per-trajectory coefficient's rows of the block
            return x if x.shape[0] == 1 else x[lo:hi]

        coefs = [part(c) for c in self.coefs]
        stage = _kernels()[1]
        r, kc = self.form.rows, self.form.cols
        args = (part(self.f), self.kx, self.ky, r, kc, v, w.a, w.bc, w.acc, w.nu, *coefs)
        for _ in range(n_steps):
            for k, state in ((1, v), (2, w.a), (3, w.bc), (4, w.bc)):
                self._fluxes(state, w, threads)
                stage(k, w.flux, *args)

    def __call__(self, u_hat: torch.Tensor, n_steps: int) -> torch.Tensor:
        nb, _, ny, kx = self.shape
        r, kc = self.form.rows, self.form.cols
        u = np.zeros((nb, ny, kx), dtype=self.cdt)  # the new state: zero outside the mask
        src = u_hat.resolve_conj().resolve_neg().reshape(nb, ny, kx).numpy()
        for j0, j1 in _rows(r, ny):
            u[:, j0:j1, :kc] = src[:, j0:j1, :kc]
        in_blocks(nb, lambda lo, hi, threads: self._advance(u, lo, hi, n_steps, threads))
        return torch.from_numpy(u).reshape(self.shape)
