"""``invariants.png``: each invariant the PDE declares, true and predicted, the trajectory
mean against lead time.
"""

from __future__ import annotations

import math
from pathlib import Path

import xarray as xr

from pdesurr.evaluation.plot_common import (
    figure_title,
    finite,
    lead_axis,
    new_figure,
    save_figure,
    time_axis,
)


def _invariant_names(ds: xr.Dataset) -> list[str]:
    names = []
    for v in ds.data_vars:
        v = str(v)
        if v.startswith("invariant_") and v.endswith("_true"):
            name = v[len("invariant_") : -len("_true")]
            if f"invariant_{name}_pred" in ds:
                names.append(name)
    return names


def plot_invariants(ds: xr.Dataset, path: Path, label: str) -> Path:
    t, _, xlabel = time_axis(ds)
    names = _invariant_names(ds)
    n = max(len(names), 1)
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    fig, axes = new_figure(nrows, ncols, figsize=(5 * ncols, 3.8 * nrows), squeeze=False)
    for ax in axes.flat[len(names) :]:
        ax.set_visible(False)
    if not names:
        axes.flat[0].set_visible(True)
        axes.flat[0].text(0.5, 0.5, "no invariants in the Dataset", ha="center")
    for ax, name in zip(axes.flat, names, strict=False):
        for which, style, color in (("true", "-", "k"), ("pred", "--", "C1")):
            var = ds[f"invariant_{name}_{which}"]
            if "trajectory" in var.dims:
                var = var.mean("trajectory", skipna=False)
            mean = finite(var.values)
            ax.plot(t, mean, style, color=color, marker=".", label=which)
        ax.set_title(name.replace("_", " "))
        lead_axis(ax, t, xlabel, mean)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4), useOffset=False)
    fig.suptitle(figure_title(ds, label, "invariants (trajectory mean)"))
    return save_figure(fig, path)
