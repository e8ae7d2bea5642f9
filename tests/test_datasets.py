"""Dataset generation: reproducibility, resume, divergence, store validation, windows."""

import json
import shutil

import numpy as np
import pytest
import torch
import xarray as xr

from pdesurr.config import ConfigError
from pdesurr.data.generate import generate, simulate_batch
from pdesurr.data.parameters import trajectory_seed
from pdesurr.data.spec import DatasetSpec
from pdesurr.data.store import StoreError, open_store
from pdesurr.data.windows import WindowDataset

KS_SMALL = {
    "dataset": {"seed": 3, "batch": 3, "dtype": "float32"},
    "splits": {"train": 5, "test": 2},
    "solver": {"preset": "ks_refiner", "pde": {"resolution": 32}, "integrator": {"dt": 0.1}},
    "parameters": {"length": {"uniform": [30.0, 34.0]}},
    "initial": {"kind": "random_sines"},
    "time": {"spinup": 1.0, "save_interval": 0.5, "frames": 6},
}


def spec(overrides=None, data=KS_SMALL):
    d = json.loads(json.dumps(data))
    for key, value in (overrides or {}).items():
        section, name = key.split(".")
        d.setdefault(section, {})[name] = value
    return DatasetSpec.from_dict(d, "test-spec.toml", "ks_test")


@pytest.fixture(scope="module")
def ks_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("ks") / "ks.zarr"
    generate(spec(), path, progress=False)
    return path


def test_store_opens_with_plain_xarray(ks_store):
    ds = xr.open_zarr(ks_store, group="train")
    assert ds["u"].dims == ("trajectory", "time", "x")
    assert ds["u"].shape == (5, 6, 32)
    assert ds["u"].dtype == np.float32
    assert np.allclose(ds["time"].values, [1.0, 1.5, 2.0, 2.5, 3.0, 3.5])
    assert ds["complete"].values.all() and not ds["diverged"].values.any()
    assert ((ds["length"] >= 30) & (ds["length"] <= 34)).all()
    root = xr.open_zarr(ks_store, group="test")
    assert root["u"].shape == (2, 6, 32)
    attrs = open_store(ks_store).attrs
    assert attrs["format"] == "pdesurr.dataset" and attrs["pde"] == "kuramoto_sivashinsky"
    resolved = json.loads(attrs["spec"])
    assert resolved["solver"]["pde"]["resolution"] == 32
    assert resolved["solver"]["pde"]["length"] == {"uniform": [30.0, 34.0]}


def test_trajectory_depends_only_on_seed_split_index(ks_store):
    # trajectory 4 alone (a batch of one) equals trajectory 4 of the stored batch [3, 5)
    s = spec({"dataset.batch": 1})
    fields, params, seeds, div = simulate_batch(s, "train", 4, 5)
    stored = xr.open_zarr(ks_store, group="train")
    assert np.array_equal(fields["u"][0], stored["u"].values[4])
    assert params["length"][0] == stored["length"].values[4]
    assert seeds[0] == trajectory_seed(3, "train", 4) == stored["seed"].values[4]
    # and another split with the same index is a different trajectory
    other = simulate_batch(s, "test", 4, 5)[0]["u"][0]
    assert not np.allclose(other, fields["u"][0])


def test_values_are_the_solver_run_down_to_float32(ks_store):
    s = spec()
    pde, stepper, u0, _ = s.build_batch("train", 0, 3)
    frames = list(stepper.trajectory(u0, 5, s.save_every, skip=s.spinup_steps))
    stored = xr.open_zarr(ks_store, group="train")["u"].values[:3]
    assert np.array_equal(stored, torch.stack(frames, 1)[:, :, 0].float().numpy())


def test_statistics_match_the_data(ks_store):
    store = open_store(ks_store)
    stats = store.statistics("train")["u"]
    data = np.asarray(store.read("train", "u"), dtype=np.float64)
    assert stats["mean"][0] == pytest.approx(data.mean(), abs=1e-9)
    assert stats["std"][0] == pytest.approx(data.std(), rel=1e-9)
    assert stats["max"][0] == pytest.approx(data.max())


