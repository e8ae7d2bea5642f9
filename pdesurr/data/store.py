"""Dataset stores: one layout, two formats (zarr by default, HDF5 through h5py).

Layout (the same in both; names are xarray's)::

    /                       attrs: format = "pdesurr.dataset", format_version, pdesurr_version,
                            name, pde, fingerprint, spec (JSON: the resolved spec + solver)
    /<split>/<field>        (trajectory, time, [layer], y, x)  or  (trajectory, time, x)
    /<split>/time           (time,)          physical time of each frame
    /<split>/x, y, layer    coordinates at the stored resolution
    /<split>/trajectory     (trajectory,)    index within the split
    /<split>/seed           (trajectory,)    the trajectory's seed (pdesurr.data.spec)
    /<split>/<parameter>    (trajectory,)    each per-trajectory sampled parameter
    /<split>/complete       (trajectory,)    written last: the trajectory's data are whole
    /<split>/diverged       (trajectory,)    the simulation blew up: no data, not for training
    /<split>/divergence_step, divergence_time   where (-1 / 0 when it did not)
    /<split> attrs          statistics (JSON: per field and channel mean, std, min, max over
                            complete, finite trajectories), n_trajectories

Field arrays are chunked one trajectory by a block of frames, so ranks writing different
trajectories never touch the same chunk, and a window reads only the chunks it needs.
"""

from __future__ import annotations

import errno
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pdesurr.config import ConfigError
from pdesurr.data.reader import Store

FORMAT = "pdesurr.dataset"
HEADROOM = 256 << 10  # bytes kept free beyond a batch's data, for metadata (B-trees, JSON)
FLAGS = ("complete", "diverged", "divergence_step", "divergence_time")


class StoreError(ValueError):
    """A store that cannot be used (missing, truncated, foreign, or from another spec)."""


@dataclass(frozen=True)
class ArraySpec:
    shape: tuple[int, ...]
    dtype: str
    dims: tuple[str, ...]
    chunks: tuple[int, ...]
    fill: object = 0


