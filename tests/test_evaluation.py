"""Rollout evaluation: metrics by hand, references, spectra, correlation time, suites."""

import json
import math

import numpy as np
import pytest
import torch
import xarray as xr

from pdesurr.cli import main
from pdesurr.data.generate import generate
from pdesurr.data.spec import DatasetSpec
from pdesurr.data.store import open_store
from pdesurr.evaluation import metrics as M
from pdesurr.evaluation.evaluate import evaluate
from pdesurr.evaluation.reference import solver_step
from pdesurr.evaluation.rollout import SolverStep, persistence, rollout
from pdesurr.evaluation.spectra import band_errors, mean_spectrum
from pdesurr.evaluation.suite import load_suite, markdown_table, run_suite
from pdesurr.solvers import NavierStokes2D
from pdesurr.spectral import Grid


@pytest.fixture(scope="module")
def ks64(tmp_path_factory):
    """A float64 KS store at the simulation resolution: the solver must reproduce it."""
    path = tmp_path_factory.mktemp("ev") / "ks.zarr"
    spec = DatasetSpec.load(
        "ks_refiner/small",
        [
            "dataset.dtype='float64'",
            "splits.train=2",
            "splits.valid=1",
            "splits.test=3",
            "time.frames=12",
        ],
    )
    generate(spec, path, progress=False)
    return path


def test_metrics_are_exact_for_identical_inputs():
    x = torch.randn(2, 3, 2, 8, 8, dtype=torch.float64)
    for name, fn in M.POINTWISE.items():
        expected = 1.0 if name == "correlation" else 0.0
        assert torch.equal(fn(x, x), torch.full((2, 3), expected, dtype=torch.float64)), name


def test_metrics_against_hand_computed_values():
    true = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64).reshape(1, 1, 1, 4)
    pred = torch.tensor([1.0, 2.0, 3.0, 2.0], dtype=torch.float64).reshape(1, 1, 1, 4)
    # error (0, 0, 0, -2): MSE 4/4 = 1; ||e|| = 2, ||t|| = sqrt(30)
    assert M.mse(pred, true).item() == pytest.approx(1.0)
    assert M.rel_l2(pred, true).item() == pytest.approx(2 / math.sqrt(30))
    assert M.nrmse_pdebench(pred, true).item() == pytest.approx(1 / math.sqrt(30 / 4))
    # The Well: torch.std(t)**2 = 5 / 3 (unbiased, N - 1 = 3) -> sqrt(1 / (5/3 + 1e-7))
    assert M.vrmse_the_well(pred, true).item() == pytest.approx(math.sqrt(1 / (5 / 3 + 1e-7)))
    # Pearson: p - mean = (-1, 0, 1, 0), t - mean = (-1.5, -0.5, 0.5, 1.5)
    assert M.correlation(pred, true).item() == pytest.approx(2.0 / (math.sqrt(2) * math.sqrt(5)))
    # two channels: PDEBench and The Well average per-channel values, they do not sum
    two_t, two_p = torch.cat([true, 2 * true], 2), torch.cat([pred, 2 * true], 2)
    assert M.nrmse_pdebench(two_p, two_t).item() == pytest.approx(0.5 / math.sqrt(30 / 4))


def test_correlation_time():
    corr = torch.tensor([0.99, 0.95, 0.85, 0.79, 0.9])
    lead = torch.tensor([0.5, 1.0, 1.5, 2.0, 2.5])
    assert M.correlation_time(corr, lead, 0.9) == 1.5
    assert M.correlation_time(corr, lead, 0.8) == 2.0  # the first crossing, not the last
    assert M.correlation_time(torch.ones(3), lead[:3], 0.8) == math.inf
    blown_up = torch.tensor([0.99, float("nan"), float("nan")])
    assert M.correlation_time(blown_up, lead[:3], 0.8) == 1.0


def test_rollout_never_returns_context_and_feeds_windows():
    seen = []

    def step(window, cond):
        seen.append(window[:, :, 0, 0].clone())
        return window[:, -1] + 1

    history = torch.zeros(1, 2, 1, 4)
    history[:, 0] = -1
    out = rollout(step, history, 3)
    assert out[:, :, 0, 0].tolist() == [[1.0, 2.0, 3.0]]  # predictions only
    assert [w.tolist() for w in seen] == [[[-1.0, 0.0]], [[0.0, 1.0]], [[1.0, 2.0]]]


def test_solver_on_its_own_data_scores_zero(ks64):
    store = open_store(ks64)
    step = solver_step(store, "test", store.usable("test"))
    ds, pred, true = evaluate(step, ks64, "test", history=1, dtype=torch.float64)
    # float64 data at the simulation's resolution and dt: only FFT round-off remains
    assert float(ds["rel_l2"].max()) < 1e-11
    assert ds.attrs["correlation_time_0.8"] == math.inf
    assert float(np.abs(ds["spectral_error"].values).max()) < 1e-20
    for name in ("mean", "energy"):
        assert np.allclose(ds[f"invariant_{name}_pred"], ds[f"invariant_{name}_true"], atol=1e-12)


