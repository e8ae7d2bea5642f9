"""PDEBench's HDF5 files (Takamoto et al. 2022, arXiv:2210.07182) read as pdesurr stores.

Four layouts, as PDEBench's generators write them and its ``FNODataset`` /
``FNODatasetMult`` read them (``pdebench/models/fno/utils.py``)::

    tensor      "tensor" (B, T, Nx); "x-coordinate" (Nx); "t-coordinate" (T or T+1)
                1D Advection, Burgers, Reaction-Diffusion, ...
    cfd         "density", "pressure", "Vx" [, "Vy"] (B, T, Nx[, Ny]); "x-coordinate",
                "y-coordinate", "t-coordinate"                         compressible NS
    ns_incomp   "velocity" (B, T, Nx, Ny, 2), "particles" (B, T, Nx, Ny, 1),
                "force" (B, Nx, Ny, 2) (constant), "t" (B, T)     2D incompressible NS
    seeds       one group per trajectory "0000", "0001", ...: "data" (T, Nx[, Ny], C),
                "grid/x", "grid/y", "grid/t" (T or T+1)    2D diffusion-reaction, shallow water

Mapping: spatial axes ``(x, y)`` become pdesurr's ``(y, x)``; ``Vx, Vy`` (or the last
axis of ``velocity``) become a ``velocity`` field with 2 components; a ``t``/
``t-coordinate`` one longer than the frames (PDEBench stores the end time too) is cut.
Parameters come from the file name as PDEBench names them (``Nu0.01``, ``beta0.1``,
``M0.1_Eta0.01``: one value per file, the same for every trajectory) or from a root
attribute ``parameters`` (JSON, as ``pdesurr export`` writes). Splits follow PDEBench's
convention (the first ``test_ratio = 0.1`` of the trajectories are the test set, the rest
train) unless the file names its ``split`` in a root attribute. Boundary conditions: a root
attribute ``boundary_conditions`` if present, else from the name (``periodic``, ``trans``
= outgoing/open; Advection, Burgers, ReacDiff are periodic; incompressible NS has walls),
else "unknown" (treated as non-periodic).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import h5py
import numpy as np

from pdesurr.data.array_view import ArrayView, read_rows
from pdesurr.data.foreign import ForeignStore, SplitData, attr_text, plain
from pdesurr.data.store import StoreError

TEST_RATIO = 0.1  # PDEBench's default test_ratio
PERIODIC_NAMES = ("advection", "burgers", "reacdiff")
_PARAM = re.compile(r"^([A-Za-z]+)([-+]?\d[\d.]*(?:e[-+]?\d+)?)$", re.IGNORECASE)


def pdebench_layout(path: Path) -> str | None:
    """Which PDEBench layout a file holds (see the module docstring), or None."""
    try:
        with h5py.File(path, "r") as f:
            keys = set(f.keys())
            if "tensor" in keys and "x-coordinate" in keys:
                return "tensor"
            if {"density", "pressure", "Vx", "x-coordinate"} <= keys:
                return "cfd"
            if {"velocity", "t"} <= keys:
                return "ns_incomp"
            first = sorted(keys)[0] if keys else None
            if first and isinstance(f[first], h5py.Group) and {"data", "grid"} <= set(f[first]):
                return "seeds"
    except OSError:
        return None
    return None


def name_parameters(path: Path) -> dict[str, float]:
    """``1D_Burgers_Sols_Nu0.01.hdf5`` -> ``{"Nu": 0.01}`` (PDEBench's file naming)."""
    out = {}
    for token in path.stem.split("_"):
        m = _PARAM.match(token)
        if m and not token[0].isdigit():
            try:
                out[m.group(1)] = float(m.group(2))
            except ValueError:
                continue
    return out


class PDEBenchStore(ForeignStore):
    fmt = "pdebench"

    def __init__(self, path: Path, layout: str):
        self.path, self.layout, self.files = Path(path), layout, [Path(path)]
        try:
            self.h = h5py.File(path, "r")
        except OSError as e:
            raise StoreError(f"{path}: cannot open as HDF5 ({e})") from None
        self.handles = [self.h]
        self.source_attrs = {k: plain(v) for k, v in self.h.attrs.items()}
        self.source_attrs["layout"] = layout
        self.name = attr_text(self.h.attrs.get("dataset_name", self.path.stem))
        self.constant_fields = []
        getattr(self, f"_read_{layout}")()
        n = self.total
        params = name_parameters(self.path)
        if "parameters" in self.h.attrs:
            params = json.loads(attr_text(self.h.attrs["parameters"]))
        per_traj = {
            k: np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)) for k, v in params.items()
        }
        per_traj.update(self._trajectory_parameters())
        self.parameters = list(per_traj)
        self.boundary_conditions = self._boundaries()
        if "split" in self.h.attrs:
            ranges = {attr_text(self.h.attrs["split"]): np.arange(n)}
        else:
            n_test = max(1, int(n * TEST_RATIO)) if n > 1 else 0
            ranges = {"train": np.arange(n_test, n), "test": np.arange(n_test)}
        self.data = {}
        for split, rows in ranges.items():
            if rows.size:
                self.data[split] = self._subset(rows, per_traj)
        self._finish()

    @classmethod
    def open(cls, path, mode="r"):
        if mode != "r":
            raise StoreError(f"{path}: PDEBench files are opened read-only")
        layout = pdebench_layout(Path(path))
        if layout is None:
            raise StoreError(f"{path}: not a PDEBench layout (tensor, cfd, ns_incomp, seeds)")
        return cls(Path(path), layout)

    # --- layouts: each sets fields, self.sources, coords, total, steps ---------------
    def _field(self, name, components, source):
        c = len(components)
        return {
            "name": name,
            "channels": c,
            "dims": ["component"] if c > 1 else [],
            "components": components,
            "tensor_order": 1 if name == "velocity" else 0,
            "source": source,
        }

    def _time(self, t: np.ndarray, steps: int) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64)
        t = t if t.ndim == 1 else t[0]
        if len(t) not in (steps, steps + 1):
            raise StoreError(f"{self.path}: {len(t)} times for {steps} frames")
        return t[:steps]

    def _read_tensor(self):
        ds = self.h["tensor"]
        if ds.ndim != 3:
            raise StoreError(
                f"{self.path}: 'tensor' of shape {ds.shape}; only time series (B, T, Nx) are "
                "read (a 2D Darcy file is steady: no frames to roll out)"
            )
        self.total, self.steps = ds.shape[:2]
        self.fields = [self._field("u", ["u"], "tensor")]
        self.loaders = {"u": lambda rows, tsel: read_rows(ds, rows, tsel)}
        self.coords = {"x": self.h["x-coordinate"][()]}
        self.times = self._time(self.h["t-coordinate"][()], self.steps)

    def _read_cfd(self):
        h, two = self.h, "Vy" in self.h
        if "Vz" in h or h["density"].ndim > 4:
            raise StoreError(f"{self.path}: 3D data; pdesurr's models and metrics are 1D/2D")
        self.total, self.steps = h["density"].shape[:2]
        comps = ["Vx", "Vy"] if two else ["Vx"]
        self.fields = [
            self._field("density", ["density"], "density"),
            self._field("pressure", ["pressure"], "pressure"),
            self._field("velocity", comps, "+".join(comps)),
        ]
        sp = (lambda x: np.swapaxes(x, -1, -2)) if two else (lambda x: x)  # (x, y) -> (y, x)
        self.loaders = {
            "density": lambda r, t: sp(read_rows(h["density"], r, t)),
            "pressure": lambda r, t: sp(read_rows(h["pressure"], r, t)),
            "velocity": lambda r, t: sp(np.stack([read_rows(h[c], r, t) for c in comps], 2)),
        }
        if len(comps) == 1:
            self.fields[2] = {**self.fields[2], "channels": 1, "dims": []}
            self.loaders["velocity"] = lambda r, t: read_rows(h["Vx"], r, t)
        self.coords = {"x": h["x-coordinate"][()]}
        if two:
            self.coords["y"] = h["y-coordinate"][()]
        self.times = self._time(h["t-coordinate"][()], self.steps)

    def _read_ns_incomp(self):
        h = self.h
        self.total, self.steps = h["velocity"].shape[:2]
        self.fields = [self._field("velocity", ["velocity_x", "velocity_y"], "velocity")]
        # (B, T, x, y, C) -> (B, T, C, y, x)
        move = lambda x: np.ascontiguousarray(np.transpose(x, (0, 1, 4, 3, 2)))  # noqa: E731
        self.loaders = {"velocity": lambda r, t: move(read_rows(h["velocity"], r, t))}
        if "particles" in h:
            self.fields.append(self._field("particles", ["particles"], "particles"))
            self.loaders["particles"] = lambda r, t: move(read_rows(h["particles"], r, t))[:, :, 0]
        if "force" in h:
            self.constant_fields = [self._field("force", ["force_x", "force_y"], "force")]
        nx, ny = h["velocity"].shape[2:4]
        # PDEBench's NS files carry no coordinates: the unit square, cell centres
        self.coords = {"x": (np.arange(nx) + 0.5) / nx, "y": (np.arange(ny) + 0.5) / ny}
        self.times = self._time(h["t"][()], self.steps)

    def _read_seeds(self):
        h = self.h
        self.seeds = sorted(k for k in h.keys() if isinstance(h[k], h5py.Group))
        d0 = h[self.seeds[0]]["data"]
        self.total, self.steps, nd = len(self.seeds), d0.shape[0], d0.ndim - 2
        c = d0.shape[-1]
        comps = ["u"] if c == 1 else [f"data_{i}" for i in range(c)]
        name = "u" if c == 1 else "data"
        ours = json.loads(attr_text(h.attrs.get("pdesurr_fields", "[]")))
        if len(ours) == 1 and ours[0]["channels"] == c:  # written by pdesurr export
            name = ours[0]["name"]
            comps = [name] if c == 1 else [f"{name}_{i}" for i in range(c)]
        self.fields = [self._field(name, comps, "<seed>/data")]
        order = (0, nd + 1, *range(nd, 0, -1))  # (T, x[, y], C) -> (T, C, [y,] x)

        def load(rows, tsel):
            out = np.stack([np.transpose(h[self.seeds[int(i)]]["data"][tsel], order) for i in rows])
            return out[:, :, 0] if c == 1 else out

        self.loaders = {name: load}
        grid = h[self.seeds[0]]["grid"]
        self.coords = {"x": grid["x"][()]}
        if nd == 2:
            self.coords["y"] = grid["y"][()]
        self.times = self._time(grid["t"][()], self.steps)

    # --- shared ----------------------------------------------------------------------
    def _trajectory_parameters(self) -> dict[str, np.ndarray]:
        """Per-trajectory values as ``pdesurr export`` writes them: ``parameters/<name>``
        (tensor layout) or numeric attributes of the seed groups."""
        group = self.h.get("parameters")
        if isinstance(group, h5py.Group):
            return {k: np.asarray(group[k][()], dtype=np.float64) for k in group}
        if self.layout != "seeds":
            return {}
        first = self.h[self.seeds[0]].attrs
        names = [
            k for k, v in first.items() if k != "trajectory" and isinstance(v, float | np.floating)
        ]
        return {k: np.array([float(self.h[s].attrs[k]) for s in self.seeds]) for k in names}

    def _boundaries(self) -> dict[str, str]:
        axes = ("x",) if len(self.coords) == 1 else ("y", "x")
        if "boundary_conditions" in self.h.attrs:
            return json.loads(attr_text(self.h.attrs["boundary_conditions"]))
        tokens = self.path.stem.lower().split("_")
        if "periodic" in tokens or any(n in tokens for n in PERIODIC_NAMES):
            kind = "periodic"
        elif "trans" in tokens:
            kind = "open"
        elif self.layout == "ns_incomp":
            kind = "wall"
        else:
            kind = "unknown"
        return {a: kind for a in axes}

    def _subset(self, rows: np.ndarray, per_traj: dict) -> SplitData:
        d = SplitData()
        for f in self.fields:
            load = self.loaders[f["name"]]
            part = lambda local, tsel, load=load: load(rows[local], tsel)  # noqa: E731
            probe = np.asarray(part(np.zeros(1, dtype=int), slice(0, 1)))
            d.arrays[f["name"]] = ArrayView(
                (rows.size, self.steps, *probe.shape[2:]), probe.dtype, [(rows.size, part)]
            )
        for f in self.constant_fields:  # force: (B, x, y, 2) -> (B, 2, y, x)
            d.small[f["name"]] = np.transpose(read_rows(self.h["force"], rows), (0, 3, 2, 1))
        d.small["time"] = self.times
        for axis, values in self.coords.items():
            d.small[axis] = np.asarray(values, dtype=np.float64)
        d.small["trajectory"] = np.arange(rows.size)
        for k, v in per_traj.items():
            d.small[k] = np.asarray(v[rows])
        return d
