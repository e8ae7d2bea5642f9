r"""ETDRK4 for 1D quadratic advection as one compiled loop: CPU batches at C speed.

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
``torch.fft`` calls of 256 points take several µs each, more than exponax's whole ETDRK4
step under ``jax.jit`` (28-39 µs in ``benchmarks/peers.py`` runs of 2026-12-02); compiled,
one step of the same batch is 7-11 µs (11.2 against torch's 82.9 µs in float64, 7.3
against 59.7 in float32, in one run of ``benchmarks/diagnostics.py --parts engines``,
2026-12-02 03:50). With
several trajectories the loop transforms all rows in one pocketfft call per transform and
combines them in one pass per stage (:func:`stage_square`), so it stays ahead of torch's
batched transforms at every batch measured in that run, 1 to 128.

Selection (``Stepper(..., engine=...)``):

* ``"auto"`` (default): the compiled loop when it applies (CPU, float32/float64, ETDRK4,
  a 1D quadratic-advection term) and numba and rocket-fft are installed (``pip install
  pdesurr[fast]``); otherwise torch.
* ``"torch"``: always the eager torch step (``torch.fft``).
* ``"numba"``: the compiled loop; an error naming the reason when
  numba is missing, the system is not of this form or the state is not a CPU
  float32/float64 one.

Whatever the engine, a state that requires grad (autograd through a solver) takes the
torch step. :func:`compiled_stepper` also hands out the fused 2D engines, for systems that
declare their nonlinear form (:class:`~pdesurr.solvers.system.SpectralSystem`'s
``advection``): NS 2D ETDRK4 (:mod:`~pdesurr.solvers.integrators.compiled_vorticity`) and
the two-layer QG AB3 (:mod:`~pdesurr.solvers.integrators.compiled_layers`), which
``"auto"`` takes on CPU whatever the batch (numba and ducc0 installed).

The two agree to round-off (``tests/test_compiled.py``: KS trajectories to
1e-11 relative after 400 chaotic steps in float64). The loop releases the GIL
(``nogil``): a batch of several trajectories is split into ``torch.get_num_threads()``
blocks of rows stepped on that many threads (equal to one block to round-off: pocketfft
vectorises across the rows of a call), and solver threads (the in-process online
transport) run concurrently. numba caches the compiled code on disk (``cache=True``):
the 2-5 s compilation is paid once per dtype and machine.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from pdesurr.solvers.integrators.etdrk import ETDRK4

ENGINES = ("auto", "torch", "numba")
_COMPLEX = (torch.complex64, torch.complex128)


def etdrk4_square(u_hat, n_steps, n, E, E2, Q, Q2, f1, f2x2, f3, F, filtered):
    """``n_steps`` ETDRK4 steps of each row of ``u_hat`` ``(R, n // 2 + 1)`` (the module's
    equations), into a new array. The coefficients have one row (shared) or ``R`` (one
    each); ``F`` multiplies after every step when ``filtered``. One row steps on 1D arrays
    that stay in the L1 cache; several are transformed together (one pocketfft call per
    transform for all rows) and combined by :func:`stage_square`, one pass per stage.

    Plain NumPy, the source numba compiles (:func:`_compiled`); it also runs uncompiled."""
    if u_hat.shape[0] == 1:
        e, e2, q, q2, g1, g2, g3 = E[0], E2[0], Q[0], Q2[0], f1[0], f2x2[0], f3[0]
        v = u_hat[0]
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
                v = F[0] * v
        out = np.empty_like(u_hat)
        out[0] = v
        return out
    v = u_hat.copy()
    a, bc, acc, m_u = np.empty_like(v), np.empty_like(v), np.empty_like(v), np.empty_like(v)
    for _ in range(n_steps):
        for k in range(1, 5):
            if k == 1:
                state = v
            elif k == 2:
                state = a
            else:
                state = bc
            x = np.fft.irfft(state, n)
            m = np.fft.rfft(x * x)
            _stage(k, m, v, a, bc, acc, m_u, E, E2, Q, Q2, f1, f2x2, f3, F, filtered)
    return v


def stage_square(k, m, u, a, bc, acc, m_u, E, E2, Q, Q2, f1, f2x2, f3, F, filtered):
    """ETDRK4's stage ``k`` (1-4) for rows ``(R, K)`` from ``m = M(state)`` (the module
    docstring's scheme, accumulated as the stages go, as in
    :mod:`~pdesurr.solvers.integrators.compiled_vorticity`); the filter after stage 4."""
    rows, nk = u.shape
    shared = E.shape[0] == 1
    for r in range(rows):
        c = 0 if shared else r
        for i in range(nk):
            n = m[r, i]
            if k == 1:
                m_u[r, i] = n
                a[r, i] = E2[c, i] * u[r, i] + Q[c, i] * n
                acc[r, i] = E[c, i] * u[r, i] + f1[c, i] * n
            elif k == 2:
                bc[r, i] = E2[c, i] * u[r, i] + Q[c, i] * n
                acc[r, i] += f2x2[c, i] * n
            elif k == 3:
                bc[r, i] = E2[c, i] * a[r, i] + Q2[c, i] * n - Q[c, i] * m_u[r, i]
                acc[r, i] += f2x2[c, i] * n
            else:
                v = acc[r, i] + f3[c, i] * n
                u[r, i] = F[c, i] * v if filtered else v


_stage = stage_square  # what etdrk4_square calls; numba's compiled kernel once _compiled ran


def _missing(*modules: str) -> str | None:
    """Why a compiled engine needing ``modules`` cannot run here (``None`` when it can)."""
    import importlib

    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            return f"{name} is not installed (pip install 'pdesurr[fast]')"
    return None


def numba_missing() -> str | None:
    """Why the compiled loop cannot run here (rocket-fft registers numpy.fft with numba)."""
    return _missing("numba", "rocket_fft")


def numba_missing_2d() -> str | None:
    """Why the fused 2D engines cannot run here (they need numba and ducc0)."""
    return _missing("numba", "ducc0")


@functools.cache
def _compiled():
    import numba

    global _stage
    jit = numba.njit(nogil=True, cache=True)
    _stage = jit(stage_square)  # compiled first: the loop's compilation links it in
    return jit(etdrk4_square)


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
        return (
            "the PDE's nonlinear term is neither 1D quadratic advection (KS, Burgers) "
            "nor 2D vorticity advection (Navier-Stokes)"
        )
    if torch.device(device).type != "cpu" or dtype not in _COMPLEX:
        return f"it runs on CPU float32/float64 states, not {torch.device(device).type} {dtype}"
    if len(shape) != 3 or shape[-1] != n // 2 + 1:
        return f"spectra of shape (B, C, {n // 2 + 1}) expected, got {tuple(shape)}"
    if any(t.requires_grad for t in _coefficients(integ) + ([] if filt is None else [filt])):
        return "its coefficients require grad"
    return None


def inapplicable_2d(integ, kind: type, channels: int, form, shape, dtype, device) -> str | None:
    """The checks the fused 2D engines share: integrator ``kind``, a CPU float32/float64
    state, spectra ``(B, channels, Ny, Nx // 2 + 1)`` of the form's grid."""
    if type(integ) is not kind:
        return f"it covers {kind.__name__} only, not {type(integ).__name__}"
    if torch.device(device).type != "cpu" or dtype not in _COMPLEX:
        return f"it runs on CPU float32/float64 states, not {torch.device(device).type} {dtype}"
    ny, nx = form.shape
    want = (channels, ny, nx // 2 + 1)
    if tuple(shape)[1:] != want:
        return f"spectra of shape (B, {', '.join(map(str, want))}) expected, got {tuple(shape)}"
    return None


class CompiledEngine:
    """What the :class:`~pdesurr.solvers.stepper.Stepper` asks of a compiled engine: whether
    it takes a state (:meth:`applies`), how many torch steps must come first
    (:meth:`startup`: a multistep method's start-up) and :meth:`advance`. A one-step
    engine defines ``__call__(u_hat, n_steps)``."""

    def applies(self, u_hat: torch.Tensor) -> bool:
        return True

    def startup(self, carry) -> int:
        return 0

    def advance(self, u_hat: torch.Tensor, carry, n_steps: int):
        return self(u_hat, n_steps), carry

    def describe(self) -> str:
        """A few words for tables: which compiled step this is."""
        return type(self).__name__


class CompiledETDRK4(CompiledEngine):
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

    def describe(self) -> str:
        return "compiled loop"

    def __call__(self, u_hat: torch.Tensor, n_steps: int) -> torch.Tensor:
        x = u_hat.resolve_conj().resolve_neg().contiguous().reshape(-1, self.shape[-1])
        x = x.numpy()
        out = np.empty_like(x)

        def block(lo: int, hi: int, threads: int) -> None:
            # rows are independent trajectories: a block of them per thread
            coefs = self._arrays if self.shared else [c[lo:hi] for c in self._arrays]
            out[lo:hi] = _compiled()(x[lo:hi], n_steps, self.n, *coefs, self.filtered)

        in_blocks(x.shape[0], block)
        return torch.from_numpy(out).reshape(self.shape)


def in_blocks(n: int, work: Callable[[int, int, int], None]) -> None:
    """``work(lo, hi, threads)`` over ``min(T, n)`` contiguous blocks of ``0..n`` on ``T =
    torch.get_num_threads()`` threads, one each (``work`` releases the GIL); one block
    gets the ``T`` threads itself."""
    threads = torch.get_num_threads()
    parts = min(threads, n)
    if parts <= 1:
        work(0, n, threads)
        return
    bounds = [n * i // parts for i in range(parts + 1)]
    pool = _pool(parts, os.getpid())
    jobs = [pool.submit(work, lo, hi, 1) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
    for job in jobs:
        job.result()


@functools.cache
def _pool(threads: int, pid: int) -> ThreadPoolExecutor:
    """A pool of ``threads`` threads for the compiled loop's blocks of rows, one per count
    and process (a forked child does not inherit its parent's threads)."""
    return ThreadPoolExecutor(threads, thread_name_prefix="pdesurr-etdrk4")


def compiled_stepper(
    engine: str, integ, system, shape: tuple[int, ...], dtype: torch.dtype, device
) -> Callable[[torch.Tensor, int], torch.Tensor] | None:
    """The compiled loop for ``integ`` (built from ``system``, a
    :class:`~pdesurr.solvers.system.SpectralSystem`) on spectra ``shape`` / ``dtype`` /
    ``device`` under ``engine``, or ``None`` for the torch step (see the module docstring;
    2D vorticity advection: :mod:`~pdesurr.solvers.integrators.compiled_vorticity`)."""
    if engine == "torch":
        return None
    filt, form = system.filter, system.advection
    if form is not None:  # a 2D form with a fused engine of its own
        from pdesurr.solvers.integrators import compiled_layers, compiled_vorticity
        from pdesurr.solvers.system import VorticityAdvection

        fused = compiled_vorticity if isinstance(form, VorticityAdvection) else compiled_layers
        why = fused.inapplicable(integ, form, filt, shape, dtype, device) or numba_missing_2d()
        if engine == "numba" and why:
            raise ValueError(f"engine 'numba' does not apply: {why}")
        if why:
            return None
        if fused is compiled_vorticity:
            return compiled_vorticity.FusedVorticityETDRK4(integ, form, shape, dtype)
        return compiled_layers.FusedLayersAB3(integ, form, filt, shape, dtype)
    why = _inapplicable(integ, filt, shape, dtype, device)
    if engine == "numba" and why:
        raise ValueError(f"engine 'numba' does not apply: {why}")
    if why:
        return None
    if engine == "auto" and numba_missing():
        return None
    return CompiledETDRK4(integ, filt, shape, dtype)
