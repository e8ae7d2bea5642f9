"""PNG figures of an evaluation: what :func:`pdesurr.evaluation.evaluate.evaluate` returns.

:func:`plot_report` writes five figures into a folder:

* ``errors.png``: ``rel_l2``, ``nrmse_pdebench``, ``vrmse_the_well`` and ``correlation``
  against lead time; the trajectory mean and a band from the 10th to the 90th percentile
  over trajectories; lines at correlation 0.8 and 0.9 and the correlation times.
* ``spectra.png``: true (solid) and predicted (dashed) energy spectra at up to four lead
  times, one column per spectrum group (QG: one per layer), wavenumbers from the first
  non-zero one to the Nyquist; below, their ratio pred / true with a line at 1.
* ``snapshots.png``: trajectory 0. 2D: truth, prediction and error (pred - true) at three
  lead times, one row per channel and lead time; 1D: space-time images (x against lead
  time) of the three and profiles at three lead times, per channel.
* ``invariants.png``: each invariant, true and predicted, trajectory mean against lead time.
* ``spectral_error.png``: The Well's band errors (low, mid, high) against lead time.

Non-finite values (a prediction that blew up, a ratio over a zero spectrum) are left out
of lines, drawn grey in images, and the lead times from which a curve stops being finite
are shaded. The spectrum ratio is not drawn where the true spectrum is round-off (below
``RATIO_FLOOR`` of its peak), and its axis is clipped to ``RATIO_LIMITS``. The VRMSE panel
warns when The Well's epsilon (1e-7) is not small beside the truth's variance (QG in SI
units). Lead times of PDEs in SI units (QG) are shown in days. Matplotlib runs on Agg.
"""

from __future__ import annotations

import json
import math
import warnings
from contextlib import contextmanager
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from pdesurr.evaluation.metrics import EPS_WELL  # noqa: E402

ERROR_METRICS = (
    ("rel_l2", "relative L2"),
    ("nrmse_pdebench", "nRMSE (PDEBench)"),
    ("vrmse_the_well", "VRMSE (The Well)"),
)
THRESHOLDS = (0.8, 0.9)
N_SPECTRUM_LEADS = 4
N_SNAPSHOT_LEADS = 3
DPI = 100
RATIO_LIMITS = (1e-4, 1e4)
# E_true below this fraction of its peak is round-off (float32 storage: ~1e-14): no ratio there
RATIO_FLOOR = 1e-12
SECONDS_PER_DAY = 86400.0
# lead times carry no units in the Dataset; these PDEs are known to be in SI units
SI_PDES = ("quasi_geostrophic",)


# --- small helpers ----------------------------------------------------------------------


def _numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu()
        if hasattr(x, "is_floating_point") and x.is_floating_point():
            x = x.double()
    return np.asarray(x, dtype=np.float64)


