"""What every figure of an evaluation report shares: the lead-time axis (in days for PDEs
whose time is in seconds), titles, channel names, finite masking, figures on the Agg canvas.

Figures are :class:`matplotlib.figure.Figure` objects, never pyplot's: no global backend is
chosen on import and no figure registry is left to close. A PDE named by the Dataset's
``pde`` attribute is asked for its units and labels (:data:`pdesurr.solvers.PDES`); a
foreign dataset's name is not in it and gets the nondimensional defaults.
"""

from __future__ import annotations

import json
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import xarray as xr
from matplotlib.figure import Figure

from pdesurr.solvers import PDES
from pdesurr.solvers.pde import PDE

DPI = 100
SECONDS_PER_DAY = 86400.0


def new_figure(nrows: int = 1, ncols: int = 1, *, figsize, **grid) -> tuple[Figure, object]:
    """A constrained-layout figure and its axes (``grid``: ``Figure.subplots`` options)."""
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.subplots(nrows, ncols, **grid)


def pde_class(ds: xr.Dataset) -> type[PDE] | None:
    """The PDE class the Dataset's ``pde`` attribute names, or None (a foreign dataset)."""
    return PDES.get(ds.attrs.get("pde", ""))


def as_numpy(x) -> np.ndarray:
    """A tensor (any device; bfloat16 and half via float64) or array as float64 numpy."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        if x.is_floating_point():
            x = x.double()
    return np.asarray(x, dtype=np.float64)


def finite(a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return np.where(np.isfinite(a), a, np.nan)


def positive(a) -> np.ndarray:
    a = finite(a)
    return np.where(a > 0, a, np.nan)


def time_axis(ds: xr.Dataset) -> tuple[np.ndarray, float, str]:
    """``(lead times to plot, scale dividing physical times, axis label)``."""
    t = np.asarray(ds["lead_time"].values, dtype=np.float64)
    units = ds["lead_time"].attrs.get("units", "")
    if not units:  # lead times carry no units in the Dataset: the PDE says its own
        units = pde_class(ds).time_units if pde_class(ds) else ""
    scale = 1.0
    if units in ("s", "seconds") and np.nanmax(np.abs(t), initial=0.0) >= 2 * SECONDS_PER_DAY:
        scale, units = SECONDS_PER_DAY, "days"
    return t / scale, scale, "lead time" + (f" [{units}]" if units else "")


def figure_title(ds: xr.Dataset, label: str, what: str) -> str:
    pde = ds.attrs.get("pde", "")
    n = ds.sizes.get("trajectory")
    extra = f" ({n} trajectories)" if n else ""
    return f"{label}: {what}" + (f", {pde}" if pde else "") + extra


def fmt(x: float) -> str:
    return f"{x:.3g}"


def channel_rows(ds: xr.Dataset, n_channels: int) -> list[tuple[str, int]]:
    """``(row title, channel index)`` for every channel of the state."""
    try:
        fields = json.loads(ds.attrs["fields"])
    except (KeyError, TypeError, ValueError):
        return [(f"channel {c}", c) for c in range(n_channels)]
    rows, c = [], 0
    for f in fields:
        dims = f.get("dims") or []
        for i in range(int(f.get("channels", 1))):
            if f.get("channels", 1) > 1:
                dim = dims[0] if dims else "channel"
                rows.append((f"{f['name']} ({dim} {i + 1})", c))
            else:
                rows.append((f["name"], c))
            c += 1
    if c != n_channels:  # the attribute does not describe these tensors
        return [(f"channel {c}", c) for c in range(n_channels)]
    return rows


def lead_picks(n: int, k: int) -> list[int]:
    return sorted({int(i) for i in np.linspace(0, n - 1, min(k, n)).round()})


def log_if_wide(ax, values, axis: str = "y", ratio: float = 100.0) -> None:
    """Log scale when the finite positive values span more than ``ratio``."""
    v = positive(values)
    if np.isfinite(v).any():
        lo, hi = np.nanmin(v), np.nanmax(v)
        if hi / lo > ratio:
            (ax.set_yscale if axis == "y" else ax.set_xscale)("log")


@contextmanager
def quiet():
    """Silence the RuntimeWarnings of all-NaN means and percentiles."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def save_figure(fig: Figure, path: Path) -> Path:
    fig.savefig(path, dpi=DPI)  # a bare Figure renders on the Agg canvas for PNG
    return path


def lead_axis(ax, t, xlabel: str, values=None) -> None:
    """Label the lead-time axis, always spanning the whole rollout, and shade the lead
    times from which ``values`` (lead first) stop being finite."""
    ax.set_xlabel(xlabel)
    if len(t) > 1:
        pad = 0.03 * (t[-1] - t[0])
        ax.set_xlim(t[0] - pad, t[-1] + pad)
    if values is None:
        return
    v = np.asarray(values, dtype=np.float64).reshape(len(t), -1)
    bad = ~np.isfinite(v).all(1)
    if bad.any():
        first = int(np.argmax(bad))
        start = t[first] - (t[first] - t[first - 1]) / 2 if first else t[0]
        ax.axvspan(
            start,
            ax.get_xlim()[1],
            color="0.5",
            alpha=0.2,
            lw=0,
            label=f"not finite from {fmt(t[first])}",
        )
