"""Write an evaluation: the metrics Dataset (netCDF or zarr), a JSON summary, PNG plots."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import xarray as xr

from pdesurr import strict_json

SUMMARY_METRICS = ("rel_l2", "mse", "nrmse_pdebench", "vrmse_the_well", "correlation")


def _num(x) -> float | str:
    x = float(x)
    return "inf" if math.isinf(x) else x


def summary(ds: xr.Dataset, lead_indices=()) -> dict:
    """One-step, selected-lead and final values, correlation times, spectral errors."""
    out = {
        "trajectories": int(ds.sizes["trajectory"]),
        "steps": int(ds.sizes["lead"]),
        "one_step": {m: _num(ds[m].isel(lead=0)) for m in SUMMARY_METRICS},
        "final": {m: _num(ds[m].isel(lead=-1)) for m in SUMMARY_METRICS},
        "at_lead": {
            str(int(k)): {m: _num(ds[m].sel(lead=int(k))) for m in SUMMARY_METRICS}
            for k in lead_indices
            if int(k) in ds["lead"].values
        },
        "correlation_time": {t: _num(ds.attrs[f"correlation_time_{t}"]) for t in ("0.8", "0.9")},
        "spectral_error_final": {
            b: _num(v)
            for b, v in zip(
                ds["band"].values, ds["spectral_error"].isel(lead=-1).values, strict=True
            )
        },
        "rollout_steps_per_second": _num(ds.attrs.get("rollout_steps_per_second", float("nan"))),
    }
    if "ensemble_members" in ds.attrs:  # PDE-Refiner's uncertainty estimate
        out["ensemble_members"] = int(ds.attrs["ensemble_members"])
        out["ensemble_decorrelation_time"] = {
            t: _num(ds.attrs[f"ensemble_decorrelation_time_{t}"]) for t in ("0.8", "0.9")
        }
    for key in ("store", "split", "history", "context", "pde"):
        if key in ds.attrs:
            out[key] = (
                ds.attrs[key] if not isinstance(ds.attrs[key], np.generic) else ds.attrs[key].item()
            )
    return out


def write_report(
    ds: xr.Dataset,
    pred,
    true,
    out_dir,
    label: str = "model",
    lead_indices=(),
    fmt: str = "netcdf",
    plots: bool = True,
) -> dict:
    """Write ``metrics.nc`` (or ``metrics.zarr``), ``summary.json`` and the plots."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ds = ds.copy()
    ds.attrs["label"] = label
    if fmt == "netcdf":
        path = out_dir / "metrics.nc"
        tmp = path.with_suffix(".nc.tmp")
        ds.to_netcdf(tmp)
        tmp.replace(path)
    else:
        path = out_dir / "metrics.zarr"
        ds.to_zarr(path, mode="w")
    info = {"label": label, **summary(ds, lead_indices), "metrics_file": str(path)}
    if plots:
        from pdesurr.evaluation.report_plots import plot_report

        info["plots"] = [str(p) for p in plot_report(ds, pred, true, out_dir, label=label)]
    (out_dir / "summary.json").write_text(strict_json.dumps(info, indent=1))
    return info
