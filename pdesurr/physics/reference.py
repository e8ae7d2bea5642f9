"""The reference solution a PINN is trained against (its initial condition) and scored on.

A PINN problem names a solver preset (``solvers/NAME.toml``) and optional overrides of
its ``[pde]`` table (``velocity = 30``). The resolved configuration is simulated once with
pdesurr's own solver and stored like any trajectory
(:func:`pdesurr.data.trajectory_writer.write_run`) at
``<store_dir>/<NAME>-<hash>.zarr``, the hash being that of the resolved configuration, so
a changed parameter never reuses a stale reference. 1D PDEs only (the trainers' scope).

Physical coordinates: ``x = origin + j L / N`` (``origin`` from the PDE when it has one,
else 0), ``t`` the stored times.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from pdesurr.config import ConfigError, SolverConfig


@dataclass
class Reference:
    x: torch.Tensor  # (N,) physical coordinates, float64
    t: torch.Tensor  # (T,)
    u: torch.Tensor  # (T, N)
    length: float
    origin: float
    pde: dict  # resolved [pde] table (kind + parameters)
    store: Path

    @property
    def t_end(self) -> float:
        return float(self.t[-1])


def reference_config(preset: str, pde_overrides: dict) -> SolverConfig:
    sets = [f"pde.{k}={json.dumps(v)}" for k, v in pde_overrides.items()]
    return SolverConfig.load(preset, sets)


def store_path(cfg: SolverConfig, preset: str, store_dir: str | Path) -> Path:
    text = json.dumps(cfg.resolved(), sort_keys=True, default=str)
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    return Path(store_dir) / f"{Path(preset).stem}-{digest}.zarr"


def load_reference(preset: str, pde_overrides: dict, store_dir: str | Path) -> Reference:
    """The stored reference, simulated first when missing."""
    cfg = reference_config(preset, pde_overrides)
    pde = cfg.build_pde()
    if pde.grid.ndim != 1 or pde.channels != 1:
        raise ConfigError(f"physics.reference = {preset!r}: PINN problems here are 1D, one field")
    if cfg.resolved_run()["batch"] != 1:
        raise ConfigError(f"physics.reference = {preset!r}: run.batch must be 1")
    path = store_path(cfg, preset, store_dir)
    if not path.exists():
        from pdesurr.data.trajectory_writer import write_run

        path.parent.mkdir(parents=True, exist_ok=True)
        write_run(cfg, path)
    ds = xr.open_zarr(path)
    name = pde.fields[0].name
    u = np.array(ds[name].values, dtype=np.float64)  # (T, N)
    origin = float(getattr(pde, "origin", 0.0))
    x = origin + np.array(ds["x"].values, dtype=np.float64)
    resolved = cfg.resolved()["pde"]
    return Reference(
        x=torch.from_numpy(x),
        t=torch.from_numpy(np.array(ds["time"].values, dtype=np.float64)),
        u=torch.from_numpy(u),
        length=float(pde.grid.length[0]),
        origin=origin,
        pde=resolved,
        store=path,
    )
