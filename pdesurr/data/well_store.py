"""The Well's HDF5 layout (Ohana et al. 2024, arXiv:2412.00568) read as a pdesurr store.

A Well file (``docs/data_format.md`` of PolymathicAI/the_well)::

    /  @dataset_name, @n_spatial_dims, @n_trajectories, @grid_type, @simulation_parameters
    dimensions/      @spatial_dims = [d0, d1]; time (T) or (B, T); d0 (N0); d1 (N1)
    boundary_conditions/<name>/  @bc_type (periodic | wall | open), @associated_dims, mask
    scalars/         @field_names; each (B?), (T?) with @sample_varying, @time_varying
    t0_fields/ t1_fields/ t2_fields/   @field_names; each ``(B?, T?, N0?, N1?, D^order)``,
                     the optional axes given by @sample_varying, @time_varying, @dim_varying

Mapping to pdesurr (channels first, spatial axes ``(y, x)``):

* a time-varying field of order ``r`` becomes ``(trajectory, time, [component], y, x)``
  with ``D^r`` components named as The Well flattens them (``velocity_x``,
  ``velocity_y``; ``stress_xx``, ``stress_xy``, ...), in its order; d0 is pdesurr's ``x``
  (the last array axis), d1 is ``y``. Axes a field does not vary over are broadcast.
* time-constant fields are recorded (``store.constant_fields``, read as
  ``(trajectory, [component], y, x)``) but are not state channels.
* constant scalars (and ``@simulation_parameters``) are per-trajectory parameters,
  usable as conditioning; time-varying scalars are readable ``(trajectory, time)`` arrays.
* boundary conditions per axis from ``boundary_conditions/*/@bc_type`` (an axis with
  none is "open", as in The Well's own reader).

A path is one file, a folder of files (one split), or a dataset folder holding
``train/ valid/ test/`` (or ``data/train/ ...``, The Well's own tree); the files of a
split are concatenated in name order, as ``WellDataset`` does.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import h5py
import numpy as np

from pdesurr.data.array_view import ArrayView, read_rows
from pdesurr.data.foreign import ForeignStore, SplitData, attr_list, attr_text, plain
from pdesurr.data.reader import SPLITS
from pdesurr.data.store import StoreError

PDESURR_AXES = {1: ("x",), 2: ("x", "y")}  # the Well's d0, d1 -> pdesurr's names


def is_well_file(path: Path) -> bool:
    try:
        with h5py.File(path, "r") as f:
            return "dimensions" in f and "t0_fields" in f and "dataset_name" in f.attrs
    except OSError:
        return False


def _h5_files(folder: Path) -> list[Path]:
    return sorted([*folder.glob("*.hdf5"), *folder.glob("*.h5")])


def well_splits(path: Path) -> dict[str, list[Path]] | None:
    """Split -> files for a Well file or folder; None when ``path`` is not Well data."""
    path = Path(path)
    if path.is_file():
        split = path.parent.name if path.parent.name in SPLITS else "train"
        return {split: [path]} if is_well_file(path) else None
    if not path.is_dir():
        return None
    for root in (path / "data", path):
        found = {s: _h5_files(root / s) for s in SPLITS if (root / s).is_dir()}
        found = {s: v for s, v in found.items() if v}
        if found:
            return found if all(is_well_file(v[0]) for v in found.values()) else None
    files = _h5_files(path)
    if files and is_well_file(files[0]):
        return {path.name if path.name in SPLITS else "train": files}
    return None


class WellStore(ForeignStore):
    fmt = "the_well"

    def __init__(self, path: Path, splits: dict[str, list[Path]]):
        self.path = Path(path)
        self.files = [p for s in SPLITS for p in splits.get(s, [])]
        self.handles = []
        self.data = {}
        first = None
        for split, files in splits.items():
            handles = []
            for p in files:
                try:
                    handles.append(h5py.File(p, "r"))
                except OSError as e:
                    raise StoreError(f"{p}: cannot open as HDF5 ({e})") from None
            self.handles += handles
            layout = self._layout(handles[0])
            if first is None:
                first = layout
                self._adopt(layout, handles[0])
            for h, p in zip(handles, files, strict=True):
                if self._layout(h)[:3] != first[:3]:
                    raise StoreError(
                        f"{p}: fields, resolution or frames differ from {self.files[0]}"
                    )
            self.data[split] = self._split_data(handles)
        self._finish()

    @classmethod
    def open(cls, path, mode="r"):
        if mode != "r":
            raise StoreError(f"{path}: The Well files are opened read-only")
        splits = well_splits(Path(path))
        if not splits:
            raise StoreError(f"{path}: not The Well's HDF5 layout (no dimensions/, t0_fields/)")
        return cls(Path(path), splits)

    def shipped_statistics(self) -> dict | None:
        """The dataset's ``stats.yaml`` (The Well's normalisation file, beside ``data/``):
        ``mean`` and ``std`` per field, one value per component, if it has every field."""
        roots = [self.path] if self.path.is_dir() else []
        roots += [p for p in list(self.path.parents)[:3] if (p / "data").is_dir()]
        for root in roots:
            if (root / "stats.yaml").is_file():
                return well_stats(root / "stats.yaml", self.fields)
        return None

    # --- metadata ------------------------------------------------------------------
    @staticmethod
    def _layout(h: h5py.File):
        dims = attr_list(h["dimensions"].attrs["spatial_dims"])
        shape = tuple(int(h["dimensions"][d].shape[-1]) for d in dims)
        names = []
        for order in range(3):
            group = h.get(f"t{order}_fields")
            if group is not None:
                names += [(order, attr_text(n)) for n in attr_list(group.attrs["field_names"])]
        steps = int(h["dimensions"]["time"].shape[-1])
        return tuple(names), shape, steps, dims

    def _adopt(self, layout, h: h5py.File) -> None:
        names, shape, steps, dims = layout
        if len(dims) not in PDESURR_AXES:
            raise StoreError(
                f"{self.files[0]}: {len(dims)}D data; pdesurr's models and metrics are 1D/2D"
            )
        self.name = attr_text(h.attrs["dataset_name"])
        self.well_dims, self.resolution, self.steps = dims, shape, steps
        self.source_attrs = {k: plain(v) for k, v in h.attrs.items()}
        axes = PDESURR_AXES[len(dims)]
        self.boundary_conditions = {a: "open" for a in axes}
        for bc in h.get("boundary_conditions", {}).values():
            kind = attr_text(bc.attrs["bc_type"]).lower()
            for d in attr_list(bc.attrs["associated_dims"]):
                if d in dims:
                    self.boundary_conditions[axes[dims.index(d)]] = kind
        self.fields, self.constant_fields = [], []
        for order, name in names:
            ds = h[f"t{order}_fields"][name]
            comps = ["".join(c) for c in itertools.product(dims, repeat=order)]
            entry = {
                "name": name,
                "channels": len(dims) ** order,
                "dims": ["component"] if order else [],
                "components": [f"{name}_{c}" if c else name for c in comps],
                "tensor_order": order,
                "source": f"t{order}_fields/{name}",
            }
            is_var = bool(ds.attrs.get("time_varying", True))
            (self.fields if is_var else self.constant_fields).append(entry)
        if not self.fields:
            raise StoreError(f"{self.files[0]}: no time-varying field to learn")
        scalars = h.get("scalars")
        self.parameters, self.varying_scalars = [], []
        for name in attr_list(scalars.attrs["field_names"]) if scalars is not None else []:
            s = scalars[name]
            target = self.varying_scalars if s.attrs.get("time_varying") else self.parameters
            target.append(name)
        for name in attr_list(h.attrs.get("simulation_parameters", [])):
            if name not in self.parameters and name in h.attrs:
                self.parameters.append(name)

    # --- data ------------------------------------------------------------------------
    def _to_pdesurr(self, block: np.ndarray, ds, order: int, lead: int) -> np.ndarray:
        """``(lead axes, present spatial axes, D^order)`` -> ``(lead, [C], *S reversed)``."""
        nd = len(self.well_dims)
        varying = np.atleast_1d(ds.attrs.get("dim_varying", [True] * nd))
        for d, v in enumerate(varying):
            if not v:  # an axis the field is constant along: insert it, then broadcast
                block = np.expand_dims(block, lead + d)
        full = (*block.shape[:lead], *self.resolution, *block.shape[lead + nd :])
        block = np.broadcast_to(block, full).reshape(*full[: lead + nd], -1)
        spatial = list(range(lead, lead + nd))[::-1]  # (d0, d1) -> (y, x)
        out = np.transpose(block, (*range(lead), lead + nd, *spatial))
        return np.ascontiguousarray(out if order else out[(slice(None),) * lead + (0,)])

    def _field_loader(self, ds, order: int):
        sample = bool(ds.attrs.get("sample_varying", True))

        def load(local: np.ndarray, tsel) -> np.ndarray:
            if sample:
                block = read_rows(ds, local, tsel)
            else:  # one trajectory shared by all
                one = ds[tsel]
                block = np.broadcast_to(one[None], (local.size, *one.shape))
            return self._to_pdesurr(np.asarray(block), ds, order, 2)

        return load

    def _split_data(self, handles) -> SplitData:
        d = SplitData()
        counts = [int(h.attrs["n_trajectories"]) for h in handles]
        total, h0 = sum(counts), handles[0]
        for f in self.fields:
            parts = [
                (n, self._field_loader(h[f["source"]], f["tensor_order"]))
                for h, n in zip(handles, counts, strict=True)
            ]
            probe = parts[0][1](np.zeros(1, dtype=int), slice(0, 1))
            d.arrays[f["name"]] = ArrayView(
                (total, self.steps, *probe.shape[2:]), probe.dtype, parts
            )
        for f in self.constant_fields:
            blocks = []
            for h, n in zip(handles, counts, strict=True):
                ds = h[f["source"]]
                x = (
                    ds[()]
                    if ds.attrs.get("sample_varying", True)
                    else np.repeat(ds[()][None], n, 0)
                )
                blocks.append(self._to_pdesurr(x, ds, f["tensor_order"], 1))
            d.small[f["name"]] = np.concatenate(blocks)
        time = h0["dimensions"]["time"][()]
        d.small["time"] = np.asarray(time if time.ndim == 1 else time[0], dtype=np.float64)
        axes = PDESURR_AXES[len(self.well_dims)]
        for dim, axis in zip(self.well_dims, axes, strict=True):
            c = h0["dimensions"][dim][()]
            d.small[axis] = np.asarray(c if c.ndim == 1 else c[0], dtype=np.float64)
        d.small["trajectory"] = np.arange(total)
        for name in [*self.parameters, *self.varying_scalars]:
            cols = []
            for h, n in zip(handles, counts, strict=True):
                s = h["scalars"][name] if "scalars" in h and name in h["scalars"] else None
                if s is None:
                    v = np.full(n, float(np.asarray(h.attrs[name]).reshape(-1)[0]))
                elif s.attrs.get("sample_varying"):
                    v = np.asarray(s[()], dtype=np.float64).reshape(n, *s.shape[1:])
                    v = v.reshape(n) if name in self.parameters else v
                else:
                    v = np.asarray(s[()], dtype=np.float64)
                    v = (
                        np.full(n, float(v.reshape(-1)[0]))
                        if name in self.parameters
                        else (np.broadcast_to(v, (n, *v.shape)))
                    )
                cols.append(v)
            d.small[name] = np.concatenate(cols)
        return d


def well_stats(path: Path, fields: list[dict]) -> dict | None:
    """``stats.yaml`` as pdesurr statistics, or None when it lacks a field."""
    try:
        import yaml

        stats = yaml.safe_load(path.read_text())
    except ImportError:  # pdesurr's own exports are JSON, which is YAML too
        import json

        stats = json.loads(path.read_text())
    out = {}
    for f in fields:
        try:
            mean = np.ravel(np.asarray(stats["mean"][f["name"]], dtype=np.float64))
            std = np.ravel(np.asarray(stats["std"][f["name"]], dtype=np.float64))
        except (KeyError, TypeError):
            return None
        if mean.size != f["channels"] or std.size != f["channels"]:
            return None
        out[f["name"]] = {"mean": mean.tolist(), "std": std.tolist()}
    return out
