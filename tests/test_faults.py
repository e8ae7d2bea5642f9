"""Fault injection: each case of issue 11 (data lost, corruption hidden, tracebacks) as a test.

Every test here fails on the code before its fix; the README section "What pdesurr
guarantees" names them. Stores and checkpoints are tiny (KS at 32 points) so the suite
runs in seconds.
"""

from __future__ import annotations

import json
import math
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import zarr
from ks_small import ks_small_spec, valid_store

from pdesurr.checkpoints.files import CheckpointError, load_training_state, recover
from pdesurr.checkpoints.readers import load_surrogate, read_config
from pdesurr.cli import main
from pdesurr.cli.options import progress_mode
from pdesurr.data.generate import generate
from pdesurr.data.integrity import verify_split
from pdesurr.data.spec import DatasetSpec
from pdesurr.data.store import StoreError, open_store
from pdesurr.evaluation import metrics
from pdesurr.memory import estimate_bytes
from pdesurr.solvers import PDES
from pdesurr.training.fit import fit
from pdesurr.training.recipe import Recipe
from pdesurr.training.run_log import NonFiniteLoss


# --- metrics named after other projects -------------------------------------------------
def test_vrmse_matches_the_well_definition():
    # The Well (the_well/benchmark/metrics/spatial.py): VRMSE = sqrt(MSE / (torch.std(y)**2
    # + 1e-7)) over the spatial axes, per field; torch.std is the unbiased (N - 1) estimate.
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(3, 4, 2, 5, 6, dtype=torch.float64, generator=g)
    true = torch.randn(3, 4, 2, 5, 6, dtype=torch.float64, generator=g) * 0.3 + 1.0
    expected = torch.empty(3, 4, dtype=torch.float64)
    for b in range(3):
        for t in range(4):
            per_field = []
            for c in range(2):
                y, x = true[b, t, c].flatten().tolist(), pred[b, t, c].flatten().tolist()
                n = len(y)
                mean = sum(y) / n
                var = sum((v - mean) ** 2 for v in y) / (n - 1)
                mse = sum((a - v) ** 2 for a, v in zip(x, y, strict=True)) / n
                per_field.append(math.sqrt(mse / (var + 1e-7)))
            expected[b, t] = sum(per_field) / 2
    got = metrics.vrmse_the_well(pred, true)
    # float64 sums of 30 terms: agreement to rounding, far below the sqrt(30/29) ~ 1.7% bug
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def test_nrmse_matches_pdebench_definition():
    # PDEBench (pdebench/models/metrics.py, metric_func): per sample, channel and time
    # sqrt(mean_S (p - t)^2) / sqrt(mean_S t^2), no epsilon; averaged over the channels.
    g = torch.Generator().manual_seed(1)
    pred = torch.randn(2, 3, 3, 16, dtype=torch.float64, generator=g)
    true = torch.randn(2, 3, 3, 16, dtype=torch.float64, generator=g) + 0.5
    expected = torch.empty(2, 3, dtype=torch.float64)
    for b in range(2):
        for t in range(3):
            ratios = []
            for c in range(3):
                x, y = pred[b, t, c].tolist(), true[b, t, c].tolist()
                rmse = math.sqrt(sum((a - v) ** 2 for a, v in zip(x, y, strict=True)) / 16)
                ratios.append(rmse / math.sqrt(sum(v * v for v in y) / 16))
            expected[b, t] = sum(ratios) / 3
    # float64 sums of 16 terms: agreement to rounding
    torch.testing.assert_close(metrics.nrmse_pdebench(pred, true), expected, rtol=1e-12, atol=1e-12)


# --- shared fixtures: a tiny KS store and a short training run ---------------------------
@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "ks.zarr"
    spec = DatasetSpec.load(
        "ks_refiner/small", ["splits.train=4", "splits.valid=1", "splits.test=1"]
    )
    generate(spec, path, progress=False)
    return path


def recipe(store, out, **sets):
    raw = {
        "data": {"store": str(store), "history": 2, "conditioning": ["dt", "length"]},
        "model": {"kind": "fno", "modes": 4, "width": 8, "layers": 1},
        "objective": {"kind": "pushforward", "unroll": 2},
        "optim": {"lr": 3e-3, "batch_size": 4, "steps": 10, "warmup": 2},
        "train": {"out": str(out), "eval_every": 5, "log_every": 5, "seed": 1, "eval_windows": 8},
    }
    for key, value in sets.items():
        section, name = key.split("__")
        raw[section][name] = value
    return Recipe.from_dict(raw, "test-recipe.toml")


