"""Score rollouts against a store's trajectories: metrics, spectra, invariants.

For every usable trajectory of the split, the first ``history`` frames (spaced by
``stride``) are the context; the next ``steps`` frames are the truth. Context frames are
never scored: lead time 1 is the first prediction. The result is an xarray Dataset::

    <metric>(lead)                    trajectory-mean of each pointwise metric
    <metric>_per_trajectory(trajectory, lead)
    spectrum_pred, spectrum_true, spectrum_ratio (lead, group, wavenumber)
    spectral_error(lead, band)        The Well's three bands (low, mid, high)
    invariant_<name>_pred/_true (trajectory, lead)
    coords: lead (1..T), lead_time (physical), wavenumber, band, group, trajectory
    attrs: correlation_time_0.8 / _0.9 (physical time; inf = never below), conventions

With ``samples = N > 1`` and a stochastic step function (PDE-Refiner), N rollouts with
different noise (ensemble members) are made; member 0 is the one scored above, and the
ensemble adds (the paper's uncertainty estimate)::

    ensemble_spread(lead)         trajectory mean of the RMS over space of the members' std
    ensemble_correlation(lead)    mean Pearson correlation between pairs of members
    attrs: ensemble_decorrelation_time_0.8 / _0.9: when the members decorrelate from
           each other, to set beside the true correlation time
"""

from __future__ import annotations

import json
import time

import numpy as np
import torch
import xarray as xr

from pdesurr.data.channels import conditioning_columns, stack_fields
from pdesurr.data.store import StoreError, open_store
from pdesurr.evaluation import metrics as M
from pdesurr.evaluation.reference import store_pde
from pdesurr.evaluation.rollout import StepFn, rollout
from pdesurr.evaluation.spectra import BANDS, band_errors, mean_spectrum

CONVENTIONS = {
    "mse": "mean over channels and space",
    "rel_l2": "||p - t|| / ||t|| over channels and space",
    "nrmse_pdebench": "PDEBench nRMSE: per-channel RMS error / RMS truth, mean over channels",
    "vrmse_the_well": "The Well VRMSE: per-channel sqrt(MSE / (torch.std(truth)^2 + 1e-7)), "
    "unbiased std (N - 1), channel mean",
    "correlation": "Pearson correlation over channels and space (PDE-Refiner)",
    "spectral_error": "The Well bands: sum|p_hat - t_hat|^2 / sum|t_hat|^2 per log-spaced band",
}


def load_trajectories(store, split: str, history: int, steps: int | None, stride: int = 1):
    """``(indices, frames (N, history + steps, C, *S), times)`` of the usable trajectories."""
    indices = store.usable(split)
    times = np.asarray(store.read(split, "time"))
    available = (len(times) - 1) // stride + 1
    if steps is None:
        steps = available - history
    if history + steps > available:
        raise StoreError(
            f"{history} context + {steps} steps at stride {stride} need "
            f"{(history + steps - 1) * stride + 1} frames; the store has {len(times)}"
        )
    if steps < 1:
        raise StoreError(f"nothing to score: {available} frames, {history} of them context")
    sel = slice(0, (history + steps - 1) * stride + 1, stride)
    # damaged chunks are refused, named
    parts = [store.read_usable(split, f, indices, sel) for f in store.fields]
    frames = torch.as_tensor(stack_fields(store.fields, parts, 2))
    return indices, frames, times[sel]


def conditioning(store, split, indices, names, frame_dt: float) -> torch.Tensor:
    """``(N, len(names))`` float32 conditioning of trajectories ``indices``."""
    cols = conditioning_columns(
        names, len(indices), frame_dt, lambda name: np.asarray(store.read(split, name))[indices]
    )
    return torch.as_tensor(cols, dtype=torch.float32)


def score(
    pred: torch.Tensor, true: torch.Tensor, pde, lead_time: np.ndarray, indices
) -> xr.Dataset:
    """The result Dataset for predictions and truths ``(N, T, C, *S)``."""
    pred, true = pred.double(), true.double()
    data, coords = {}, {"lead": np.arange(1, pred.shape[1] + 1), "trajectory": np.asarray(indices)}
    coords["lead_time"] = ("lead", lead_time)
    for name, fn in M.POINTWISE.items():
        per = fn(pred, true).numpy()
        data[f"{name}_per_trajectory"] = (("trajectory", "lead"), per)
        data[name] = (("lead",), per.mean(0))
    k, sp, labels = mean_spectrum(pde, pred)
    _, st, _ = mean_spectrum(pde, true)
    coords.update(wavenumber=k.numpy(), group=labels, band=list(BANDS))
    data["spectrum_pred"] = (("lead", "group", "wavenumber"), sp.numpy())
    data["spectrum_true"] = (("lead", "group", "wavenumber"), st.numpy())
    with np.errstate(divide="ignore", invalid="ignore"):
        data["spectrum_ratio"] = (("lead", "group", "wavenumber"), (sp / st).numpy())
    data["spectral_error"] = (("lead", "band"), band_errors(pred, true, pde.grid).mean(0).numpy())
    n, t = pred.shape[:2]
    for which, frames in (("pred", pred), ("true", true)):
        inv = pde.invariants(frames.flatten(0, 1))
        for name, values in inv.items():
            data[f"invariant_{name}_{which}"] = (
                ("trajectory", "lead"),
                values.reshape(n, t).numpy(),
            )
    ds = xr.Dataset(data, coords=coords)
    corr = torch.as_tensor(ds["correlation"].values)
    for thr in (0.8, 0.9):
        ds.attrs[f"correlation_time_{thr}"] = M.correlation_time(
            corr, torch.as_tensor(lead_time), thr
        )
    ds.attrs["conventions"] = json.dumps(CONVENTIONS)
    # spectra and band errors use the FFT: exact for periodic data, an assumption otherwise
    ds.attrs["spectra_assume_periodic"] = (
        "yes: the data are periodic"
        if pde.periodic  # a solver's PDE, or a foreign file's GridFields
        else "the data are NOT periodic: the FFT treats them as periodic, so spectra and "
        "spectral errors include the jump across the boundaries"
    )
    return ds