def test_resume_after_interruption_gives_identical_store(ks_store, tmp_path, monkeypatch):
    import pdesurr.data.generate as gen_mod

    path = tmp_path / "interrupted.zarr"
    real = gen_mod.simulate_batch
    calls = {"n": 0}

    def dying(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # stopped in the middle of the run
        return real(*args, **kwargs)

    monkeypatch.setattr(gen_mod, "simulate_batch", dying)
    with pytest.raises(KeyboardInterrupt):
        generate(spec(), path, progress=False)
    monkeypatch.setattr(gen_mod, "simulate_batch", real)
    flags = np.asarray(open_store(path).read("train", "complete"))
    assert flags.tolist() == [True, True, True, False, False]
    report = generate(spec(), path, progress=False)
    assert report.skipped == 3 and report.trajectories == 4
    for split in ("train", "test"):
        a, b = xr.open_zarr(ks_store, group=split), xr.open_zarr(path, group=split)
        assert np.array_equal(a["u"].values, b["u"].values)
        assert np.array_equal(a["complete"].values, b["complete"].values)


def test_partial_write_is_not_marked_complete(tmp_path):
    # a crash between the data and the flags leaves the trajectory incomplete: redone
    path = tmp_path / "p.zarr"
    generate(spec(), path, progress=False)
    store = open_store(path, "r+")
    store.set("train", "complete", 1, False)
    store.set("train", "u", 1, np.zeros((6, 32), np.float32))
    report = generate(spec(), path, progress=False)
    assert report.trajectories == 3  # the batch holding trajectory 1
    assert np.abs(np.asarray(open_store(path).read("train", "u", 1))).max() > 0.01


def test_different_spec_on_existing_store_is_refused(ks_store):
    with pytest.raises(StoreError, match="different spec"):
        generate(spec({"dataset.seed": 4}), ks_store, progress=False)


def test_divergent_trajectories_are_recorded_and_skipped(tmp_path):
    # explicit RK4 on NS: the large-viscosity member is far past its stability limit
    data = {
        "dataset": {"seed": 0, "batch": 3},
        "splits": {"train": 3},
        "solver": {
            "preset": "ns2d_decaying",
            "pde": {"resolution": 16},
            "integrator": {"kind": "rk4", "dt": 0.1},
        },
        "parameters": {"viscosity": {"choice": [1e-3, 1e-3, 50.0]}},
        "initial": {"kind": "random"},
        "time": {"save_interval": 0.2, "frames": 4},
    }
    s = spec(data=data)
    path = tmp_path / "div.zarr"
    report = generate(s, path, progress=False)
    store = open_store(path)
    nu = np.asarray(store.read("train", "viscosity"))
    diverged = np.asarray(store.read("train", "diverged"))
    assert report.diverged == int((nu > 1).sum()) > 0
    assert np.array_equal(diverged, nu > 1)
    assert (np.asarray(store.read("train", "divergence_step"))[diverged] > 0).all()
    assert np.asarray(store.read("train", "complete")).all()
    data_ok = np.asarray(store.read("train", "vorticity"))
    assert np.isfinite(data_ok).all()  # never NaN on disk
    assert set(store.usable("train")) == set(np.flatnonzero(~diverged))
    assert len(WindowDataset(path, "train")) == (~diverged).sum() * 3


def test_hdf5_store_matches_zarr(ks_store, tmp_path):
    path = tmp_path / "ks.h5"
    generate(spec(), path, fmt="h5", progress=False)
    import h5py

    with h5py.File(path) as f:
        assert np.array_equal(f["train/u"][...], xr.open_zarr(ks_store, group="train")["u"].values)
        assert f["train/u"].dims[1].label == "time"
        assert f.attrs["format"] == "pdesurr.dataset"
    a = WindowDataset(path, "train", history=2, normalize=True)[7]
    b = WindowDataset(ks_store, "train", history=2, normalize=True)[7]
    assert torch.equal(a["input"], b["input"]) and torch.equal(a["target"], b["target"])


def test_foreign_and_truncated_stores_are_refused(ks_store, tmp_path):
    with pytest.raises(StoreError, match="no store"):
        open_store(tmp_path / "missing.zarr")
    (tmp_path / "text.h5").write_text("hello")
    with pytest.raises(StoreError, match="neither"):
        open_store(tmp_path / "text.h5")
    import zarr

    zarr.open_group(str(tmp_path / "foreign.zarr"), mode="w").attrs["title"] = "other"
    with pytest.raises(StoreError, match="not a pdesurr dataset"):
        open_store(tmp_path / "foreign.zarr")
    broken = tmp_path / "broken.zarr"
    shutil.copytree(ks_store, broken)
    shutil.rmtree(broken / "train" / "complete")
    (broken / "zarr.json").write_text((broken / "zarr.json").read_text()[:-40])
    with pytest.raises(StoreError):
        open_store(broken)
    h5 = tmp_path / "trunc.h5"
    generate(spec(), h5, fmt="h5", progress=False)
    h5.write_bytes(h5.read_bytes()[:2000])
    with pytest.raises(StoreError, match="truncated"):
        open_store(h5)


def test_missing_chunks_are_detected(ks_store, tmp_path):
    broken = tmp_path / "chunks.zarr"
    shutil.copytree(ks_store, broken)
    chunk = next((broken / "train" / "u" / "c").rglob("*"))
    while chunk.is_dir():
        chunk = next(chunk.iterdir())
    chunk.unlink()
    assert open_store(broken).missing_chunks("train") == ["u"]
    assert open_store(ks_store).missing_chunks("train") == []


def test_windows_match_stored_trajectories(ks_store):
    ds = WindowDataset(
        ks_store, "train", history=2, horizon=1, stride=2, conditioning=("dt", "length")
    )
    stored = xr.open_zarr(ks_store, group="train")
    u = stored["u"].values
    assert ds.per_trajectory == 6 - 2 * 2  # frames t0, t0 + 2, t0 + 4 fit for t0 = 0, 1
    assert len(ds) == 5 * ds.per_trajectory
    for index in range(len(ds)):
        sample = ds[index]
        traj, t0 = int(sample["trajectory"]), int(sample["time_index"])
        frames = u[traj, t0 : t0 + 5 : 2]
        assert torch.equal(sample["input"], torch.from_numpy(frames[:2]))
        assert torch.equal(sample["target"][:, 0], torch.from_numpy(frames[2:]))
        assert sample["cond"][0] == pytest.approx(1.0)  # 0.5 save interval x stride 2
        assert sample["cond"][1] == pytest.approx(float(stored["length"].values[traj]))


def test_windows_normalisation_and_workers(ks_store):
    ds = WindowDataset(ks_store, "test", history=1, horizon=1, normalize=True)
    stats = open_store(ks_store).statistics("train")["u"]  # train statistics, on any split
    raw = ds.window(0)
    assert torch.allclose(ds[0]["input"], (raw[:1, 0] - stats["mean"][0]) / stats["std"][0])
    assert torch.allclose(ds.denormalize(ds.normalize(raw)), raw, atol=1e-6)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2)
    batches = list(loader)
    assert sum(len(b["input"]) for b in batches) == len(ds)
    assert torch.equal(
        torch.cat([b["input"] for b in batches]),
        torch.stack([ds[i]["input"] for i in range(len(ds))]),
    )