def _finite(a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return np.where(np.isfinite(a), a, np.nan)


def _positive(a) -> np.ndarray:
    a = _finite(a)
    return np.where(a > 0, a, np.nan)


def _time_axis(ds: xr.Dataset) -> tuple[np.ndarray, float, str]:
    """``(lead times to plot, scale dividing physical times, axis label)``."""
    t = np.asarray(ds["lead_time"].values, dtype=np.float64)
    units = ds["lead_time"].attrs.get("units", "")
    if not units and ds.attrs.get("pde") in SI_PDES:
        units = "s"
    scale = 1.0
    if units in ("s", "seconds") and np.nanmax(np.abs(t), initial=0.0) >= 2 * SECONDS_PER_DAY:
        scale, units = SECONDS_PER_DAY, "days"
    return t / scale, scale, "lead time" + (f" [{units}]" if units else "")


def _title(ds: xr.Dataset, label: str, what: str) -> str:
    pde = ds.attrs.get("pde", "")
    n = ds.sizes.get("trajectory")
    extra = f" ({n} trajectories)" if n else ""
    return f"{label}: {what}" + (f", {pde}" if pde else "") + extra


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def _fields(ds: xr.Dataset, n_channels: int) -> list[tuple[str, int]]:
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


def _lead_picks(n: int, k: int) -> list[int]:
    return sorted({int(i) for i in np.linspace(0, n - 1, min(k, n)).round()})


def _log_if_wide(ax, values, axis: str = "y", ratio: float = 100.0) -> None:
    """Log scale when the finite positive values span more than ``ratio``."""
    v = _positive(values)
    if np.isfinite(v).any():
        lo, hi = np.nanmin(v), np.nanmax(v)
        if hi / lo > ratio:
            (ax.set_yscale if axis == "y" else ax.set_xscale)("log")


@contextmanager
def _quiet():
    """Silence the RuntimeWarnings of all-NaN means and percentiles."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


# --- errors -------------------------------------------------------------------------------


def _band(ax, t, ds: xr.Dataset, name: str, color, label: str) -> None:
    mean = _finite(ds[name].values)
    ax.plot(t, mean, color=color, marker=".", label=label)
    per = f"{name}_per_trajectory"
    if per in ds and ds.sizes.get("trajectory", 0) > 1:
        values = _finite(ds[per].transpose("trajectory", "lead").values)
        with np.errstate(all="ignore"), _quiet():
            lo = np.nanpercentile(values, 10, axis=0)
            hi = np.nanpercentile(values, 90, axis=0)
        ax.fill_between(t, lo, hi, color=color, alpha=0.25, lw=0, label="10th-90th percentile")


def _lead_axis(ax, t, xlabel: str, values=None) -> None:
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
            label=f"not finite from {_fmt(t[first])}",
        )


def _vrmse_note(true) -> str:
    """A warning when The Well's epsilon is not small beside the truth's variance."""
    if true is None:
        return ""
    a = _numpy(true)
    a = a.reshape(*a.shape[:3], -1)
    with _quiet():
        var = np.nanmean(np.nanvar(a, axis=-1, ddof=1), axis=(0, 1))  # per channel
    var = var[np.isfinite(var)]
    if var.size and EPS_WELL > 0.01 * var.min():
        return f"\n(eps = {EPS_WELL:g} vs var(truth) = {var.min():.2g}: understated)"
    return ""


def plot_errors(ds: xr.Dataset, path: Path, label: str, true=None) -> Path:
    t, scale, xlabel = _time_axis(ds)
    fig, axes = plt.subplots(2, 2, figsize=(11, 8), layout="constrained")
    for ax, (name, title) in zip(axes.flat, ERROR_METRICS, strict=False):
        if name not in ds:
            ax.set_visible(False)
            continue
        _band(ax, t, ds, name, "C0", "trajectory mean")
        _log_if_wide(ax, ds[name].values)
        if ax.get_yscale() == "linear":
            ax.set_ylim(bottom=0)
        ax.set_title(title + (_vrmse_note(true) if name == "vrmse_the_well" else ""))
        _lead_axis(ax, t, xlabel, ds[name].values)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize="small", loc="upper left")
    ax = axes.flat[3]
    if "correlation" in ds:
        _band(ax, t, ds, "correlation", "C0", "trajectory mean")
        corr = _finite(ds["correlation"].values)
        low = np.nanmin(corr) if np.isfinite(corr).any() else 0.7
        ax.set_ylim(min(0.7, low - 0.05), 1.02)
        _lead_axis(ax, t, xlabel, corr)
        handles = []
        for thr, color in zip(THRESHOLDS, ("C3", "C1"), strict=True):
            ax.axhline(thr, color=color, ls=":", lw=1)
            tc = float(ds.attrs.get(f"correlation_time_{thr}", math.nan))
            if math.isfinite(tc):
                ax.axvline(tc / scale, color=color, ls="--", lw=1)
                text = f"correlation time ({thr}): {_fmt(tc / scale)}"
            elif math.isinf(tc):
                text = f"correlation time ({thr}): > horizon ({_fmt(t[-1])})"
            else:
                text = f"correlation time ({thr}): not given"
            handles.append(Line2D([], [], color=color, ls="--", lw=1, label=text))
        h, lab = ax.get_legend_handles_labels()
        ax.legend(h + handles, lab + [x.get_label() for x in handles], fontsize="small")
        ax.set_title("Pearson correlation")
        ax.grid(alpha=0.3)
    else:
        ax.set_visible(False)
    fig.suptitle(_title(ds, label, "errors against lead time"))
    return _save(fig, path)


# --- spectra ------------------------------------------------------------------------------


def _nyquist_index(ds: xr.Dataset, true) -> int:
    """Last wavenumber bin to show: ``min(S) // 2`` (the arrays go on to the grid's corner)."""
    shape = np.shape(true)[3:]
    n = ds.sizes["wavenumber"] - 1
    return min(n, min(shape) // 2) if shape else n


def _wavenumber_label(ds: xr.Dataset) -> str:
    pde = ds.attrs.get("pde")
    if pde == "kuramoto_sivashinsky":  # the grid is in units of each trajectory's L
        return r"wavenumber $k = 2\pi n$ (x in units of the domain length)"
    return "wavenumber k" + (" [rad/m]" if pde in SI_PDES else "")


def plot_spectra(ds: xr.Dataset, true, path: Path, label: str) -> Path:
    t, _, xlabel = _time_axis(ds)
    when = xlabel.split(" [")[0]
    k = np.asarray(ds["wavenumber"].values, dtype=np.float64)
    keep = np.zeros(k.shape, bool)
    keep[: _nyquist_index(ds, true) + 1] = True
    keep &= k > 0
    groups = [str(g) for g in ds["group"].values]
    leads = _lead_picks(ds.sizes["lead"], N_SPECTRUM_LEADS)
    fig, axes = plt.subplots(
        2,
        len(groups),
        figsize=(max(5.5 * len(groups), 8.5), 8),
        squeeze=False,
        sharex=True,
        layout="constrained",
        height_ratios=(3, 2),
    )
    colors = plt.cm.viridis(np.linspace(0, 0.85, len(leads)))
    clipped = masked = False
    for g, group in enumerate(groups):
        top, bottom = axes[0, g], axes[1, g]
        for i, color in zip(leads, colors, strict=True):
            st = _positive(ds["spectrum_true"].isel(lead=i, group=g).values)[keep]
            sp = _positive(ds["spectrum_pred"].isel(lead=i, group=g).values)[keep]
            tag = f"{when} {_fmt(t[i])}"
            top.loglog(k[keep], st, "-", color=color, lw=2.5, alpha=0.6, label=f"true, {tag}")
            gone = "" if np.isfinite(sp).any() else " (none finite)"
            top.loglog(k[keep], sp, "--", color=color, lw=1.3, label=f"pred, {tag}{gone}")
            ratio = _positive(ds["spectrum_ratio"].isel(lead=i, group=g).values)[keep]
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
        _title(ds, label, "energy spectra up to the Nyquist wavenumber")
        + ("\n(" + "; ".join(notes) + ")" if notes else "")
    )
    return _save(fig, path)


def _ratio_limits(ax) -> tuple[float, float]:
    values = np.concatenate([np.asarray(ln.get_ydata(), float) for ln in ax.get_lines()] or [[]])
    values = values[np.isfinite(values) & (values > 0)]
    if not len(values):
        return 0.5, 2.0
    lo = max(min(values.min(), 0.5), RATIO_LIMITS[0])
    hi = min(max(values.max(), 2.0), RATIO_LIMITS[1])
    return lo / 1.3, hi * 1.3


# --- snapshots ----------------------------------------------------------------------------


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
    field = plt.get_cmap("viridis").with_extremes(bad="0.6")
    error = plt.get_cmap("RdBu_r").with_extremes(bad="0.6")
    return field, error


def _snapshots_2d(ds, pred, true, rows) -> plt.Figure:
    t, _, xlabel = _time_axis(ds)
    leads = _lead_picks(pred.shape[0], N_SNAPSHOT_LEADS)
    when = xlabel.split(" [")[0]
    unit = xlabel[len(when) :].strip(" []")
    panels = [(name, c, i) for name, c in rows for i in leads]
    ny, nx = true.shape[-2:]
    w = 3.2 * nx / max(ny, nx)
    fig, axes = plt.subplots(
        len(panels),
        3,
        figsize=(3 * w + 2.2, 3.0 * len(panels) + 0.6),
        squeeze=False,
        layout="constrained",
    )
    fcmap, ecmap = _cmaps()
    for r, (name, c, i) in enumerate(panels):
        a, b = true[i, c], pred[i, c]
        lo, hi, clipped = _field_limits(a, b)
        err = b - a
        tag = f"{name}, {when} {_fmt(t[i])}" + (f" {unit}" if unit else "")
        ims = []
        for col, (arr, what) in enumerate(((a, "truth"), (b, "prediction"))):
            ax = axes[r, col]
            ims.append(ax.imshow(arr, origin="lower", cmap=fcmap, vmin=lo, vmax=hi))
            ax.set_title(f"{what}: {tag}", fontsize="small")
        fig.colorbar(ims[0], ax=axes[r, :2], shrink=0.9, extend="both" if clipped else "neither")
        v = _sym(err)
        ax = axes[r, 2]
        im = ax.imshow(err, origin="lower", cmap=ecmap, vmin=-v, vmax=v)
        ax.set_title(f"error (pred - true), max |e| {_fmt(v)}", fontsize="small")
        fig.colorbar(im, ax=ax, shrink=0.9)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    return fig


def _snapshots_1d(ds, pred, true, rows) -> plt.Figure:
    t, _, xlabel = _time_axis(ds)
    n_lead, _, nx = true.shape
    dt = t[1] - t[0] if len(t) > 1 else 1.0
    extent = (0.0, 1.0, t[0] - dt / 2, t[-1] + dt / 2)
    x = (np.arange(nx) + 0.5) / nx
    leads = _lead_picks(n_lead, N_SNAPSHOT_LEADS)
    fig, axes = plt.subplots(
        2 * len(rows),
        3,
        figsize=(15, 7.5 * len(rows)),
        squeeze=False,
        layout="constrained",
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
            ax.plot(x, _finite(a[i]), "k-", label="truth")
            ax.plot(x, _finite(b[i]), "C1--", label="prediction")
            ax.set_ylim(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
            ax.set_title(f"{name} at {when} {_fmt(t[i])}", fontsize="small")
            ax.set_xlabel("x / L")
            ax.grid(alpha=0.3)
            ax.legend(fontsize="small")
        for ax in axes[2 * r + 1, len(leads) :]:
            ax.set_visible(False)
    return fig


def plot_snapshots(ds: xr.Dataset, pred, true, path: Path, label: str) -> Path:
    pred, true = _numpy(pred)[0], _numpy(true)[0]  # trajectory 0: (T, C, *S)
    rows = _fields(ds, true.shape[1])
    if true.ndim == 3:
        fig = _snapshots_1d(ds, pred, true, rows)
    else:
        fig = _snapshots_2d(ds, pred, true, rows)
    traj = ds["trajectory"].values[0] if "trajectory" in ds.coords else 0
    fig.suptitle(
        f"{label}: trajectory {traj}, truth / prediction / error"
        + (f", {ds.attrs['pde']}" if "pde" in ds.attrs else "")
    )
    return _save(fig, path)


# --- invariants ---------------------------------------------------------------------------


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
    t, _, xlabel = _time_axis(ds)
    names = _invariant_names(ds)
    n = max(len(names), 1)
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(5 * ncols, 3.8 * nrows), squeeze=False, layout="constrained"
    )
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
            mean = _finite(var.values)
            ax.plot(t, mean, style, color=color, marker=".", label=which)
        ax.set_title(name.replace("_", " "))
        _lead_axis(ax, t, xlabel, mean)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4), useOffset=False)
    fig.suptitle(_title(ds, label, "invariants (trajectory mean)"))
    return _save(fig, path)


