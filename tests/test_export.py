"""``pdesurr export``: pdesurr stores written in The Well's and PDEBench's layouts.

The layout checks restate the formats' published expectations (The Well's
``docs/data_format.md`` and ``WellDataset._build_metadata``; PDEBench's ``FNODataset`` /
``FNODatasetMult`` in ``pdebench/models/fno/utils.py``), never the exporter's code.

The Well's own loader: :func:`test_the_wells_loader_reads_the_export` runs
``the_well.data.WellDataset`` on the export, in this interpreter when ``the_well`` is
importable (``make test`` installs ``the_well==1.2.0`` with ``--no-deps``: it pins
``fsspec==2024.10.0`` but runs with the project's newer one), else in the interpreter named
by ``PDESURR_WELL_PYTHON``; it is skipped when neither has it.
"""

import importlib.util
import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

from pdesurr.cli import main
from pdesurr.data.export_well import export_well
from pdesurr.data.generate import generate
from pdesurr.data.spec import DatasetSpec
from pdesurr.data.store import open_store
from pdesurr.data.windows import WindowDataset

SMALL = ["splits.train=2", "splits.valid=1", "splits.test=2", "time.frames=5"]


@pytest.fixture(scope="module")
def kolmogorov(tmp_path_factory):
    path = tmp_path_factory.mktemp("ex") / "kolmogorov.zarr"
    generate(DatasetSpec.load("kolmogorov/small", SMALL), path, progress=False)
    return path


@pytest.fixture(scope="module")
def ks(tmp_path_factory):
    path = tmp_path_factory.mktemp("ex") / "ks.zarr"
    generate(DatasetSpec.load("ks_refiner/small", SMALL), path, progress=False)
    return path


def test_well_export_follows_the_spec_and_reads_back(kolmogorov, tmp_path):
    out = tmp_path / "well"
    assert main(["export", str(kolmogorov), "--format", "the_well", "--out", str(out)]) == 0
    src = open_store(kolmogorov)
    files = sorted((out / "data" / "test").glob("*.hdf5"))
    assert len(files) == 2  # forcing_amplitude differs per trajectory: one file each
    amp = np.asarray(src.read("test", "forcing_amplitude"))
    for i, p in enumerate(files):
        with h5py.File(p) as f:
            assert f.attrs["dataset_name"] == "kolmogorov_small"
            assert f.attrs["n_trajectories"] == 1 and f.attrs["n_spatial_dims"] == 2
            assert f.attrs["grid_type"] == "cartesian"
            assert f.attrs["forcing_amplitude"] == pytest.approx(amp[i])
            assert "forcing_amplitude" in f.attrs["simulation_parameters"]
            assert list(f["dimensions"].attrs["spatial_dims"]) == ["x", "y"]
            assert f["dimensions/time"].shape == (5,)
            for bc in f["boundary_conditions"].values():
                assert bc.attrs["bc_type"] == "periodic"
            v = f["t0_fields/vorticity"]
            assert list(f["t0_fields"].attrs["field_names"]) == ["vorticity"]
            assert v.dtype == np.float32 and v.shape == (1, 5, 32, 32)  # (B, T, Nx, Ny)
            assert v.attrs["time_varying"] and v.attrs["sample_varying"]
            # pdesurr's (y, x) becomes The Well's (x, y)
            want = np.asarray(src.read("test", "vorticity", i)).swapaxes(-1, -2)
            np.testing.assert_array_equal(v[0], want)
    stats = json.loads((out / "stats.yaml").read_text())  # JSON is YAML too
    assert set(stats) == {"mean", "std", "rms", "mean_delta", "std_delta", "rms_delta"}
    train = np.asarray(src.read("train", "vorticity"), dtype=np.float64)
    delta = np.diff(train, axis=1)  # The Well's *_delta: changes over one frame
    for key, want in (("mean", train.mean()), ("std", train.std()), ("std_delta", delta.std())):
        assert stats[key]["vorticity"] == pytest.approx(want, rel=1e-9, abs=1e-9 * train.std())
    back = open_store(out)
    # the Well reader normalises with the shipped stats.yaml (no pass over the data)
    assert back.statistics("train")["vorticity"]["std"] == [stats["std"]["vorticity"]]
    assert back.splits == src.splits and back.periodic
    for split in src.splits:
        np.testing.assert_array_equal(
            back.read(split, "vorticity"), np.asarray(src.read(split, "vorticity"))
        )
        np.testing.assert_allclose(
            back.read(split, "forcing_amplitude"), src.read(split, "forcing_amplitude"), rtol=1e-7
        )  # float32 scalars in the file
    w = WindowDataset(out, "train", history=2, conditioning=("forcing_amplitude",))
    assert w[0]["input"].shape == (2, 32, 32)


