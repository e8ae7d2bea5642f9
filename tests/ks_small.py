"""A file copy of ``datasets/ks_refiner/small.toml`` with some top-level values changed, for
tests whose producers read a spec file, and the held-out store such runs take their
shapes and statistics from."""

from __future__ import annotations

import re
from pathlib import Path

from pdesurr.data.generate import generate
from pdesurr.data.spec import DatasetSpec

SMALL = Path(__file__).resolve().parent.parent / "datasets" / "ks_refiner" / "small.toml"


def ks_small_spec(root: Path, **values) -> Path:
    """``root/spec.toml``: small.toml with each ``key = value`` line replaced (``train=6,
    frames=8``); a key that is not exactly one line of the file fails, so a changed preset
    cannot leave a test silently on other values."""
    text = SMALL.read_text()
    for key, value in values.items():
        text, n = re.subn(rf"^{key} = .*$", f"{key} = {value}", text, flags=re.MULTILINE)
        assert n == 1, f"{key!r} is on {n} lines of {SMALL}"
    path = root / "spec.toml"
    path.write_text(text)
    return path


def valid_store(spec: Path) -> Path:
    """The valid split of ``spec`` alone, generated next to it (``valid.zarr``)."""
    path = spec.parent / "valid.zarr"
    generate(DatasetSpec.load(spec, ["splits.train=0", "splits.test=0"]), path, progress=False)
    return path
