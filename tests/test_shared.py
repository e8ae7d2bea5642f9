"""Bundles through shared memory (pdesurr.stream.shared): the segment, the handshake's
checks, lending and release, the producer's slot rules, and the MPI transport end to end."""

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pdesurr.stream.bundle import BYE, BundleWriter, max_bytes, read_bundle, split_events
from pdesurr.stream.bundled import BundleSender, _samples
from pdesurr.stream.shared import (
    OFFER,
    PAGE,
    REF,
    REF_MAGIC,
    SharedBundles,
    SharedSlots,
    map_offer,
)

HERE = Path(__file__).parent


def test_slots_are_page_aligned_disjoint_and_taken_lowest_first():
    s = SharedSlots(4, 5000)
    assert s.stride == 8192  # 5000 bytes rounded up to pages
    starts = [s.slot(k).ctypes.data - s.mem.ctypes.data for k in range(4)]
    assert starts == [PAGE + 8192 * k for k in range(4)]
    assert all(len(s.slot(k)) == 5000 for k in range(4))
    assert [s.take() for _ in range(5)] == [0, 1, 2, 3, None]
    s.release([2, 0])
    assert s.take() == 0 and s.take() == 2  # the lowest free first: few slots ever touched
    with pytest.raises(ValueError, match=r"^release of slot 1: not a slot in use"):
        s.release([3, 1, 1])  # 3 is released, then 1 twice
    with pytest.raises(ValueError, match=r"release of slot 4: not a slot in use \(0 \.\. 3\)"):
        s.release([4])


def test_offer_maps_the_same_memory_and_checks_host_nonce_and_size():
    s = SharedSlots(5, 3000)
    pid, fd, slots, nbytes, nonce, host = OFFER.unpack(s.offer())
    assert (pid, fd, slots, nbytes) == (os.getpid(), s.fd, 5, 3000) and nonce == s.nonce
    view, why = map_offer(s.offer(), 3000, ring=3)
    assert why == "" and isinstance(view, SharedBundles) and view.lend_limit == 2
    s.slot(3)[:6] = np.frombuffer(b"pdesur", np.uint8)  # the producer writes ...
    k, b = view.bundle(REF.pack(REF_MAGIC, 3, 6))
    assert k == 3 and b.tobytes() == b"pdesur"  # ... the trainer reads it, no copy
    other_host = OFFER.pack(pid, fd, slots, nbytes, nonce, b"elsewhere")
    assert map_offer(other_host, 3000, 3) == (None, "another node")
    wrong_nonce = OFFER.pack(pid, fd, slots, nbytes, bytes(16), host)
    why = "the segment is not the producer's (nonce differs)"
    assert map_offer(wrong_nonce, 3000, 3) == (None, why)
    assert map_offer(bytes(OFFER.size), 3000, 3) == (None, "the producer offered no segment")
    small = map_offer(s.offer(), 3001, 3)[1]
    assert small == "a segment of 5 slots of 3000 bytes is too small"
    assert map_offer(s.offer(), 3000, 5)[1].endswith("too small")  # no slot beyond the ring
    no_fd = OFFER.pack(pid, 10**6, slots, nbytes, nonce, host)
    assert map_offer(no_fd, 3000, 3)[1].startswith("cannot open the producer's segment")
    s.close_fd()
    assert s.fd == -1 and view.bundle(REF.pack(REF_MAGIC, 3, 6))[1].tobytes() == b"pdesur"


def test_every_slot_reads_back_through_the_trainers_view():
    s = SharedSlots(5, 5000)  # slots of two pages: a slot's offset is PAGE + 8192 k
    view, _ = map_offer(s.offer(), 5000, ring=3)
    assert view.copied == 0 and view.lent == 0
    for k in range(5):
        s.slot(k)[:] = k + 1
    for k in range(5):
        got, b = view.bundle(REF.pack(REF_MAGIC, k, 5000))  # a bundle may fill its slot
        assert got == k and len(b) == 5000 and np.all(b == k + 1)
        assert b.ctypes.data - view.mem.ctypes.data == PAGE + 8192 * k


@pytest.mark.parametrize(
    "ref,msg",
    [
        (REF.pack(0x42534450, 0, 10), r"magic 0x42534450"),
        (REF.pack(REF_MAGIC, 4, 10), r"slot 4 of 4"),
        (REF.pack(REF_MAGIC, 0, 3001), r"3001 bytes of 3000"),
    ],
)
def test_bad_references_are_refused(ref, msg):
    view, _ = map_offer(SharedSlots(4, 3000).offer(), 3000, 2)
    with pytest.raises(ValueError, match=msg):
        view.bundle(ref)


def _pack(writer, n, shape, seed):
    rng = np.random.default_rng(seed)
    sent = [rng.standard_normal(shape).astype(np.float32) for _ in range(n)]
    for i, f in enumerate(sent):
        writer.sample(7, i, np.array([i], np.float32), f)
    return sent