WELL_SNIPPET = """
import sys, numpy as np
from the_well.data import WellDataset
for split in ("train", "valid", "test"):
    ds = WellDataset(path=sys.argv[1], well_split_name=split, n_steps_input=1,
                     n_steps_output=1, full_trajectory_mode=True, max_rollout_steps=10000)
    items = [ds[i] for i in range(len(ds))]
    m = ds.metadata
    np.savez(f"{sys.argv[2]}/{split}.npz",
             fields=np.stack([np.concatenate([s["input_fields"], s["output_fields"]])
                              for s in items]),
             scalars=np.stack([s["constant_scalars"] for s in items]),
             grid=items[0]["space_grid"].numpy(), bcs=items[0]["boundary_conditions"].numpy(),
             names=np.array(m.field_names[0]), scalar_names=np.array(m.constant_scalar_names),
             dataset_name=m.dataset_name)
"""


def _well_python():
    if importlib.util.find_spec("the_well") is not None:
        return sys.executable
    return os.environ.get("PDESURR_WELL_PYTHON")


@pytest.mark.skipif(_well_python() is None, reason="the_well not importable (PDESURR_WELL_PYTHON)")
def test_the_wells_loader_reads_the_export(kolmogorov, tmp_path):
    out = tmp_path / "well"
    assert main(["export", str(kolmogorov), "--format", "the_well", "--out", str(out)]) == 0
    src = open_store(kolmogorov)
    run = subprocess.run(
        [_well_python(), "-c", WELL_SNIPPET, str(out), str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    for split in src.splits:
        got = np.load(tmp_path / f"{split}.npz")
        assert str(got["dataset_name"]) == "kolmogorov_small"
        assert got["names"].tolist() == ["vorticity"]
        # WellDataset gives (B, T, x, y, C): pdesurr's (B, T, y, x) with a channel axis last
        want = np.asarray(src.read(split, "vorticity")).swapaxes(-1, -2)[..., None]
        np.testing.assert_array_equal(got["fields"], want)
        k = got["scalar_names"].tolist().index("forcing_amplitude")
        np.testing.assert_allclose(
            got["scalars"][:, k], src.read(split, "forcing_amplitude"), rtol=1e-7
        )  # float32 scalars in the file
        np.testing.assert_allclose(got["grid"][:, 0, 0], src.read(split, "x"), rtol=1e-6)
        np.testing.assert_allclose(got["grid"][0, :, 1], src.read(split, "y"), rtol=1e-6)
        assert (got["bcs"] == 2).all()  # The Well's BoundaryCondition.PERIODIC on every side


def test_pdebench_export_matches_its_loaders(ks, kolmogorov, tmp_path):
    out = tmp_path / "pb"
    assert main(["export", str(ks), "--format", "pdebench", "--out", str(out)]) == 0
    src = open_store(ks)
    path = out / "ks_refiner_small_test.hdf5"
    with h5py.File(path) as f:
        # FNODataset, scalar branch: 'tensor' (B, T, x) float32, 'x-coordinate' (x,)
        tensor = f["tensor"][()]
        assert "tensor" in f and tensor.dtype == np.float32 and tensor.shape == (2, 5, 64)
        assert f["x-coordinate"].shape == (64,) and f["t-coordinate"].shape == (6,)
        data = np.transpose(tensor, (0, 2, 1))[..., None]  # its [batch, x, t, channel]
        want = np.transpose(np.asarray(src.read("test", "u")), (0, 2, 1))[..., None]
        np.testing.assert_array_equal(data, want)
        np.testing.assert_allclose(f["x-coordinate"][()], src.read("test", "x"), rtol=1e-6)
    back = open_store(path)
    assert back.splits == ["test"] and back.periodic
    np.testing.assert_allclose(back.read("test", "length"), src.read("test", "length"))

    out2 = tmp_path / "pb2"
    assert main(["export", str(kolmogorov), "--format", "pdebench", "--out", str(out2)]) == 0
    src = open_store(kolmogorov)
    with h5py.File(out2 / "kolmogorov_small_train.hdf5") as f:
        seeds = sorted(f.keys())  # FNODatasetMult: every top-level key is a seed group
        assert seeds == ["0000", "0001"]
        for i, s in enumerate(seeds):
            d = f[s]["data"][()]
            assert d.dtype == np.float32 and d.shape == (5, 32, 32, 1)  # (t, x, y, v)
            assert f[s]["grid/x"].shape == (32,) and f[s]["grid/t"].shape == (5,)
            want = np.asarray(src.read("train", "vorticity", i)).swapaxes(-1, -2)[..., None]
            np.testing.assert_array_equal(d, want)
    back = open_store(out2 / "kolmogorov_small_train.hdf5")
    assert back.field_names == ["vorticity"]
    np.testing.assert_array_equal(back.read("train", "vorticity"), src.read("train", "vorticity"))
    np.testing.assert_allclose(
        back.read("train", "forcing_amplitude"), src.read("train", "forcing_amplitude")
    )


def test_export_errors(kolmogorov, tmp_path, capsys):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    args = ["export", str(kolmogorov), "--out", str(tmp_path / "full")]
    assert main([*args, "--format", "the_well"]) == 2
    assert "full exists and is not empty" in capsys.readouterr().err
    assert main([*args, "--format", "netcdf"]) == 2
    assert "--format must be one of" in capsys.readouterr().err
    assert main([*args, "--format", "the_well", "--overwrite"]) == 0


def test_well_export_of_layers_1d_and_a_well_store(tmp_path):
    from foreign_files import write_well_dir

    qg = tmp_path / "qg.zarr"
    spec = ["splits.train=1", "splits.valid=0", "splits.test=1", "time.frames=3"]
    generate(DatasetSpec.load("qg_two_layer/small", spec), qg, progress=False)
    export_well(qg, tmp_path / "qgw")
    src, back = open_store(qg), open_store(tmp_path / "qgw")
    # QG's layers are not vector components: one t0 field per layer
    assert back.field_names == ["q_layer1", "q_layer2"]
    q = np.asarray(src.read("test", "q"))
    for i in range(2):
        np.testing.assert_array_equal(back.read("test", f"q_layer{i + 1}"), q[:, :, i])

    ks = tmp_path / "ks.zarr"
    generate(DatasetSpec.load("ks_refiner/small", SMALL), ks, progress=False)
    export_well(ks, tmp_path / "ksw")
    with h5py.File(sorted((tmp_path / "ksw/data/test").glob("*.hdf5"))[0]) as f:
        assert list(f["dimensions"].attrs["spatial_dims"]) == ["x"]
        assert f["t0_fields/u"].shape == (1, 5, 64)  # (B, T, Nx)
    np.testing.assert_array_equal(
        open_store(tmp_path / "ksw").read("test", "u"), open_store(ks).read("test", "u")
    )

    raw = write_well_dir(tmp_path / "toy")  # a Well store exported again keeps t1, t2, constants
    export_well(tmp_path / "toy", tmp_path / "toy2")
    # "forcing" differs per trajectory: one file each; trajectory 1 of the valid split
    with h5py.File(tmp_path / "toy2/data/valid/toy_00001.hdf5") as f:
        v = raw["valid"][0]
        assert f.attrs["n_trajectories"] == 1 and f.attrs["forcing"] == v["forcing"][1]
        np.testing.assert_array_equal(f["t2_fields/stress"][0], v["stress"][1])
        np.testing.assert_array_equal(f["t1_fields/velocity"][0], v["velocity"][1])
        mask = f["t0_fields/mask"]
        assert not mask.attrs["time_varying"]
        np.testing.assert_array_equal(mask[0], v["mask"])
    again = open_store(tmp_path / "toy2")
    assert again.field_names == ["density", "profile", "velocity", "stress"]
    np.testing.assert_array_equal(
        again.read("train", "stress"), open_store(tmp_path / "toy").read("train", "stress")
    )
