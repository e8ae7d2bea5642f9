"""``pdesurr info PATH``: describe a trajectory store, a dataset store, a foreign file
(The Well, PDEBench) or a checkpoint directory of any format (pdesurr's, Poseidon's
published layout, a physics-informed run).

A dispatcher on the kind of path: :func:`path_kind` names the kind, ``DESCRIBERS`` maps it
to a function returning the text; a checkpoint's text comes from its format's reader
(:mod:`pdesurr.checkpoints.readers`).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import xarray as xr

from pdesurr.cli.simulate import InputError
from pdesurr.data.integrity import verify_split
from pdesurr.data.store import FORMAT, StoreError, detect_format, open_store
from pdesurr.data.trajectory_writer import STORE_KIND


# --- info --------------------------------------------------------------------------
def describe_trajectory(path: Path) -> str:
    """A human summary of a trajectory store written by ``simulate``."""
    ds = xr.open_zarr(path)
    config = json.loads(ds.attrs["config"])
    lines = [
        f"{path}: trajectory store (pdesurr {ds.attrs.get('pdesurr_version', '?')})",
        f"  pde:         {ds.attrs['pde']}",
    ]
    params = {k: v for k, v in config["pde"].items() if k != "kind"}
    lines.append("  parameters:  " + ", ".join(f"{k}={v}" for k, v in params.items()))
    lines.append(f"  initial:     {config.get('initial', {})}")
    lines.append(
        f"  integrator:  {ds.attrs['integrator']}, dt = {ds.attrs['dt']}, "
        f"save every {ds.attrs['save_every']} steps"
    )
    t = ds["time"].values
    units = ds["time"].attrs.get("units", "")
    units = f"{units} " if units else ""
    lines.append(f"  time:        {t[0]:.6g} .. {t[-1]:.6g} {units}({len(t)} snapshots)")
    if "trajectory" in ds.dims:
        lines.append(f"  trajectories: {ds.sizes['trajectory']}")
    lines.append("  fields:")
    for name, var in ds.data_vars.items():
        if "time" in var.dims:
            shape = ", ".join(f"{d}={n}" for d, n in var.sizes.items())
            unit = f" [{var.attrs['units']}]" if var.attrs.get("units") else ""
            lines.append(f"    {name}{unit}: ({shape}) {var.dtype}")
    per_traj = [n for n, v in ds.data_vars.items() if "time" not in v.dims]
    for name in per_traj:
        lines.append(f"  {name} per trajectory: {np.atleast_1d(ds[name].values).tolist()}")
    return "\n".join(lines)


def describe_dataset(path: Path) -> str:
    """A human summary of a dataset store written by ``generate``."""
    store = open_store(path)
    spec = store.spec
    solver = spec["solver"]
    lines = [
        f"{path}: dataset {store.attrs['name']!r} ({detect_format(path)}, pdesurr "
        f"{store.attrs['pdesurr_version']}, fingerprint {store.attrs['fingerprint']})",
        f"  pde:         {store.attrs['pde']}",
        "  parameters:  " + ", ".join(f"{k}={v}" for k, v in solver["pde"].items() if k != "kind"),
        f"  initial:     {solver['initial']}",
        f"  integrator:  {solver['integrator']}",
        f"  time:        {spec['spec']['time']}",
    ]
    for split, info in store.summary().items():
        lines.append(
            f"  {split}: {info['complete']}/{info['trajectories']} complete, "
            f"{info['diverged']} diverged"
        )
        for name, shape in info["shapes"].items():
            dims = store.array(split, name)
            lines.append(f"    {name}: {tuple(shape)} {dims.dtype}")
        for name, st in info["statistics"].items():
            fmt = lambda v: "[" + ", ".join(f"{x:.4g}" for x in v) + "]"  # noqa: E731
            lines.append(
                f"    {name} mean {fmt(st['mean'])} std {fmt(st['std'])} "
                f"min {fmt(st['min'])} max {fmt(st['max'])}"
            )
        verify_split(store, split)  # every chunk: present, decodable, plausible; else refuse
        lines.append(
            "    verified: every chunk of the usable trajectories present, decodable and "
            "within the recorded min/max"
        )
    store.close()
    return "\n".join(lines)


def describe_checkpoint(path: Path) -> str:
    """A human summary of a checkpoint directory of any format (its reader's text)."""
    from pdesurr.checkpoints.readers import describe

    return describe(path)


def describe_foreign(path: Path) -> str:
    """A human summary of a file another tool wrote (The Well, PDEBench)."""
    store = open_store(path)
    try:
        return store.describe()
    finally:
        store.close()


# kind of path -> describer
DESCRIBERS: dict[str, Callable[[Path], str]] = {
    STORE_KIND: describe_trajectory,
    "dataset": describe_dataset,
    "checkpoint": describe_checkpoint,
    "foreign": describe_foreign,
}


def path_kind(path: Path) -> str:
    """What ``path`` holds: a key of ``DESCRIBERS``; raises InputError otherwise."""
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    if path.is_dir() and (path / "config.json").is_file():
        return "checkpoint"  # any format of pdesurr.checkpoints.readers.READERS
    try:
        fmt = detect_format(path)
    except StoreError as e:
        raise InputError(str(e)) from None
    if fmt in ("the_well", "pdebench"):
        return "foreign"
    if fmt == "h5":
        return "dataset"
    if (path / "zarr.json").exists() and json.loads((path / "zarr.json").read_text()).get(
        "attributes", {}
    ).get("format") == FORMAT:
        return "dataset"
    if path.is_dir() and any((path / m).exists() for m in (".zgroup", "zarr.json")):
        kind = xr.open_zarr(path).attrs.get("pdesurr_kind")
        if kind in DESCRIBERS:
            return kind
        raise InputError(f"{path}: a zarr store, but not one pdesurr wrote (pdesurr_kind={kind!r})")
    raise InputError(f"{path}: not a store pdesurr knows (kinds: {sorted(DESCRIBERS)})")


def cmd_info(args: argparse.Namespace) -> int:
    path = Path(args.path)
    print(DESCRIBERS[path_kind(path)](path))
    return 0