def add_ensemble(ds: xr.Dataset, members: list[torch.Tensor], lead_time: np.ndarray) -> None:
    """Spread and mutual correlation of ensemble members ``(N, T, C, *S)`` each, into ``ds``."""
    stack = torch.stack([m.double() for m in members])  # (M, N, T, C, *S)
    spread = stack.std(0).flatten(2).pow(2).mean(-1).sqrt().mean(0)  # (T,)
    ds["ensemble_spread"] = (("lead",), spread.numpy())
    pairs = [(a, b) for a in range(len(members)) for b in range(a + 1, len(members))]
    corr = torch.stack([M.correlation(stack[a], stack[b]) for a, b in pairs]).mean((0, 1))
    ds["ensemble_correlation"] = (("lead",), corr.numpy())
    ds.attrs["ensemble_members"] = len(members)
    for thr in (0.8, 0.9):
        ds.attrs[f"ensemble_decorrelation_time_{thr}"] = M.correlation_time(
            corr, torch.as_tensor(lead_time), thr
        )


@torch.no_grad()
def evaluate(
    step_fn: StepFn,
    store_path,
    split: str = "test",
    history: int = 1,
    steps: int | None = None,
    stride: int = 1,
    cond_names=(),
    batch: int = 16,
    device="cpu",
    dtype=torch.float32,
    context: int | None = None,
    seed: int = 0,
    samples: int = 1,
):
    """Roll ``step_fn`` out from every trajectory's context and score it.

    A stochastic step function (PDE-Refiner) draws its noise from ``seed``, the store's
    trajectory index and the step, so its score does not depend on ``batch``; ``samples``
    members of an ensemble are rolled out for it (ignored for deterministic ones).

    ``context`` (>= ``history``, default ``history``) frames open each trajectory and are
    never scored; the model sees the last ``history`` of them. Comparing models with
    different histories, give them all the same ``context`` so they are scored on the same
    frames. Returns ``(ds, pred, true)`` with ``pred``, ``true`` of shape ``(N, T, C, *S)``.
    """
    context = history if context is None else context
    if context < history:
        raise ValueError(f"context ({context}) must be >= history ({history})")
    store = open_store(store_path)
    indices, frames, times = load_trajectories(store, split, context, steps, stride)
    frame_dt = float(times[1] - times[0])
    cond = conditioning(store, split, indices, cond_names, frame_dt)
    n_steps = frames.shape[1] - context
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    members = samples if getattr(step_fn, "stochastic", False) else 1
    preds, wall = [[] for _ in range(members)], 0.0
    for a in range(0, len(indices), batch):
        ctx = frames[a : a + batch, context - history : context].to(device=device, dtype=dtype)
        c = cond[a : a + batch].to(device) if cond.shape[1] else None
        ids = indices[a : a + batch]
        for m in range(members):
            t0 = time.perf_counter()
            out = rollout(step_fn, ctx, n_steps, c, trajectories=ids, seed=seed, member=m)
            preds[m].append(out.cpu())
            wall += time.perf_counter() - t0
    ensemble = [torch.cat(p) for p in preds]
    pred = ensemble[0]
    pde = store_pde(store, split, indices)
    lead_time = times[context:] - times[context - 1]
    ds = score(pred, frames[:, context:], pde, lead_time, indices)
    if members > 1:
        add_ensemble(ds, ensemble, lead_time)
    ds.attrs.update(
        store=str(store_path),
        split=split,
        history=history,
        context=context,
        stride=stride,
        rollout_steps_per_second=len(indices) * n_steps * members / wall if wall else float("nan"),
        pde=store.attrs["pde"],
        fields=json.dumps(store.fields),
        boundary_conditions=json.dumps(store.spec.get("boundary_conditions", "periodic")),
    )
    store.close()
    return ds, pred, frames[:, context:]
