"""``spectra.png``: true (solid) and predicted (dashed) energy spectra at up to four lead
times, one column per spectrum group (QG: one per layer), wavenumbers from the first
non-zero one to the Nyquist; below, their ratio pred / true with a line at 1.

The ratio is not drawn where the true spectrum is round-off (below ``RATIO_FLOOR`` of its
peak), and its axis is clipped to ``RATIO_LIMITS``; the wavenumber axis is labelled by the
PDE (:attr:`pdesurr.solvers.pde.PDE.wavenumber_label`).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import xarray as xr

from pdesurr.evaluation.plot_common import (
    figure_title,
    fmt,
    lead_picks,
    new_figure,
    pde_class,
    positive,
    save_figure,
    time_axis,
)

N_SPECTRUM_LEADS = 4
RATIO_LIMITS = (1e-4, 1e4)
# E_true below this fraction of its peak is round-off (float32 storage: ~1e-14): no ratio there
RATIO_FLOOR = 1e-12


def _nyquist_index(ds: xr.Dataset, true) -> int:
    """Last wavenumber bin to show: ``min(S) // 2`` (the arrays go on to the grid's corner)."""
    shape = np.shape(true)[3:]
    n = ds.sizes["wavenumber"] - 1
    return min(n, min(shape) // 2) if shape else n


def _wavenumber_label(ds: xr.Dataset) -> str:
    pde = pde_class(ds)
    return pde.wavenumber_label if pde else "wavenumber k"


def plot_spectra(ds: xr.Dataset, true, path: Path, label: str) -> Path:
    t, _, xlabel = time_axis(ds)
    when = xlabel.split(" [")[0]
    k = np.asarray(ds["wavenumber"].values, dtype=np.float64)
    keep = np.zeros(k.shape, bool)
    keep[: _nyquist_index(ds, true) + 1] = True
    keep &= k > 0
    groups = [str(g) for g in ds["group"].values]
    leads = lead_picks(ds.sizes["lead"], N_SPECTRUM_LEADS)
    fig, axes = new_figure(
        2,
        len(groups),
        figsize=(max(5.5 * len(groups), 8.5), 8),
        squeeze=False,
        sharex=True,
        height_ratios=(3, 2),
    )
    colors = matplotlib.colormaps["viridis"](np.linspace(0, 0.85, len(leads)))
    clipped = masked = False
    for g, group in enumerate(groups):
        top, bottom = axes[0, g], axes[1, g]
        for i, color in zip(leads, colors, strict=True):
            st = positive(ds["spectrum_true"].isel(lead=i, group=g).values)[keep]
            sp = positive(ds["spectrum_pred"].isel(lead=i, group=g).values)[keep]
            tag = f"{when} {fmt(t[i])}"
            top.loglog(k[keep], st, "-", color=color, lw=2.5, alpha=0.6, label=f"true, {tag}")
            gone = "" if np.isfinite(sp).any() else " (none finite)"
            top.loglog(k[keep], sp, "--", color=color, lw=1.3, label=f"pred, {tag}{gone}")
            ratio = positive(ds["spectrum_ratio"].isel(lead=i, group=g).values)[keep]
            floor = RATIO_FLOOR * np.nanmax(st, initial=0.0)
            noise = ~(st > floor)
            masked |= bool((noise & np.isfinite(ratio)).any())
            ratio = np.where(noise, np.nan, ratio)
            clipped |= bool(
                np.nanmax(ratio, initial=1.0) > RATIO_LIMITS[1]
                or np.nanmin(ratio, initial=1.0) < RATIO_LIMITS[0]
            )
            bottom.loglog(k[keep], ratio, "-", color=color, marker=".", ms=4, label=tag)
        values = np.concatenate([np.asarray(ln.get_ydata(), float) for ln in top.get_lines()])
        values = values[np.isfinite(values)]
        if values.size:  # hide the round-off floor
            peak = values.max()
            top.set_ylim(max(values.min() / 2, peak * 1e-14), peak * 2)
        top.set_title(group)
        top.set_ylabel("E(k)")
        top.grid(alpha=0.3, which="both")
        top.legend(fontsize="x-small", ncol=2)
        bottom.axhline(1.0, color="k", lw=1)
        bottom.set_ylim(*_ratio_limits(bottom))
        bottom.set_ylabel("E_pred / E_true")
        bottom.set_xlabel(_wavenumber_label(ds))
        bottom.grid(alpha=0.3, which="both")
    notes = []
    if masked:
        notes.append(f"ratio left out where E_true < {RATIO_FLOOR:g} of its peak")
    if clipped:
        notes.append(f"ratio axis clipped to [{RATIO_LIMITS[0]:g}, {RATIO_LIMITS[1]:g}]")
    fig.suptitle(
        figure_title(ds, label, "energy spectra up to the Nyquist wavenumber")
        + ("\n(" + "; ".join(notes) + ")" if notes else "")
    )
    return save_figure(fig, path)


def _ratio_limits(ax) -> tuple[float, float]:
    values = np.concatenate([np.asarray(ln.get_ydata(), float) for ln in ax.get_lines()] or [[]])
    values = values[np.isfinite(values) & (values > 0)]
    if not len(values):
        return 0.5, 2.0
    lo = max(min(values.min(), 0.5), RATIO_LIMITS[0])
    hi = min(max(values.max(), 2.0), RATIO_LIMITS[1])
    return lo / 1.3, hi * 1.3
