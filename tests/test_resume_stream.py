"""Online training interrupted mid-stream and resumed: every window is trained on exactly
once across the interruption, counted independently of the ledger.

The expected windows come from the spec alone (``frames - span + 1`` per trajectory, with
``span = (history + horizon - 1) * stride + 1``). Spies record, outside the code under
test, what the producers yielded and what the trainer collated into its batches; the
ledger's own counts are never the evidence. In-process (threads) for each buffer kind, and
under ``mpiexec -n 3`` (one trainer, two producer ranks) through a driver script that
installs the same spies in every rank.
"""

import json
import os
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest
from ks_small import ks_small_spec, valid_store

from pdesurr.data.spec import DatasetSpec
from pdesurr.stream import local
from pdesurr.training import online, online_batches
from pdesurr.training.recipe import Recipe

FRAMES, HISTORY, HORIZON, STRIDE, N_TRAJ = 8, 2, 1, 1, 24
SPAN = (HISTORY + HORIZON - 1) * STRIDE + 1
EXPECTED = {(i, t) for i in range(N_TRAJ) for t in range(FRAMES - SPAN + 1)}  # 24 x 6 windows


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory):
    path = ks_small_spec(tmp_path_factory.mktemp("resume"), frames=FRAMES, batch=3)
    assert DatasetSpec.load(path).frames == FRAMES
    return path, valid_store(path)


def make_recipe(spec_file, out, buffer, steps):
    path, valid = spec_file
    return Recipe.from_dict(
        {
            "data": {"store": str(valid), "spec": str(path), "history": HISTORY},
            "model": {"kind": "fno", "modes": 4, "width": 8, "layers": 1},
            "objective": {"kind": "one_step"},
            "optim": {"lr": 1e-3, "batch_size": 8, "steps": steps, "warmup": 1},
            "train": {"out": str(out), "eval_every": 1000, "log_every": 1000},
            "online": {
                "trajectories": N_TRAJ,
                "producers": 2,
                "buffer": buffer,
                "capacity": 16,
                "watermark": 8,
                "when_done": "stop",  # the stream's end ends the run (reservoir too)
            },
        },
        "resume-test",
    )


class Spies:
    """What the producers yielded and what the trainer trained on, per run."""

    def __init__(self, monkeypatch):
        self.sent: list[tuple[int, int]] = []
        self.trained: list[tuple[int, int]] = []
        real_collate, real_produce = online_batches.collate_inputs, local.produce

        def collate(samples):
            self.trained.extend((s.trajectory, s.time_index) for s in samples)
            return real_collate(samples)

        def produce(*args, **kwargs):
            for event in real_produce(*args, **kwargs):
                if event[0] == "sample":
                    self.sent.append((event[1].trajectory, event[1].time_index))
                yield event

        monkeypatch.setattr(online_batches, "collate_inputs", collate)
        monkeypatch.setattr(local, "produce", produce)

    def take(self):
        out = (list(self.sent), list(self.trained))
        self.sent.clear()
        self.trained.clear()
        return out


# 0.5 s each: a deadlocked buffer fails in seconds instead of hanging the run (mutation testing)
@pytest.mark.timeout(10)
@pytest.mark.parametrize("buffer", ["fifo", "firo", "reservoir"])
def test_interrupted_run_trains_every_window_once(spec_file, tmp_path, monkeypatch, buffer):
    spies = Spies(monkeypatch)
    # reservoir re-uses samples: give it steps enough that the stream, not the budget, ends
    steps = 100_000 if buffer == "reservoir" else 1000
    first, _ = online.run_online(
        make_recipe(spec_file, tmp_path / "run", buffer, steps),
        progress=False,
        stop_after=3,
        log=lambda m: None,
    )
    sent1, trained1 = spies.take()
    assert first.step == 3 and len(trained1) == 3 * 8
    # the stop came mid-stream: producers had not sent everything (the buffer holds 16)
    assert len(set(sent1)) < len(EXPECTED) // 2, len(set(sent1))
    messages = []
    online.run_online(
        make_recipe(spec_file, tmp_path / "run", buffer, steps),
        progress=False,
        log=messages.append,
    )
    sent2, trained2 = spies.take()
    assert any("resuming" in m for m in messages)
    # nothing already trained on is simulated into a window again
    assert not set(sent2) & set(trained1), sorted(set(sent2) & set(trained1))[:5]
    both = Counter(trained1 + trained2)
    assert set(both) == EXPECTED, sorted(EXPECTED - set(both))[:5]
    if buffer == "reservoir":
        # re-use is the policy; but a window is never trained in both runs unless it was
        # restored from the checkpoint's buffer (the second run's only source of old ones)
        assert set(trained2) - set(sent2) <= set(sent1)
    else:
        assert max(both.values()) == 1, [w for w, n in both.items() if n > 1][:5]