# --- spectral error -----------------------------------------------------------------------


def plot_spectral_error(ds: xr.Dataset, path: Path, label: str) -> Path:
    t, _, xlabel = _time_axis(ds)
    fig, ax = plt.subplots(figsize=(7, 4.8), layout="constrained")
    se = ds["spectral_error"].transpose("lead", "band")
    bands = [str(b) for b in ds["band"].values]
    for j, band in enumerate(bands):
        ax.plot(t, _positive(se.values[:, j]), marker=".", label=f"{band} wavenumbers")
    if np.isfinite(_positive(se.values)).any():
        ax.set_yscale("log")
    _lead_axis(ax, t, xlabel, se.values)
    ax.set_ylabel("sum |p_hat - t_hat|^2 / sum |t_hat|^2")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small")
    fig.suptitle(_title(ds, label, "spectral error by band"))
    return _save(fig, path)


# --- all ----------------------------------------------------------------------------------


def plot_report(ds: xr.Dataset, pred, true, out_dir, label: str = "model") -> list[Path]:
    """Write ``errors.png``, ``spectra.png``, ``snapshots.png``, ``invariants.png`` and
    ``spectral_error.png`` into ``out_dir`` (created); returns their paths.

    ``ds`` is the Dataset of :func:`~pdesurr.evaluation.evaluate.evaluate`; ``pred`` and
    ``true`` its rollouts and truths ``(N, T, C, *S)`` (torch or NumPy)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with np.errstate(all="ignore"):
        return [
            plot_errors(ds, out / "errors.png", label, true),
            plot_spectra(ds, true, out / "spectra.png", label),
            plot_snapshots(ds, pred, true, out / "snapshots.png", label),
            plot_invariants(ds, out / "invariants.png", label),
            plot_spectral_error(ds, out / "spectral_error.png", label),
        ]
