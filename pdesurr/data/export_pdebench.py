"""Write a pdesurr store in PDEBench's HDF5 layouts, as PDEBench's loaders read them.

One file per split, ``OUT/<dataset>_<split>.hdf5`` (root attributes ``split``,
``dataset_name``, ``boundary_conditions``, ``parameters``: PDEBench keeps one parameter
set per file and splits a file by ``test_ratio``; the attributes let a reader keep
pdesurr's splits). The layout follows the data (Takamoto et al. 2022; the files that
``pdebench/models/fno/utils.py`` reads):

* 1D, one channel: ``tensor`` ``(B, T, Nx)`` float32, ``x-coordinate`` ``(Nx,)``,
  ``t-coordinate`` ``(T + 1,)`` (the frame times and the next one, as PDEBench stores
  the end time); per-trajectory parameters in ``parameters/<name>`` ``(B,)``.
* otherwise (2D, or several channels): one group per trajectory ``0000, 0001, ...``
  with ``data`` ``(T, Nx[, Ny], C)`` float32 (channels last, spatial axes ``(x, y)``),
  ``grid/x``, ``grid/y``, ``grid/t`` ``(T,)``, the trajectory's parameters as group
  attributes and ``config`` (YAML text, as PDEBench's seed groups carry), nothing else
  at the top level (PDEBench's multi-file reader takes every top-level key as a seed).

All boundaries are periodic (pdesurr's solvers are pseudo-spectral).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import h5py
import numpy as np

from pdesurr import __version__
from pdesurr.data.channels import stack_fields
from pdesurr.data.export_well import constant_parameters, empty_destination
from pdesurr.data.store import StoreError, open_store


def export_pdebench(store_path, out: Path, name: str | None = None) -> list[Path]:
    """Write ``store_path`` under ``out`` in a PDEBench layout; returns the files written."""
    out = empty_destination(out)
    store = open_store(store_path)
    try:
        dataset = re.sub(r"[^A-Za-z0-9_]+", "_", name or store.attrs["name"]).strip("_")
        out.mkdir(parents=True, exist_ok=True)
        return [
            _write(store, split, out / f"{dataset}_{split}.hdf5", dataset)
            for split in store.splits
            if store.usable(split).size
        ]
    finally:
        store.close()


def _state(store, split: str, row: int) -> np.ndarray:
    """One trajectory's state ``(T, C, *S)``, the fields stacked in channel order."""
    return stack_fields(store.fields, [store.read(split, f["name"], row) for f in store.fields], 1)


def _write(store, split: str, path: Path, dataset: str) -> Path:
    rows = store.usable(split)
    sampled = list(store.spec.get("spec", {}).get("parameters", {})) or list(
        getattr(store, "parameters", [])
    )
    params = {p: np.asarray(store.read(split, p), dtype=np.float64)[rows] for p in sampled}
    first = _state(store, split, int(rows[0]))
    ndim = first.ndim - 2
    if ndim not in (1, 2):
        raise StoreError(f"{store.path}: {ndim}D data cannot be exported")
    axes = ["x"] if ndim == 1 else ["x", "y"]
    times = np.asarray(store.read(split, "time"), dtype=np.float64)
    coords = {a: np.asarray(store.read(split, a), dtype=np.float32) for a in axes}
    with h5py.File(path, "w") as f:
        f.attrs.update(
            dataset_name=dataset,
            split=split,
            boundary_conditions=json.dumps({a: "periodic" for a in axes[::-1]}),
            parameters=json.dumps(constant_parameters(store)),
            pdesurr_version=__version__,
            pdesurr_spec=store.attrs.get("spec", "{}"),
            pdesurr_fields=json.dumps(store.fields),
        )
        if ndim == 1 and first.shape[1] == 1:
            data = np.stack([_state(store, split, int(r))[:, 0] for r in rows])
            f.create_dataset("tensor", data=data.astype(np.float32))  # (B, T, Nx)
            f.create_dataset("x-coordinate", data=coords["x"])
            dt = times[1] - times[0] if len(times) > 1 else 1.0
            f.create_dataset("t-coordinate", data=np.append(times, times[-1] + dt))
            for p, v in params.items():
                f.create_dataset(f"parameters/{p}", data=v)
            return path
        order = (0, *range(first.ndim - 1, 1, -1), 1)  # (T, C, [y,] x) -> (T, x, [y,] C)
        for i, r in enumerate(rows):
            g = f.create_group(f"{i:04d}")
            x = np.transpose(_state(store, split, int(r)), order)
            g.create_dataset("data", data=x.astype(np.float32))
            for a in axes:
                g.create_dataset(f"grid/{a}", data=coords[a])
            g.create_dataset("grid/t", data=times.astype(np.float32))
            values = {p: float(v[i]) for p, v in params.items()}
            g.attrs.update(values)
            g.attrs["trajectory"] = int(r)
            g.attrs["config"] = "\n".join(f"{k}: {v!r}" for k, v in values.items()) or "{}"
    return path
