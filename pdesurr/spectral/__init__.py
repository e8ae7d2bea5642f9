"""Periodic grids, real-FFT wavenumbers, derivative symbols, dealiasing and spectra.

Convention everywhere: channels first, ``(B, C, *S)``; Fourier states come from the
real FFT over the last axis (``torch.fft.rfftn`` over the spatial axes, unnormalised
forward transform), so a 2D state ``(B, C, Ny, Nx)`` has the spectrum
``(B, C, Ny, Nx // 2 + 1)``.
"""

from pdesurr.spectral.grid import Grid, parse_length
from pdesurr.spectral.operators import (
    dealias,
    dealias_mask,
    derivative_symbol,
    inverse_laplacian_symbol,
    laplacian_symbol,
)
from pdesurr.spectral.resample import spectral_resample
from pdesurr.spectral.spectrum import energy_spectrum

__all__ = [
    "Grid",
    "parse_length",
    "spectral_resample",
    "dealias",
    "dealias_mask",
    "derivative_symbol",
    "energy_spectrum",
    "inverse_laplacian_symbol",
    "laplacian_symbol",
]
