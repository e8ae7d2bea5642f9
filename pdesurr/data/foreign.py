"""Read-only stores over files another tool wrote (The Well, PDEBench), seen as pdesurr stores.

A foreign reader maps the file's layout onto the store interface the trainer, the
evaluator and ``info`` already use (:class:`pdesurr.data.store.StoreBase`)::

    fields            time-varying fields, in state channel order: ``{"name", "channels",
                      "dims", "components", "tensor_order", "source"}``
    read(split, f)    ``(trajectory, time, [component], y, x)`` (1D: ``x``), channels first
    time, x, y        coordinates; per-trajectory parameters as ``(trajectory,)`` arrays
    constant_fields   time-constant fields, ``(trajectory, [component], y, x)``: recorded
                      and readable, not part of the state (pdesurr's models take only
                      per-sample scalars as conditioning)
    boundary_conditions  ``{axis: "periodic" | "wall" | "open"}``; ``periodic`` is True only
                      when every axis is periodic, and the evaluation says so when its
                      FFT-based spectra treat a non-periodic domain as periodic

Every trajectory is complete (these formats have no completion flags); statistics are
computed on first use, one trajectory at a time. Files are opened read-only with h5py.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pdesurr.data.array_view import ArrayView
from pdesurr.data.reader import SPLITS, Store
from pdesurr.data.store import StoreError

INFO_STATS_BYTES = 256 << 20  # `info` computes statistics only for splits up to this size


@dataclass
class SplitData:
    """What a foreign reader builds per split."""

    arrays: dict[str, ArrayView] = field(default_factory=dict)  # fields and constant fields
    small: dict[str, np.ndarray] = field(default_factory=dict)  # time, coords, parameters


class ForeignStore(Store):
    """The read-only store interface over a foreign layout (see the module docstring).

    Subclasses fill ``self.path``, ``self.fmt``, ``self.name``, ``self.fields``,
    ``self.constant_fields``, ``self.parameters``, ``self.boundary_conditions``,
    ``self.data`` (split -> :class:`SplitData`), ``self.files`` and ``self.source_attrs``,
    then call :meth:`_finish`.
    """

    fmt = "foreign"

    def _finish(self) -> None:
        bcs = self.boundary_conditions
        self.periodic = bool(bcs) and all(v == "periodic" for v in bcs.values())
        h = hashlib.sha256()
        for p in self.files:
            st = Path(p).stat()
            h.update(f"{Path(p).name}:{st.st_size}".encode())
        h.update(json.dumps(self.source_attrs, sort_keys=True, default=str).encode())
        spec = {
            "format": self.fmt,
            "name": self.name,  # what a checkpoint's provenance names its dataset by
            "dataset_name": self.name,
            "files": [str(p) for p in self.files],
            "boundary_conditions": bcs,
            "periodic": self.periodic,
            "parameters": self.parameters,
            "constant_fields": [f["name"] for f in self.constant_fields],
            "attributes": self.source_attrs,
        }
        self.attrs = {
            "format": self.fmt,
            "name": self.name,
            "pde": self.name,
            "fingerprint": h.hexdigest()[:16],
            "pdesurr_version": "n/a (foreign file)",
            "spec": json.dumps(spec, default=str),
            "fields": json.dumps(self.fields),
        }
        self._stats: dict[str, dict] = {}

    # --- the store interface -----------------------------------------------------
    @property
    def spec(self) -> dict:
        return json.loads(self.attrs["spec"])

    @property
    def field_names(self) -> list[str]:
        return [f["name"] for f in self.fields]

    @property
    def splits(self) -> list[str]:
        return [s for s in SPLITS if s in self.data]

    def _split(self, split: str) -> SplitData:
        if split not in self.data:
            raise StoreError(f"{self.path} has no split {split!r} (splits: {self.splits})")
        return self.data[split]

    def has(self, split: str, name: str) -> bool:
        d = self.data.get(split)
        return d is not None and (name in d.arrays or name in d.small)

    def array(self, split: str, name: str):
        d = self._split(split)
        if name in d.arrays:
            return d.arrays[name]
        if name in d.small:
            return d.small[name]
        raise StoreError(f"{self.path}: split {split!r} has no array {name!r}")

    def read(self, split: str, name: str, index=slice(None)):
        return self.array(split, name)[index]

    def n_trajectories(self, split: str) -> int:
        return int(self._split(split).arrays[self.field_names[0]].shape[0])

    def usable(self, split: str) -> np.ndarray:
        return np.arange(self.n_trajectories(split))  # no completion flags: all are whole

    def split_attrs(self, split: str) -> dict:
        return {"n_trajectories": self.n_trajectories(split)}

    def statistics(self, split: str) -> dict:
        """Per field and channel mean, std (min, max): the file's own normalisation
        statistics when it ships them (:meth:`shipped_statistics`), else one pass over the
        split's data, cached."""
        if split not in self._stats:
            from pdesurr.data.generate import compute_statistics

            self._stats[split] = self.shipped_statistics() or compute_statistics(self, split)
        return self._stats[split]

    def shipped_statistics(self) -> dict | None:
        return None

    def nbytes(self, split: str) -> int:
        return sum(
            int(np.prod(self.array(split, f).shape)) * self.array(split, f).dtype.itemsize
            for f in self.field_names
        )

    def summary(self) -> dict:
        out = {}
        for split in self.splits:
            n = self.n_trajectories(split)
            out[split] = {
                "trajectories": n,
                "complete": n,
                "diverged": 0,
                "shapes": {f: tuple(self.array(split, f).shape) for f in self.field_names},
                "statistics": self.statistics(split),
            }
        return out

    def missing_chunks(self, split: str) -> list[str]:
        return []

    def cached_statistics(self, split: str) -> dict:
        """No recorded exact per-channel bounds (pdesurr's generator records them; these
        files do not): the integrity checks of :mod:`pdesurr.data.integrity` then test
        finiteness only."""
        return {}

    def check_chunks(self, split: str, names, rows=None) -> None:
        """Nothing to check before reading: these are HDF5 files, which have no per-chunk
        files to lose (a truncated file fails when it is opened); a chunk that does not
        decode is named by :meth:`read_usable` when it is read."""

    def read_usable(self, split: str, field: dict, rows=None, frames=slice(None)):
        """Field ``field`` of trajectories ``rows`` (default: all), frames ``frames``, as
        ``(len(rows), T, [C], *S)``; an undecodable chunk or a non-finite value is refused,
        naming the file's split and field (a trainer would otherwise learn from it)."""
        rows = np.asarray(self.usable(split) if rows is None else rows, dtype=np.int64)
        name = field["name"]
        try:
            x = np.asarray(self.read(split, name, (rows, frames)))
        except (OSError, ValueError) as e:  # h5py: a chunk that fails its filter or is cut
            raise StoreError(f"{self.path}: {split}/{name} is unreadable ({e})") from None
        if not np.isfinite(x).all():
            bad = sorted({int(rows[i]) for i in np.argwhere(~np.isfinite(x))[:, 0]})
            raise StoreError(
                f"{self.path}: {split}/{name} holds non-finite values in trajectories {bad[:5]}"
            )
        return x

    def close(self) -> None:
        for h in getattr(self, "handles", []):
            h.close()
        self.handles = []

    def describe(self) -> str:
        """``pdesurr info`` text: layout, fields, parameters, boundaries, splits."""
        lines = [
            f"{self.path}: {self.fmt} dataset {self.name!r} ({len(self.files)} file(s), "
            f"fingerprint {self.attrs['fingerprint']})",
            "  boundaries:  "
            + ", ".join(f"{k} {v}" for k, v in self.boundary_conditions.items())
            + ("" if self.periodic else "  (not periodic: FFT spectra assume periodicity)"),
            "  parameters:  " + (", ".join(self.parameters) or "none"),
            "  fields (state channels, in order):",
        ]
        for f in self.fields:
            comps = f" = {f['components']}" if f["channels"] > 1 else ""
            lines.append(
                f"    {f['name']}: tensor order {f['tensor_order']}, from {f['source']}{comps}"
            )
        for f in self.constant_fields:
            lines.append(f"  constant field (not in the state): {f['name']} from {f['source']}")
        for split in self.splits:
            t = np.asarray(self.read(split, "time"))
            lines.append(
                f"  {split}: {self.n_trajectories(split)} trajectories, {len(t)} frames, "
                f"t = {t[0]:.6g} .. {t[-1]:.6g}"
            )
            for name in self.field_names:
                arr = self.array(split, name)
                lines.append(f"    {name}: {arr.shape} {arr.dtype}")
            if self.nbytes(split) > INFO_STATS_BYTES and split not in self._stats:
                lines.append("    statistics: computed when training normalises (one pass)")
                continue
            for name, st in self.statistics(split).items():
                fmt = lambda v: "[" + ", ".join(f"{x:.4g}" for x in v) + "]"  # noqa: E731
                lines.append(f"    {name} mean {fmt(st['mean'])} std {fmt(st['std'])}")
        return "\n".join(lines)


def attr_text(value) -> str:
    """An HDF5 attribute as text (h5py gives bytes or numpy strings for some writers)."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray) and value.size == 1:
        return attr_text(value.reshape(-1)[0])
    return str(value)


def attr_list(value) -> list[str]:
    """An attribute holding a list of names (or one name) as a list of str."""
    if isinstance(value, str | bytes):
        return [attr_text(value)]
    return [attr_text(v) for v in np.atleast_1d(value)]


def plain(value):
    """An attribute value as JSON-able Python."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()] if value.ndim else plain(value.item())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