@pytest.fixture(scope="module")
def trained(store, tmp_path_factory):
    """A run directory trained to step 10 (checkpoint at step 5 and 10)."""
    out = tmp_path_factory.mktemp("run") / "run"
    fit(recipe(store, out, train__checkpoint_every=5), progress=False)
    return out


def _copy_run(trained, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(trained, out)
    return out


# --- 5. weights and training state are content-hashed ------------------------------------
def test_byte_flipped_weights_are_refused(trained, tmp_path):
    out = _copy_run(trained, tmp_path)
    ckpt = out / "checkpoint"
    load_surrogate(ckpt)  # intact: loads
    for name, load in (
        ("model.safetensors", load_surrogate),
        ("training_state.pt", load_training_state),
    ):
        data = bytearray((ckpt / name).read_bytes())
        data[-9] ^= 0x10  # one bit of a stored value: still a parseable file
        (ckpt / name).write_bytes(bytes(data))
        with pytest.raises(CheckpointError, match=f"{name}: content hash"):
            load(ckpt)
        data[-9] ^= 0x10
        (ckpt / name).write_bytes(bytes(data))
    assert main(["info", str(ckpt)]) == 0


# --- 7. a crash between the two renames of a save ----------------------------------------
def test_checkpoint_recovered_from_tmp_or_old(store, trained, tmp_path):
    out = _copy_run(trained, tmp_path)
    ckpt = out / "checkpoint"
    # crash after `path -> .old`, before `.tmp -> path`: .tmp is complete (step 10)
    shutil.copytree(ckpt, out / "checkpoint.old")
    ckpt.rename(out / "checkpoint.tmp")
    result = fit(recipe(store, out, optim__steps=12), progress=False)
    assert result.step == 12 and min(r["step"] for r in result.history) > 10  # resumed at 10
    assert not (out / "checkpoint.old").exists() and not (out / "checkpoint.tmp").exists()
    # the same crash with an incomplete .tmp: the previous checkpoint (.old) is recovered
    old_step = read_config(ckpt)["step"]
    ckpt.rename(out / "checkpoint.old")
    shutil.copytree(out / "checkpoint.old", out / "checkpoint.tmp")
    (out / "checkpoint.tmp" / "training_state.pt").write_bytes(b"cut short")
    assert recover(ckpt) == "old"
    assert read_config(ckpt)["step"] == old_step and not (out / "checkpoint.tmp").exists()


# --- 2. non-finite training stops, keeps the last good checkpoint, logs valid JSON -------
def test_non_finite_loss_stops_with_the_step_and_keeps_the_checkpoint(store, tmp_path):
    out = tmp_path / "run"
    fit(recipe(store, out, optim__steps=2), progress=False)
    good = (out / "checkpoint" / "model.safetensors").read_bytes()
    wild = recipe(
        store,
        out,
        optim__lr=1e4,
        optim__grad_clip=1e9,
        optim__warmup=1,
        optim__steps=40,
        train__log_every=1,
        train__checkpoint_every=1,
    )
    with pytest.raises(NonFiniteLoss, match=r"diverged at step (\d+): non-finite") as err:
        fit(wild, progress=False, resume=False)
    step = int(re.search(r"step (\d+)", str(err.value)).group(1))
    assert 2 <= step <= 40  # lr = 1e4: the first update already blows the weights up
    ckpt = out / "checkpoint"
    surrogate, config = load_surrogate(ckpt)
    assert config["step"] == step - 1  # the last step whose update was finite
    assert all(torch.isfinite(p).all() for p in surrogate.parameters())
    assert good != (ckpt / "model.safetensors").read_bytes()
    for line in (out / "metrics.jsonl").read_text().splitlines():
        json.loads(line, parse_constant=lambda c: pytest.fail(f"bare {c} in metrics.jsonl"))


# --- 3. a checkpoint is never relabelled backwards ---------------------------------------
@pytest.mark.parametrize("how", ["stop_after", "steps"])
def test_resume_at_or_past_the_end_leaves_the_checkpoint_untouched(store, trained, tmp_path, how):
    out = _copy_run(trained, tmp_path)
    ckpt = out / "checkpoint"
    before = {p.name: p.read_bytes() for p in ckpt.iterdir()}
    log = (out / "metrics.jsonl").read_text()
    if how == "stop_after":
        result = fit(recipe(store, out), progress=False, stop_after=4)
    else:
        result = fit(recipe(store, out, optim__steps=6), progress=False)
    assert result.nothing_to_do and result.step == 10
    assert any("already at step 10" in n and "nothing to do" in n for n in result.notes)
    assert {p.name: p.read_bytes() for p in ckpt.iterdir()} == before
    assert (out / "metrics.jsonl").read_text() == log


def _recipe_toml(tmp_path, store, out, width=8, device="cpu"):
    """The ``recipe()`` above as a TOML file, for the command line."""
    path = tmp_path / f"r-{width}-{device}.toml"
    path.write_text(
        f'[data]\nstore = "{store}"\nhistory = 2\nconditioning = ["dt", "length"]\n'
        f'[model]\nkind = "fno"\nmodes = 4\nwidth = {width}\nlayers = 1\n'
        "[optim]\nlr = 3e-3\nbatch_size = 4\nsteps = 10\nwarmup = 2\n"
        f'[train]\nout = "{out}"\neval_every = 5\nlog_every = 5\nseed = 1\neval_windows = 8\n'
        f'checkpoint_every = 5\ndevice = "{device}"\n'
    )
    return path


def test_cli_says_nothing_to_do(store, trained, tmp_path, capsys):
    out = _copy_run(trained, tmp_path)
    path = _recipe_toml(tmp_path, store, out)
    assert main(["train", str(path), "--quiet", "--stop-after", "3"]) == 0
    assert "checkpoint already at step 10 \u2265 3: nothing to do" in capsys.readouterr().out


# --- 6. a changed recipe on resume is listed and refused unless safe ---------------------
@pytest.mark.parametrize(
    "change,key",
    [
        ({"data__predict": "state"}, "data.predict"),
        ({"optim__lr": 1e-2}, "optim.lr"),
        ({"objective__kind": "one_step"}, "objective.kind"),
        ({"optim__batch_size": 2}, "optim.batch_size"),
    ],
)
def test_resume_refuses_an_unsafe_recipe_change(store, trained, tmp_path, change, key):
    out = _copy_run(trained, tmp_path)
    before = (out / "checkpoint" / "config.json").read_text()
    with pytest.raises(CheckpointError, match=rf"{re.escape(key)}: .* -> .*--restart"):
        fit(recipe(store, out, optim__steps=12, **change), progress=False)
    assert (out / "checkpoint" / "config.json").read_text() == before
    # --restart (resume=False) trains it from scratch
    assert fit(recipe(store, out, optim__steps=2, **change), progress=False, resume=False).step == 2


def test_resume_accepts_more_steps_and_says_so(store, trained, tmp_path):
    out = _copy_run(trained, tmp_path)
    result = fit(recipe(store, out, optim__steps=12, train__log_every=1), progress=False)
    assert result.step == 12
    assert "optim.steps: 10 -> 12" in result.notes and "train.log_every: 5 -> 1" in result.notes


# --- 4. damaged store chunks: missing, failing their checksum, implausible ----------------
def _chunk(store_path, split, name, traj):
    return store_path / split / name / "c" / str(traj) / "0" / "0"


def _damaged_copy(store, tmp_path, how):
    broken = tmp_path / "broken.zarr"
    shutil.copytree(store, broken)
    chunk = _chunk(broken, "train", "u", 1)
    if how == "deleted":
        chunk.unlink()
    elif how == "flipped":
        data = bytearray(chunk.read_bytes())
        data[len(data) // 2] ^= 0x04
        chunk.write_bytes(bytes(data))
    elif how == "truncated":
        chunk.write_bytes(chunk.read_bytes()[:20])
    elif how == "implausible":  # what a flipped exponent bit in an old, unchecked store gives
        zarr.open_array(str(broken / "train" / "u"))[1, 3, 5] = 1e30
    return broken


@pytest.mark.parametrize("how", ["deleted", "flipped", "truncated", "implausible"])
def test_damaged_chunks_are_refused_by_train_evaluate_and_info(
    store, trained, tmp_path, capsys, how
):
    broken = _damaged_copy(store, tmp_path, how)
    named = "train/u/c/1/0/0" if how != "implausible" else r"train/u of trajectories \[1\]"
    with pytest.raises(StoreError, match=named):
        fit(recipe(broken, tmp_path / "run"), progress=False)
    assert main(["info", str(broken)]) == 2
    assert re.search(named, capsys.readouterr().err)
    # evaluating on the damaged split is refused too (the intact store evaluates)
    rc = main(
        [
            "evaluate",
            str(trained / "checkpoint"),
            "--data",
            str(broken),
            "--split",
            "train",
            "--no-plots",
            "--out",
            str(tmp_path / "eval"),
        ]
    )
    assert rc == 2 and re.search(named, capsys.readouterr().err)
    assert not (tmp_path / "eval").exists()


def test_hdf5_chunks_carry_fletcher32(tmp_path):
    path = tmp_path / "ks.h5"
    spec = DatasetSpec.load(
        "ks_refiner/small", ["splits.train=2", "splits.valid=0", "splits.test=0"]
    )
    generate(spec, path, fmt="h5", progress=False)
    with h5py.File(path, "r") as f:
        assert f["train/u"].fletcher32
        offset = f["train/u"].id.get_chunk_info(1).byte_offset
    with open(path, "r+b") as f:  # flip one byte inside trajectory 1's chunk
        f.seek(offset + 100)
        b = f.read(1)
        f.seek(offset + 100)
        f.write(bytes([b[0] ^ 0x04]))
    with pytest.raises(StoreError, match=r"unreadable chunk train/u chunk \(1, 0, 0\)"):
        verify_split(open_store(path), "train")


# --- 1. HDF5 on a full disk: a clean error, and a store that resumes ---------------------
SMALL_K = ["--set", "time.spinup=0.1", "--set", "time.frames=10"]  # 40 kB per trajectory


def _generate_limited(out, limit):
    """``pdesurr generate`` in a child whose file-size limit is ``limit`` bytes (writes past
    it fail with EFBIG: SIGXFSZ is ignored, as a batch scheduler's limit would)."""

    def set_limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    args = [
        sys.executable,
        "-m",
        "pdesurr",
        "generate",
        "kolmogorov/small",
        "--out",
        str(out),
        "--quiet",
        *SMALL_K,
    ]
    return subprocess.run(args, capture_output=True, text=True, timeout=120, preexec_fn=set_limit)


def _same_data(a, b):
    sa, sb = open_store(a), open_store(b)
    try:
        for split in sa.splits:
            for name in (*sa.field_names, "complete", "forcing_amplitude"):
                assert np.array_equal(sa.read(split, name), sb.read(split, name)), (split, name)
    finally:
        sa.close()
        sb.close()


@pytest.fixture(scope="module")
def kolmogorov_h5(tmp_path_factory):
    path = tmp_path_factory.mktemp("ref") / "k.h5"
    spec = DatasetSpec.load("kolmogorov/small", [a for a in SMALL_K if a != "--set"])
    generate(spec, path, fmt="h5", progress=False)
    return path


def test_hdf5_file_size_limit_is_a_clean_error_and_resumes(kolmogorov_h5, tmp_path, capsys):
    out = tmp_path / "k.h5"
    run = _generate_limited(out, 280_000)  # the skeleton and the first batch fit, no more
    assert run.returncode == 5, run.stderr
    assert run.stderr.startswith("pdesurr: error: file size limit") and str(out) in run.stderr
    assert run.stderr.count("\n") == 1  # one line, no traceback
    store = open_store(out)  # still a valid store
    assert np.asarray(store.read("train", "complete")).all()  # the first batch is kept
    assert not np.asarray(store.read("valid", "complete")).any()
    store.close()
    # the limit lifted, the same command resumes, to the bytes of an uninterrupted run
    assert main(["generate", "kolmogorov/small", "--out", str(out), "--quiet", *SMALL_K]) == 0
    _same_data(out, kolmogorov_h5)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_hdf5_full_disk_is_a_clean_error_and_resumes(kolmogorov_h5, tmp_path, capsys):
    mnt = tmp_path / "small_disk"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        out = mnt / "k.h5"
        cmd = ["generate", "kolmogorov/small", "--out", str(out), "--quiet", *SMALL_K]
        # leave 560 kB: the first batch (4 x 40 kB + headroom) fits, the second does not
        (mnt / "ballast").write_bytes(b"\1" * (shutil.disk_usage(mnt).free - 560_000))
        assert main(cmd) == 5
        err = capsys.readouterr().err
        assert err.startswith("pdesurr: error: no space left on device while writing")
        assert str(out) in err and err.count("\n") == 1
        (mnt / "ballast").unlink()  # space freed: the same command resumes
        assert main(cmd) == 0
        _same_data(out, kolmogorov_h5)
    finally:
        subprocess.run(["umount", str(mnt)])


# --- 9. one line `pdesurr: error: ...`, a distinct exit code, nothing half-written --------
def _one_line_error(capsys, code, rc, pattern):
    err = capsys.readouterr().err
    assert rc == code, err
    assert err.startswith("pdesurr: error: ") and err.count("\n") == 1, err
    assert re.search(pattern, err), err


@pytest.fixture
def read_only_dir(tmp_path):
    """A directory nobody may write in: a read-only tmpfs for root, else mode 0o555."""
    path = tmp_path / "ro"
    path.mkdir()
    mounted = (
        os.geteuid() == 0
        and not subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(path)]
        ).returncode
    )
    if not mounted:
        if os.geteuid() == 0:
            pytest.skip("root, and no read-only mount possible")
        path.chmod(0o555)
    yield path
    if mounted:
        subprocess.run(["umount", str(path)])
    else:
        path.chmod(0o755)