DRIVER = textwrap.dedent(
    """
    # a pdesurr train run with spies on what each rank produces and trains on
    import json, os, sys
    from mpi4py import MPI
    import pdesurr.stream.mpi as smpi
    import pdesurr.training.online_batches as online_batches
    from pdesurr.cli import main

    log = open(os.path.join(sys.argv[1], f"rank{MPI.COMM_WORLD.Get_rank()}.jsonl"), "a")
    real_collate, real_produce = online_batches.collate_inputs, smpi.produce

    def collate(samples):
        for s in samples:
            log.write(json.dumps(["trained", s.trajectory, s.time_index]) + "\\n")
        log.flush()
        return real_collate(samples)

    def produce(*args, **kwargs):
        for event in real_produce(*args, **kwargs):
            if event[0] == "sample":
                log.write(json.dumps(["sent", event[1].trajectory, event[1].time_index]) + "\\n")
                log.flush()
            yield event

    online_batches.collate_inputs, smpi.produce = collate, produce
    code = main(sys.argv[2:])
    log.close()
    sys.exit(code)
    """
)


def _events(folder: Path, kind: str) -> list[tuple[int, int]]:
    out = []
    for f in sorted(folder.glob("rank*.jsonl")):
        for line in f.read_text().splitlines():
            k, traj, t = json.loads(line)
            if k == kind:
                out.append((traj, t))
    return out


@pytest.mark.mpi
def test_mpi_interrupted_run_trains_every_window_once(spec_file, tmp_path):
    from test_online import MPIEXEC  # the one mpiexec helper of the online tests

    path, valid = spec_file
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        f"""
[data]
store = "{valid}"
spec = "{path}"
history = {HISTORY}
[model]
kind = "fno"
modes = 4
width = 8
layers = 1
[objective]
kind = "one_step"
[optim]
batch_size = 8
steps = 1000
[train]
out = "{tmp_path / "run"}"
eval_every = 1000
log_every = 1000
[online]
trajectories = {N_TRAJ}
buffer = "fifo"
capacity = 16
watermark = 8
"""
    )
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    runs = []
    for i, extra in enumerate((["--stop-after", "3"], [])):
        logs = tmp_path / f"logs{i}"
        logs.mkdir()
        cmd = [MPIEXEC, "-n", "3", sys.executable, str(driver), str(logs), "train", str(recipe)]
        r = subprocess.run(
            [*cmd, "--quiet", *extra], env=env, capture_output=True, text=True, timeout=150
        )
        assert r.returncode == 0, r.stdout + r.stderr
        runs.append((_events(logs, "sent"), _events(logs, "trained")))
    (sent1, trained1), (sent2, trained2) = runs
    assert len(trained1) == 3 * 8
    # credits and a 16-sample buffer throttle the producers: the first run stopped mid-stream
    assert len(set(sent1)) < len(EXPECTED), len(set(sent1))
    assert not set(sent2) & set(trained1)
    both = Counter(trained1 + trained2)
    assert set(both) == EXPECTED, sorted(EXPECTED - set(both))[:5]
    assert max(both.values()) == 1, [w for w, n in both.items() if n > 1][:5]
