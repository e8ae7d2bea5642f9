"""``snapshots.png``: trajectory 0, truth / prediction / error (pred - true).

2D: the three at three lead times, one row per channel and lead time; 1D: space-time images
(x against lead time) of the three and profiles at three lead times, per channel.
Non-finite values are drawn grey; a prediction that blew up saturates the shared colour
range at one span of the truth beyond its own.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from pdesurr.evaluation.plot_common import (
    as_numpy,
    channel_rows,
    finite,
    fmt,
    lead_picks,
    new_figure,
    save_figure,
    time_axis,
)

N_SNAPSHOT_LEADS = 3


def _field_limits(a: np.ndarray, b: np.ndarray) -> tuple[float, float, bool]:
    """Shared limits of truth ``a`` and prediction ``b``: their joint range, but at most one
    span of the truth beyond its own range (a prediction that blew up saturates)."""
    fa, fb = a[np.isfinite(a)], b[np.isfinite(b)]
    if not fa.size:
        fa = fb if fb.size else np.zeros(1)
    if not fb.size:
        fb = fa
    tlo, thi = float(fa.min()), float(fa.max())
    span = (thi - tlo) or max(abs(thi), 1e-30)
    lo = max(min(tlo, float(fb.min())), tlo - span)
    hi = min(max(thi, float(fb.max())), thi + span)
    clipped = lo > fb.min() or hi < fb.max()
    if lo == hi:
        lo, hi = lo - 1.0, hi + 1.0
    return lo, hi, clipped


def _sym(a: np.ndarray) -> float:
    f = np.abs(a[np.isfinite(a)])
    v = float(f.max()) if f.size else 0.0
    return v if v > 0 else 1.0


def _cmaps():
    field = matplotlib.colormaps["viridis"].with_extremes(bad="0.6")
    error = matplotlib.colormaps["RdBu_r"].with_extremes(bad="0.6")
    return field, error


def _snapshots_2d(ds, pred, true, rows) -> Figure:
    t, _, xlabel = time_axis(ds)
    leads = lead_picks(pred.shape[0], N_SNAPSHOT_LEADS)
    when = xlabel.split(" [")[0]
    unit = xlabel[len(when) :].strip(" []")
    panels = [(name, c, i) for name, c in rows for i in leads]
    ny, nx = true.shape[-2:]
    w = 3.2 * nx / max(ny, nx)
    fig, axes = new_figure(
        len(panels),
        3,
        figsize=(3 * w + 2.2, 3.0 * len(panels) + 0.6),
        squeeze=False,
    )
    fcmap, ecmap = _cmaps()
    for r, (name, c, i) in enumerate(panels):
        a, b = true[i, c], pred[i, c]
        lo, hi, clipped = _field_limits(a, b)
        err = b - a
        tag = f"{name}, {when} {fmt(t[i])}" + (f" {unit}" if unit else "")
        ims = []
        for col, (arr, what) in enumerate(((a, "truth"), (b, "prediction"))):
            ax = axes[r, col]
            ims.append(ax.imshow(arr, origin="lower", cmap=fcmap, vmin=lo, vmax=hi))
            ax.set_title(f"{what}: {tag}", fontsize="small")
        fig.colorbar(ims[0], ax=axes[r, :2], shrink=0.9, extend="both" if clipped else "neither")
        v = _sym(err)
        ax = axes[r, 2]
        im = ax.imshow(err, origin="lower", cmap=ecmap, vmin=-v, vmax=v)
        ax.set_title(f"error (pred - true), max |e| {fmt(v)}", fontsize="small")
        fig.colorbar(im, ax=ax, shrink=0.9)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    return fig


def _snapshots_1d(ds, pred, true, rows) -> Figure:
    t, _, xlabel = time_axis(ds)
    n_lead, _, nx = true.shape
    dt = t[1] - t[0] if len(t) > 1 else 1.0
    extent = (0.0, 1.0, t[0] - dt / 2, t[-1] + dt / 2)
    x = (np.arange(nx) + 0.5) / nx
    leads = lead_picks(n_lead, N_SNAPSHOT_LEADS)
    fig, axes = new_figure(
        2 * len(rows),
        3,
        figsize=(15, 7.5 * len(rows)),
        squeeze=False,
        height_ratios=[3, 2] * len(rows),
    )
    fcmap, ecmap = _cmaps()
    when = xlabel.split(" [")[0]
    for r, (name, c) in enumerate(rows):
        a, b = true[:, c], pred[:, c]
        lo, hi, clipped = _field_limits(a, b)
        err = b - a
        img = dict(origin="lower", aspect="auto", extent=extent, interpolation="nearest")
        ims = []
        for col, (arr, what) in enumerate(((a, "truth"), (b, "prediction"))):
            ax = axes[2 * r, col]
            ims.append(ax.imshow(arr, cmap=fcmap, vmin=lo, vmax=hi, **img))
            ax.set_title(f"{name}: {what}")
        fig.colorbar(
            ims[0], ax=axes[2 * r, :2], shrink=0.9, extend="both" if clipped else "neither"
        )
        v = _sym(err)
        ax = axes[2 * r, 2]
        im = ax.imshow(err, cmap=ecmap, vmin=-v, vmax=v, **img)
        ax.set_title(f"{name}: error (pred - true)")
        fig.colorbar(im, ax=ax, shrink=0.9)
        for ax in axes[2 * r]:
            ax.set_xlabel("x / L")
            ax.set_ylabel(xlabel)
            for i in leads:
                ax.axhline(t[i], color="w", lw=0.6, ls=":")
        for col, i in enumerate(leads):
            ax = axes[2 * r + 1, col]
            ax.plot(x, finite(a[i]), "k-", label="truth")
            ax.plot(x, finite(b[i]), "C1--", label="prediction")
            ax.set_ylim(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
            ax.set_title(f"{name} at {when} {fmt(t[i])}", fontsize="small")
            ax.set_xlabel("x / L")
            ax.grid(alpha=0.3)
            ax.legend(fontsize="small")
        for ax in axes[2 * r + 1, len(leads) :]:
            ax.set_visible(False)
    return fig


def plot_snapshots(ds: xr.Dataset, pred, true, path: Path, label: str) -> Path:
    pred, true = as_numpy(pred)[0], as_numpy(true)[0]  # trajectory 0: (T, C, *S)
    rows = channel_rows(ds, true.shape[1])
    if true.ndim == 3:
        fig = _snapshots_1d(ds, pred, true, rows)
    else:
        fig = _snapshots_2d(ds, pred, true, rows)
    traj = ds["trajectory"].values[0] if "trajectory" in ds.coords else 0
    fig.suptitle(
        f"{label}: trajectory {traj}, truth / prediction / error"
        + (f", {ds.attrs['pde']}" if "pde" in ds.attrs else "")
    )
    return save_figure(fig, path)
