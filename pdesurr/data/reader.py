"""The one read interface of every dataset store: pdesurr's own (zarr, HDF5) and the
read-only views of foreign layouts (The Well, PDEBench).

Readers (windows, evaluation, ``info``, exports) hold a :class:`Store` and use only what
is declared here; every store is closed with :meth:`Store.close` (or a ``with`` block),
whether or not its format holds an open file.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

SPLITS = ("train", "valid", "test")  # the splits a store may hold, in this order


class Store(ABC):
    """A dataset store opened for reading (``pdesurr.data.store.open_store``)."""

    path: Path
    attrs: dict
    fields: list[dict]  # [{"name", "channels", "dims"}] per field, in state channel order
    periodic: bool  # all boundaries periodic (what Fourier models and spectra assume)
    # ``array(split, name)[ids]`` reads a list of trajectories in one call (prefetch uses it)
    rows_by_index: bool = False

    @property
    @abstractmethod
    def splits(self) -> list[str]: ...

    @abstractmethod
    def has(self, split: str, name: str) -> bool: ...

    @abstractmethod
    def array(self, split: str, name: str):
        """The lazily indexed array ``name`` of ``split``."""

    @abstractmethod
    def read(self, split: str, name: str, index=slice(None)):
        """``array(split, name)[index]``, read."""

    @abstractmethod
    def usable(self, split: str) -> np.ndarray:
        """Indices of the trajectories training and evaluation may use."""

    @abstractmethod
    def statistics(self, split: str) -> dict:
        """``{field: {"mean", "std", ...}}`` per channel of ``split``."""

    @abstractmethod
    def check_chunks(self, split: str, names, rows=None) -> None:
        """Raise StoreError naming a chunk of ``names`` that is missing (it would read as 0)."""

    @abstractmethod
    def read_usable(self, split: str, field: dict, rows=None, frames=slice(None)):
        """Field ``field`` of trajectories ``rows`` (default: the usable ones), checked."""

    @abstractmethod
    def close(self) -> None:
        """Release the store's files (a no-op for formats that hold none open)."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
