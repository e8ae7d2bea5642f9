"""The ``pdesurr`` command: stores written by ``simulate`` are self-describing and exact."""

import json

import numpy as np
import pytest
import torch
import xarray as xr

from pdesurr.cli import main
from pdesurr.cli.simulate import load_config

KS_TINY = ["ks_refiner", "--set", "pde.resolution=32", "--steps", "8", "--save-every", "2"]
NS_TINY = ["ns2d_decaying", "--set", "pde.resolution=16", "--steps", "6", "--save-every", "3"]


def simulate(tmp_path, args, name="out.zarr"):
    out = tmp_path / name
    assert main(["simulate", *args, "--out", str(out)]) == 0
    return out, xr.open_zarr(out)


def direct_run(preset, overrides, n_saves, save_every, initial=None):
    """The same run through the Stepper alone: (B, T, C, *S)."""
    cfg = load_config(preset, overrides)
    u0 = cfg.initial_state() if initial is None else initial
    return torch.stack(list(cfg.build_stepper().trajectory(u0, n_saves, save_every)), 1)


def test_simulate_ks(tmp_path, capsys):
    out, ds = simulate(tmp_path, KS_TINY)
    assert "8 steps" in capsys.readouterr().out
    assert dict(ds.sizes) == {"time": 5, "x": 32}
    assert ds.u.dims == ("time", "x") and ds.u.dtype == np.float64
    np.testing.assert_allclose(ds.time.values, [0.0, 0.1, 0.2, 0.3, 0.4], rtol=1e-12)
    assert ds.step.values.tolist() == [0, 2, 4, 6, 8]
    np.testing.assert_allclose(ds.x.values, np.arange(32) * 64.0 / 32)
    assert ds.attrs["pde"] == "kuramoto_sivashinsky"
    assert ds.attrs["pdesurr_version"]
    config = json.loads(ds.attrs["config"])
    assert config["pde"]["resolution"] == 32 and config["run"]["steps"] == 8
    ref = direct_run("ks_refiner", ["pde.resolution=32", "run.steps=8"], 4, 2)
    # the same computation in the same process: equal up to FFT thread scheduling
    np.testing.assert_allclose(ds.u.values, ref[0, :, 0].numpy(), rtol=1e-13, atol=1e-13)


def test_simulate_ks_per_trajectory_lengths(tmp_path):
    lengths = "pde.length=[57.6, 60.8, 67.2]"
    out, ds = simulate(tmp_path, [*KS_TINY, "--set", lengths, "--batch", "3"])
    assert ds.u.dims == ("trajectory", "time", "x")
    assert ds.length.dims == ("trajectory",)
    np.testing.assert_allclose(ds.length.values, [57.6, 60.8, 67.2])
    assert ds.x.attrs["units"] == "L" and ds.x.values.max() < 1.0
    ref = direct_run(
        "ks_refiner", ["pde.resolution=32", "run.steps=8", lengths, "run.batch=3"], 4, 2
    )
    np.testing.assert_allclose(ds.u.values, ref[:, :, 0].numpy(), rtol=1e-13, atol=1e-13)


def test_simulate_ns_float32(tmp_path):
    out, ds = simulate(tmp_path, [*NS_TINY, "--dtype", "float32"])
    assert ds.vorticity.dims == ("time", "y", "x")
    assert ds.vorticity.dtype == np.float32 and ds.time.dtype == np.float64
    assert ds.vorticity.attrs["long_name"] and "units" in ds.vorticity.attrs
    np.testing.assert_allclose(ds.time.values, [0.0, 0.015, 0.03], rtol=1e-12)
    assert set(ds.coords) == {"time", "step", "x", "y"}
    cfg = load_config("ns2d_decaying", ["pde.resolution=16", "run.steps=6"])
    ref = direct_run(
        "ns2d_decaying", ["pde.resolution=16", "run.steps=6"], 2, 3, cfg.initial_state().float()
    )
    np.testing.assert_allclose(ds.vorticity.values, ref[0, :, 0].numpy(), rtol=0, atol=1e-5)


def test_streaming_in_blocks_matches(tmp_path):
    from pdesurr.data.trajectory_writer import write_run

    cfg = load_config("ns2d_decaying", ["pde.resolution=16", "run.steps=10", "run.save_every=1"])
    write_run(cfg, tmp_path / "b.zarr", block_size=3)  # 11 snapshots in blocks of 3
    ds = xr.open_zarr(tmp_path / "b.zarr")
    assert ds.sizes["time"] == 11 and ds.attrs["pde"] == "navier_stokes_2d"
    ref = direct_run("ns2d_decaying", ["pde.resolution=16", "run.steps=10"], 10, 1)
    np.testing.assert_allclose(ds.vorticity.values, ref[0, :, 0].numpy(), rtol=1e-13, atol=1e-13)