def test_windows_too_long_and_unknown_conditioning(ks_store):
    with pytest.raises(ValueError, match="frames"):
        WindowDataset(ks_store, "train", history=4, horizon=3)
    with pytest.raises(StoreError, match="conditioning"):
        WindowDataset(ks_store, "train", conditioning=("viscosity",))


@pytest.mark.parametrize(
    "overrides,key",
    [
        ({"time.save_interval": 0.33}, "time.save_interval"),
        ({"time.frames": 1}, "time.frames"),
        ({"dataset.dtype": "float16"}, "dataset.dtype"),
        ({"dataset.sead": 1}, "dataset.sead"),
        ({"splits.training": 3}, "splits.training"),
        ({"parameters.lenght": {"uniform": [1.0, 2.0]}}, "parameters.lenght"),
        ({"parameters.length": {"normal": [1.0, 2.0]}}, "parameters.length"),
        ({"output.resolution": 48}, "output.resolution"),
    ],
)
def test_bad_specs_name_the_key(overrides, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        spec(overrides)


def test_parameters_that_cannot_vary_are_refused():
    data = {
        "splits": {"train": 2},
        "solver": {"preset": "qg_pyqg", "pde": {"nx": 16}},
        "parameters": {"beta": {"uniform": [1e-11, 2e-11]}},
        "time": {"save_interval": 7200.0, "frames": 3},
    }
    with pytest.raises(ConfigError, match="cannot vary beta"):
        spec(data=data)


@pytest.mark.parametrize(
    "name", ["ks_refiner", "kolmogorov", "decaying_turbulence", "qg_two_layer"]
)
def test_catalogue_specs_load(name):
    full, small = DatasetSpec.load(name), DatasetSpec.load(f"{name}/small")
    assert full.fingerprint() != small.fingerprint()
    assert sum(small.splits.values()) <= 12


def test_small_qg_spec_generates_layers(tmp_path):
    s = DatasetSpec.load(
        "qg_two_layer/small", ["splits.train=2", "splits.valid=0", "splits.test=0", "time.frames=3"]
    )
    path = tmp_path / "qg.zarr"
    generate(s, path, progress=False)
    ds = xr.open_zarr(path, group="train")
    assert ds["q"].dims == ("trajectory", "time", "layer", "y", "x")
    assert ds["layer"].values.tolist() == [1, 2]
    stats = open_store(path).statistics("train")["q"]
    assert len(stats["mean"]) == 2  # per layer
    assert WindowDataset(path, "train", normalize=True)[0]["input"].shape == (2, 32, 32)
