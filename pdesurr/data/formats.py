"""Which layout a path holds, among the foreign ones pdesurr reads (The Well, PDEBench).

``FOREIGN`` maps a format name to ``(detect(path) -> bool, opener(path) -> store)``;
:func:`pdesurr.data.store.open_store` consults it after its own zarr / HDF5 layouts, so
every command that opens a store (``info``, ``train``, ``evaluate``, ``benchmark``,
``export``) reads these files unchanged.
"""

from __future__ import annotations

from pathlib import Path


def _well(path: Path) -> bool:
    from pdesurr.data.well_store import well_splits

    return well_splits(path) is not None


def _open_well(path: Path):
    from pdesurr.data.well_store import WellStore

    return WellStore.open(path)


def _pdebench(path: Path) -> bool:
    from pdesurr.data.pdebench_store import pdebench_layout

    return path.is_file() and pdebench_layout(path) is not None


def _open_pdebench(path: Path):
    from pdesurr.data.pdebench_store import PDEBenchStore

    return PDEBenchStore.open(path)


FOREIGN = {"the_well": (_well, _open_well), "pdebench": (_pdebench, _open_pdebench)}


def foreign_format(path: str | Path) -> str | None:
    """The name of the foreign layout at ``path``, or None."""
    for name, (detect, _) in FOREIGN.items():
        if detect(Path(path)):
            return name
    return None