def test_lent_samples_view_the_segment_and_release_their_slot_when_gone():
    shape, n = (1, 1, 1024), 4
    floats = 1 + 1024
    s = SharedSlots(4, max_bytes(n, floats))  # ring 3: one slot may be lent
    view, _ = map_offer(s.offer(), max_bytes(n, floats), ring=3)
    w = BundleWriter(n, floats, 1)
    sent = _pack(w, n, shape, 0)
    k = s.take()
    msg = w.finish(s.slot(k))  # packed straight into the slot
    _, bundle = view.bundle(REF.pack(REF_MAGIC, k, len(msg)))
    frames, cond, events = read_bundle(bundle, len(bundle), floats, 1)
    sampled, _ = split_events(events, n)
    out = _samples(*view.lend(k, bundle, n, floats, 1, shape), sampled)
    lo, hi = view.mem.ctypes.data, view.mem.ctypes.data + len(view.mem)
    for i, x in enumerate(out):
        np.testing.assert_array_equal(x.frames.numpy(), sent[i])  # exact: the same bytes
        assert lo <= x.frames.data_ptr() < hi  # a view of the segment, not a copy
    assert view.lent == 1 and view.take_released() == [] and not view.can_lend()
    kept = out[1]
    del out, x
    gc.collect()
    assert view.take_released() == []  # one held sample pins the slot
    del kept
    assert view.take_released() == [k] and view.lent == 0 and view.can_lend()
    a = view.lend(0, bundle, n, floats, 1, shape)
    b = view.lend(1, bundle, n, floats, 1, shape)  # two slots pinned at once
    assert view.lent == 2
    del a
    assert view.take_released() == [0] and view.lent == 1
    del b
    assert view.take_released() == [1] and view.lent == 0


class _Comm:
    def __init__(self):
        self.sent = []

    def Send(self, buf, dest, tag):
        data = buf[0]
        self.sent.append(data if isinstance(data, bytes) else np.asarray(data).tobytes())


def _sender(slots, wait, stopping, floats=1025, credits=16):
    return BundleSender(_Comm(), 0, 25, floats, 1, credits, slots=slots, wait=wait,
                        stopping=stopping)  # fmt: skip


def test_producer_packs_into_the_lowest_free_slot_and_sends_a_reference():
    shape, floats = (1, 1, 1024), 1025
    slots = SharedSlots(4, max_bytes(4, floats))
    snd = _sender(slots, wait=None, stopping=lambda: False)
    assert snd.writer.max_samples == 4 and len(snd.writers) == 1 and not snd.big
    for _ in range(2):  # two full bundles: slots 0 then 1
        sent = _pack(snd.writer, 3, shape, 1)
        snd.flush()
    refs = [REF.unpack(m) for m in snd.comm.sent]
    assert [r[:2] for r in refs] == [(REF_MAGIC, 0), (REF_MAGIC, 1)]
    frames, _, events = read_bundle(slots.slot(1), refs[1][2], floats, 1)
    np.testing.assert_array_equal(frames.reshape(3, *shape), np.stack(sent))
    assert slots.take() == 2


def test_producer_waits_for_a_release_and_sends_bytes_only_when_stopping():
    shape, floats = (1, 1, 1024), 1025
    slots = SharedSlots(2, max_bytes(4, floats))
    slots.take(), slots.take()  # both pinned by the trainer
    waits = []
    snd = _sender(slots, wait=lambda: waits.append(1) or slots.release([1]), stopping=lambda: False)
    _pack(snd.writer, 2, shape, 2)
    snd.flush()
    assert waits == [1] and REF.unpack(snd.comm.sent[0])[:2] == (REF_MAGIC, 1)
    # stopping with every slot pinned: the trainer sends no release now, the bytes go
    stop = _sender(slots, wait=lambda: pytest.fail("waited after the stop"), stopping=lambda: True)
    sent = _pack(stop.writer, 2, shape, 3)
    stop.event(BYE)  # BYE flushes
    msg = np.frombuffer(stop.comm.sent[0], np.uint8)
    frames, _, events = read_bundle(msg, len(msg), floats, 1)
    np.testing.assert_array_equal(frames.reshape(2, *shape), np.stack(sent))
    assert events["kind"].tolist()[-1] == BYE


def _worker(tmp_path, shared, stop_early, hold):
    out = tmp_path / "seen.json"
    mpiexec = str(Path(sys.executable).parent / "mpiexec")
    cmd = [mpiexec, "-n", "3", sys.executable, str(HERE / "stream_mpi_worker.py"), str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([*cmd, str(int(shared)), str(int(stop_early)), str(hold)], env=env,
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(out.read_text())


EVERY = sorted([10 * p + t, i] for p in (1, 2) for t in range(6) for i in range(20))


@pytest.mark.mpi
@pytest.mark.parametrize("shared", [True, False])
def test_mpi_every_sample_arrives_once_exact_through_either_path(tmp_path, shared):
    # the consumer holds every sample it drew: slots stay pinned, so past lend_limit the
    # receiver copies out of the segment
    d = _worker(tmp_path, shared, stop_early=False, hold=-1)
    assert sorted(d["seen"]) == EVERY and d["bad"] == [] and d["dead"] == []
    if shared:
        assert d["paths"] == {"1": "shared memory", "2": "shared memory"}
        assert all(n > 0 for n in d["copied"].values()), d["copied"]
    else:
        assert set(d["paths"].values()) == {"messages (online.shared_memory = false)"}


@pytest.mark.mpi
def test_mpi_shared_stream_with_few_samples_held_lends_every_bundle(tmp_path):
    d = _worker(tmp_path, True, stop_early=False, hold=8)
    assert sorted(d["seen"]) == EVERY and d["bad"] == []
    assert d["copied"] == {"1": 0, "2": 0}  # a FIFO of 16 + 8 held pin < lend_limit slots


@pytest.mark.mpi
def test_mpi_trainer_stopping_with_pinned_slots_ends_every_rank(tmp_path):
    d = _worker(tmp_path, True, stop_early=True, hold=-1)
    assert len(d["seen"]) >= 80 and d["bad"] == [] and d["dead"] == []
    assert len({tuple(x) for x in d["seen"]}) == len(d["seen"])  # none twice
