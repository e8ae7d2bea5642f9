"""The Well and PDEBench files read as pdesurr stores: mapping, splits, windows, train/evaluate.

Files are written by ``tests/foreign_files.py`` from the published layouts; every expected
value is the raw array rearranged by the mapping the formats' specs state (The Well:
``B x T x d0 x d1 x D^r``; PDEBench: ``B x T x x x y``), not by the reader's code.
"""

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from foreign_files import (
    write_pdebench_1d,
    write_pdebench_cfd,
    write_pdebench_ns,
    write_pdebench_seeds,
    write_well_dir,
    write_well_file,
)

from pdesurr.cli import main
from pdesurr.config import ConfigError
from pdesurr.data.pdebench_store import name_parameters
from pdesurr.data.store import StoreError, detect_format, open_store
from pdesurr.data.well_store import WellStore
from pdesurr.data.windows import WindowDataset
from pdesurr.evaluation.evaluate import evaluate
from pdesurr.evaluation.reference import solver_step
from pdesurr.evaluation.rollout import persistence


def pd(x, lead=2):
    """``(lead, d0, d1, *comp)`` -> ``(lead, C, d1, d0)``: pdesurr's channels-first (y, x)."""
    comp = x.reshape(*x.shape[: lead + 2], -1)
    return np.moveaxis(comp, -1, lead).swapaxes(-1, -2)


def test_well_file_maps_every_kind_of_field(tmp_path):
    raw = write_well_file(tmp_path / "a.hdf5", bc="wall")
    store = open_store(tmp_path / "a.hdf5")
    assert detect_format(tmp_path / "a.hdf5") == "the_well" and store.splits == ["train"]
    assert store.field_names == ["density", "profile", "velocity", "stress"]
    assert [f["channels"] for f in store.fields] == [1, 1, 2, 4]
    assert store.fields[3]["components"] == ["stress_xx", "stress_xy", "stress_yx", "stress_yy"]
    np.testing.assert_array_equal(store.read("train", "density"), pd(raw["density"])[:, :, 0])
    np.testing.assert_array_equal(store.read("train", "velocity"), pd(raw["velocity"]))
    np.testing.assert_array_equal(store.read("train", "stress"), pd(raw["stress"]))
    # a field constant along y is broadcast over y
    profile = store.read("train", "profile")
    np.testing.assert_array_equal(profile, np.repeat(raw["profile"][:, :, None], 8, 2))
    # windows read only their frames, in the same layout
    np.testing.assert_array_equal(
        store.read("train", "velocity", (1, slice(2, 7, 2))), pd(raw["velocity"])[1, 2:7:2]
    )
    mask = store.read("train", "mask")  # constant field, shared by both trajectories
    assert "mask" not in store.field_names and mask.shape == (2, 8, 16)
    np.testing.assert_array_equal(mask[1], raw["mask"].T)
    np.testing.assert_array_equal(store.read("train", "forcing"), raw["forcing"])
    np.testing.assert_array_equal(store.read("train", "Reynolds"), [1e4, 1e4])
    assert store.read("train", "injected").shape == (2, 8)  # time-varying scalar
    np.testing.assert_allclose(store.read("train", "time"), raw["time"])
    np.testing.assert_allclose(store.read("train", "x"), raw["x"])
    assert store.boundary_conditions == {"x": "periodic", "y": "wall"} and not store.periodic
    assert store.spec["boundary_conditions"] == {"x": "periodic", "y": "wall"}