def frame_chunk(frames: int, frame_bytes: int, target: int = 4 << 20) -> int:
    """Frames per chunk: about ``target`` bytes, at least 1."""
    return max(1, min(frames, target // max(frame_bytes, 1)))


def layout(spec, pde) -> tuple[dict[str, dict[str, ArraySpec]], dict[str, dict[str, np.ndarray]]]:
    """Arrays per split, and the coordinate values to write at creation."""
    from pdesurr.spectral import Grid

    out_shape = spec.output_shape
    grid = Grid(out_shape, pde.grid.length, pde.grid.offset)
    dims = grid.dims
    arrays: dict[str, dict[str, ArraySpec]] = {}
    coords: dict[str, dict[str, np.ndarray]] = {}
    dtype = str(spec.dtype).replace("torch.", "")
    for split, n in spec.splits.items():
        a: dict[str, ArraySpec] = {}
        c: dict[str, np.ndarray] = {
            "time": np.asarray(spec.times(split), dtype=np.float64),
            "trajectory": np.arange(n, dtype=np.int64),
        }
        for name, values in zip(dims, grid.coords(), strict=True):
            c[name] = values.numpy()
        for field in pde.fields:
            extra = (field.channels,) if field.channels > 1 else ()
            if field.channels > 1:
                c[field.dims[0]] = np.arange(1, field.channels + 1, dtype=np.int64)
            shape = (n, spec.frames_of(split), *extra, *out_shape)
            frame_bytes = int(np.prod(shape[2:])) * np.dtype(dtype).itemsize
            chunks = (1, frame_chunk(shape[1], frame_bytes), *shape[2:])
            a[field.name] = ArraySpec(
                shape, dtype, ("trajectory", "time", *field.dims[: len(extra)], *dims), chunks
            )
        # per-trajectory arrays are chunked by the spec's batch, the unit one rank writes,
        # so no two ranks ever write into the same chunk
        per = (max(1, min(spec.batch, n)),)
        a["seed"] = ArraySpec((n,), "int64", ("trajectory",), per)
        for name in spec.sampled_parameters:
            a[name] = ArraySpec((n,), "float64", ("trajectory",), per)
        a["complete"] = ArraySpec((n,), "bool", ("trajectory",), per, False)
        a["diverged"] = ArraySpec((n,), "bool", ("trajectory",), per, False)
        a["divergence_step"] = ArraySpec((n,), "int64", ("trajectory",), per, -1)
        a["divergence_time"] = ArraySpec((n,), "float64", ("trajectory",), per, 0.0)
        arrays[split] = a
        coords[split] = c
    return arrays, coords


def detect_format(path: str | Path) -> str:
    path = Path(path)
    if path.is_dir():
        if (path / "zarr.json").is_file() or (path / ".zgroup").is_file():
            return "zarr"
        from pdesurr.data.formats import foreign_format

        if foreign := foreign_format(path):  # a folder of The Well's files
            return foreign
        raise StoreError(
            f"{path} is a directory but not a zarr store (no zarr.json) nor The Well's files"
        )
    if path.is_file():
        with open(path, "rb") as f:
            head = f.read(8)
        if head == b"\x89HDF\r\n\x1a\n":
            from pdesurr.data.formats import foreign_format

            return foreign_format(path) or "h5"
        raise StoreError(f"{path} is neither a zarr store nor an HDF5 file")
    raise StoreError(f"no store at {path}")


def open_store(path: str | Path, mode: str = "r"):
    """Open a dataset store, checking that it is one of ours and readable."""
    fmt = detect_format(path)
    if fmt not in ("zarr", "h5"):  # The Well, PDEBench: read-only views (pdesurr.data.formats)
        from pdesurr.data.formats import FOREIGN

        return FOREIGN[fmt][1](Path(path))
    if fmt == "zarr":
        from pdesurr.data.zarr_store import ZarrStore

        return ZarrStore.open(path, mode)
    from pdesurr.data.h5_store import H5Store

    return H5Store.open(path, mode)


def create_store(path: str | Path, spec, pde, fmt: str = "zarr"):
    """Create the skeleton of a new store (all arrays, coordinates and attributes)."""
    if fmt not in ("zarr", "h5"):
        raise ConfigError(f"--format must be zarr or h5, got {fmt!r}")
    arrays, coords = layout(spec, pde)
    if fmt == "zarr":
        from pdesurr.data.zarr_store import ZarrStore as cls
    else:
        from pdesurr.data.h5_store import H5Store as cls
    fields = [{"name": f.name, "channels": f.channels, "dims": list(f.dims)} for f in pde.fields]
    attrs = {**spec.attrs(), "fields": json.dumps(fields)}
    return cls.create(path, attrs, arrays, coords)


class StoreBase(Store):
    """What both formats share: validation, completion bookkeeping and reading."""

    path: Path
    attrs: dict
    # pdesurr's solvers are pseudo-spectral: every store they write is periodic on all axes
    periodic = True
    rows_by_index = True

    def _check(self) -> None:
        if self.attrs.get("format") != FORMAT:
            raise StoreError(
                f"{self.path} is not a pdesurr dataset store (format attribute "
                f"{self.attrs.get('format')!r}); was it written by another tool?"
            )
        for split in self.splits:
            missing = [k for k in (*self.field_names, *FLAGS, "time") if not self.has(split, k)]
            if missing:
                raise StoreError(f"{self.path}: split {split!r} is truncated: missing {missing}")

    @property
    def spec(self) -> dict:
        return json.loads(self.attrs["spec"])

    @property
    def fields(self) -> list[dict]:
        """``[{"name", "channels", "dims"}]`` per field, in state channel order."""
        return json.loads(self.attrs["fields"])

    @property
    def field_names(self) -> list[str]:
        return [f["name"] for f in self.fields]

    def n_trajectories(self, split: str) -> int:
        return int(self.array(split, "complete").shape[0])

    def usable(self, split: str) -> np.ndarray:
        """Indices of trajectories complete and not diverged (what training may use)."""
        done = np.asarray(self.read(split, "complete"))
        bad = np.asarray(self.read(split, "diverged"))
        return np.flatnonzero(done & ~bad)

    def summary(self) -> dict:
        out = {}
        for split in self.splits:
            done = np.asarray(self.read(split, "complete"))
            div = np.asarray(self.read(split, "diverged"))
            out[split] = {
                "trajectories": int(done.size),
                "complete": int(done.sum()),
                "diverged": int(div.sum()),
                "shapes": {f: tuple(self.array(split, f).shape) for f in self.field_names},
                "statistics": self.statistics(split),
            }
        return out

    def write_batch(self, split: str, indices, fields: dict, params: dict, seeds, divergence: dict):
        """Write the contiguous trajectories ``indices`` of ``split``: data first, then the
        per-trajectory records, completion flags last.

        ``fields[name]`` is ``(len(indices), frames, ...)``; ``divergence`` maps a position
        in ``indices`` to ``(step, time)`` for trajectories that blew up (their data are
        not written, their records say where)."""
        rows = slice(indices[0], indices[-1] + 1)
        if rows.stop - rows.start != len(indices):
            raise ValueError("write_batch needs contiguous trajectory indices")
        self.reserve(sum(np.asarray(v).nbytes for v in fields.values()))
        for name, values in fields.items():
            if not divergence:  # one call per field: the backend writes the chunks together
                self.set(split, name, rows, values)
                continue
            for pos, i in enumerate(indices):
                if pos not in divergence:
                    self.set(split, name, i, values[pos])
        for name, values in params.items():
            self.set(split, name, rows, np.asarray(values, dtype=np.float64))
        n = len(indices)
        self.set(split, "seed", rows, np.asarray(seeds, dtype=np.int64))
        self.set(split, "diverged", rows, np.array([p in divergence for p in range(n)]))
        steps = [divergence.get(p, (-1, 0.0))[0] for p in range(n)]
        times = [divergence.get(p, (-1, 0.0))[1] for p in range(n)]
        self.set(split, "divergence_step", rows, np.asarray(steps, dtype=np.int64))
        self.set(split, "divergence_time", rows, np.asarray(times, dtype=np.float64))
        self.flush()
        self.set(split, "complete", rows, np.ones(n, dtype=bool))
        self.flush()

    def reserve(self, nbytes: int) -> None:
        """Refuse to start a write of ``nbytes`` that the disk cannot hold.

        A write failing half-way leaves an HDF5 file unreadable (and h5py's handle unusable),
        so the free space is checked before each batch: the store stays as it was after the
        last complete batch, and the same command resumes once space is freed."""
        need = int(nbytes * 1.05) + HEADROOM
        free = shutil.disk_usage(self.path if self.path.is_dir() else self.path.parent).free
        if free < need:
            raise OSError(
                errno.ENOSPC,
                f"no space left on device while writing {self.path}: the next batch needs "
                f"about {need / 2**20:.1f} MiB, {free / 2**20:.1f} MiB are free; free some "
                "space and run the same command to resume",
                str(self.path),
            )

    def statistics(self, split: str) -> dict:
        text = self.split_attrs(split).get("statistics")
        return json.loads(text) if text else {}

    # --- integrity (pdesurr.data.integrity): damaged chunks are refused, named ----------
    def cached_statistics(self, split: str) -> dict:
        cache = self.__dict__.setdefault("_statistics_cache", {})
        if split not in cache:
            cache[split] = self.statistics(split)
        return cache[split]

    def read(self, split: str, name: str, index=slice(None)):
        """``raw_read`` that turns a codec failure (checksum, truncated chunk) into a
        StoreError naming the chunks at fault."""
        try:
            return self.raw_read(split, name, index)
        except (IndexError, KeyError, TypeError):  # a wrong request, not a damaged chunk
            raise
        except Exception as e:  # zarr/numcodecs/h5py raise many types for a bad chunk
            from pdesurr.data.integrity import describe, locate_unreadable

            first = index[0] if isinstance(index, tuple) else index
            n = self.n_trajectories(split) if self.has(split, "complete") else 0
            rows = range(n)[first] if isinstance(first, slice) else np.atleast_1d(first)
            bad = locate_unreadable(self, split, name, rows) if name in self.field_names else []
            where = describe(bad) if bad else f"{split}/{name}"
            raise StoreError(
                f"{self.path}: unreadable chunk {where} ({type(e).__name__}: "
                f"{str(e).splitlines()[0][:120]}): the store is damaged; regenerate it"
            ) from None

    def check_chunks(self, split: str, names, rows=None) -> None:
        """Refuse a split whose usable trajectories (or ``rows``) miss chunks of ``names``."""
        from pdesurr.data.integrity import describe, missing_chunks

        rows = self.usable(split) if rows is None else rows
        missing = missing_chunks(self, split, names, rows)
        if missing:
            raise StoreError(
                f"{self.path}: {len(missing)} chunk(s) of complete trajectories are missing "
                f"({describe(missing)}): a truncated copy? They would read as zeros; copy the "
                "store again or regenerate it"
            )

    def read_usable(self, split: str, field: dict, rows=None, frames=slice(None)):
        """Field ``field`` of trajectories ``rows`` (default: the usable ones), frames
        ``frames``, as ``(len(rows), T, [C], *S)``; damaged chunks raise StoreError."""
        from pdesurr.data.integrity import check_values

        rows = np.asarray(self.usable(split) if rows is None else rows, dtype=np.int64)
        if rows.size == 0:
            shape = self.array(split, field["name"]).shape
            return np.zeros((0, *shape[1:]), dtype=self.array(split, field["name"]).dtype)
        self.check_chunks(split, [field["name"]], rows)
        lo, hi = int(rows.min()), int(rows.max()) + 1
        x = np.asarray(self.read(split, field["name"], (slice(lo, hi), frames)))[rows - lo]
        check_values(self, split, field, x, rows)
        return x