def test_simulate_qg_has_layers(tmp_path):
    out, ds = simulate(
        tmp_path, ["qg_pyqg", "--set", "pde.nx=16", "--steps", "4", "--save-every", "1"]
    )
    assert ds.q.dims == ("time", "layer", "y", "x")
    assert ds.layer.values.tolist() == [1, 2]
    np.testing.assert_allclose(ds.time.values, 7200.0 * np.arange(5))


def test_initial_round_trip(tmp_path):
    u0 = np.random.default_rng(0).normal(size=(1, 32))
    np.save(tmp_path / "u0.npy", u0)
    out, ds = simulate(tmp_path, [*KS_TINY, "--initial", str(tmp_path / "u0.npy")])
    np.testing.assert_array_equal(ds.u.isel(time=0).values, u0[0])
    assert json.loads(ds.attrs["config"])["initial"]["kind"] == "file"
    ref = direct_run(
        "ks_refiner", ["pde.resolution=32", "run.steps=8"], 4, 2, torch.from_numpy(u0[None])
    )
    np.testing.assert_allclose(ds.u.values, ref[0, :, 0].numpy(), rtol=1e-13, atol=1e-13)


def test_initial_wrong_shape(tmp_path, capsys):
    np.save(tmp_path / "bad.npy", np.zeros((2, 32)))
    out = tmp_path / "out.zarr"
    code = main(["simulate", *KS_TINY, "--initial", str(tmp_path / "bad.npy"), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("pdesurr: error:") and "bad.npy" in err and "(1, 32)" in err
    assert not out.exists()


def test_divergence_exits_3_and_leaves_nothing(tmp_path, capsys):
    out = tmp_path / "out.zarr"
    code = main(
        [
            "simulate",
            "ns2d_decaying",
            "--set",
            "pde.resolution=16",
            "--set",
            "integrator.kind=rk4",
            "--set",
            "integrator.dt=10.0",
            "--steps",
            "40",
            "--save-every",
            "5",
            "--out",
            str(out),
        ]
    )
    err = capsys.readouterr().err
    assert code == 3
    assert "diverged" in err and "step" in err and "t =" in err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_overwrite_refused_then_allowed(tmp_path, capsys):
    out, _ = simulate(tmp_path, NS_TINY)
    before = xr.open_zarr(out).vorticity.values
    code = main(["simulate", *NS_TINY, "--set", "run.seed=1", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and str(out) in err and "--overwrite" in err
    np.testing.assert_array_equal(xr.open_zarr(out).vorticity.values, before)
    assert (
        main(["simulate", *NS_TINY, "--set", "run.seed=1", "--out", str(out), "--overwrite"]) == 0
    )
    assert not np.array_equal(xr.open_zarr(out).vorticity.values, before)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.zarr"]


def test_config_errors_exit_2(tmp_path, capsys):
    out = str(tmp_path / "o.zarr")
    assert main(["simulate", "ns2d_decaying", "--set", "pde.viscosty=1", "--out", out]) == 2
    assert "did you mean 'viscosity'" in capsys.readouterr().err
    assert main(["simulate", "no_such_preset", "--out", out]) == 2
    assert main(["simulate", "ns2d_decaying", "--set", "novalue", "--out", out]) == 2
    assert not (tmp_path / "o.zarr").exists()


def test_steps_on_the_command_line_replace_preset_t_end():
    cfg = load_config("ns2d_decaying", ["run.steps=7"])
    assert cfg.n_steps() == 7 and cfg.resolved_run()["t_end"] is None
    cfg = load_config("ns2d_decaying", ["run.t_end=0.05"])
    assert cfg.n_steps() == 10


def test_t_end_rounds_down_to_a_save(tmp_path, capsys):
    out, ds = simulate(
        tmp_path,
        ["ns2d_decaying", "--set", "pde.resolution=16", "--t-end", "0.05", "--save-every", "4"],
    )
    assert ds.step.values[-1] == 8 and "rounded down" in capsys.readouterr().out


def test_plot_writes_png(tmp_path):
    png = tmp_path / "ks.png"
    simulate(tmp_path, [*KS_TINY, "--plot", str(png)])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_qg(tmp_path):
    from pdesurr.evaluation.plots import plot_simulation

    out, ds = simulate(tmp_path, ["qg_pyqg", "--set", "pde.nx=16", "--steps", "4"])
    png = plot_simulation(ds, None, tmp_path / "qg.png")
    assert png.stat().st_size > 1000


def test_info(tmp_path, capsys):
    out, _ = simulate(tmp_path, NS_TINY)
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "navier_stokes_2d" in text and "vorticity" in text and "etdrk4" in text
    assert main(["info", str(tmp_path / "missing.zarr")]) == 2


def test_presets(capsys):
    assert main(["presets"]) == 0
    text = capsys.readouterr().out
    assert "ks_refiner" in text and "Kolmogorov flow" in text


@pytest.mark.parametrize("argv", [[], ["simulate", "ks_refiner"], ["train"]])
def test_usage_errors_exit_2(argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
