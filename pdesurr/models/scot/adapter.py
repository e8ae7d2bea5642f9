"""scOT's resolution adapter: Fourier resampling of square grids to and from ``image_size``
(Herde et al. 2024, arXiv:2405.19101; the steps of the reference ``scOT/model.py``).

With ``X = fft2(x, norm="forward")`` (so ``X[0, 0]`` is the mean and amplitudes do not
scale with the grid):

* up, ``n -> s > n``: ``fftshift``, zero-pad ``(s - n) / 2`` bins on every side,
  ``ifftshift``, ``ifft2(norm="forward")``, real part;
* down, ``n -> s < n``: keep the bins of integer frequency ``f`` with
  ``-s/2 <= f <= s/2 - 1`` (in ``fftfreq`` order), ``ifft2(norm="forward")``, real part.

Both act on the last two axes of ``(B, C, n, n)``. A band-limited field (no energy at or
above the smaller grid's Nyquist frequency) is resampled exactly both ways; the unpaired
Nyquist bin is not (``.real`` halves it), which is the reference's behaviour and kept.
Both require ``s - n`` even (the reference silently returns a wrong size otherwise).
"""

from __future__ import annotations

import torch


def _check(n: int, s: int) -> None:
    if (s - n) % 2:
        raise ValueError(
            f"scot: cannot resample a {n}x{n} grid to {s}x{s} (the difference must be even)"
        )


def fourier_upsample(x: torch.Tensor, size: int) -> torch.Tensor:
    """``(..., n, n)`` -> ``(..., size, size)`` by zero-padding the centred spectrum."""
    n = x.shape[-1]
    _check(n, size)
    spec = torch.fft.fftshift(torch.fft.fft2(x, norm="forward"), dim=(-2, -1))
    pad = (size - n) // 2
    big = spec.new_zeros(*spec.shape[:-2], size, size)
    big[..., pad : pad + n, pad : pad + n] = spec
    big = torch.fft.ifftshift(big, dim=(-2, -1))
    return torch.fft.ifft2(big, norm="forward").real


def kept_bins(n: int, size: int) -> list[int]:
    """Indices (in ``fftfreq(n)`` order) of the frequencies ``-size/2 <= f <= size/2 - 1``."""
    freqs = [k if k < (n + 1) // 2 else k - n for k in range(n)]  # fftfreq(n, d=1/n)
    return [k for k, f in enumerate(freqs) if -size / 2 <= f <= size / 2 - 1]


def fourier_downsample(x: torch.Tensor, size: int) -> torch.Tensor:
    """``(..., n, n)`` -> ``(..., size, size)`` by truncating the spectrum."""
    n = x.shape[-1]
    _check(n, size)
    idx = torch.tensor(kept_bins(n, size), device=x.device)
    spec = torch.fft.fft2(x, norm="forward")
    spec = spec.index_select(-2, idx).index_select(-1, idx)
    return torch.fft.ifft2(spec, norm="forward").real


HALF = (torch.float16, torch.bfloat16)


def resample(x: torch.Tensor, size: int) -> torch.Tensor:
    """Fourier-resample the square grid of ``x: (B, C, n, n)`` to ``size``; identity if equal.

    Half-precision inputs (bf16 autocast) are transformed in float32 (torch's FFTs take no
    bfloat16) and returned in their own dtype."""
    n = x.shape[-1]
    if n == size:
        return x
    y = x.float() if x.dtype in HALF else x
    y = fourier_upsample(y, size) if n < size else fourier_downsample(y, size)
    return y.to(x.dtype)
