r"""ETDRK4 for 1D quadratic advection as one compiled loop: small CPU batches at C speed.

Kuramoto-Sivashinsky and Burgers have ``N(u_hat) = D M(u_hat)`` with
``M(u_hat) = FFT(IFFT(u_hat)^2)`` on one axis and ``D = -i k / 2`` (times the 2/3 mask)
folded into the ETDRK4 coefficients (:class:`~pdesurr.solvers.integrators.ETDRK4`).
:func:`etdrk4_square` runs the scheme's ``n`` steps in one call,

.. math::

    a = E_2 \hat u + Q M(\hat u), \quad b = E_2 \hat u + Q M(a), \quad
    c = E_2 a + 2Q M(b) - Q M(\hat u),

    \hat u^+ = F \odot \big(E \hat u + f_1 M(\hat u) + 2 f_2 (M(a) + M(b)) + f_3 M(c)\big)

(``F`` the spectral filter, ones without one), compiled by numba with its FFTs from
pocketfft (through ``rocket-fft``). Why: at a small batch an eager torch step is ~23
operations on 129 complex numbers each, and their cost is dispatch, not arithmetic: eight
``torch.fft`` calls of 256 points take 5-6 µs each, more than exponax's whole ETDRK4 step
under ``jax.jit`` (23-30 µs, ``benchmarks/peers.py``); compiled, one step of the same
batch is 7-9 µs (8.6 against torch's 68.6 µs in one run of ``benchmarks/diagnostics.py
--parts engines``, 2026-12-02). The compiled loop costs ~8 µs per trajectory and step, so
from ~16 trajectories on torch's batched transforms win, hence the rule of
:func:`compiled_stepper`.

Selection (``Stepper(..., engine=...)``):

* ``"auto"`` (default): the compiled loop when it applies (CPU, float32/float64, ETDRK4,
  a 1D quadratic-advection term) and the batch holds at most :data:`AUTO_POINTS` grid
  points (batch x channels x N; ``benchmarks/diagnostics.py --parts engines``), numba
  and rocket-fft installed (``pip install pdesurr[fast]``); otherwise torch.
* ``"torch"``: always the eager torch step (``torch.fft``).
* ``"numba"``: the compiled loop at any batch size; an error naming the reason when
  numba is missing, the system is not of this form or the state is not a CPU
  float32/float64 one.

Whatever the engine, a state that requires grad (autograd through a solver) takes the
torch step. The two agree to round-off (``tests/test_compiled.py``: KS trajectories to
1e-11 relative after 400 chaotic steps in float64). The loop releases the GIL
(``nogil``): a batch of several trajectories is split into ``torch.get_num_threads()``
blocks of rows stepped on that many threads (bit-identical to one block), and solver
threads (the in-process online transport) run concurrently. numba caches the compiled
code on disk (``cache=True``): the 2-5 s compilation is paid once per dtype and machine.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from pdesurr.solvers.integrators.etdrk import ETDRK4

ENGINES = ("auto", "torch", "numba")
AUTO_POINTS = 2048  # batch x channels x N up to which "auto" compiles (8 KS trajectories of 256)
_COMPLEX = (torch.complex64, torch.complex128)


def etdrk4_square(u_hat, n_steps, n, E, E2, Q, Q2, f1, f2x2, f3, F, filtered):
    """``n_steps`` ETDRK4 steps of each row of ``u_hat`` ``(R, n // 2 + 1)`` (the module's
    equations), into a new array. The coefficients have one row (shared) or ``R`` (one
    each); ``F`` multiplies after every step when ``filtered``. Row by row: a trajectory's
    steps run on 1D arrays that stay in the L1 cache.

    Plain NumPy, the source numba compiles (:func:`_compiled`); it also runs uncompiled."""
    out = np.empty_like(u_hat)
    for r in range(u_hat.shape[0]):
        i = r if E.shape[0] > 1 else 0
        e, e2, q, q2, g1, g2, g3 = E[i], E2[i], Q[i], Q2[i], f1[i], f2x2[i], f3[i]
        v = u_hat[r]
        for _ in range(n_steps):
            u = np.fft.irfft(v, n)
            m_v = np.fft.rfft(u * u)
            a = e2 * v + q * m_v
            u = np.fft.irfft(a, n)
            m_a = np.fft.rfft(u * u)
            b = e2 * v + q * m_a
            u = np.fft.irfft(b, n)
            m_b = np.fft.rfft(u * u)
            c = e2 * a + q2 * m_b - q * m_v
            u = np.fft.irfft(c, n)
            m_c = np.fft.rfft(u * u)
            v = e * v + g1 * m_v + g2 * (m_a + m_b) + g3 * m_c
            if filtered:
                v = F[i] * v
        out[r] = v
    return out


def numba_missing() -> str | None:
    """Why the compiled loop cannot run here (``None`` when it can)."""
    try:
        import numba  # noqa: F401
        import rocket_fft  # noqa: F401  (registers numpy.fft with numba)
    except ImportError as e:
        return f"{e.name} is not installed (pip install 'pdesurr[fast]')"
    return None


@functools.cache
def _compiled():
    import numba

    return numba.njit(nogil=True, cache=True)(etdrk4_square)


def check_engine(engine: str) -> str:
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose from {list(ENGINES)}")
    if engine == "numba" and (why := numba_missing()):
        raise ValueError(f"engine 'numba' requested but {why}")
    return engine


def _coefficients(integ) -> list[torch.Tensor]:
    """ETDRK4's coefficients in :func:`etdrk4_square`'s argument order."""
    return [integ.E, integ.E2, integ.Q, integ.Q2, integ.f1, integ.f2x2, integ.f3]


def _inapplicable(integ, filt, shape: tuple[int, ...], dtype, device) -> str | None:
    """Why the compiled loop does not cover this integrator and these spectra (``shape``,
    complex ``dtype``, ``device``); ``None`` when it does."""
    if type(integ) is not ETDRK4:
        return f"it covers ETDRK4 only, not {type(integ).__name__}"
    n = getattr(integ.nonlinear, "square_points", None)
    if n is None:
        return "the PDE's nonlinear term is not 1D quadratic advection (KS, Burgers)"
    if torch.device(device).type != "cpu" or dtype not in _COMPLEX:
        return f"it runs on CPU float32/float64 states, not {torch.device(device).type} {dtype}"
    if len(shape) != 3 or shape[-1] != n // 2 + 1:
        return f"spectra of shape (B, C, {n // 2 + 1}) expected, got {tuple(shape)}"
    if any(t.requires_grad for t in _coefficients(integ) + ([] if filt is None else [filt])):
        return "its coefficients require grad"
    return None


class CompiledETDRK4:
    """``n`` ETDRK4 steps of ``(B, C, K)`` spectra through :func:`etdrk4_square`, with the
    coefficients of ``integ`` (and ``filt``) laid out once for their rows."""

    def __init__(self, integ, filt, shape: tuple[int, ...], dtype: torch.dtype):
        self.n = integ.nonlinear.square_points
        self.shape = tuple(shape)
        k = self.shape[-1]
        coefs = _coefficients(integ)
        self.filtered = filt is not None
        coefs.append(filt if self.filtered else torch.ones(k))
        # one row when every coefficient is shared, else a row per trajectory and channel
        self.shared = shared = all(c.numel() == k for c in coefs)

        def rows(c: torch.Tensor) -> torch.Tensor:
            c = c.to(dtype)
            c = c.reshape(1, k) if shared else c.expand(*self.shape[:-1], k).reshape(-1, k)
            return c.resolve_conj().contiguous()

        self._keep = [rows(c) for c in coefs]  # the memory the numpy views below borrow
        self._arrays = [c.numpy() for c in self._keep]

    def __call__(self, u_hat: torch.Tensor, n_steps: int) -> torch.Tensor:
        x = u_hat.resolve_conj().resolve_neg().contiguous().reshape(-1, self.shape[-1])
        x = x.numpy()
        parts = min(torch.get_num_threads(), x.shape[0])
        if parts == 1:
            out = _compiled()(x, n_steps, self.n, *self._arrays, self.filtered)
            return torch.from_numpy(out).reshape(self.shape)
        # rows are independent trajectories: contiguous blocks of them on the threads torch
        # would use (the loop releases the GIL), the same values as one call
        bounds = [x.shape[0] * i // parts for i in range(parts + 1)]

        def block(i: int):
            lo, hi = bounds[i], bounds[i + 1]
            coefs = self._arrays if self.shared else [c[lo:hi] for c in self._arrays]
            return _compiled()(x[lo:hi], n_steps, self.n, *coefs, self.filtered)

        out = np.concatenate(list(_pool(parts, os.getpid()).map(block, range(parts))))
        return torch.from_numpy(out).reshape(self.shape)


@functools.cache
def _pool(threads: int, pid: int) -> ThreadPoolExecutor:
    """A pool of ``threads`` threads for the compiled loop's blocks of rows, one per count
    and process (a forked child does not inherit its parent's threads)."""
    return ThreadPoolExecutor(threads, thread_name_prefix="pdesurr-etdrk4")


def compiled_stepper(
    engine: str, integ, filt, shape: tuple[int, ...], dtype: torch.dtype, device
) -> Callable[[torch.Tensor, int], torch.Tensor] | None:
    """The compiled loop for ``integ`` on spectra ``shape`` / ``dtype`` / ``device`` under
    ``engine``, or ``None`` for the torch step (see the module docstring)."""
    if engine == "torch":
        return None
    why = _inapplicable(integ, filt, shape, dtype, device)
    if engine == "numba" and why:
        raise ValueError(f"engine 'numba' does not apply: {why}")
    if why:
        return None
    if engine == "auto":
        points = math.prod(shape[:-1]) * integ.nonlinear.square_points
        if points > AUTO_POINTS or numba_missing():
            return None
    return CompiledETDRK4(integ, filt, shape, dtype)
