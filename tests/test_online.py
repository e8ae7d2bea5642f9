"""Online training: the stream's content, faults, resume, and the MPI transport."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from ks_small import ks_small_spec, valid_store

from pdesurr.data.generate import generate
from pdesurr.data.spec import DatasetSpec
from pdesurr.data.windows import WindowDataset, WindowSpec
from pdesurr.stream.producer import chunks_for, produce
from pdesurr.training import online_batches
from pdesurr.training.online import run_online
from pdesurr.training.recipe import Recipe

SETS = ["splits.train=6", "splits.valid=2", "splits.test=0", "time.frames=8", "dataset.batch=3"]


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory):
    """A small KS spec as a file (producers and the held-out store read the same one)."""
    path = ks_small_spec(tmp_path_factory.mktemp("online"), train=6, frames=8, batch=3)
    return path, valid_store(path)


def recipe(spec_file, out, **online):
    path, valid = spec_file
    return Recipe.from_dict(
        {
            "data": {
                "store": str(valid),
                "spec": str(path),
                "history": 2,
                "conditioning": ["dt", "length"],
            },
            "model": {"kind": "fno", "modes": 8, "width": 12, "layers": 2},
            "objective": {"kind": "one_step"},
            "optim": {"lr": 3e-3, "batch_size": 8, "steps": 60, "warmup": 3},
            "train": {"out": str(out), "eval_every": 20, "log_every": 10},
            "online": {
                "trajectories": 6,
                "producers": 2,
                "buffer": "fifo",
                "capacity": 64,
                "watermark": 8,
                **online,
            },
        },
        "online-test",
    )


def test_stream_carries_exactly_the_offline_store(spec_file, tmp_path):
    path, _ = spec_file
    spec = DatasetSpec.load(path)
    store = tmp_path / "offline.zarr"
    generate(spec, store, progress=False)
    offline = WindowDataset(store, "train", history=2, horizon=2, conditioning=("dt", "length"))
    expected = {}
    for i in range(len(offline)):
        s = offline[i]
        expected[(int(s["trajectory"]), int(s["time_index"]))] = (offline.window(i), s["cond"])
    streamed = {}
    window = WindowSpec(2, 2, 1, ("dt", "length"))
    for event in produce(spec, "train", chunks_for(spec, "train", 6), window):
        if event[0] == "sample":
            s = event[1]
            streamed[(s.trajectory, s.time_index)] = (s.frames, s.cond)
    assert streamed.keys() == expected.keys()
    for key, (frames, cond) in expected.items():
        assert torch.equal(streamed[key][0], frames), key  # bit for bit
        assert torch.allclose(streamed[key][1], cond)


def test_online_training_end_to_end(spec_file, tmp_path, monkeypatch):
    # fresh trajectories beyond the stored split: the stream is not limited to a dataset
    r = recipe(spec_file, tmp_path / "run", trajectories=60)
    r.data["predict"] = "state"  # a loss that starts high, so its fall is unambiguous
    trained = []  # what the trainer batched, counted outside the ledger
    real_collate = online_batches.collate_inputs

    def collate(samples):
        trained.extend((s.trajectory, s.time_index) for s in samples)
        return real_collate(samples)

    monkeypatch.setattr(online_batches, "collate_inputs", collate)
    result, ledger = run_online(r, progress=False, log=lambda m: None)
    # FIFO: every window of the 60 trajectories (8 frames, span 3) trained on exactly once
    assert sorted(trained) == [(i, t) for i in range(60) for t in range(8 - 3 + 1)]
    losses = [h["loss"] for h in result.history if "loss" in h]
    assert len(losses) >= 3 and losses[-1] < 0.5 * losses[0], losses
    assert ledger.done == set(range(60)) and not ledger.dead
    assert all(n == 8 - 3 + 1 for n in ledger.received.values())  # every window, exactly once
    last = result.history[-1]
    assert {"received", "buffer_fill", "reuse_mean", "idle_fraction"} <= set(last)
    assert np.isfinite(last["valid_loss"])


def test_killed_producer_is_noticed_and_training_goes_on(spec_file, tmp_path):
    messages = []
    result, ledger = run_online(
        recipe(spec_file, tmp_path / "run", fault="kill:0:5"), progress=False, log=messages.append
    )
    assert 0 in ledger.dead and "killed" in ledger.dead[0]
    assert any("producer 0 died" in m for m in messages)
    # producer 1 delivered its chunk (trajectories 3..5) completely
    assert {3, 4, 5} <= ledger.done
    assert result.checkpoint is not None and result.checkpoint.exists()


def test_divergent_trajectories_are_reported(tmp_path):
    spec = tmp_path / "div.toml"
    spec.write_text("""
