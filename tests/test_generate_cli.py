"""`pdesurr generate` from the command line, on one process and under mpiexec."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from pdesurr.cli import main
from pdesurr.data.store import open_store

SPEC = """
[dataset]
seed = 12
batch = 2
[splits]
train = 7
test = 3
[solver]
preset = "ks_refiner"
[solver.pde]
resolution = 32
[solver.integrator]
dt = 0.1
[parameters]
length = { uniform = [30.0, 34.0] }
[initial]
kind = "random_sines"
[time]
spinup = 0.5
save_interval = 0.5
frames = 5
"""

MPIEXEC = shutil.which("mpiexec") or str(Path(sys.executable).parent / "mpiexec")


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "spec.toml"
    path.write_text(SPEC)
    return path


def mpirun(n, *args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [MPIEXEC, "-n", str(n), sys.executable, "-m", "pdesurr", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def same_store(a, b, fmt):
    sa, sb = open_store(a), open_store(b)
    for split in ("train", "test"):
        for name in ("u", "length", "seed", "complete", "diverged"):
            assert np.array_equal(sa.read(split, name), sb.read(split, name)), (split, name)
        assert sa.statistics(split) == sb.statistics(split)
    assert sa.attrs["fingerprint"] == sb.attrs["fingerprint"]


def test_generate_and_info_single_process(spec_file, tmp_path, capsys):
    out = tmp_path / "one.zarr"
    assert main(["generate", str(spec_file), "--out", str(out), "--quiet"]) == 0
    assert "10 trajectories simulated" in capsys.readouterr().out
    assert xr.open_zarr(out, group="train")["u"].shape == (7, 5, 32)
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "kuramoto_sivashinsky" in text and "train: 7/7 complete" in text
    # again: nothing left to do
    assert main(["generate", str(spec_file), "--out", str(out), "--quiet"]) == 0
    assert "0 trajectories simulated (10 already complete" in capsys.readouterr().out


def test_generate_errors_are_one_line(spec_file, tmp_path, capsys):
    out = tmp_path / "s.zarr"
    assert main(["generate", str(spec_file), "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    code = main(["generate", str(spec_file), "--out", str(out), "--set", "dataset.seed=13"])
    assert code == 2 and "different spec" in capsys.readouterr().err
    code = main(["generate", str(spec_file), "--out", str(out), "--set", "time.franes=3"])
    assert code == 2 and "time.franes" in capsys.readouterr().err
    assert main(["info", str(tmp_path / "nothing")]) == 2


@pytest.mark.mpi
@pytest.mark.parametrize("fmt", ["zarr", "h5"])
def test_same_bytes_on_1_and_3_ranks(spec_file, tmp_path, fmt):
    one, three = tmp_path / f"one.{fmt}", tmp_path / f"three.{fmt}"
    r = mpirun(1, "generate", str(spec_file), "--out", str(one), "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = mpirun(3, "generate", str(spec_file), "--out", str(three), "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "on 3 rank(s)" in r.stdout
    same_store(one, three, fmt)


@pytest.mark.mpi
def test_resume_on_2_ranks_after_kill(spec_file, tmp_path):
    ref = tmp_path / "ref.zarr"
    assert main(["generate", str(spec_file), "--out", str(ref), "--quiet"]) == 0
    out = tmp_path / "resumed.zarr"
    r = mpirun(2, "generate", str(spec_file), "--out", str(out), "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    # simulate a job killed mid-run: two trajectories lost their flags (and part of their data)
    store = open_store(out, "r+")
    for i in (2, 5):
        store.set("train", "complete", i, False)
        store.set("train", "u", i, np.zeros((5, 32), np.float32))
    r = mpirun(2, "generate", str(spec_file), "--out", str(out), "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "4 trajectories simulated (6 already complete" in r.stdout  # two batches of 2
    same_store(ref, out, "zarr")
