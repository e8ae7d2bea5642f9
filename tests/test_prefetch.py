"""Read-ahead from a store: the same batches in the same order, and threads that end."""

import multiprocessing
import threading

import pytest
import torch

from pdesurr.data.generate import generate
from pdesurr.data.prefetch import PrefetchedBatches, read_batch
from pdesurr.data.spec import DatasetSpec
from pdesurr.data.windows import WindowDataset
from pdesurr.training.distributed import SINGLE
from pdesurr.training.sampler import OfflineBatches

SETS = ["splits.train=4", "splits.valid=0", "splits.test=0", "time.frames=12"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("prefetch") / "ks.zarr"
    generate(DatasetSpec.load("ks_refiner/small", SETS), path, progress=False)
    return path


def dataset(store):
    return WindowDataset(store, "train", history=2, horizon=2, stride=2, conditioning=("dt",))


def test_read_batch_equals_window_by_window_reads(store):
    ds = dataset(store)
    idx = torch.randperm(len(ds), generator=torch.Generator().manual_seed(0))[:16].tolist()
    want = ds.batch(idx)
    for chunk_frames in (1, 4, 1000):  # no merging, some, whole trajectories
        got = read_batch(ds, idx, chunk_frames)
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])  # same bytes


@pytest.mark.parametrize("processes", [0, 1])  # reader threads, a reader process
def test_prefetched_batches_equal_the_unprefetched_ones_in_order(store, processes):
    ds = dataset(store)
    plain = OfflineBatches(ds, 8, 5, SINGLE)
    inner = OfflineBatches(ds, 8, 5, SINGLE)
    ahead = PrefetchedBatches(inner, depth=3, workers=2, processes=processes)
    try:
        steps = [*range(0, 12), *range(30, 34)]  # a jump, as a resumed run makes
        for s in steps:
            f0, c0 = plain.next(s)
            f1, c1 = ahead.next(s)
            assert torch.equal(f0, f1) and torch.equal(c0, c1), s
    finally:
        ahead.close()
    alive = [t for t in threading.enumerate() if t.name.startswith("pdesurr-prefetch")]
    assert not alive  # close() ended the reader threads
    assert not multiprocessing.active_children()  # and the reader processes


def test_fit_from_a_store_matches_fit_from_memory(store, tmp_path):
    import pdesurr.training.fit as fitmod
    from pdesurr.training.recipe import Recipe

    def run(out):
        d = {
            "data": {"store": str(store), "history": 2, "valid_split": "train"},
            "model": {"kind": "fno", "modes": 4, "width": 8, "layers": 1},
            "objective": {"kind": "one_step"},
            "optim": {"batch_size": 4, "steps": 6, "warmup": 1},
            "train": {"out": str(out), "log_every": 1, "eval_every": 6, "eval_windows": 8},
        }
        return fitmod.fit(Recipe.from_dict(d, "test"), progress=False, resume=False)

    memory = run(tmp_path / "memory")
    saved = fitmod.IN_MEMORY_LIMIT
    fitmod.IN_MEMORY_LIMIT = 0  # read per batch: the prefetched path
    try:
        stored = run(tmp_path / "store")
    finally:
        fitmod.IN_MEMORY_LIMIT = saved
    loss = lambda r: [h["loss"] for h in r.history if "loss" in h]  # noqa: E731
    assert loss(stored) == pytest.approx(loss(memory), rel=1e-6)  # same batches, same math