KS = ["ks_refiner", "--steps", "4", "--set", "pde.resolution=32"]


def test_read_only_outputs_are_refused_before_any_work(
    store, trained, tmp_path, read_only_dir, capsys
):
    ro = read_only_dir
    cases = [
        ["simulate", *KS, "--out", str(ro / "x.zarr")],
        ["simulate", *KS, "--out", str(tmp_path / "s.zarr"), "--plot", str(ro / "p.png")],
        ["generate", "ks_refiner/small", "--out", str(ro / "d.zarr"), "--quiet"],
        [
            "generate",
            "ks_refiner/small",
            "--out",
            str(tmp_path / "d.zarr"),
            "--quiet",
            "--report",
            str(ro / "r.json"),
        ],
        ["train", str(_recipe_toml(tmp_path, store, ro / "run")), "--quiet"],
        ["evaluate", str(trained / "checkpoint"), "--data", str(store), "--out", str(ro / "e")],
        ["demo", "--out", str(ro / "demo")],
    ]
    for argv in cases:
        _one_line_error(capsys, 5, main(argv), rf"{re.escape(str(ro))}.*cannot write")
    assert not (tmp_path / "s.zarr").exists() and not (tmp_path / "d.zarr").exists()


def test_bad_inputs_are_one_line_errors(store, trained, kolmogorov_h5, tmp_path, capsys):
    bad_toml = tmp_path / "latin1.toml"
    bad_toml.write_bytes('[pde]\nkind = "kuramoto_sivashinsky" # caf\xe9\n'.encode("latin-1"))
    npz = tmp_path / "x.npz"
    np.savez(npz, u=np.zeros((1, 32)))
    ckpt = str(trained / "checkpoint")
    cases = [  # (argv, exit code, what the message must name)
        (["simulate", str(bad_toml), "--out", str(tmp_path / "a.zarr")], 2, "not UTF-8"),
        (
            ["simulate", *KS, "--initial", str(npz), "--out", str(tmp_path / "b.zarr")],
            2,
            r"x\.npz: an \.npz archive",
        ),
        (
            ["simulate", *KS, "--plot", str(tmp_path / "p.txt"), "--out", str(tmp_path / "c.zarr")],
            2,
            r"--plot .*p\.txt: unsupported file type",
        ),
        (
            ["simulate", *KS, "--device", "banana", "--out", str(tmp_path / "d.zarr")],
            2,
            "run.device = 'banana' is not a device",
        ),
        (
            [
                "generate",
                "ks_refiner/small",
                "--device",
                "banana",
                "--out",
                str(tmp_path / "e.zarr"),
            ],
            2,
            "--device = 'banana'",
        ),
        (
            ["train", str(_recipe_toml(tmp_path, store, tmp_path / "r1", device="banana"))],
            2,
            "train.device = 'banana'",
        ),
        (
            ["evaluate", ckpt, "--data", str(store), "--split", "nope"],
            2,
            r"--split 'nope': .* has splits",
        ),
        (["evaluate", ckpt, "--data", str(store), "--steps", "0"], 2, "--steps 0: must be >= 1"),
        (["evaluate", ckpt, "--data", str(store), "--context", "-1"], 2, "--context -1"),
        (
            ["evaluate", ckpt, "--data", str(kolmogorov_h5)],
            2,
            r"trained on fields \[\('u', 1\)\] in 1D; .* holds \[\('vorticity', 1\)\] in 2D",
        ),
        (
            [
                "train",
                str(_recipe_toml(tmp_path, store, _copy_run(trained, tmp_path), width=6)),
                "--quiet",
            ],
            2,
            "holds a different model .*--restart",
        ),
    ]
    if not torch.cuda.is_available():
        cases += [
            (
                ["simulate", *KS, "--device", "cuda", "--out", str(tmp_path / "f.zarr")],
                6,
                "no CUDA device",
            ),
            (
                [
                    "generate",
                    "ks_refiner/small",
                    "--device",
                    "cuda",
                    "--out",
                    str(tmp_path / "g.zarr"),
                ],
                6,
                "--device = 'cuda': no CUDA device",
            ),
            (
                ["train", str(_recipe_toml(tmp_path, store, tmp_path / "r2", device="cuda"))],
                6,
                "train.device = 'cuda': no CUDA device",
            ),
        ]
    for argv, code, pattern in cases:
        _one_line_error(capsys, code, main(argv), pattern)
    leftovers = [p.name for p in tmp_path.iterdir() if p.suffix == ".zarr" or p.name[:2] == "r2"]
    assert leftovers == [], leftovers  # nothing half-written


