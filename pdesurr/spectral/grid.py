"""Uniform periodic grids and their real-FFT wavenumbers.

A grid of ``shape = (Ny, Nx)`` (or ``(N,)``) covers ``[0, Ly) x [0, Lx)``; point ``j``
sits at ``(j + offset) * dx`` (``offset = 0`` for most codes, ``0.5`` for pyqg's cell
centres). Mode numbers follow the FFT layout: the last axis is halved by the real FFT
(``n = 0 .. N/2``), the others run ``0 .. N/2 - 1, -N/2 .. -1``. The wavenumber of mode
``n`` on an axis of length ``L`` is ``k = 2 pi n / L``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import torch

from pdesurr.spectral import fft

_PI_RE = re.compile(r"^\s*([0-9.eE+-]*)\s*\*?\s*pi\s*$")


def parse_length(value: float | int | str) -> float:
    """A length given as a number or as ``"2pi"``, ``"32*pi"``, ``"pi"``."""
    if isinstance(value, bool):
        raise ValueError(f"expected a length, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        match = _PI_RE.match(value)
        if match:
            factor = match.group(1)
            return (float(factor) if factor else 1.0) * math.pi
    raise ValueError(f"expected a length (a number or a multiple of pi like '2pi'), got {value!r}")


@dataclass(frozen=True)
class Grid:
    """A periodic grid.

    Args:
        shape: points per axis, ``(N,)`` or ``(Ny, Nx)``; each even.
        length: domain length per axis, same order as ``shape``.
        offset: position of point 0 in units of the spacing (0 or 0.5).
        fft_backend: ``"auto"`` (default), ``"torch"`` or ``"ducc0"`` (CPU only, optional);
            see :mod:`pdesurr.spectral.fft`. Results agree to round-off, so the backend is
            not part of the grid's identity.
    """

    shape: tuple[int, ...]
    length: tuple[float, ...]
    offset: float = 0.0
    fft_backend: str = field(default="auto", compare=False)

    def __post_init__(self) -> None:
        if len(self.shape) not in (1, 2) or len(self.length) != len(self.shape):
            raise ValueError(f"grid shape {self.shape} and length {self.length} must be 1D or 2D")
        for n in self.shape:
            if n < 4 or n % 2:
                raise ValueError(f"grid resolution must be even and >= 4, got {n}")
        for length in self.length:
            if not length > 0:
                raise ValueError(f"domain length must be positive, got {length}")
        fft.check_backend(self.fft_backend)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def spacing(self) -> tuple[float, ...]:
        return tuple(length / n for length, n in zip(self.length, self.shape, strict=True))

    @property
    def dims(self) -> tuple[str, ...]:
        """Names of the spatial axes, in array order."""
        return ("x",) if self.ndim == 1 else ("y", "x")

    @property
    def spectral_shape(self) -> tuple[int, ...]:
        return (*self.shape[:-1], self.shape[-1] // 2 + 1)

    def coords(self, dtype=torch.float64, device=None) -> tuple[torch.Tensor, ...]:
        """1D coordinate vectors per axis, in array order."""
        return tuple(
            (torch.arange(n, dtype=dtype, device=device) + self.offset) * (length / n)
            for n, length in zip(self.shape, self.length, strict=True)
        )

    def meshgrid(self, dtype=torch.float64, device=None) -> tuple[torch.Tensor, ...]:
        """Coordinate arrays of shape ``shape`` (``indexing='ij'``, array order)."""
        return torch.meshgrid(*self.coords(dtype, device), indexing="ij")

    def mode_numbers(self, dtype=torch.float64, device=None) -> tuple[torch.Tensor, ...]:
        """Integer mode numbers per axis, each broadcastable to ``spectral_shape``."""
        out = []
        for axis, n in enumerate(self.shape):
            if axis == self.ndim - 1:
                m = torch.arange(n // 2 + 1, dtype=dtype, device=device)
            else:
                m = torch.fft.fftfreq(n, d=1.0 / n, dtype=dtype, device=device)
            view = [1] * self.ndim
            view[axis] = -1
            out.append(m.reshape(view))
        return tuple(out)

    def wavenumbers(self, dtype=torch.float64, device=None) -> tuple[torch.Tensor, ...]:
        """Angular wavenumbers ``2 pi n / L`` per axis, broadcastable to ``spectral_shape``."""
        return tuple(
            m * (2 * math.pi / length)
            for m, length in zip(self.mode_numbers(dtype, device), self.length, strict=True)
        )

    def nyquist_masks(self, device=None) -> tuple[torch.Tensor, ...]:
        """Per axis, True on the Nyquist mode (``|n| = N/2``)."""
        return tuple(
            m.abs() == n // 2
            for m, n in zip(self.mode_numbers(device=device), self.shape, strict=True)
        )

    def rfft(self, u: torch.Tensor) -> torch.Tensor:
        """Forward real FFT over the spatial axes (the last ``ndim``)."""
        return fft.rfftn(u, self.ndim, self.fft_backend)

    def irfft(self, u_hat: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`rfft`, returning the real field on this grid."""
        return fft.irfftn(u_hat, self.shape, self.fft_backend)
