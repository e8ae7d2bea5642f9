"""Real FFTs over the trailing spatial axes, with a selectable CPU backend.

Every transform of the solvers goes through :func:`rfftn` / :func:`irfftn` (via
:meth:`pdesurr.spectral.Grid.rfft` / ``irfft``), with numpy's and torch's conventions:

    û[k] = Σ_j u[j] exp(−2πi k·j / N)          (forward, unnormalised)
    u[j] = (1 / ΠN) Σ_k û[k] exp(+2πi k·j / N)  (inverse, divided by the number of points)

the last axis halved to ``N // 2 + 1`` modes (only the real part of its zero and Nyquist
modes is used by the inverse).

Backends:

* ``"torch"``: ``torch.fft`` (pocketfft / MKL on CPU, cuFFT on CUDA). Always used on
  CUDA and whenever autograd has to flow through a transform.
* ``"ducc0"``: the ``ducc0.fft`` library (M. Reinecke; pocketfft's successor) on CPU
  float32/float64 tensors that need no gradient, through zero-copy numpy views (the
  output is allocated by torch and handed to ducc0 as ``out``); CUDA tensors and
  tensors that require grad still go through ``torch.fft``. Optional
  (``pip install ducc0``, or the ``fast`` extra).
* ``"auto"`` (the default of :class:`~pdesurr.spectral.Grid`): ``"ducc0"`` for 2D
  transforms on a CPU whose vendor is not Intel (``vendor_id`` in ``/proc/cpuinfo``) when
  ducc0 is installed, ``"torch"`` otherwise. Chosen by measurement: on this project's
  AMD EPYC machine of 2026-12-02 (torch 2.13 CPU wheel, MKL FFTs, which Intel tunes for
  its own CPUs) ducc0 made the 2D solver steps faster or equal, NS 2D 0.71-0.81 of the
  torch step's time in float64 and 0.95-1.01 in float32, QG 0.77-1.09, and 1D slower
  (KS batch 64 1.16-1.25; ``--parts fft-backends``, 01:29); earlier sessions'
  machines (vendor not recorded) measured the steps 1.03-1.27x slower with ducc0, so
  torch stays where MKL is at home. ``benchmarks/diagnostics.py --parts fft-backends``
  prints both, interleaved, for the machine at hand. A rule of the machine, not a timing
  taken at run time, so a run's results do not depend on the moment's load.

ducc0 uses ``torch.get_num_threads()`` threads, so the thread policy of the CLI
(``--threads``) governs both libraries. The two backends agree to round-off
(tests/test_fft_backend.py).
"""

from __future__ import annotations

import functools

import torch

try:  # an optional speed-up: pdesurr works without it
    import ducc0
except ImportError:  # pragma: no cover - exercised where ducc0 is absent
    ducc0 = None

BACKENDS = ("auto", "torch", "ducc0")
_REAL = (torch.float32, torch.float64)
_COMPLEX = (torch.complex64, torch.complex128)


def check_backend(name: str) -> str:
    if name not in BACKENDS:
        raise ValueError(f"unknown FFT backend {name!r}; choose from {list(BACKENDS)}")
    if name == "ducc0" and ducc0 is None:
        raise ValueError("FFT backend 'ducc0' requested but the ducc0 package is not installed")
    return name


@functools.cache
def cpuinfo(field: str) -> str:
    """The first ``field`` of ``/proc/cpuinfo`` (``"vendor_id"``, ``"model name"``), ``""``
    where there is none."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(field):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def cpu_vendor() -> str:
    """The CPU's vendor (``"GenuineIntel"``, ``"AuthenticAMD"``...), ``""`` if unknown."""
    return cpuinfo("vendor_id")


def resolve(backend: str, ndim: int) -> str:
    """The backend that ``backend`` means for ``ndim``-dimensional transforms."""
    if backend != "auto":
        return backend
    if ndim == 2 and ducc0 is not None and cpu_vendor() not in ("GenuineIntel", ""):
        return "ducc0"
    return "torch"


def _use_ducc0(x: torch.Tensor, backend: str, dtypes: tuple, ndim: int) -> bool:
    if resolve(backend, ndim) != "ducc0":
        return False
    # CUDA tensors and autograd fall back to torch.fft, as documented
    return x.device.type == "cpu" and x.dtype in dtypes and not x.requires_grad


