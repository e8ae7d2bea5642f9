"""The top-level catalogue folders hold TOML presets and README cards only."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ALLOWED = {".toml", ".md"}


@pytest.mark.parametrize("folder", ["solvers", "datasets", "models", "train"])
def test_catalogue_holds_no_python(folder):
    path = ROOT / folder
    assert path.is_dir(), f"{folder}/ is missing"
    offenders = [p for p in path.rglob("*") if p.is_file() and p.suffix not in ALLOWED]
    assert not offenders, f"{folder}/ must hold only TOML presets and README cards: {offenders}"
    assert (path / "README.md").is_file()