[dataset]
batch = 2
[splits]
train = 4
valid = 1
[solver]
preset = "ns2d_decaying"
[solver.pde]
resolution = 16
[solver.integrator]
kind = "rk4"
dt = 0.1
[parameters]
viscosity = { choice = [1e-3, 50.0] }
[initial]
kind = "random"
[time]
save_interval = 0.2
frames = 6
""")
    valid = tmp_path / "valid.zarr"
    generate(DatasetSpec.load(spec, ["splits.train=0"]), valid, progress=False)
    r = Recipe.from_dict(
        {
            "data": {"store": str(valid), "spec": str(spec), "history": 1},
            "model": {"kind": "fno", "modes": 4, "width": 8, "layers": 1},
            "objective": {"kind": "one_step"},
            "optim": {"steps": 10, "batch_size": 4},
            "train": {"out": str(tmp_path / "run"), "eval_every": 10},
            "online": {"trajectories": 4, "buffer": "fifo", "capacity": 32, "watermark": 4},
        }
    )
    messages = []
    result, ledger = run_online(r, progress=False, log=messages.append)
    nu = [
        DatasetSpec.load(spec).trajectory_parameters("train", i)[0]["viscosity"] for i in range(4)
    ]
    assert set(ledger.diverged) == {i for i in range(4) if nu[i] > 1} != set()
    assert ledger.done == {i for i in range(4) if nu[i] < 1}
    assert any("diverged" in m for m in messages)


def test_resume_neither_repeats_nor_skips(spec_file, tmp_path):
    def make():
        return recipe(
            spec_file, tmp_path / "run", producers=1, capacity=16, watermark=8, trajectories=30
        )

    first, ledger1 = run_online(make(), progress=False, stop_after=4, log=lambda m: None)
    assert first.step == 4 and len(ledger1.done) < 30  # stopped while the stream was flowing
    messages = []
    second, ledger2 = run_online(make(), progress=False, log=messages.append)
    assert any("resuming" in m for m in messages)
    assert ledger2.done == set(range(30))
    # every window of every trajectory arrived exactly once over the two runs
    assert all(n == 6 for n in ledger2.received.values()), ledger2.received


MPIEXEC = shutil.which("mpiexec") or str(Path(sys.executable).parent / "mpiexec")


def write_recipe(spec_file, tmp_path, **online) -> Path:
    path, valid = spec_file
    n_traj = online.pop("trajectories", 6)
    extra = "\n".join(f"{k} = {v!r}".replace("'", '"') for k, v in online.items())
    text = f"""
[data]
store = "{valid}"
spec = "{path}"
history = 2
conditioning = ["dt", "length"]
[model]
kind = "fno"
modes = 8
width = 12
layers = 2
[objective]
kind = "one_step"
[optim]
batch_size = 8
steps = 40
[train]
out = "{tmp_path / "run"}"
eval_every = 20
log_every = 10
[online]
trajectories = {n_traj}
buffer = "fifo"
capacity = 64
watermark = 8
{extra}
"""
    file = tmp_path / "r.toml"
    file.write_text(text)
    return file


def mpi_train(ranks: int, file: Path, *extra: str) -> subprocess.CompletedProcess:
    """``mpiexec -n RANKS pdesurr train FILE --quiet EXTRA``, one thread per rank."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        MPIEXEC,
        "-n",
        str(ranks),
        sys.executable,
        "-m",
        "pdesurr",
        "train",
        str(file),
        "--quiet",
    ]
    return subprocess.run([*cmd, *extra], env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.mpi
def test_mpi_online_training_three_ranks(spec_file, tmp_path):
    r = mpi_train(3, write_recipe(spec_file, tmp_path))
    assert r.returncode == 0, r.stderr
    assert "received 36 samples from 6 complete trajectories" in r.stdout  # 6 x 6 windows
    # windows of 3 x 64 floats are copied out on arrival: no shared memory for them
    why = "through messages (samples under 4096 bytes are copied out)"
    assert f"bundles of producer ranks 1, 2 {why}" in r.stdout, r.stdout


@pytest.mark.mpi
def test_mpi_online_training_through_shared_memory(tmp_path_factory, tmp_path):
    # windows of 3 x 512 floats (6 KiB): the producers on this node pack them into memory
    # the trainer maps, and each window still arrives exactly once
    path = ks_small_spec(tmp_path_factory.mktemp("shm"), train=6, frames=8, batch=3, resolution=512)
    r = mpi_train(3, write_recipe((path, valid_store(path)), tmp_path))
    assert r.returncode == 0, r.stderr
    assert "bundles of producer ranks 1, 2 through shared memory" in r.stdout, r.stdout
    assert "received 36 samples from 6 complete trajectories" in r.stdout


@pytest.mark.mpi
def test_mpi_dead_producer_stops_cleanly_with_checkpoint(spec_file, tmp_path):
    r = mpi_train(3, write_recipe(spec_file, tmp_path, fault="kill:1:2", producer_timeout=3.0))
    assert "producer rank 2 died" in r.stdout, r.stdout + r.stderr
    assert (tmp_path / "run" / "checkpoint" / "model.safetensors").exists()


@pytest.mark.mpi
def test_mpi_two_trainers_ddp_and_resume(spec_file, tmp_path):
    # 4 ranks: 2 trainers (DDP) + 2 producers; stopped at step 2, then resumed
    file = write_recipe(spec_file, tmp_path, trainers=2, trajectories=12)
    r = mpi_train(4, file, "--stop-after", "2")
    assert r.returncode == 0, r.stderr
    r = mpi_train(4, file)
    assert r.returncode == 0, r.stderr
    # every window of the 12 trajectories arrived exactly once over both runs
    assert "received 72 samples from 12 complete trajectories" in r.stdout, r.stdout
    from pdesurr.checkpoints.files import load_training_state

    state = load_training_state(tmp_path / "run" / "checkpoint")["ledger"]
    assert len(state["trainers"]) == 2
