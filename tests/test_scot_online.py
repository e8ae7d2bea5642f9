"""Poseidon's all2all pairs online: producers emit the offline pairs, the trainer sees the
lead times of the all2all enumeration (in-process transport)."""

from collections import Counter
from pathlib import Path

import pytest
import torch
from ks_small import ks_small_spec, valid_store

from pdesurr.data.generate import generate
from pdesurr.data.pairs import PairDataset, pair_offsets
from pdesurr.data.spec import DatasetSpec
from pdesurr.stream.pairs import PairSpec
from pdesurr.stream.producer import chunks_for, produce
from pdesurr.training.online import run_online
from pdesurr.training.online_batches import OnlineBatches
from pdesurr.training.recipe import Recipe

FRAMES, K, STEP = 8, 3, 2  # pairs from snapshots 0, 2, 4, 6 of 8: 10 per trajectory


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory):
    path = ks_small_spec(tmp_path_factory.mktemp("pairs_online"), train=4, frames=FRAMES, batch=2)
    return path, valid_store(path)


def test_producers_emit_the_offline_pairs(spec_file, tmp_path):
    path, _ = spec_file
    spec = DatasetSpec.load(path)
    store = tmp_path / "offline.zarr"
    generate(spec, store, progress=False)
    offline = PairDataset(store, "train", "all2all", K, STEP, conditioning=("length",))
    frames, cond = offline.batch(range(len(offline)))
    expected = {}
    for i in range(len(offline)):
        pos, a, _ = offline.locate(i)
        expected[(int(offline.trajectories[pos]), a, float(cond[i, 0]))] = (frames[i], cond[i])
    window = PairSpec("all2all", K, STEP, FRAMES - 1.0, ("length",))
    streamed = {}
    for event in produce(spec, "train", chunks_for(spec, "train", 4), window, skip={1: 4}):
        if event[0] == "sample":
            s = event[1]
            key = (s.trajectory, s.time_index, float(s.cond[0]))
            assert key not in streamed
            streamed[key] = (s.frames, s.cond)
    # trajectory 1's first 4 pairs (all starting at snapshot 0) were already received
    skipped = [k for k in expected if k[0] == 1 and k[1] == 0 and k not in streamed]
    assert len(skipped) == 4 and set(streamed) == set(expected) - set(skipped)
    for key, (f, c) in streamed.items():
        assert torch.equal(f, expected[key][0]), key  # bit for bit the store's snapshots
        assert torch.allclose(c, expected[key][1])  # lead time, then the length


def test_online_trainer_sees_the_all2all_lead_times(spec_file, tmp_path, monkeypatch):
    path, valid = spec_file
    raw = {
        "data": {"store": str(valid), "spec": str(path), "pairs": "all2all", "max_steps": K,
                 "step": STEP, "predict": "state"},
        "model": {"kind": "fno", "modes": 4, "width": 4, "layers": 1},
        "objective": {"kind": "one_step"},
        "optim": {"lr": 1e-3, "batch_size": 6, "steps": 1000},
        "train": {"out": str(tmp_path / "run"), "eval_every": 1000, "log_every": 5},
        "online": {"trajectories": 4, "producers": 2, "buffer": "fifo", "capacity": 24,
                   "watermark": 6},
    }  # fmt: skip
    seen = []
    real_next = OnlineBatches.next

    def spy(self, step):
        got = real_next(self, step)
        if got is not None:
            frames, cond = got
            assert frames.shape[1:3] == (2, 1) and cond.shape[1] == 1  # a pair, a lead time
            seen.extend(cond[:, 0].tolist())
        return got

    monkeypatch.setattr(OnlineBatches, "next", spy)
    result, ledger = run_online(Recipe.from_dict(raw), progress=False, log=lambda m: None)
    # FIFO: every pair of the 4 trajectories exactly once; lead (b - a) / (snapshots - 1)
    want = Counter(
        round((b - a) / (FRAMES - 1), 6)
        for _ in range(4)
        for a, b in pair_offsets("all2all", K, STEP)
    )
    assert Counter(round(x, 6) for x in seen) == want
    assert sum(want.values()) == 4 * (K + 1) * (K + 2) // 2
    assert ledger.done == set(range(4)) and all(n == 10 for n in ledger.received.values())
    assert result.step == 40 // 6 + 1  # the FIFO drains in ceil(40 / 6) batches


@pytest.mark.mpi
def test_mpi_producers_stream_pairs(spec_file, tmp_path):
    # the MPI transport carries a pair's two frames and its extra (lead time) scalar
    import os
    import shutil
    import subprocess
    import sys

    path, valid = spec_file
    file = tmp_path / "r.toml"
    file.write_text(f"""
[data]
store = "{valid}"
spec = "{path}"
pairs = "all2all"
max_steps = {K}
step = {STEP}
predict = "state"
[model]
kind = "fno"
modes = 4
width = 4
layers = 1
[objective]
kind = "one_step"
[optim]
batch_size = 6
steps = 1000
[train]
out = "{tmp_path / "run"}"
eval_every = 1000
log_every = 5
[online]
trajectories = 4
buffer = "fifo"
capacity = 24
watermark = 6
""")
    mpiexec = shutil.which("mpiexec") or str(Path(sys.executable).parent / "mpiexec")
    r = subprocess.run(
        [mpiexec, "-n", "3", sys.executable, "-m", "pdesurr", "train", str(file), "--quiet"],
        env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    # 4 trajectories x (K + 1)(K + 2) / 2 = 10 pairs, each received once
    assert "received 40 samples from 4 complete trajectories" in r.stdout, r.stdout


def test_pairs_stay_on_the_producers_device(monkeypatch):
    """A GPU producer's pairs are whole on its device, the lead time included (the ``meta``
    device stands for a GPU: a lead time made on the CPU could not join the cond there)."""
    import pdesurr.stream.producer as producer
    from pdesurr.stream.buffer import Sample
    from pdesurr.stream.pairs import produce_pairs

    window = PairSpec("all2all", K, STEP, FRAMES - 1.0, ("length",))
    snapshots = torch.zeros(window.span, 1, 16, device="meta")

    def fake_produce(*_args, **_kwargs):
        yield ("sample", Sample(snapshots, torch.zeros(1, device="meta"), 0, 0))
        yield ("done", 0)

    monkeypatch.setattr(producer, "produce", fake_produce)
    pairs = [e[1] for e in produce_pairs(None, "train", [], window, "meta") if e[0] == "sample"]
    assert len(pairs) == len(pair_offsets("all2all", K, STEP))
    assert {(p.frames.device.type, p.cond.device.type) for p in pairs} == {("meta", "meta")}
    assert {tuple(p.cond.shape) for p in pairs} == {(2,)}
