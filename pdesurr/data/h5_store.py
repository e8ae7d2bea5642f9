"""The HDF5 backend of the dataset store (h5py), same layout as zarr.

Dimension names are recorded as HDF5 dimension scales (``dims[i].label`` and attached
coordinate datasets), so the file describes itself; read it with h5py or pdesurr.
Chunked arrays carry HDF5's Fletcher-32 checksum filter, so a flipped byte is a read error,
not a silent wrong value (older files without it read as before).
"""

from __future__ import annotations

import errno
import json
import os
import resource
from pathlib import Path

import h5py
import numpy as np

from pdesurr.data.reader import SPLITS
from pdesurr.data.store import StoreBase, StoreError


class H5Store(StoreBase):
    def __init__(self, path: Path, f: h5py.File):
        self.path = Path(path)
        self.f = f
        self.attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
        self.attrs = {
            k: (v.item() if isinstance(v, np.generic) else v) for k, v in self.attrs.items()
        }

    @classmethod
    def create(cls, path, attrs, arrays, coords):
        if Path(path).exists():
            raise StoreError(f"{path} already exists")
        f = h5py.File(path, "w")
        for split, specs in arrays.items():
            group = f.create_group(split)
            for name, values in coords[split].items():
                ds = group.create_dataset(name, data=values)
                ds.make_scale(name)
            for name, a in specs.items():
                ds = group.create_dataset(
                    name,
                    shape=a.shape,
                    dtype=a.dtype,
                    chunks=a.chunks,
                    fillvalue=a.fill,
                    fletcher32=True,
                )
                for axis, dim in enumerate(a.dims):
                    ds.dims[axis].label = dim
                    if dim in group and dim != name:
                        ds.dims[axis].attach_scale(group[dim])
            group.attrs["n_trajectories"] = int(specs["complete"].shape[0])
        for key, value in attrs.items():
            f.attrs[key] = value
        f.flush()
        return cls(path, f)

    @classmethod
    def open(cls, path, mode="r"):
        try:
            f = h5py.File(path, "r" if mode == "r" else "r+")
        except OSError as e:
            raise StoreError(f"{path}: cannot open as HDF5 (truncated or corrupt?): {e}") from None
        store = cls(path, f)
        store._check()
        return store

    @property
    def splits(self) -> list[str]:
        return [k for k in SPLITS if k in self.f]

    def has(self, split, name):
        return split in self.f and name in self.f[split]

    def array(self, split, name):
        return self.f[split][name]

    def raw_read(self, split, name, index=slice(None)):
        return self.f[split][name][index]

    def set(self, split, name, index, value):
        self.f[split][name][index] = value

    def flush(self):
        self.f.flush()

    def reserve(self, nbytes: int) -> None:
        """Free space (see StoreBase), and the process's file-size limit (``ulimit -f``),
        which a single HDF5 file meets as EFBIG half-way through a write."""
        super().reserve(nbytes)
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if limit != resource.RLIM_INFINITY and os.path.getsize(self.path) + nbytes > limit:
            raise OSError(
                errno.EFBIG,
                f"file size limit (ulimit -f = {limit} bytes) reached while writing "
                f"{self.path}; raise the limit and run the same command to resume",
                str(self.path),
            )

    def split_attrs(self, split):
        return dict(self.f[split].attrs)

    def set_statistics(self, split, stats):
        self.f[split].attrs["statistics"] = json.dumps(stats)

    def finalize(self):
        self.f.flush()

    def close(self):
        self.f.close()

    def chunk_exists(self, split, name, coords) -> bool:
        return True  # one file, no per-chunk files: truncation shows when opening

    def chunk_name(self, split, name, coords) -> str:
        return f"{split}/{name} chunk {tuple(coords)}"

    def missing_chunks(self, split):
        return []
