"""Conventions checked against values computed here, never by the code under test.

* the training objectives on a linear toy model, where every step is a matrix product
  written out by hand (pushforward: which frame is the target, no gradient through the
  unroll; unrolled: gradient through every step);
* the pointwise metrics from their definitions in NumPy (channel averaging after the
  square root for PDEBench's nRMSE, channels and space pooled for rel-L2 and Pearson);
* the shell-binned energy spectrum against a full complex FFT binned in NumPy, on
  non-square boxes where |k| is not an integer multiple of dk;
* spectral resampling: a single Fourier mode keeps its amplitude, up-then-down is the
  identity on band-limited data, down-sampling is the projection on the kept modes.

The vrmse_the_well std/epsilon convention is tested where it is defined, not here.
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from pdesurr.checkpoints.surrogate import Surrogate
from pdesurr.evaluation import metrics as M
from pdesurr.spectral import Grid, energy_spectrum, spectral_resample
from pdesurr.training import objectives

PROPS = settings(max_examples=20, deadline=None)


# --- objectives on a linear toy model ---------------------------------------------------
class Linear(nn.Module):
    """next = W @ (window stacked into channels), pointwise in space."""

    def __init__(self, history: int, channels: int, gen: torch.Generator):
        super().__init__()
        w = 0.3 * torch.randn(channels, history * channels, generator=gen, dtype=torch.float64)
        self.weight = nn.Parameter(w + torch.eye(channels, history * channels, dtype=w.dtype))

    def forward(self, x, cond=None):
        return torch.einsum("oc,bcn->bon", self.weight, x)


def _toy(history=2, channels=2, unroll=4, batch=3, n=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    model = Linear(history, channels, gen)
    surrogate = Surrogate(model, history, channels)
    frames = torch.randn(batch, history + unroll, channels, n, generator=gen, dtype=torch.float64)
    return model, surrogate, frames


def _hand_rollout(weight, frames, history, k):
    """Frames predicted after ``k`` model steps from the first ``history`` frames, written
    as explicit matrix products: returns the list of the ``k + 1`` predictions."""
    window = [frames[:, j] for j in range(history)]  # oldest first, each (B, C, N)
    preds = []
    for _ in range(k + 1):
        stacked = torch.cat(window, 1)  # (B, history * C, N), oldest first
        nxt = torch.einsum("oc,bcn->bon", weight, stacked)
        preds.append(nxt)
        window = window[1:] + [nxt]
    return preds


def _pushforward_expectations(model, frames, history, unroll):
    """For each ``k``: the loss ``mean((M^(k+1) x - frame[history + k])^2)`` and its
    gradient with the first ``k`` steps held constant (one backward step only)."""
    out = []
    for k in range(unroll):
        with torch.no_grad():
            rolled = _hand_rollout(model.weight, frames, history, k - 1) if k else []
        window = [frames[:, j] for j in range(history)] + rolled
        window = window[-history:]
        w = model.weight.detach().clone().requires_grad_(True)
        pred = torch.einsum("oc,bcn->bon", w, torch.cat(window, 1))
        loss = torch.mean((pred - frames[:, history + k]) ** 2)
        (grad,) = torch.autograd.grad(loss, w)
        out.append((float(loss.detach()), grad))
    return out


def test_pushforward_targets_frame_history_plus_k_with_no_gradient_through_unroll():
    history, unroll = 2, 4
    model, surrogate, frames = _toy(history=history, unroll=unroll)
    expected = _pushforward_expectations(model, frames, history, unroll)
    losses = [e[0] for e in expected]
    # the four candidate losses are far apart, so a loss identifies its k unambiguously
    assert min(abs(a - b) for i, a in enumerate(losses) for b in losses[i + 1 :]) > 1e-3
    seen = set()
    for step in range(40):
        model.zero_grad()
        loss = objectives.loss(
            "pushforward", surrogate, frames, None, history, {"unroll": unroll}, step, 3
        )
        loss.backward()
        k = int(np.argmin([abs(float(loss.detach()) - v) for v in losses]))
        # float64 throughout: the same products in another order agree to ~1e-15
        assert float(loss.detach()) == pytest.approx(losses[k], rel=1e-12), step
        assert torch.allclose(model.weight.grad, expected[k][1], rtol=1e-10, atol=1e-14), (
            f"step {step}: gradient is not the one-step (stop-gradient) gradient for k={k}"
        )
        seen.add(k)
    # k is drawn uniformly in [0, unroll - 1]: 40 draws miss one of 4 values w.p. < 1e-4
    assert seen == set(range(unroll))


def test_pushforward_gradient_differs_from_backprop_through_time():
    # the stop-gradient matters: for k >= 1 the full BPTT gradient is a different vector,
    # so the test above can tell them apart
    history, unroll = 1, 3
    model, surrogate, frames = _toy(history=history, channels=1, unroll=unroll)
    k = unroll - 1
    w = model.weight.detach().clone().requires_grad_(True)
    pred = _hand_rollout(w, frames, history, k)[-1]
    (bptt,) = torch.autograd.grad(torch.mean((pred - frames[:, history + k]) ** 2), w)
    one_step = _pushforward_expectations(model, frames, history, unroll)[k][1]
    assert (bptt - one_step).abs().max() > 1e-3 * bptt.abs().max()


def test_pushforward_draw_depends_only_on_step_and_seed():
    # a resumed run redraws the same k: same (step, seed) -> bit-identical loss
    _, surrogate, frames = _toy()
    for step in (0, 7, 123):
        a = objectives.loss("pushforward", surrogate, frames, None, 2, {"unroll": 4}, step, 11)
        b = objectives.loss("pushforward", surrogate, frames, None, 2, {"unroll": 4}, step, 11)
        assert torch.equal(a, b)


def test_pushforward_with_unroll_one_is_one_step():
    model, surrogate, frames = _toy(unroll=1)
    loss = objectives.loss("pushforward", surrogate, frames, None, 2, {"unroll": 1}, 5, 0)
    pred = _hand_rollout(model.weight, frames, 2, 0)[0]
    assert float(loss.detach()) == pytest.approx(
        float(torch.mean((pred.detach() - frames[:, 2]) ** 2)), rel=1e-12
    )


def test_one_step_and_unrolled_losses_by_hand():
    history, unroll = 2, 3
    model, surrogate, frames = _toy(history=history, unroll=unroll)
    preds = _hand_rollout(model.weight.detach(), frames, history, unroll - 1)
    one = objectives.loss("one_step", surrogate, frames, None, history, {"unroll": unroll}, 0, 0)
    assert float(one.detach()) == pytest.approx(
        float(torch.mean((preds[0] - frames[:, history]) ** 2)), rel=1e-12
    )
    w = model.weight.detach().clone().requires_grad_(True)
    hand = (
        sum(
            torch.mean((p - frames[:, history + i]) ** 2)
            for i, p in enumerate(_hand_rollout(w, frames, history, unroll - 1))
        )
        / unroll
    )
    (grad,) = torch.autograd.grad(hand, w)
    model.zero_grad()
    got = objectives.loss("unrolled", surrogate, frames, None, history, {"unroll": unroll}, 0, 0)
    got.backward()
    assert float(got.detach()) == pytest.approx(float(hand.detach()), rel=1e-12)
    # backpropagation through time: the gradient flows through every unrolled step
    assert torch.allclose(model.weight.grad, grad, rtol=1e-10, atol=1e-14)


def test_residual_prediction_adds_the_last_frame():
    gen = torch.Generator().manual_seed(4)
    model = Linear(2, 1, gen)
    res = Surrogate(model, 2, 1, predict="residual")
    window = torch.randn(2, 2, 1, 6, generator=gen, dtype=torch.float64)
    stacked = window.flatten(1, 2)
    expected = window[:, -1] + torch.einsum("oc,bcn->bon", model.weight, stacked)
    assert torch.allclose(res.step_normalized(window, None), expected, rtol=1e-14, atol=0)
    # and physical units: standardise by (mean, std), step, undo
    mean, std = torch.tensor([0.7], dtype=torch.float64), torch.tensor([2.5], dtype=torch.float64)
    phys = Surrogate(model, 2, 1, mean=mean, std=std, predict="residual")
    z = (window - 0.7) / 2.5
    want = (z[:, -1] + torch.einsum("oc,bcn->bon", model.weight, z.flatten(1, 2))) * 2.5 + 0.7
    assert torch.allclose(phys(window), want, rtol=1e-13, atol=0)


# --- pointwise metrics from their definitions --------------------------------------------
def _np(x):
    return x.numpy()


def _ref_metrics(p, t):
    """NumPy transcriptions of each definition for ``(B, T, C, *S)`` arrays."""
    b, tt, c = t.shape[:3]
    pf, tf = p.reshape(b, tt, c, -1), t.reshape(b, tt, c, -1)
    out = {"mse": ((pf - tf) ** 2).mean((2, 3))}
    out["rel_l2"] = np.sqrt(((pf - tf) ** 2).sum((2, 3))) / np.sqrt((tf**2).sum((2, 3)))
    per_channel = np.sqrt(((pf - tf) ** 2).mean(3)) / np.sqrt((tf**2).mean(3))
    out["nrmse_pdebench"] = per_channel.mean(2)
    pa, ta = pf.reshape(b, tt, -1), tf.reshape(b, tt, -1)
    pa, ta = pa - pa.mean(-1, keepdims=True), ta - ta.mean(-1, keepdims=True)
    out["correlation"] = (pa * ta).sum(-1) / np.sqrt((pa**2).sum(-1) * (ta**2).sum(-1))
    return out


@pytest.mark.parametrize("spatial", [(7,), (4, 6)])
def test_metrics_match_their_definitions(spatial):
    rng = np.random.default_rng(0)
    # channels of very different scales: averaging order and pooling change the result a lot
    scale = np.array([1.0, 30.0, 0.05]).reshape(1, 1, 3, *(1,) * len(spatial))
    t = rng.normal(size=(2, 3, 3, *spatial)) * scale + 0.3
    p = t + rng.normal(size=t.shape) * scale * np.array([0.1, 0.5, 2.0]).reshape(scale.shape)
    ref = _ref_metrics(p, t)
    for name, want in ref.items():
        got = M.POINTWISE[name](torch.as_tensor(p), torch.as_tensor(t))
        assert got.shape == (2, 3), name
        # float64 sums of a few dozen terms: round-off ~1e-15 relative
        np.testing.assert_allclose(_np(got), want, rtol=1e-12, err_msg=name)


def test_nrmse_takes_the_root_per_channel_before_averaging():
    # channel 0 error 1 on truth 1, channel 1 perfect: per-channel (1, 0) -> 0.5, while
    # pooling channels first would give sqrt(1/2) / sqrt(1) = 0.707
    t = torch.ones(1, 1, 2, 4, dtype=torch.float64)
    p = t.clone()
    p[:, :, 0] = 2.0
    assert float(M.nrmse_pdebench(p, t)) == pytest.approx(0.5, rel=1e-14)
    # and rel_l2 pools channels and space: ||e|| = 2, ||t|| = sqrt(8)
    assert float(M.rel_l2(p, t)) == pytest.approx(2 / math.sqrt(8), rel=1e-14)
    assert float(M.mse(p, t)) == pytest.approx(0.5, rel=1e-14)


@PROPS
@given(
    seed=st.integers(0, 2**31 - 1),
    scale=st.floats(1e-3, 1e3),
    shift=st.floats(-10.0, 10.0),
)
def test_metric_invariances(seed, scale, shift):
    rng = np.random.default_rng(seed)
    t = torch.as_tensor(rng.normal(size=(2, 2, 3, 5, 4)))
    p = t + torch.as_tensor(rng.normal(size=t.shape)) * 0.3
    perm_c = torch.as_tensor(rng.permutation(3))
    perm_s = torch.as_tensor(rng.permutation(20))

    def space_perm(x):
        return x.flatten(3)[..., perm_s].reshape(x.shape)

    for name, fn in M.POINTWISE.items():
        if name == "vrmse_the_well":
            continue  # its own convention tests live with its definition
        base = fn(p, t)
        # averages over channels and space do not care about their order (round-off only)
        torch.testing.assert_close(fn(p[:, :, perm_c], t[:, :, perm_c]), base, rtol=1e-12, atol=0)
        torch.testing.assert_close(fn(space_perm(p), space_perm(t)), base, rtol=1e-12, atol=0)
        # trajectories are scored independently
        torch.testing.assert_close(fn(p.flip(0), t.flip(0)), base.flip(0), rtol=0, atol=0)
    # scaling both fields: MSE by scale^2, the relative errors and correlation not at all
    torch.testing.assert_close(
        M.mse(scale * p, scale * t), scale**2 * M.mse(p, t), rtol=1e-12, atol=0
    )
    for fn in (M.rel_l2, M.nrmse_pdebench, M.correlation):
        torch.testing.assert_close(fn(scale * p, scale * t), fn(p, t), rtol=1e-10, atol=0)
    # Pearson correlation ignores an affine change of the prediction alone
    torch.testing.assert_close(
        M.correlation(scale * p + shift, t), M.correlation(p, t), rtol=1e-9, atol=1e-12
    )


def test_correlation_sign_and_bounds():
    t = torch.randn(3, 2, 1, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(M.correlation(-t, t), -torch.ones(3, 2, dtype=torch.float64))
    assert torch.allclose(M.correlation(2 * t + 1, t), torch.ones(3, 2, dtype=torch.float64))


# --- shell-binned spectrum vs a full complex FFT binned in NumPy -------------------------
def _ref_spectrum(u, lengths):
    """Energy per shell ``round(|k| / dk)``, ``dk = 2 pi / max(L)``, from ``np.fft.fftn``:
    every mode of the full spectrum counted once, ``0.5 |u_hat|^2 / N^2``."""
    axes = tuple(range(-len(lengths), 0))
    shape = u.shape[-len(lengths) :]
    uh = np.fft.fftn(u, axes=axes)
    power = 0.5 * np.abs(uh) ** 2 / np.prod(shape) ** 2
    ks = np.meshgrid(
        *[
            2 * np.pi * np.fft.fftfreq(n, 1.0 / n) / ln
            for n, ln in zip(shape, lengths, strict=True)
        ],
        indexing="ij",
    )
    kmag = np.sqrt(sum(k**2 for k in ks))
    dk = 2 * np.pi / max(lengths)
    bins = np.rint(kmag / dk).astype(int)
    out = np.zeros(u.shape[: -len(lengths)] + (bins.max() + 1,))
    for j in range(bins.max() + 1):
        out[..., j] = (power * (bins == j)).sum(axes)
    return out


def _band_limited(rng, shape, cutoff):
    """Real random field with modes ``|n_i| <= cutoff`` only, ``(2, *shape)``."""
    uh = rng.normal(size=(2, *shape)) + 1j * rng.normal(size=(2, *shape))
    for axis, n in enumerate(shape):
        m = np.abs(np.fft.fftfreq(n, 1.0 / n))
        view = [1] * (len(shape) + 1)
        view[axis + 1] = -1
        uh = uh * (m <= cutoff).reshape(view)
    return np.fft.ifftn(uh, axes=tuple(range(1, len(shape) + 1))).real


@PROPS
@given(
    seed=st.integers(0, 2**31 - 1),
    shape=st.sampled_from([(16, 24), (24, 16), (12, 12), (32,)]),
    ratio=st.floats(0.3, 3.0),
    cutoff=st.integers(1, 5),
)
def test_spectrum_shell_binning_matches_full_fft(seed, shape, ratio, cutoff):
    rng = np.random.default_rng(seed)
    lengths = (2.0,) if len(shape) == 1 else (2.0 * ratio, 2.0)  # (Ly, Lx), non-integer ratio
    u = _band_limited(rng, shape, cutoff)
    ref = _ref_spectrum(u, lengths)
    k, E = energy_spectrum(torch.as_tensor(u), Grid(shape, lengths))
    # bins run to the spectrum's corner, the shell of the largest |k| on the grid
    assert E.shape == ref.shape
    # both bin sums of the same ~100 float64 terms: agree to round-off
    np.testing.assert_allclose(E.numpy(), ref, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(k.numpy(), np.arange(E.shape[-1]) * 2 * np.pi / max(lengths))
    # Parseval: the spectrum sums to half the mean square
    np.testing.assert_allclose(
        E.sum(-1).numpy(), 0.5 * (u**2).mean(tuple(range(1, u.ndim))), rtol=1e-12
    )


def test_single_mode_at_non_integer_radius_lands_in_the_rounded_shell():
    # Ly = 1.3, Lx = 2: mode (n_y, n_x) = (1, 1) has |k| / dk = sqrt((2 / 1.3)^2 + 1) = 1.835
    grid = Grid((16, 16), (1.3, 2.0))
    y, x = grid.meshgrid()
    u = torch.cos(2 * math.pi * (x / 2.0 + y / 1.3))
    k, E = energy_spectrum(u, grid)
    assert math.sqrt((2 / 1.3) ** 2 + 1) == pytest.approx(1.835, abs=1e-3)
    assert float(E[2]) == pytest.approx(0.25, rel=1e-12)  # <cos^2>/2 = 1/4, all in shell 2
    assert float(E.sum() - E[2]) < 1e-15
    # and (n_y, n_x) = (2, 0): |k| / dk = 4 / 1.3 = 3.08 -> shell 3
    _, E2 = energy_spectrum(torch.sin(2 * math.pi * 2 * y / 1.3), grid)
    assert float(E2[3]) == pytest.approx(0.25, rel=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_spectrum_follows_the_input_dtype(dtype):
    grid = Grid((8, 12), (1.0, 1.5))
    u = torch.randn(2, 8, 12, dtype=dtype, generator=torch.Generator().manual_seed(0))
    k, E = energy_spectrum(u, grid)
    assert k.dtype == dtype and E.dtype == dtype
    # float32 Parseval: round-off ~1e-6 relative
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(E.sum(-1), 0.5 * (u**2).mean((-2, -1)), rtol=tol, atol=0)


def test_spectrum_and_resample_refuse_bad_shapes():
    with pytest.raises(ValueError, match=r"field shape \(2, 8, 10\) does not end with grid"):
        energy_spectrum(torch.zeros(2, 8, 10), Grid((8, 12), (1.0, 1.0)))
    with pytest.raises(ValueError, match=r"must be even, got \(9, 12\)"):
        spectral_resample(torch.zeros(8, 12), (9, 12))


def test_resample_follows_the_input_device():
    # the meta device holds no data: any tensor made on the CPU inside would clash with it
    u = torch.empty(2, 16, 24, device="meta", dtype=torch.float64)
    out = spectral_resample(u, (32, 12))
    assert out.device.type == "meta" and out.shape == (2, 32, 12) and out.dtype == u.dtype


# --- spectral resampling -----------------------------------------------------------------
@pytest.mark.parametrize(
    "shape_in,shape_out",
    [((32,), (64,)), ((64,), (32,)), ((16, 32), (32, 16)), ((32, 32), (48, 24))],
)
def test_single_fourier_mode_keeps_its_amplitude(shape_in, shape_out):
    lengths = (2.0,) * len(shape_in)
    grids = Grid(shape_in, lengths), Grid(shape_out, lengths)
    modes = [(3,), (5,)] if len(shape_in) == 1 else [(2, 3), (-5, 4)]
    for m in modes:
        for trig in (torch.cos, torch.sin):
            fields = []
            for g in grids:
                xs = g.meshgrid()
                fields.append(
                    0.7 * trig(sum(2 * math.pi * n * x / 2.0 for n, x in zip(m, xs, strict=True)))
                )
            out = spectral_resample(fields[0], shape_out)
            # a mode inside both grids is the same function sampled elsewhere: round-off only
            assert torch.allclose(out, fields[1], atol=1e-13), (m, trig.__name__)


@PROPS
@given(
    seed=st.integers(0, 2**31 - 1),
    shape=st.sampled_from([(16,), (12, 16), (16, 12)]),
    factor=st.sampled_from([2, 3]),
)
def test_up_then_down_is_identity_on_band_limited_data(seed, shape, factor):
    rng = np.random.default_rng(seed)
    u = torch.as_tensor(_band_limited(rng, shape, min(shape) // 2 - 1))
    up = spectral_resample(u, tuple(factor * n for n in shape))
    # the fine field takes the same values on the coarse points (it interpolates)
    sub = up[(Ellipsis, *[slice(None, None, factor)] * len(shape))]
    assert torch.allclose(sub, u, atol=1e-12)
    assert torch.allclose(spectral_resample(up, shape), u, atol=1e-12)
    # mean square is preserved by band-limited interpolation (Parseval on both grids)
    axes = tuple(range(1, u.ndim))
    assert torch.allclose((up**2).mean(axes), (u**2).mean(axes), rtol=1e-12)


def test_down_sampling_is_the_projection_on_kept_modes():
    rng = np.random.default_rng(5)
    fine = rng.normal(size=(2, 24, 32))
    uh = np.fft.fft2(fine)
    # keep |n_y| < 12 / 2 and |n_x| < 16 / 2 (the coarse Nyquist dropped), evaluate on 12x16
    my = np.abs(np.fft.fftfreq(24, 1 / 24)) < 6
    mx = np.abs(np.fft.fftfreq(32, 1 / 32)) < 8
    proj = np.fft.ifft2(uh * (my[:, None] & mx[None, :])).real
    want = proj[:, ::2, ::2]
    got = spectral_resample(torch.as_tensor(fine), (12, 16)).numpy()
    np.testing.assert_allclose(got, want, atol=1e-12)
