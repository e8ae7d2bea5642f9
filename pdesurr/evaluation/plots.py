"""Figures of a simulation store (see ``pdesurr.data.trajectory_writer`` for its layout).

``plot_simulation`` draws the first trajectory: for a 2D PDE, snapshots at about four
times (imshow with a colorbar, one row per layer for QG); for a 1D PDE, a space-time image
``u(x, t)`` and the final profile; in both, the energy spectrum (``pde.energy_spectrum``)
at the first and the last saved time on log-log axes. Figures render on the Agg canvas
without pyplot (no backend chosen at import).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import xarray as xr
from matplotlib.figure import Figure

from pdesurr.data.trajectory_writer import field_dims, pde_from_attrs
from pdesurr.solvers.pde import PDE

N_SNAPSHOTS = 4


def _first_trajectory(ds: xr.Dataset) -> xr.Dataset:
    return ds.isel(trajectory=0) if "trajectory" in ds.dims else ds


def _state(ds: xr.Dataset, pde: PDE, t_index: int) -> torch.Tensor:
    """The state ``(1, C, *S)`` at time index ``t_index`` of a one-trajectory dataset."""
    parts = []
    for f in pde.fields:
        a = ds[f.name].isel(time=t_index).values
        parts.append(a[None] if f.channels == 1 else a)
    return torch.from_numpy(np.concatenate(parts, 0)[None])


def _time_label(t: float, units: str) -> str:
    return f"t = {t:.4g}" + (f" {units}" if units else "")


def _spectrum(ax, ds: xr.Dataset, pde: PDE, length_scale: float) -> None:
    """Energy spectra at the first and last time; ``k`` rescaled by ``length_scale``
    (the first trajectory's L when the grid is in units of the domain)."""
    units = ds["time"].attrs.get("units", "")
    grid = pde.grid
    k_max = min(np.pi * n / length for n, length in zip(grid.shape, grid.length, strict=True))
    for t_index, style in ((0, "--"), (-1, "-")):
        k, e, labels = pde.energy_spectrum(_state(ds, pde, t_index))  # e: (1, G, K)
        k = k.numpy() / length_scale
        keep = (k > 0) & (k <= k_max / length_scale * (1 + 1e-9))
        t = float(ds["time"].values[t_index])
        for g, label in enumerate(labels):
            e_g = e[0, g].numpy()[keep]
            ax.loglog(
                k[keep],
                np.where(e_g > 0, e_g, np.nan),
                style,
                label=f"{label}, {_time_label(t, units)}",
            )
    top = max(
        (
            line.get_ydata()[np.isfinite(line.get_ydata())].max(initial=0.0)
            for line in ax.get_lines()
        ),
        default=0.0,
    )
    if top > 0:  # hide the round-off floor (~1e-32 of the peak in float64)
        ax.set_ylim(bottom=top * 1e-14)
    ax.set_xlabel("wavenumber k")
    ax.set_ylabel("E(k)")
    ax.set_title("energy spectrum")
    ax.legend(fontsize="small")


def _plot_1d(ds: xr.Dataset, pde: PDE, length: float) -> Figure:
    field = pde.fields[0]
    u = ds[field.name]
    x = ds["x"].values * length
    t = ds["time"].values
    t_units = ds["time"].attrs.get("units", "")
    label = f"{field.name}" + (f" [{field.units}]" if field.units else "")
    fig = Figure(figsize=(16, 4.5))
    axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": [2, 1, 1.2]})
    dx = x[1] - x[0]
    extent = (x[0], x[-1] + dx, t[0], t[-1])
    im = axes[0].imshow(u.values, origin="lower", aspect="auto", extent=extent, cmap="RdBu_r")
    fig.colorbar(im, ax=axes[0], label=label)
    axes[0].set_xlabel("x")
    axes[0].set_ylabel("t" + (f" [{t_units}]" if t_units else ""))
    axes[0].set_title(f"{field.long_name or field.name}: space-time")
    axes[1].plot(x, u.isel(time=-1).values)
    axes[1].set_xlabel("x")
    axes[1].set_ylabel(label)
    axes[1].set_title(f"final profile, {_time_label(float(t[-1]), t_units)}")
    _spectrum(axes[2], ds, pde, length_scale=length / pde.grid.length[0])
    return fig


def _plot_2d(ds: xr.Dataset, pde: PDE) -> Figure:
    rows = [(f, c) for f in pde.fields for c in range(f.channels)]
    n_time = ds.sizes["time"]
    t_idx = sorted(set(np.linspace(0, n_time - 1, min(N_SNAPSHOTS, n_time)).round().astype(int)))
    ncols = len(t_idx) + 1
    fig = Figure(figsize=(3.6 * ncols, 3.2 * len(rows) + 0.6))
    gs = fig.add_gridspec(len(rows), ncols)
    extent = (0, pde.grid.length[-1], 0, pde.grid.length[0])
    t_units = ds["time"].attrs.get("units", "")
    for r, (f, c) in enumerate(rows):
        var = ds[f.name]
        dims = field_dims(f)
        if dims:
            var = var.isel({dims[0]: c})
        name = f.name + (f" ({dims[0]} {c + 1})" if dims else "")
        for col, ti in enumerate(t_idx):
            ax = fig.add_subplot(gs[r, col])
            a = var.isel(time=int(ti)).values
            vmax = float(np.abs(a).max()) or 1.0
            im = ax.imshow(a, origin="lower", extent=extent, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
            fig.colorbar(im, ax=ax, shrink=0.8, label=f.units or None)
            ax.set_title(
                f"{name}, {_time_label(float(ds['time'].values[ti]), t_units)}", fontsize="small"
            )
            ax.set_xlabel("x")
            ax.set_ylabel("y")
    _spectrum(fig.add_subplot(gs[:, -1]), ds, pde, length_scale=1.0)
    return fig


def plot_simulation(
    ds_or_path: xr.Dataset | str | Path, pde: PDE | None, out_png: str | Path
) -> Path:
    """Save a PNG summary of the first trajectory of a simulation store.

    Args:
        ds_or_path: a trajectory store, opened or as a path.
        pde: the PDE that produced it; None rebuilds it from the store's ``config`` attr.
        out_png: where to write the figure (parent folders are created).
    Returns the PNG path.
    """
    ds = xr.open_zarr(ds_or_path) if isinstance(ds_or_path, str | Path) else ds_or_path
    pde = pde_from_attrs(ds.attrs) if pde is None else pde
    one = _first_trajectory(ds)
    if pde.grid.ndim == 1:
        # per-trajectory domain lengths: the grid is in units of L, plot in physical x
        fig = _plot_1d(
            one, pde, float(one["length"]) if pde.per_sample_length else pde.grid.length[0]
        )
    else:
        fig = _plot_2d(one, pde)
    fig.suptitle(
        f"{ds.attrs.get('pde', pde.name)}" + (" (trajectory 0)" if "trajectory" in ds.dims else "")
    )
    fig.tight_layout()
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=100)  # a bare Figure renders on the Agg canvas for PNG
    return out_png
