"""Write a pdesurr store in The Well's layout, so ``the_well.data.WellDataset`` reads it.

``OUT/data/<split>/<dataset>_<first trajectory>.hdf5`` (The Well's tree: ``WellDataset(
path=OUT, well_split_name=split)``) and ``OUT/stats.yaml`` (its normalisation file: mean,
std, rms of the train split's values and one-frame changes, per field and component).
Trajectories sharing their sampled parameters go into one file, as The Well groups its
simulations (each file holds one parameter set, stated as root attributes); with
continuously sampled parameters that is one file per trajectory.

Mapping (the inverse of :mod:`pdesurr.data.well_store`): pdesurr's ``(y, x)`` arrays
become ``(x, y)`` (``dimensions/@spatial_dims = ["x", "y"]``); a one-channel field is a
``t0_fields`` entry ``(B, T, Nx, Ny)``; a field whose channel dim is ``component`` with one
component per spatial axis is a ``t1_fields`` vector ``(B, T, Nx, Ny, D)``; other
multi-channel fields (QG's layers) become one ``t0`` field per channel,
``<field>_<dim><coordinate>`` (``q_layer1``); a store read from The Well keeps its tensor
orders (``t2`` included) and its time-constant fields. Every axis is periodic (pdesurr's solvers are
pseudo-spectral). Data are written in float32, as The Well's specification states.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import h5py
import numpy as np

from pdesurr import __version__
from pdesurr.data.store import StoreError, open_store

WELL_AXES = {1: ["x"], 2: ["x", "y"]}


def well_fields(store, split: str, ndim: int) -> list[dict]:
    """How each field is written: ``{"name", "order", "source", "channel", "constant"}``.

    The tensor order is the field's own (a store read from The Well says it), else 1 for a
    ``component`` dim with one entry per axis; other channel dims are split into t0 fields.
    """
    out = []
    constant = [(f, True) for f in getattr(store, "constant_fields", [])]
    for f, const in [(f, False) for f in store.fields] + constant:
        base = {"source": f["name"], "channel": None, "constant": const}
        order = f.get("tensor_order", 1 if f["dims"][:1] == ["component"] else 0)
        if f["channels"] == 1:
            out.append({**base, "name": f["name"], "order": 0})
        elif order in (1, 2) and f["channels"] == ndim**order:
            out.append({**base, "name": f["name"], "order": order})
        else:
            dim = f["dims"][0]
            labels = store.read(split, dim) if store.has(split, dim) else range(f["channels"])
            for c, label in enumerate(np.asarray(labels).tolist()):
                name = f"{f['name']}_{dim}{label}"
                out.append({**base, "name": name, "order": 0, "channel": c})
    return out


def to_well(x: np.ndarray, ndim: int, order: int, channel) -> np.ndarray:
    """``(B, T, [C], *S)`` in pdesurr order -> The Well's ``(B, T, d0, d1, [D[, D]])``."""
    if channel is not None:
        x = x[:, :, channel]
    if order:
        x = np.moveaxis(x, 2, -1)  # components last
    spatial = list(range(2, 2 + ndim))[::-1]  # (y, x) -> (x, y)
    rest = list(range(2 + ndim, x.ndim))
    x = np.transpose(x, (0, 1, *spatial, *rest))
    if order == 2:  # The Well flattens (i, j) row-major: xx, xy, yx, yy
        x = x.reshape(*x.shape[:-1], ndim, ndim)
    return np.ascontiguousarray(x, dtype=np.float32)


def constant_parameters(store) -> dict[str, float]:
    """Numeric PDE settings of a pdesurr store (viscosity, forcing wavenumber, ...)."""
    spec = store.spec
    pde = spec.get("solver", {}).get("pde", {})
    out = {}
    for k, v in pde.items():
        if isinstance(v, int | float) and not isinstance(v, bool) and k != "resolution":
            out[k] = float(v)
    return out


def empty_destination(out) -> Path:
    """``out`` as a Path, refused when it is a folder with files (an export never mixes
    its files with others')."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty")
    return out


def export_well(store_path, out: Path, name: str | None = None) -> list[Path]:
    """Write ``store_path`` under ``out`` in The Well's layout; returns the files written."""
    out = empty_destination(out)
    store = open_store(store_path)
    try:
        return _export(store, out, name)
    finally:
        store.close()


def _export(store, out: Path, name: str | None) -> list[Path]:
    dataset = re.sub(r"[^A-Za-z0-9_]+", "_", name or store.attrs["name"]).strip("_")
    sampled = list(store.spec.get("spec", {}).get("parameters", {})) or list(
        getattr(store, "parameters", [])
    )
    constants = constant_parameters(store)
    written, sums = [], {}
    for split in store.splits:
        rows = store.usable(split)
        if rows.size == 0:
            continue
        f0 = store.fields[0]
        shape = store.array(split, f0["name"]).shape
        ndim = len(shape) - 2 - (f0["channels"] > 1)
        if ndim not in WELL_AXES:
            raise StoreError(f"{store.path}: {ndim}D data cannot be exported")
        layout = well_fields(store, split, ndim)
        params = {p: np.asarray(store.read(split, p), dtype=np.float64)[rows] for p in sampled}
        groups: list[list[int]] = []
        for i in range(rows.size):  # consecutive trajectories with one parameter set
            key = tuple(params[p][i] for p in sampled)
            prev = tuple(params[p][groups[-1][0]] for p in sampled) if groups else None
            if groups and key == prev:
                groups[-1].append(i)
            else:
                groups.append([i])
        folder = out / "data" / split
        folder.mkdir(parents=True, exist_ok=True)
        for g in groups:
            path = folder / f"{dataset}_{int(rows[g[0]]):05d}.hdf5"
            values = {**constants, **{p: float(params[p][g[0]]) for p in sampled}}
            # stats.yaml describes the training split (what normalisation uses)
            acc = sums if split == "train" or "train" not in store.splits else None
            _write_file(store, split, rows[g], layout, ndim, path, dataset, values, acc)
            written.append(path)
    _write_stats(out / "stats.yaml", sums)
    return written


