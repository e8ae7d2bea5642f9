"""The evaluation figures: five PNGs for a 1D (KS) and a 2D (Kolmogorov) evaluation."""

import math

import matplotlib.image
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


def assert_is_a_plot(path, min_shape=(300, 500)) -> None:
    """The PNG decodes, has a figure's size, and shows data: a figure holding only axes,
    ticks and text is black on white, while plotted lines and images are coloured
    (measured: an empty 2x2 grid of axes has 0 % coloured pixels, every report figure
    0.5-30 %)."""
    img = matplotlib.image.imread(path)  # (H, W, 3 or 4) floats in [0, 1]
    assert img.ndim == 3 and img.shape[0] >= min_shape[0] and img.shape[1] >= min_shape[1], (
        path,
        img.shape,
    )
    rgb = img[..., :3]
    assert (rgb < 0.9).any(-1).mean() > 0.02, f"{path}: (almost) blank"
    coloured = float((rgb.max(-1) - rgb.min(-1) > 0.2).mean())
    assert coloured > 0.002, f"{path}: no plotted data ({coloured:.2%} coloured pixels)"


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
        assert_is_a_plot(p)
