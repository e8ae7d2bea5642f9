"""Which modes a model resolves: the truth's spectrum against the one-step error spectrum.

PDE-Refiner's diagnostic figure (Lippe et al. 2023, arXiv:2308.05732, Fig. 3): for test
windows ``(u(t - H dt), ..., u(t - dt)) -> u(t)``, the trajectory-mean energy spectrum
``E(k)`` of the truth ``u(t)`` and of the one-step error ``u_hat(t) - u(t)``, both from the
PDE's own :meth:`energy_spectrum` (for KS ``|u_hat_k|^2 / 2`` by mode number). Where the
error spectrum meets the truth's, the model no longer resolves the modes. For a step
function with ``stages`` (a Surrogate of a PDE-Refiner) there is one error curve per stage:
the one-step prediction and the estimate after each refinement step, so the error floor
can be seen to drop with each step; other models have one curve.

Result Dataset::

    spectrum_true(group, wavenumber)           E of the truth
    spectrum_error(stage, group, wavenumber)   E of the error, per stage
    coords: stage (labels), group, wavenumber; attrs: windows, split
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import xarray as xr

from pdesurr.data.store import open_store
from pdesurr.evaluation.evaluate import conditioning, load_trajectories
from pdesurr.evaluation.reference import store_pde
from pdesurr.evaluation.rollout import StepFn
from pdesurr.evaluation.spectra import mean_spectrum
from pdesurr.models.refiner import StepNoise


@torch.no_grad()
def refinement_spectra(
    step_fn: StepFn,
    store_path,
    split: str = "test",
    history: int = 1,
    stride: int = 1,
    cond_names=(),
    per_trajectory: int = 4,
    device="cpu",
    dtype=torch.float32,
    seed: int = 0,
) -> xr.Dataset:
    """Spectra of the truth and of the one-step errors on ``per_trajectory`` evenly spaced
    windows of every usable trajectory of ``split``."""
    store = open_store(store_path)
    indices, frames, times = load_trajectories(store, split, history, None, stride)
    frame_dt = float(times[1] - times[0]) if len(times) > 1 else 0.0
    cond = conditioning(store, split, indices, cond_names, frame_dt)
    pde = store_pde(store, split, indices)
    store.close()
    starts = np.linspace(0, frames.shape[1] - history - 1, per_trajectory).round().astype(int)
    errors, truths = [], []  # per start: (N, C, *S) per stage, (N, C, *S)
    for t0 in starts:
        window = frames[:, t0 : t0 + history].to(device=device, dtype=dtype)
        c = cond.to(device) if cond.shape[1] else None
        truth = frames[:, t0 + history].double()
        stages_fn = getattr(step_fn, "stages", None)
        if stages_fn is None:
            stages = [step_fn(window, c)]
        elif getattr(step_fn, "stochastic", False):
            stages = stages_fn(window, c, noise=StepNoise(seed, indices, int(t0)))
        else:
            stages = stages_fn(window, c)
        errors.append(torch.stack([s.cpu().double() - truth for s in stages], 0))
        truths.append(truth)
    err = torch.stack(errors, 2)  # (stages, N, W, C, *S)
    k, e_true, labels = mean_spectrum(pde, torch.stack(truths, 1))
    e_err = torch.stack([mean_spectrum(pde, e)[1] for e in err])  # (stages, W, G, K)
    n = err.shape[0]
    names = ["prediction"] if n == 1 else ["one-step (k = 0)"]
    names += [f"refined k = {i}" for i in range(1, n)]
    return xr.Dataset(
        {
            "spectrum_true": (("group", "wavenumber"), e_true.mean(0).numpy()),
            "spectrum_error": (("stage", "group", "wavenumber"), e_err.mean(1).numpy()),
        },
        coords={"stage": names, "group": labels, "wavenumber": k.numpy()},
        attrs={"windows": int(len(indices) * len(starts)), "split": split},
    )


def plot_refinement_spectra(ds: xr.Dataset, path: Path, label: str = "model") -> Path:
    """One panel per group: truth and per-stage error spectra against the mode number."""
    from matplotlib.figure import Figure  # no pyplot: no global backend state

    groups = list(ds["group"].values)
    fig = Figure(figsize=(5.5 * len(groups), 4.2), layout="constrained")
    axes = fig.subplots(1, len(groups), squeeze=False)[0]
    k = ds["wavenumber"].values
    keep = k > 0  # the mean is not a mode of a log axis
    colors = [f"C{i}" for i in range(1, ds.sizes["stage"] + 1)]
    for ax, g in zip(axes, groups, strict=True):
        true = ds["spectrum_true"].sel(group=g).values
        ax.loglog(k[keep], np.maximum(true[keep], 1e-300), "k-", lw=2, label="truth")
        for stage, color in zip(ds["stage"].values, colors, strict=True):
            e = ds["spectrum_error"].sel(group=g, stage=stage).values
            ax.loglog(k[keep], np.maximum(e[keep], 1e-300), color=color, label=f"error: {stage}")
        positive = true[keep][true[keep] > 0]
        if positive.size:
            ax.set_ylim(bottom=max(positive.min() * 1e-2, 1e-30))
        ax.set_xlabel("wavenumber")
        ax.set_ylabel(f"{g} spectrum")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{label}\none-step error spectra vs truth ({ds.attrs['windows']} windows)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def write_refinement_spectra(step_fn: StepFn, out_dir, label: str = "model", **kwargs) -> Path:
    """Compute (``kwargs`` as :func:`refinement_spectra`), save ``refinement_spectra.nc``
    and ``refinement_spectra.png`` in ``out_dir``; returns the PNG's path."""
    ds = refinement_spectra(step_fn, **kwargs)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ds.to_netcdf(out_dir / "refinement_spectra.nc")
    return plot_refinement_spectra(ds, out_dir / "refinement_spectra.png", label)