def rfftn(u: torch.Tensor, ndim: int, backend: str = "torch") -> torch.Tensor:
    """Forward real FFT of ``u`` over its last ``ndim`` axes: ``(..., *S) -> (..., *S')``
    with ``S'[-1] = S[-1] // 2 + 1``."""
    if ndim == 1 and not _use_ducc0(u, backend, _REAL, 1):
        return torch.fft.rfft(u)  # the 1D call dispatches faster (~1 us, small KS batches)
    axes = tuple(range(-ndim, 0))
    if not _use_ducc0(u, backend, _REAL, ndim):
        return torch.fft.rfftn(u, dim=axes)
    u = u.resolve_neg().contiguous()
    shape = (*u.shape[:-1], u.shape[-1] // 2 + 1)
    out = torch.empty(
        shape, dtype=torch.complex128 if u.dtype == torch.float64 else torch.complex64
    )
    ducc0.fft.r2c(u.numpy(), axes=axes, out=out.numpy(), nthreads=torch.get_num_threads())
    return out


def irfftn(u_hat: torch.Tensor, shape: tuple[int, ...], backend: str = "torch") -> torch.Tensor:
    """Inverse of :func:`rfftn`: ``(..., *S') -> (..., *shape)`` (real)."""
    ndim = len(shape)
    if ndim == 1 and not _use_ducc0(u_hat, backend, _COMPLEX, 1):
        return torch.fft.irfft(u_hat, n=shape[0])
    axes = tuple(range(-ndim, 0))
    spectral = (*shape[:-1], shape[-1] // 2 + 1)
    if not _use_ducc0(u_hat, backend, _COMPLEX, ndim) or tuple(u_hat.shape[-ndim:]) != spectral:
        return torch.fft.irfftn(u_hat, s=shape, dim=axes)  # torch pads or crops other shapes
    u_hat = u_hat.resolve_conj().resolve_neg().contiguous()
    real = torch.float64 if u_hat.dtype == torch.complex128 else torch.float32
    out = torch.empty((*u_hat.shape[:-ndim], *shape), dtype=real)
    ducc0.fft.c2r(
        u_hat.numpy(),
        axes=axes,
        lastsize=shape[-1],
        forward=False,
        inorm=2,  # divide by the number of points, as torch's and numpy's inverse do
        out=out.numpy(),
        nthreads=torch.get_num_threads(),
    )
    return out


def inverse_workspace(
    shape: tuple[int, ...], dtype: torch.dtype, device, backend: str = "torch"
) -> torch.Tensor:
    """An uninitialised complex tensor ``shape`` (spectra of 2D fields, ``(B, C, Ny, Kx)``)
    laid out for :func:`irfftn`'s fastest path; a solver writes the operand of its inverse
    transform into one (:func:`times_into`).

    On the CPU with ``torch.fft`` (MKL) the second-to-last axis is contiguous (the tensor
    is the transpose of a contiguous ``(B, C, Kx, Ny)`` one): a 2D inverse real transform
    first transforms that axis, and on the usual layout ``torch.fft.irfftn`` makes a
    permuted copy of its input for it. Three 256² complex128 fields, one core: 662 against
    770 µs (``benchmarks/diagnostics.py --parts fft``), the same result to round-off
    (tests/test_fft_layout.py). Elsewhere (CUDA,
    ducc0, 1D) the usual contiguous layout.
    """
    device = torch.device(device)
    torch_fft = resolve(backend, 2) == "torch"
    if len(shape) >= 2 and device.type == "cpu" and torch_fft:
        return torch.empty((*shape[:-2], shape[-1], shape[-2]), dtype=dtype, device=device).mT
    return torch.empty(shape, dtype=dtype, device=device)


def times_into(work: torch.Tensor, symbol: torch.Tensor, u_hat: torch.Tensor) -> torch.Tensor:
    """``symbol * u_hat`` for a symbol ``(1, C, *S')`` and spectra ``(B, 1, *S')``, written
    into ``work`` ``(B, C, *S')`` (:func:`inverse_workspace`) when it fits: the same batch,
    spectral shape, dtype and device, and no autograd through it (``out=`` records no
    gradient); otherwise a fresh product. Either way the same values, to round-off. The
    checks are plain comparisons (``torch.broadcast_shapes`` costs ~11 µs a call here)."""
    fits = (
        u_hat.shape[0] == work.shape[0]
        and u_hat.shape[2:] == work.shape[2:]
        and symbol.shape[1] == work.shape[1]
        and u_hat.dtype == work.dtype
        and u_hat.device == work.device
    )
    if not fits or (torch.is_grad_enabled() and (symbol.requires_grad or u_hat.requires_grad)):
        return symbol * u_hat
    return torch.mul(symbol, u_hat, out=work)
