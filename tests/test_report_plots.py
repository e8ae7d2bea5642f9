"""The evaluation figures: five PNGs for a 1D (KS) and a 2D (Kolmogorov) evaluation."""

import math

import pytest

from pdesurr.data.generate import generate
from pdesurr.data.spec import DatasetSpec
from pdesurr.evaluation.evaluate import evaluate
from pdesurr.evaluation.report_plots import plot_report
from pdesurr.evaluation.rollout import persistence

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
NAMES = ("errors", "spectra", "snapshots", "invariants", "spectral_error")
SMALL = ["splits.train=1", "splits.valid=0", "splits.test=2", "time.frames=6"]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_MAGIC and data[12:16] == b"IHDR"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


@pytest.mark.parametrize("spec", ["ks_refiner/small", "kolmogorov/small"])
def test_plot_report_writes_five_pngs(tmp_path, spec):
    store = tmp_path / "store.zarr"
    generate(DatasetSpec.load(spec, SMALL), store, progress=False)
    ds, pred, true = evaluate(persistence, store, "test", history=1)
    if spec.startswith("ks"):  # the awkward cases: a blown-up rollout, no correlation time
        pred[1, -1] = float("nan")
        ds["spectrum_ratio"][-1] = float("inf")
        ds.attrs["correlation_time_0.8"] = ds.attrs["correlation_time_0.9"] = math.inf
    paths = plot_report(ds, pred, true, tmp_path / "plots", label="persistence")
    assert paths == [tmp_path / "plots" / f"{n}.png" for n in NAMES]
    for p in paths:
        data = p.read_bytes()
        width, height = png_size(data)
        assert 20_000 < len(data) < 2_000_000, (p, len(data))
        assert 500 <= width <= 2500 and 300 <= height <= 3000, (p, width, height)