def test_persistence_scores_what_hand_computation_says(ks64):
    ds, _, _ = evaluate(persistence, ks64, "test", history=2, steps=5, dtype=torch.float64)
    u = xr.open_zarr(ks64, group="test")["u"].values  # (3, T, N)
    last = u[:, 1]
    for lead in range(1, 6):
        t = u[:, 1 + lead]
        expected = np.mean(np.linalg.norm(last - t, axis=1) / np.linalg.norm(t, axis=1))
        assert float(ds["rel_l2"].sel(lead=lead)) == pytest.approx(expected, rel=1e-12)
    assert np.allclose(ds["lead_time"].values, 0.5 * np.arange(1, 6))


def test_context_aligns_models_with_different_histories(ks64):
    a, _, ta = evaluate(persistence, ks64, "test", history=1, steps=4, context=3)
    b, _, tb = evaluate(persistence, ks64, "test", history=3, steps=4)
    assert torch.equal(ta, tb) and np.allclose(a["rel_l2"], b["rel_l2"])


def test_correlation_time_falls_as_noise_grows(ks64):
    store = open_store(ks64)
    base = solver_step(store, "test", store.usable("test"))
    times = []
    for amp in (0.0, 0.02, 0.1, 0.5):
        gen = torch.Generator().manual_seed(0)

        def noisy(window, cond, amp=amp, gen=gen):
            out = base(window, cond)
            return out + amp * torch.randn(out.shape, generator=gen, dtype=out.dtype)

        ds, _, _ = evaluate(noisy, ks64, "test", history=1, dtype=torch.float64)
        times.append(ds.attrs["correlation_time_0.9"])
    assert times == sorted(times, reverse=True) and times[0] == math.inf and times[-1] < times[1]


def test_spectrum_of_a_known_field():
    pde = NavierStokes2D(resolution=32)
    y, x = pde.grid.meshgrid()
    omega = torch.cos(3 * x).reshape(1, 1, 1, 32, 32)  # v = sin(3x)/3: KE 1/36 in shell 3
    k, spec, labels = mean_spectrum(pde, omega)
    assert labels == ["kinetic energy"]
    assert float(spec[0, 0, 3]) == pytest.approx(1 / 36, rel=1e-12)
    assert float(spec.sum()) == pytest.approx(1 / 36, rel=1e-12)


def test_band_errors():
    grid = Grid((32, 32), (1.0, 1.0))
    gen = torch.Generator().manual_seed(0)
    true = torch.randn(2, 3, 1, 32, 32, generator=gen, dtype=torch.float64)
    assert band_errors(true, true, grid).abs().max() == 0
    assert torch.allclose(
        band_errors(torch.zeros_like(true), true, grid), torch.ones(2, 3, 3, dtype=torch.float64)
    )
    y, x = grid.meshgrid()
    high = true + 0.1 * torch.cos(2 * math.pi * 14 * x)  # mode 14: the high band only
    err = band_errors(high, true, grid)
    assert err[..., :2].abs().max() < 1e-25 and err[..., 2].min() > 0


def test_benchmark_suite_end_to_end(ks64, tmp_path, capsys):
    from pdesurr.training.fit import fit
    from pdesurr.training.recipe import Recipe

    recipe = Recipe.from_dict(
        {
            "data": {"store": str(ks64), "history": 2, "conditioning": ["dt", "length"]},
            "model": {"kind": "fno", "modes": 8, "width": 8, "layers": 2},
            "optim": {"steps": 10, "batch_size": 4},
            "train": {"out": str(tmp_path / "run"), "eval_every": 10},
        }
    )
    fit(recipe, progress=False)
    suite_file = tmp_path / "suite.toml"
    suite_file.write_text(f"""
[suite]
data = "{ks64}"
split = "test"
steps = 6
lead_times = [1, 3]
context = 2
out = "{tmp_path / "bench"}"
[[models]]
name = "fno"
checkpoint = "{tmp_path / "run" / "checkpoint"}"
[references]
persistence = true
solver = true
solver_substeps = [1, 5]
""")
    rows = run_suite(load_suite(suite_file), plots=False)
    assert [r["name"] for r in rows] == [
        "fno",
        "persistence",
        "solver (1 steps/frame)",
        "solver (5 steps/frame)",
    ]
    by = {r["name"]: r for r in rows}
    assert by["solver (5 steps/frame)"]["one_step"]["rel_l2"] < 1e-11  # the generation's own dt
    assert by["solver (1 steps/frame)"]["one_step"]["rel_l2"] > 1e-6  # a coarser time step
    table = markdown_table(rows, [1, 3])
    assert table.count("\n") == 5 and "> horizon" in table
    assert main(["benchmark", str(suite_file), "--no-plots", "--quiet"]) == 0
    assert "persistence" in capsys.readouterr().out
    assert (tmp_path / "bench" / "table.md").is_file()
    summary = json.loads((tmp_path / "bench" / "fno" / "summary.json").read_text())
    assert summary["steps"] == 6 and summary["context"] == 2
    back = xr.open_dataset(tmp_path / "bench" / "fno" / "metrics.nc")
    assert "spectrum_ratio" in back and back.sizes["lead"] == 6


def test_solver_step_keeps_dtype():
    pde = NavierStokes2D(resolution=16, viscosity=1e-2)
    from pdesurr.solvers import Stepper

    step = SolverStep(Stepper(pde, "etdrk4", 0.01), 2)
    w = pde.initial_condition("random", 1).float().unsqueeze(1)
    assert step(w, None).dtype == torch.float32
