"""Error figures of an evaluation report, against lead time.

* ``errors.png`` (:func:`plot_errors`): ``rel_l2``, ``nrmse_pdebench``, ``vrmse_the_well``
  and the Pearson correlation; the trajectory mean and a band from the 10th to the 90th
  percentile over trajectories; lines at correlation 0.8 and 0.9 and the correlation times.
  The VRMSE panel warns when The Well's epsilon (1e-7) is not small beside the truth's
  variance (QG in SI units).
* ``spectral_error.png`` (:func:`plot_spectral_error`): The Well's band errors (low, mid,
  high).

Lead times from which a curve stops being finite are shaded.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.lines import Line2D

from pdesurr.evaluation.metrics import EPS_WELL
from pdesurr.evaluation.plot_common import (
    as_numpy,
    figure_title,
    finite,
    fmt,
    lead_axis,
    log_if_wide,
    new_figure,
    positive,
    quiet,
    save_figure,
    time_axis,
)

ERROR_METRICS = (
    ("rel_l2", "relative L2"),
    ("nrmse_pdebench", "nRMSE (PDEBench)"),
    ("vrmse_the_well", "VRMSE (The Well)"),
)
THRESHOLDS = (0.8, 0.9)


def _band(ax, t, ds: xr.Dataset, name: str, color, label: str) -> None:
    mean = finite(ds[name].values)
    ax.plot(t, mean, color=color, marker=".", label=label)
    per = f"{name}_per_trajectory"
    if per in ds and ds.sizes.get("trajectory", 0) > 1:
        values = finite(ds[per].transpose("trajectory", "lead").values)
        with np.errstate(all="ignore"), quiet():
            lo = np.nanpercentile(values, 10, axis=0)
            hi = np.nanpercentile(values, 90, axis=0)
        ax.fill_between(t, lo, hi, color=color, alpha=0.25, lw=0, label="10th-90th percentile")


def _vrmse_note(true) -> str:
    """A warning when The Well's epsilon is not small beside the truth's variance."""
    if true is None:
        return ""
    a = as_numpy(true)
    a = a.reshape(*a.shape[:3], -1)
    with quiet():
        var = np.nanmean(np.nanvar(a, axis=-1, ddof=1), axis=(0, 1))  # per channel
    var = var[np.isfinite(var)]
    if var.size and EPS_WELL > 0.01 * var.min():
        return f"\n(eps = {EPS_WELL:g} vs var(truth) = {var.min():.2g}: understated)"
    return ""


def plot_errors(ds: xr.Dataset, path: Path, label: str, true=None) -> Path:
    t, scale, xlabel = time_axis(ds)
    fig, axes = new_figure(2, 2, figsize=(11, 8))
    for ax, (name, title) in zip(axes.flat, ERROR_METRICS, strict=False):
        if name not in ds:
            ax.set_visible(False)
            continue
        _band(ax, t, ds, name, "C0", "trajectory mean")
        log_if_wide(ax, ds[name].values)
        if ax.get_yscale() == "linear":
            ax.set_ylim(bottom=0)
        ax.set_title(title + (_vrmse_note(true) if name == "vrmse_the_well" else ""))
        lead_axis(ax, t, xlabel, ds[name].values)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize="small", loc="upper left")
    ax = axes.flat[3]
    if "correlation" in ds:
        _band(ax, t, ds, "correlation", "C0", "trajectory mean")
        corr = finite(ds["correlation"].values)
        low = np.nanmin(corr) if np.isfinite(corr).any() else 0.7
        ax.set_ylim(min(0.7, low - 0.05), 1.02)
        lead_axis(ax, t, xlabel, corr)
        handles = []
        for thr, color in zip(THRESHOLDS, ("C3", "C1"), strict=True):
            ax.axhline(thr, color=color, ls=":", lw=1)
            tc = float(ds.attrs.get(f"correlation_time_{thr}", math.nan))
            if math.isfinite(tc):
                ax.axvline(tc / scale, color=color, ls="--", lw=1)
                text = f"correlation time ({thr}): {fmt(tc / scale)}"
            elif math.isinf(tc):
                text = f"correlation time ({thr}): > horizon ({fmt(t[-1])})"
            else:
                text = f"correlation time ({thr}): not given"
            handles.append(Line2D([], [], color=color, ls="--", lw=1, label=text))
        h, lab = ax.get_legend_handles_labels()
        ax.legend(h + handles, lab + [x.get_label() for x in handles], fontsize="small")
        ax.set_title("Pearson correlation")
        ax.grid(alpha=0.3)
    else:
        ax.set_visible(False)
    fig.suptitle(figure_title(ds, label, "errors against lead time"))
    return save_figure(fig, path)


def plot_spectral_error(ds: xr.Dataset, path: Path, label: str) -> Path:
    t, _, xlabel = time_axis(ds)
    fig, ax = new_figure(figsize=(7, 4.8))
    se = ds["spectral_error"].transpose("lead", "band")
    bands = [str(b) for b in ds["band"].values]
    for j, band in enumerate(bands):
        ax.plot(t, positive(se.values[:, j]), marker=".", label=f"{band} wavenumbers")
    if np.isfinite(positive(se.values)).any():
        ax.set_yscale("log")
    lead_axis(ax, t, xlabel, se.values)
    ax.set_ylabel("sum |p_hat - t_hat|^2 / sum |t_hat|^2")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small")
    fig.suptitle(figure_title(ds, label, "spectral error by band"))
    return save_figure(fig, path)
