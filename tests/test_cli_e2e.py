"""The commands end to end, through ``pdesurr.cli.main``: ``demo --fast``, ``train`` on a
recipe whose store is missing, ``info`` on a checkpoint, ``evaluate``, online training with
the ``firo`` and ``reservoir`` buffers, stored down-sampling (``output.resolution``) and
``--threads``. Expected values come from the files on disk read directly (xarray,
safetensors, the spec's TOML) and from hand rollouts, not from the commands' own reports.
"""

import json
import math
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr
import zarr
from ks_small import ks_small_spec
from safetensors import safe_open
from test_report_plots import assert_is_a_plot

from pdesurr.checkpoints.readers import load_surrogate
from pdesurr.cli import main

ROOT = Path(__file__).resolve().parent.parent
KS_SMALL = tomllib.loads((ROOT / "datasets" / "ks_refiner" / "small.toml").read_text())


def q(path) -> str:
    return json.dumps(str(path))  # a TOML string for --set


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``pdesurr train ks_fno`` for 6 steps; its store does not exist and is generated."""
    root = tmp_path_factory.mktemp("e2e")
    store, out = root / "ks_small.zarr", root / "run"
    sets = [f"data.store={q(store)}", f"train.out={q(out)}", "optim.steps=6", "optim.warmup=1"]
    sets += ["train.eval_every=3", "train.log_every=3", "optim.batch_size=8"]
    argv = ["train", "ks_fno", "--quiet", *[x for s in sets for x in ("--set", s)]]
    assert not store.exists()
    assert main(argv) == 0
    return store, out / "checkpoint"


def test_recipe_generates_its_missing_store(trained, capsys):
    store, ckpt = trained
    splits, t = KS_SMALL["splits"], KS_SMALL["time"]
    n = KS_SMALL["solver"]["pde"]["resolution"]
    for split in ("train", "valid", "test"):
        ds = xr.open_zarr(store, group=split)
        assert ds["u"].shape == (splits[split], t["frames"], n), split
        assert bool(ds["complete"].all())
    assert (ckpt / "model.safetensors").is_file() and (ckpt / "training_state.pt").is_file()


def test_info_on_a_checkpoint(trained, capsys):
    store, ckpt = trained
    with safe_open(str(ckpt / "model.safetensors"), "pt") as f:
        n_params = sum(f.get_tensor(k).numel() for k in f.keys())
    fingerprint = (
        xr.open_zarr(store).attrs.get("fingerprint")
        or json.loads((store / "zarr.json").read_text())["attributes"]["fingerprint"]
    )
    capsys.readouterr()
    assert main(["info", str(ckpt)]) == 0
    text = capsys.readouterr().out
    assert f"fno ({n_params:,} parameters)" in text, text
    assert "step 6" in text and "resumable:   yes" in text
    assert "history 2, channels 1, 1D, conditioning ['dt', 'length']" in text, text
    assert f"fingerprint {fingerprint}" in text and "ks_refiner/small" in text


def test_evaluate_scores_a_hand_rollout(trained, tmp_path, capsys):
    store, ckpt = trained
    out = tmp_path / "eval"
    argv = ["evaluate", str(ckpt), "--data", str(store), "--steps", "4"]
    assert main([*argv, "--lead-times", "1", "4", "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out.split("report ->")[0])
    assert set(summary) >= {"one_step", "final", "correlation_time"}
    ds = xr.open_dataset(out / "metrics.nc")
    # by hand: the first 2 frames (the history) are context; leads 1..4 are frames 2..5
    test = xr.open_zarr(store, group="test")
    u = torch.as_tensor(test["u"].values[:, :6, None])  # (N, T, C=1, X)
    dt = float(test["time"].values[1] - test["time"].values[0])
    cond = torch.stack([torch.full((len(u),), dt), torch.as_tensor(test["length"].values)], 1)
    surrogate, _ = load_surrogate(ckpt)
    window, preds = u[:, :2].float(), []
    with torch.no_grad():
        for _ in range(4):
            nxt = surrogate(window, cond.float())
            preds.append(nxt)
            window = torch.cat([window[:, 1:], nxt[:, None]], 1)
    pred = torch.stack(preds, 1).double()
    truth = u[:, 2:6].double()
    mse = ((pred - truth) ** 2).mean((2, 3)).numpy()
    rel = (((pred - truth) ** 2).sum((2, 3)).sqrt() / (truth**2).sum((2, 3)).sqrt()).numpy()
    # the same float32 model on the same inputs: agreement to float32 round-off
    np.testing.assert_allclose(ds["mse_per_trajectory"].values, mse, rtol=1e-4)
    np.testing.assert_allclose(ds["rel_l2"].values, rel.mean(0), rtol=1e-4)
    np.testing.assert_allclose(ds["lead_time"].values, dt * np.arange(1, 5), rtol=1e-6)
    for png in sorted(out.glob("*.png")):
        assert_is_a_plot(png)
    assert {p.stem for p in out.glob("*.png")} == {
        "errors",
        "invariants",
        "refinement_spectra",
        "snapshots",
        "spectra",
        "spectral_error",
    }


def test_demo_fast(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--fast", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "demo done" in text
    ks = xr.open_zarr(out / "ks.zarr")
    np.testing.assert_allclose(ks["length"].values, [57.6, 60.8, 67.2, 70.4])
    assert xr.open_zarr(out / "kolmogorov.zarr")["vorticity"].shape[-2:] == (32, 32)
    for png in [out / "ks.png", out / "kolmogorov.png", *sorted(out.glob("benchmark/*/*.png"))]:
        assert_is_a_plot(png)
    rows = (out / "benchmark" / "table.md").read_text().splitlines()[2:]
    assert [r.split("|")[1].strip() for r in rows] == [
        "fno (online)",
        "pde-refiner",
        "persistence",
        "solver (1 steps/frame)",
    ]
    # the persistence row, by hand from the test split: context 2, lead k predicts frame 1
    u = xr.open_zarr(out / "ks_small_dataset.zarr", group="test")["u"].values.astype(np.float64)
    err = np.linalg.norm(u[:, 2:] - u[:, 1:2], axis=-1) / np.linalg.norm(u[:, 2:], axis=-1)
    pers = xr.open_dataset(out / "benchmark" / "persistence" / "metrics.nc")
    np.testing.assert_allclose(pers["rel_l2"].values, err.mean(0), rtol=1e-6)
    # the solver reference at the stored resolution reproduces its own data closely
    solver = xr.open_dataset(next((out / "benchmark").glob("solver*/metrics.nc")))
    assert float(solver["rel_l2"].max()) < 1e-2
    # the other families: a Poseidon-layout directory that loads back, a fine-tuned scOT's
    # report, a scored PINN
    from pdesurr.models.scot import ScOT

    assert isinstance(ScOT.from_pretrained(out / "scot-pretrained"), ScOT)
    assert "Poseidon (scOT) checkpoint" in text
    scot = json.loads((out / "kolmogorov_poseidon" / "eval" / "summary.json").read_text())
    assert np.isfinite(scot["one_step"]["rel_l2"])
    pinn = json.loads((out / "pinn_convection_lagrangian" / "eval" / "summary.json").read_text())
    assert np.isfinite(pinn["rel_l2"]) and pinn["method"] == "lagrangian"


def _online_recipe(tmp_path, buffer: str, n_traj: int, steps: int = 100000) -> tuple[Path, int]:
    frames = 8
    spec = ks_small_spec(tmp_path, frames=frames)
    recipe = tmp_path / "online.toml"
    recipe.write_text(
        f"""