def test_well_dir_splits_concatenate_files_and_info(tmp_path, capsys):
    raw = write_well_dir(tmp_path / "toy")
    store = open_store(tmp_path / "toy")
    assert store.splits == ["train", "valid", "test"] and store.periodic
    assert store.n_trajectories("train") == 4
    np.testing.assert_array_equal(  # trajectory 3 = the second file's second trajectory
        store.read("train", "density", 3), pd(raw["train"][1]["density"])[1, :, 0]
    )
    np.testing.assert_array_equal(
        store.read("train", "velocity")[[3, 0]],
        pd(raw["train"][1]["velocity"])[[1]].tolist()
        + pd(raw["train"][0]["velocity"])[[0]].tolist(),
    )
    stats = store.statistics("train")["velocity"]
    every = np.concatenate([r["velocity"] for r in raw["train"]]).astype(np.float64)
    # both sides accumulate in float64: only summation order differs
    np.testing.assert_allclose(stats["mean"], every.mean((0, 1, 2, 3)), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(stats["std"], every.std((0, 1, 2, 3)), rtol=1e-9)
    assert main(["info", str(tmp_path / "toy")]) == 0
    out = capsys.readouterr().out
    assert "the_well dataset 'toy'" in out and "velocity_x" in out and "mask" in out


def test_window_dataset_on_a_well_dir(tmp_path):
    raw = write_well_dir(tmp_path / "toy")
    ds = WindowDataset(
        tmp_path / "toy", "train", history=2, normalize=True, conditioning=("forcing", "dt")
    )
    assert ds.channels == 8 and len(ds) == 4 * 6
    sample = ds[6 + 1]  # trajectory 1, first frame 1
    assert sample["input"].shape == (16, 8, 16) and sample["target"].shape == (1, 8, 8, 16)
    frames = ds.window(6 + 1)
    np.testing.assert_allclose(frames[:, 2:4], pd(raw["train"][0]["velocity"])[1, 1:4], atol=0)
    assert sample["cond"].tolist() == pytest.approx([raw["train"][0]["forcing"][1], 0.25])


def test_pdebench_layouts(tmp_path):
    r1 = write_pdebench_1d(tmp_path / "1D_Burgers_Sols_Nu0.01.hdf5")
    s = open_store(tmp_path / "1D_Burgers_Sols_Nu0.01.hdf5")
    # PDEBench's split: the first test_ratio = 10% of the trajectories are the test set
    assert s.splits == ["train", "test"] and s.n_trajectories("test") == 1
    np.testing.assert_array_equal(s.read("train", "u"), r1["tensor"][1:])
    assert len(s.read("test", "time")) == 6  # t-coordinate holds one more (the end time)
    assert s.read("train", "Nu").tolist() == [0.01] * 9 and s.periodic

    r2 = write_pdebench_ns(tmp_path / "ns_incom_inhom_2d_512-0.h5")
    s = open_store(tmp_path / "ns_incom_inhom_2d_512-0.h5")
    assert s.field_names == ["velocity", "particles"]
    np.testing.assert_array_equal(s.read("train", "velocity"), pd(r2["velocity"][1:]))
    np.testing.assert_array_equal(s.read("test", "particles"), pd(r2["particles"][:1])[:, :, 0])
    np.testing.assert_array_equal(s.read("train", "force"), pd(r2["force"][1:], lead=1))
    assert s.boundary_conditions == {"y": "wall", "x": "wall"} and not s.periodic

    name = "2D_CFD_Rand_M0.1_Eta0.01_Zeta0.01_periodic_128_Train.hdf5"
    r3 = write_pdebench_cfd(tmp_path / name)
    s = open_store(tmp_path / name)
    assert s.field_names == ["density", "pressure", "velocity"] and s.periodic
    vel = np.stack([r3["Vx"], r3["Vy"]], -1)
    np.testing.assert_array_equal(s.read("train", "velocity"), pd(vel[1:]))
    np.testing.assert_array_equal(s.read("train", "pressure"), r3["pressure"][1:].swapaxes(-1, -2))
    assert {k: s.read("test", k)[0] for k in ("M", "Eta", "Zeta")} == {
        "M": 0.1,
        "Eta": 0.01,
        "Zeta": 0.01,
    }

    # PDEBench's names, e.g. its 2D CFD files (exponents written "1.e-8")
    name = Path("2D_CFD_Rand_M1.0_Eta1.e-8_Zeta1.e-8_periodic_512_Train.hdf5")
    assert name_parameters(name) == {"M": 1.0, "Eta": 1e-8, "Zeta": 1e-8}

    r4 = write_pdebench_seeds(tmp_path / "2D_diff-react_NA_NA.h5")
    s = open_store(tmp_path / "2D_diff-react_NA_NA.h5")
    np.testing.assert_array_equal(s.read("train", "data"), pd(r4[1:]))
    assert s.boundary_conditions["x"] == "unknown" and not s.periodic


def test_foreign_errors_name_the_file(tmp_path):
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["something"] = np.zeros(3)
    with pytest.raises(StoreError, match="other.h5.*not a pdesurr dataset"):
        open_store(tmp_path / "other.h5")
    write_well_file(tmp_path / "w.hdf5")
    write_well_file(tmp_path / "a.hdf5")
    with h5py.File(tmp_path / "w.hdf5", "r+") as f:  # make it 3D
        f["dimensions"].attrs["spatial_dims"] = ["x", "y", "z"]
        f["dimensions"]["z"] = np.zeros(4)
    with pytest.raises(StoreError, match="w.hdf5: 3D data"):
        open_store(tmp_path / "w.hdf5")
    with pytest.raises(StoreError, match="read-only"):
        WellStore.open(tmp_path / "a.hdf5", "r+")


def test_train_evaluate_benchmark_on_a_well_dir(tmp_path, monkeypatch, capsys):
    raw = write_well_dir(tmp_path / "toy", bc="wall")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.toml").write_text(
        '[data]\nstore = "toy"\nhistory = 2\nconditioning = ["forcing"]\n'
        '[model]\nkind = "fno"\nmodes = 4\nwidth = 8\nlayers = 2\n'
        '[optim]\nsteps = 4\nbatch_size = 4\n[train]\nout = "run"\neval_every = 4\n'
    )
    with pytest.warns(UserWarning, match="not all periodic; Fourier-based models"):
        assert main(["train", "r.toml", "--quiet"]) == 0
    config = json.loads((tmp_path / "run" / "checkpoint" / "config.json").read_text())
    assert config["provenance"]["dataset"]["boundary_conditions"] == {"x": "periodic", "y": "wall"}
    capsys.readouterr()
    assert main(["info", "run/checkpoint"]) == 0
    assert "trained on:  dataset 'toy'" in capsys.readouterr().out
    assert main(["evaluate", "run/checkpoint", "--data", "toy", "--no-plots"]) == 0
    # persistence scored by hand: ||u_t - u_{t-1}|| / ||u_t|| over every channel and point
    ds, pred, true = evaluate(persistence, "toy", "test", history=1, steps=3, dtype=torch.float64)
    test = raw["test"][0]
    profile = np.repeat(test["profile"][:, :, None, None, :], 8, 3)  # constant along y
    parts = [pd(test["density"][..., None]), profile, pd(test["velocity"]), pd(test["stress"])]
    state = np.concatenate(parts, 2).astype(np.float64)
    num = np.linalg.norm((state[:, 1:4] - state[:, :1]).reshape(2, 3, -1), axis=-1)
    den = np.linalg.norm(state[:, 1:4].reshape(2, 3, -1), axis=-1)
    np.testing.assert_allclose(ds["rel_l2"].values, (num / den).mean(0), rtol=1e-12)  # float64
    assert "NOT periodic" in ds.attrs["spectra_assume_periodic"]
    with pytest.raises(ConfigError, match="references.solver = false"):
        store = open_store("toy")
        solver_step(store, "test", store.usable("test"))
    (tmp_path / "s.toml").write_text(
        '[suite]\ndata = "toy"\nsplit = "test"\nlead_times = [1, 3]\ncontext = 2\n'
        'out = "bench"\n[[models]]\nname = "fno"\ncheckpoint = "run/checkpoint"\n'
        "[references]\npersistence = true\nsolver = false\n"
    )
    assert main(["benchmark", "s.toml", "--no-plots", "--quiet"]) == 0
    table = (tmp_path / "bench" / "table.md").read_text()
    assert "| fno |" in table and "| persistence |" in table


def test_foreign_non_finite_values_are_refused_naming_split_and_field(tmp_path):
    # a NaN in a foreign file would be trained on; the store interface refuses it as it
    # refuses damaged pdesurr stores (pdesurr.data.integrity)
    path = tmp_path / "1D_Advection_Sols_beta0.1.hdf5"
    write_pdebench_1d(path)  # 10 samples: PDEBench's first 10 % are test, the rest train
    with h5py.File(path, "r+") as f:
        f["tensor"][9, 2, 5] = np.nan  # the last train trajectory
    store = open_store(path)
    field = store.fields[0]
    with pytest.raises(StoreError, match=f"train/{field['name']} holds non-finite values in"):
        store.read_usable("train", field)
    assert np.isfinite(store.read_usable("test", field)).all()
    store.close()
