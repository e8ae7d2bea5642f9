"""Band errors and trajectory-mean spectra against independent NumPy computations.

``band_errors`` is recomputed here with the *full* complex FFT (no half-spectrum weights)
and band edges written out as ``(N/2)^(i/3)``; ``mean_spectrum`` against single cosines
whose energy ``a^2/4`` is known in closed form.
"""

import math

import numpy as np
import pytest
import torch

from pdesurr.evaluation.spectra import BANDS, band_edges, band_errors, mean_spectrum
from pdesurr.solvers import KuramotoSivashinsky
from pdesurr.spectral import Grid


def numpy_band_errors(pred, true, shape, n_bands=3):
    axes = tuple(range(-len(shape), 0))
    ph, th = np.fft.fftn(pred, axes=axes), np.fft.fftn(true, axes=axes)
    freqs = np.meshgrid(*[np.fft.fftfreq(n, 1.0 / n) for n in shape], indexing="ij")
    n = np.sqrt(sum(f**2 for f in freqs))
    top = min(shape) // 2
    edges = [top ** (i / n_bands) for i in range(n_bands + 1)]
    out = []
    for i in range(n_bands):
        inside = (n >= edges[i]) & ((n < edges[i + 1]) | ((i == n_bands - 1) & (n <= top)))
        err = (np.abs(ph - th) ** 2 * inside).sum(axis=tuple(range(2, ph.ndim)))
        power = (np.abs(th) ** 2 * inside).sum(axis=tuple(range(2, ph.ndim)))
        out.append(err / power)
    return np.stack(out, -1)


def test_band_edges_written_out():
    assert BANDS == ("low", "mid", "high")
    # 1 .. N/2 log-spaced: 1, 16^(1/3), 16^(2/3), 16 for min(N) = 32
    edges = band_edges(Grid((32, 64), (1.0, 2.0)))
    assert np.allclose(edges, [1.0, 16 ** (1 / 3), 16 ** (2 / 3), 16.0], rtol=1e-14)
    assert np.allclose(band_edges(Grid((64,), (1.0,)), 2), [1.0, math.sqrt(32), 32.0], rtol=1e-14)


@pytest.mark.parametrize("shape", [(32, 32), (16, 24), (64,)])
def test_band_errors_match_full_fft(shape):
    gen = torch.Generator().manual_seed(3)
    true = torch.randn(2, 3, 2, *shape, generator=gen, dtype=torch.float64)
    pred = true + 0.3 * torch.randn(true.shape, generator=gen, dtype=torch.float64)
    grid = Grid(shape, tuple(1.0 for _ in shape))
    got = band_errors(pred, true, grid)
    assert got.shape == (2, 3, 3) and got.dtype == torch.float64
    want = numpy_band_errors(pred.numpy(), true.numpy(), shape)
    # the two sums differ only in summation order: round-off
    assert np.allclose(got.numpy(), want, rtol=1e-12, atol=0)


def test_band_errors_nyquist_mode_is_in_the_high_band():
    # the Nyquist cosine (|n| = N/2 exactly) sits on the last edge, which the high band keeps
    grid = Grid((16, 16), (1.0, 1.0))
    y, x = grid.meshgrid()
    gen = torch.Generator().manual_seed(1)
    true = torch.randn(1, 1, 1, 16, 16, generator=gen, dtype=torch.float64)
    pred = true + torch.cos(2 * math.pi * 8 * x)
    err = band_errors(pred, true, grid)
    want = numpy_band_errors(pred.numpy(), true.numpy(), (16, 16))
    assert err[0, 0, 2] > 0 and err[0, 0, :2].abs().max() < 1e-25
    assert np.allclose(err.numpy(), want, rtol=1e-12)


def test_band_errors_float32_input_and_zero_power():
    grid = Grid((16,), (1.0,))
    true = torch.zeros(1, 1, 1, 16, dtype=torch.float32)
    pred = torch.ones_like(true)  # only the mean mode, which is in no band
    assert torch.equal(band_errors(pred, true, grid), torch.zeros(1, 1, 3, dtype=torch.float64))


def test_mean_spectrum_averages_over_trajectories_per_lead_time():
    pde = KuramotoSivashinsky(resolution=32, length=2 * math.pi)
    (x,) = pde.grid.coords()
    amp = torch.tensor([[1.0, 2.0, 3.0], [0.5, 0.0, 1.0]], dtype=torch.float64)  # (B, T)
    frames = amp[:, :, None, None] * torch.cos(3 * x)  # (B=2, T=3, C=1, N)
    k, e, labels = mean_spectrum(pde, frames.float())
    assert labels == ["energy"]
    assert e.shape[:2] == (3, 1) and e.dtype == torch.float64
    # <(a cos 3x)^2>/2 = a^2/4 in shell 3, averaged over the two trajectories
    want = (amp**2).mean(0) / 4
    assert torch.allclose(e[:, 0, 3], want, rtol=1e-6)  # float32 input: its round-off
    assert torch.allclose(e.sum(-1)[:, 0], want, rtol=1e-6)
    assert k[3] == pytest.approx(3.0, rel=1e-12)


@pytest.mark.parametrize("n_bands", [2, 4])
def test_band_errors_other_band_counts(n_bands):
    gen = torch.Generator().manual_seed(8)
    true = torch.randn(1, 2, 1, 32, 32, generator=gen, dtype=torch.float64)
    pred = true + 0.5 * torch.randn(true.shape, generator=gen, dtype=torch.float64)
    got = band_errors(pred, true, Grid((32, 32), (1.0, 1.0)), n_bands)
    assert got.shape == (1, 2, n_bands)
    want = numpy_band_errors(pred.numpy(), true.numpy(), (32, 32), n_bands)
    assert np.allclose(got.numpy(), want, rtol=1e-12)  # summation order only


def test_band_errors_are_scale_invariant():
    # a relative error: scaling both fields by 1e-4 (band powers far below 1) changes nothing
    gen = torch.Generator().manual_seed(9)
    true = torch.randn(1, 1, 1, 16, 16, generator=gen, dtype=torch.float64)
    pred = true + 0.2 * torch.randn(true.shape, generator=gen, dtype=torch.float64)
    grid = Grid((16, 16), (1.0, 1.0))
    small = band_errors(1e-4 * pred, 1e-4 * true, grid)
    assert torch.allclose(small, band_errors(pred, true, grid), rtol=1e-12)  # round-off only


def test_band_errors_follow_the_input_device():
    # "meta" stands in for CUDA: every intermediate must be built on the input's device
    meta = torch.zeros(1, 1, 1, 16, 16, device="meta")
    assert band_errors(meta, meta, Grid((16, 16), (1.0, 1.0))).device == torch.device("meta")