def _write_file(store, split, rows, layout, ndim, path, dataset, values, sums) -> None:
    axes = WELL_AXES[ndim]
    with h5py.File(path, "w") as f:
        f.attrs.update(
            dataset_name=dataset,
            grid_type="cartesian",
            n_spatial_dims=ndim,
            n_trajectories=len(rows),
            simulation_parameters=list(values),
            pdesurr_version=__version__,
            pdesurr_trajectories=np.asarray(rows, dtype=np.int64),
            pdesurr_spec=store.attrs.get("spec", "{}"),
            pdesurr_fields=json.dumps(store.fields),
        )
        for k, v in values.items():
            f.attrs[k] = v
        dims = f.create_group("dimensions")
        dims.attrs["spatial_dims"] = axes
        for k in ("time", *axes):
            ds = dims.create_dataset(k, data=np.asarray(store.read(split, k), dtype=np.float32))
            ds.attrs.update(sample_varying=False, time_varying=False, units="nondimensional")
        bcs = f.create_group("boundary_conditions")
        for k in axes:
            n = len(store.read(split, k))
            g = bcs.create_group(f"{k}_periodic")
            g.attrs.update(
                associated_dims=[k],
                associated_fields=[],
                bc_type="periodic",
                sample_varying=False,
                time_varying=False,
            )
            mask = np.zeros(n, dtype=bool)
            mask[[0, -1]] = True  # the two ends of the axis, identified with each other
            g.create_dataset("mask", data=mask)
            g.create_dataset("values", data=np.zeros(int(mask.sum()), dtype=np.float32))
        sc = f.create_group("scalars")
        sc.attrs["field_names"] = list(values)
        for k, v in values.items():
            ds = sc.create_dataset(k, data=np.float32(v))
            ds.attrs.update(sample_varying=False, time_varying=False)
        groups = [f.create_group(f"t{i}_fields") for i in range(3)]
        for i in range(3):
            groups[i].attrs["field_names"] = [e["name"] for e in layout if e["order"] == i]
        for e in layout:
            if e["constant"]:  # (N, [C], *S): a time axis of one, dropped after the transpose
                raw = np.asarray(store.read(split, e["source"]))[rows][:, None]
                data = to_well(raw, ndim, e["order"], e["channel"])[:, 0]
            else:
                raw = np.stack([np.asarray(store.read(split, e["source"], int(r))) for r in rows])
                data = to_well(raw, ndim, e["order"], e["channel"])  # (B, T, d0, d1, [D])
            ds = groups[e["order"]].create_dataset(e["name"], data=data)
            ds.attrs.update(
                dim_varying=[True] * ndim, sample_varying=True, time_varying=not e["constant"]
            )
            if not e["constant"] and sums is not None:
                _accumulate(sums, e["name"], data, e["order"])


def _accumulate(sums: dict, name: str, data: np.ndarray, order: int) -> None:
    """Running sums for stats.yaml: values and one-frame changes, per component."""
    comp = data.reshape(*data.shape[:-1], -1) if order else data[..., None]
    delta = np.diff(comp, axis=1)
    acc = sums.setdefault(name, np.zeros((6, comp.shape[-1])))
    for j, x in enumerate((comp, delta)):
        x = x.reshape(-1, comp.shape[-1]).astype(np.float64)
        acc[3 * j] += x.shape[0]
        acc[3 * j + 1] += x.sum(0)
        acc[3 * j + 2] += (x * x).sum(0)


def _write_stats(path: Path, sums: dict) -> None:
    """The Well's ``stats.yaml``: mean, std, rms and their ``_delta`` (frame changes).

    Written as JSON, which is YAML too (flow style), so no YAML library is needed."""
    stats = {k: {} for k in ("mean", "std", "rms", "mean_delta", "std_delta", "rms_delta")}
    for name, acc in sums.items():
        for j, suffix in ((0, ""), (1, "_delta")):
            n, s, s2 = acc[3 * j], acc[3 * j + 1], acc[3 * j + 2]
            mean = s / np.maximum(n, 1)
            rms = np.sqrt(s2 / np.maximum(n, 1))
            std = np.sqrt(np.maximum(rms**2 - mean**2, 0.0))
            for key, v in (("mean", mean), ("std", std), ("rms", rms)):
                stats[key + suffix][name] = v.tolist() if v.size > 1 else float(v[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stats, indent=1))