def test_ctrl_c_during_generate_says_how_to_resume(tmp_path, capsys, monkeypatch):
    from pdesurr.data import generate as generation

    real, calls = generation.simulate_batch, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    out = tmp_path / "k.h5"
    cmd = ["generate", "kolmogorov/small", "--out", str(out), "--quiet", *SMALL_K]
    monkeypatch.setattr(generation, "simulate_batch", interrupted)
    _one_line_error(capsys, 130, main(cmd), r"interrupted; run the same command to resume$")
    monkeypatch.setattr(generation, "simulate_batch", real)
    assert main(cmd) == 0
    assert "4 already complete" in capsys.readouterr().out


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs (root only): a disk that fills up."""
    path = tmp_path / "disk"
    path.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(path)]).returncode
    ):
        pytest.skip("mounting a small tmpfs needs root")
    yield path
    subprocess.run(["umount", str(path)])


def test_full_disk_in_simulate_and_checkpoint_saves(store, trained, small_disk, capsys):
    out = small_disk / "ks.zarr"
    ballast = small_disk / "ballast"
    ballast.write_bytes(b"\1" * (shutil.disk_usage(small_disk).free - 40_000))
    big = ["ks_refiner", "--steps", "200", "--set", "pde.resolution=1024"]  # ~1.6 MB of frames
    _one_line_error(
        capsys,
        5,
        main(["simulate", *big, "--out", str(out)]),
        "no space left on device while writing",
    )
    assert [p.name for p in small_disk.iterdir()] == ["ballast"]  # no store, no temporary
    ballast.unlink()
    run = small_disk / "run"
    shutil.copytree(trained, run, ignore=shutil.ignore_patterns("tensorboard"))
    (small_disk / "ballast").write_bytes(b"\1" * shutil.disk_usage(small_disk).free)
    rc = main(
        [
            "train",
            str(_recipe_toml(small_disk.parent, store, run)),
            "--quiet",
            "--set",
            "optim.steps=12",
        ]
    )
    _one_line_error(capsys, 5, rc, "no space left on device")
    assert read_config(run / "checkpoint")["step"] == 10  # the previous checkpoint is intact
    load_surrogate(run / "checkpoint")
    assert not (run / "checkpoint.tmp").exists()


# --- 10. parameter distributions checked against the PDE before any store exists --------
def test_parameter_bounds_are_validated_before_the_store(tmp_path, capsys):
    out = tmp_path / "ks.zarr"
    for dist, bad in (("{uniform=[-1.0,2.0]}", "-1.0"), ("{choice=[32.0,0.0]}", "0.0")):
        rc = main(
            [
                "generate",
                "ks_refiner/small",
                "--set",
                f"parameters.length={dist}",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        _one_line_error(capsys, 2, rc, rf"small\.toml: parameters\.length: .*can draw {bad}")
        assert not out.exists() and not list(tmp_path.iterdir())
    rc = main(
        [
            "generate",
            "ks_refiner/small",
            "--set",
            "parameters.length={uniform=[1.0,inf]}",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    _one_line_error(capsys, 2, rc, r"parameters\.length: uniform needs \[low, high\]")


# --- 12. a non-finite parameter is a validation error, not a divergence ------------------
def test_infinite_length_is_a_validation_error(tmp_path, capsys):
    for key in ("pde.length", "pde.length=[32.0, inf]", "initial.amplitude", "run.t_end"):
        sets = ["--set", key if "=" in key else f"{key}=inf", "--batch", "2"]
        rc = main(
            ["simulate", "ks_refiner", "--steps", "8", *sets, "--out", str(tmp_path / "x.zarr")]
        )
        _one_line_error(capsys, 2, rc, rf"{re.escape(key.split('=')[0])}: must be finite")
    assert not (tmp_path / "x.zarr").exists()


# --- 8. absurd sizes are refused by a memory estimate naming the keys --------------------
def test_absurd_resolutions_are_refused_naming_the_key(tmp_path, capsys):
    cases = [
        (["simulate", "ks_refiner", "--set", "pde.resolution=1000000000"], "pde.resolution"),
        (["simulate", "ns2d_kolmogorov", "--set", "pde.resolution=65536"], "pde.resolution"),
        (
            [
                "generate",
                "kolmogorov/small",
                "--set",
                # 512^2 alone fits any test machine (~0.5 GB); 10^5 trajectories (~2 TB) do not
                "solver.pde.resolution=512",
                "--set",
                "dataset.batch=100000",
            ],
            "solver.pde.resolution = 512 with dataset.batch",
        ),
    ]
    for argv, key in cases:
        rc = main([*argv, "--out", str(tmp_path / "x.zarr")])
        _one_line_error(capsys, 2, rc, rf"{re.escape(key)}.* needs about .* GiB .* available")
    assert not (tmp_path / "x.zarr").exists()
    # the estimate itself: KS at 2^21 points measured ~3.4 GB above the libraries
    need, points = estimate_bytes(PDES["kuramoto_sivashinsky"], {"resolution": 2**21}, 1, "float64")
    assert points == 2**21 and 3.4e9 < need < 2 * 3.4e9  # generous, but the same order


# --- 13. logs in a file: one plain line per log interval, the bar only on a terminal -----
def test_non_terminal_logs_are_plain_lines(store, tmp_path, capsys):
    path = _recipe_toml(tmp_path, store, tmp_path / "run")
    assert main(["train", str(path)]) == 0  # not --quiet; capsys is not a terminal
    captured = capsys.readouterr()
    assert "\r" not in captured.out + captured.err
    lines = [ln for ln in captured.out.splitlines() if ln.startswith("train step")]
    assert [ln.split()[2] for ln in lines] == ["5/10", "10/10"]  # log_every = 5
    assert all(len(ln) < 200 and "loss" in ln and "samples/s" in ln for ln in lines)

    class Terminal:
        def isatty(self):
            return True

    assert progress_mode(stream=Terminal()) == "bar" and progress_mode(quiet=True) is None


# --- 11. MPI: a hung producer is named at once; the job ends saved, summarised, resumable --
MPIEXEC = shutil.which("mpiexec") or str(Path(sys.executable).parent / "mpiexec")


@pytest.mark.mpi
def test_mpi_hung_producer_is_reported_saved_and_resumable(tmp_path):
    spec = ks_small_spec(tmp_path, frames=8, batch=3)
    valid = valid_store(spec)
    recipe_file = tmp_path / "r.toml"
    recipe_file.write_text(
        f'[data]\nstore = "{valid}"\nspec = "{spec}"\nhistory = 2\n'
        '[model]\nkind = "fno"\nmodes = 4\nwidth = 8\nlayers = 1\n'
        '[objective]\nkind = "one_step"\n[optim]\nbatch_size = 4\nsteps = 30\n'
        f'[train]\nout = "{tmp_path / "run"}"\neval_every = 30\nlog_every = 10\n'
        '[online]\ntrajectories = 6\nbuffer = "fifo"\ncapacity = 32\nwatermark = 4\n'
        'producer_timeout = 3.0\nfault = "kill:1:2"\n'  # producer 1 (rank 2) hangs, silent
    )
    cmd = [
        MPIEXEC,
        "-n",
        "3",
        sys.executable,
        "-m",
        "pdesurr",
        "train",
        str(recipe_file),
        "--quiet",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    out = r.stdout
    assert r.returncode == 4, out + r.stderr
    assert re.search(r"ranks: 0 trainer \(pid \d+ on .*\), 1 producer .*, 2 producer", out), out
    assert "producer rank 2 silent for more than 3 s: declared dead" in out, out
    assert "trained online to step" in out, out + r.stderr  # the summary, before the end
    assert re.search(
        r"producer rank 2 \(silent .*\) failed; checkpoint written to .*run the "
        r"same command to resume",
        out,
    ), out
    assert load_training_state(tmp_path / "run" / "checkpoint")["ledger"]["kind"] == "online"


# --- checkpoint formats: a reader per format, chosen by the directory ----------------------
def test_a_new_checkpoint_format_joins_as_one_reader(trained, tmp_path, monkeypatch, capsys):
    """A Hugging Face-style directory (config.json without "format", with model_type) is
    read by the reader that claims it; info and load_surrogate need no special case."""
    from pdesurr.checkpoints import readers as ck

    foreign = tmp_path / "hf"
    foreign.mkdir()
    ours = json.loads((trained / "checkpoint" / "config.json").read_text())
    shutil.copy(trained / "checkpoint" / "model.safetensors", foreign / "model.safetensors")
    (foreign / "config.json").write_text(json.dumps({"model_type": "toy", "pdesurr": ours}))
    with pytest.raises(CheckpointError, match=r"format None; known formats"):
        load_surrogate(foreign)
    reader = ck.Reader(
        claims=lambda raw: raw.get("model_type") == "toy",
        config=lambda path, raw: raw["pdesurr"],
        surrogate=ck.READERS[ck.FORMAT].surrogate,
    )
    monkeypatch.setitem(ck.READERS, "toy", reader)
    surrogate, config = load_surrogate(foreign)
    assert config["format"] == "toy"
    reference, _ = load_surrogate(trained / "checkpoint")
    assert all(
        torch.equal(a, b)
        for a, b in zip(
            surrogate.state_dict().values(), reference.state_dict().values(), strict=True
        )
    )
    assert main(["info", str(foreign)]) == 0 and "checkpoint" in capsys.readouterr().out


# --- 2 (online). the stream never delivers a window that overflows the stored dtype -------
def test_stream_never_delivers_non_finite_windows(tmp_path):
    from pdesurr.data.windows import WindowSpec
    from pdesurr.stream.producer import produce

    spec_file = tmp_path / "div.toml"
    spec_file.write_text(
        '[dataset]\nbatch = 2\n[splits]\ntrain = 4\n[solver]\npreset = "ns2d_decaying"\n'
        '[solver.pde]\nresolution = 16\n[solver.integrator]\nkind = "rk4"\ndt = 0.1\n'
        '[parameters]\nviscosity = { choice = [1e-3, 50.0] }\n[initial]\nkind = "random"\n'
        "[time]\nsave_interval = 0.2\nframes = 6\n"
    )
    spec = DatasetSpec.load(spec_file)
    events = list(produce(spec, "train", [(0, 2), (2, 4)], WindowSpec(history=1)))
    samples = [e[1] for e in events if e[0] == "sample"]
    assert samples and all(torch.isfinite(s.frames).all() for s in samples)
    nu = [spec.trajectory_parameters("train", i)[0]["viscosity"] for i in range(4)]
    diverged = {e[1] for e in events if e[0] == "diverged"}
    assert diverged == {i for i in range(4) if nu[i] > 1} != set()  # reported, not streamed


def test_a_schema_key_newer_than_the_checkpoint_is_no_recipe_change():
    # a checkpoint written before a recipe key existed resumes when the run keeps the key's
    # default; a changed value of that key is still refused
    from pdesurr.training.resume import recipe_changes, schema_defaults

    schema = {"optim": {"lr": (float, 1e-3), "lr_time": (float | None, None)}}
    saved = {"optim": {"lr": 1e-3}}
    defaults = schema_defaults(schema)
    assert recipe_changes(saved, {"optim": {"lr": 1e-3, "lr_time": None}}, defaults) == []
    assert recipe_changes(saved, {"optim": {"lr": 1e-3, "lr_time": 5e-4}}, defaults) == [
        ("optim.lr_time", None, 5e-4)
    ]
    missing = recipe_changes(saved, {"optim": {"lr": 1e-3, "lr_time": None}})
    assert [k for k, *_ in missing] == ["optim.lr_time"]  # without defaults: a difference
