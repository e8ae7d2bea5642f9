"""The zarr (v3) backend of the dataset store; ``xarray.open_zarr(path, group=split)``
reads it with no pdesurr import (``dimension_names`` on every array).

Data arrays are compressed with zstd and then checksummed (the ``crc32c`` codec of the zarr
v3 spec), so a flipped byte fails to decode instead of reading back as garbage; stores
written before checksums read as before (see :mod:`pdesurr.data.integrity`)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import zarr
from zarr.codecs import Crc32cCodec, ZstdCodec

from pdesurr.data.reader import SPLITS
from pdesurr.data.store import StoreBase, StoreError


class ZarrStore(StoreBase):
    def __init__(self, path: Path, root: zarr.Group):
        self.path = Path(path)
        self.root = root
        self.attrs = dict(root.attrs)

    @classmethod
    def create(cls, path, attrs, arrays, coords):
        root = zarr.open_group(str(path), mode="w-")
        for split, specs in arrays.items():
            group = root.create_group(split)
            for name, values in coords[split].items():
                arr = group.create_array(
                    name,
                    shape=values.shape,
                    dtype=values.dtype,
                    chunks=values.shape or (1,),
                    dimension_names=[name],
                )
                arr[...] = values
            for name, a in specs.items():
                group.create_array(
                    name,
                    shape=a.shape,
                    dtype=a.dtype,
                    chunks=a.chunks,
                    fill_value=a.fill,
                    compressors=[ZstdCodec(), Crc32cCodec()],
                    dimension_names=list(a.dims),
                    config={"write_empty_chunks": True},
                )
            group.attrs["n_trajectories"] = int(specs["complete"].shape[0])
        root.attrs.update(attrs)  # last: a store without attributes is visibly unfinished
        store = cls(path, root)
        store.finalize()
        return store

    @classmethod
    def open(cls, path, mode="r"):
        try:
            root = zarr.open_group(str(path), mode="r" if mode == "r" else "r+")
        except Exception as e:  # zarr raises several types for unreadable metadata
            raise StoreError(f"{path}: cannot open as zarr (truncated or corrupt?): {e}") from None
        store = cls(path, root)
        store._check()
        return store

    @property
    def splits(self) -> list[str]:
        return [k for k in SPLITS if k in self.root]

    def has(self, split: str, name: str) -> bool:
        return split in self.root and name in self.root[split]

    def array(self, split: str, name: str):
        return self.root[split][name]

    def raw_read(self, split: str, name: str, index=slice(None)):
        return self.root[split][name][index]

    def set(self, split: str, name: str, index, value) -> None:
        self.root[split][name][index] = value

    def flush(self) -> None:
        pass  # zarr writes synchronously chunk by chunk

    def split_attrs(self, split: str) -> dict:
        return dict(self.root[split].attrs)

    def set_statistics(self, split: str, stats: dict) -> None:
        self.root[split].attrs["statistics"] = json.dumps(stats)

    def close(self) -> None:
        pass  # a zarr directory keeps no file open between reads

    def finalize(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zarr: consolidated metadata is not in the v3 spec
            zarr.consolidate_metadata(str(self.path))

    def chunk_key(self, split: str, name: str, coords) -> str:
        return self.array(split, name).metadata.chunk_key_encoding.encode_chunk_key(coords)

    def chunk_exists(self, split: str, name: str, coords) -> bool:
        return (self.path / split / name / self.chunk_key(split, name, coords)).is_file()

    def chunk_name(self, split: str, name: str, coords) -> str:
        return f"{split}/{name}/{self.chunk_key(split, name, coords)}"

    def missing_chunks(self, split: str) -> list[str]:
        """Fields with chunks absent for complete, finite trajectories (truncation)."""
        from pdesurr.data.integrity import missing_chunks

        usable = self.usable(split)
        return [n for n in self.field_names if missing_chunks(self, split, [n], usable)]