[data]
store = {q(tmp_path / "valid.zarr")}
spec = {q(spec)}
history = 2
conditioning = ["dt", "length"]
[model]
kind = "fno"
modes = 4
width = 8
layers = 1
[objective]
kind = "pushforward"
unroll = 2
[optim]
batch_size = 8
steps = {steps}
[train]
out = {q(tmp_path / "run")}
eval_every = 100000
log_every = 100000
[online]
trajectories = {n_traj}
producers = 2
buffer = "{buffer}"
capacity = 32
watermark = 8
"""
    )
    span = 2 + 2  # history + unroll frames, stride 1
    return recipe, frames - span + 1


@pytest.mark.parametrize("buffer", ["firo", "reservoir"])
def test_online_training_with_each_buffer(tmp_path, capsys, buffer):
    # firo serves each window once, so the stream's end stops training long before the step
    # budget; a reservoir keeps training on its samples to the requested steps (the
    # default online.when_done), here a budget past the stream's end
    once = math.ceil(9 * 5 / 8)  # 9 trajectories x 5 windows (frames 8 - span 4 + 1)
    budget = 100000 if buffer == "firo" else once + 7
    recipe, per_traj = _online_recipe(tmp_path, buffer, n_traj=9, steps=budget)
    assert per_traj == 5
    assert main(["--threads", "1", "train", str(recipe), "--quiet"]) == 0
    text = capsys.readouterr().out
    m = re.search(r"received (\d+) samples from (\d+) complete trajectories \((\d+) diverged", text)
    assert m, text
    assert (int(m[1]), int(m[2]), int(m[3])) == (9 * per_traj, 9, 0)
    # the recipe's missing held-out store was generated: its valid split only
    valid = tmp_path / "valid.zarr"
    assert xr.open_zarr(valid, group="valid")["u"].shape[0] == KS_SMALL["splits"]["valid"]
    groups = set(zarr.open_group(valid, mode="r").group_keys())
    assert "valid" in groups
    for split in groups & {"train", "test"}:  # training data is streamed, never stored
        assert xr.open_zarr(valid, group=split)["u"].shape[0] == 0
    steps = int(re.search(r"trained online to step (\d+)", text)[1])
    if buffer == "firo":  # each window once: ceil(windows / batch) batches
        assert steps == once
    else:  # the reservoir re-uses its windows after the stream's end, up to the budget
        assert steps == budget
    ledger = torch.load(tmp_path / "run" / "checkpoint" / "training_state.pt", weights_only=True)
    assert ledger["ledger"]["trainers"][0]["buffer"]["kind"] == buffer


def test_stored_down_sampling_is_the_spectral_projection(tmp_path):
    sets = ["splits.train=2", "splits.valid=0", "splits.test=0", "time.frames=3"]
    sets += ["time.spinup=0.1", 'dataset.dtype="float64"']
    base = ["generate", "kolmogorov/small", "--quiet", *[x for s in sets for x in ("--set", s)]]
    coarse, fine = tmp_path / "coarse.zarr", tmp_path / "fine.zarr"
    assert main([*base, "--out", str(coarse)]) == 0  # the spec stores 64^2 at 32^2
    assert main([*base, "--out", str(fine), "--set", "output.resolution=64"]) == 0
    a = xr.open_zarr(coarse, group="train")["vorticity"].values  # (N, T, 32, 32)
    b = xr.open_zarr(fine, group="train")["vorticity"].values  # (N, T, 64, 64)
    assert a.shape[-2:] == (32, 32) and b.shape[-2:] == (64, 64)
    # the projection on |n_x|, |n_y| < 16 (the coarse Nyquist dropped), at the coarse points
    keep = np.abs(np.fft.fftfreq(64, 1 / 64)) < 16
    proj = np.fft.ifft2(np.fft.fft2(b) * (keep[:, None] & keep[None, :])).real[..., ::2, ::2]
    scale = np.abs(b).max()
    np.testing.assert_allclose(a, proj, rtol=0, atol=1e-12 * scale)  # float64 FFT round-off
    # and the fine field really had content beyond the kept modes (not a trivial check)
    assert np.abs(a - b[..., ::2, ::2]).max() > 1e-6 * scale
    x = xr.open_zarr(coarse, group="train")["x"].values
    np.testing.assert_allclose(np.diff(x), 2 * np.pi / 32, rtol=1e-12)


def test_threads_option_sets_the_pool(tmp_path):
    # a fresh process (the pool size is process-wide): 3 is taken as given, 0 means 1
    code = (
        "import torch; from pdesurr.cli import main; torch.set_num_threads(2)\n"
        "for n in ('3', '0'):\n"
        "    main(['--threads', n, 'presets']); print('threads', torch.get_num_threads())\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr
    got = [line for line in r.stdout.splitlines() if line.startswith("threads")]
    assert got == ["threads 3", "threads 1"], r.stdout
