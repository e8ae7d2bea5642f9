"""Bundles of stream samples: the binary layout, round trips, delivery order (no MPI)."""

import struct
import threading

import numpy as np
import pytest
import torch

from pdesurr.stream.buffer import Sample, collate_inputs
from pdesurr.stream.buffers import FIFOBuffer
from pdesurr.stream.bundle import (
    ALIVE,
    BYE,
    DIVERGED,
    DONE,
    SAMPLE,
    BundleWriter,
    bundle_samples,
    max_bytes,
    read_bundle,
    split_events,
)
from pdesurr.stream.bundled import Backoff, deliver, lend_samples, unpack_samples
from pdesurr.stream.ledger import Ledger
from pdesurr.stream.recvpool import ReceivePool


def test_round_trip_of_random_samples_and_events():
    rng = np.random.default_rng(0)
    n_cond, shape = 2, (3, 1, 5)
    floats = n_cond + 15
    w = BundleWriter(8, floats, n_cond)
    sent = []
    for i in range(5):
        cond = rng.standard_normal(n_cond).astype(np.float32)
        frames = rng.standard_normal(shape).astype(np.float32)
        w.sample(100 + i, 7 * i, cond, frames)
        sent.append((cond, frames))
        if i == 2:
            w.event(DONE, 101)
    w.event(DIVERGED, 104, 33, 1.25)
    msg = w.finish()
    buf = np.zeros(4096, np.uint8)  # a larger receive buffer, as MPI fills it
    buf[: len(msg)] = msg
    frames_block, cond_block, events = read_bundle(buf, len(msg), floats, n_cond)
    assert frames_block.shape == (5, 15) and cond_block.shape == (5, n_cond)
    for (cond, frames), f, c in zip(sent, frames_block, cond_block, strict=True):
        np.testing.assert_array_equal(c, cond)  # bit-for-bit copies: no tolerance
        np.testing.assert_array_equal(f.reshape(shape), frames)
    kinds = [int(k) for k in events["kind"]]
    assert kinds == [SAMPLE] * 3 + [DONE] + [SAMPLE] * 2 + [DIVERGED]
    assert events["a"].tolist() == [100, 101, 102, 101, 103, 104, 104]
    assert events["b"].tolist()[:3] == [0, 7, 14] and events["b"][-1] == 33
    assert events["x"][-1] == 1.25


def test_header_layout_is_fixed_little_endian():
    floats, n = 3, 3  # 24 + 4*3*3 = 60 bytes -> events start at 64 (8-byte aligned)
    w = BundleWriter(4, floats, 1)
    for i in range(n):
        w.sample(i, i, np.array([10.0 + i], np.float32), np.full(2, i, np.float32))
    w.event(BYE)
    msg = w.finish().tobytes()
    magic, version, k, n_, e, f = struct.unpack_from("<4sHHIIQ", msg, 0)
    assert (magic, version, k, n_, e, f) == (b"PDSB", 1, 1, n, n + 1, floats)
    assert len(msg) == 64 + 32 * (n + 1)  # header 24, frames 24, cond 12, pad 4, 4 events
    # frames block: sample 1's two floats at 24 + 4*2; cond block at 24 + 4*2*n
    assert struct.unpack_from("<2f", msg, 24 + 8) == (1.0, 1.0)
    assert struct.unpack_from("<3f", msg, 24 + 8 * n) == (10.0, 11.0, 12.0)
    kind, a, b, x = struct.unpack_from("<qqqd", msg, 64 + 32 * n)
    assert (kind, a, b, x) == (BYE, 0, 0, 0.0)


def test_bundle_size_adapts_to_sample_and_credit_window():
    assert bundle_samples(66, 500) == 125  # 4 MiB / 264 B > 500 // 4: the credit window bounds
    assert bundle_samples(16386, 500) == (4 << 20) // (4 * 16386) == 63  # the message size bounds
    assert bundle_samples(4098, 500) == 125  # 64²: 4 MiB / 16 KiB > 125, the credits bound
    assert bundle_samples(10**6, 500) == 1  # a sample larger than the target travels alone
    assert bundle_samples(66, 2) == 1  # fewer than 4 credits: one per message


def test_bundle_of_one():
    w = BundleWriter(1, 4, 1)
    w.sample(9, 3, np.array([0.5], np.float32), np.arange(3, dtype=np.float32))
    assert w.full
    with pytest.raises(ValueError, match="full"):
        w.sample(9, 4, np.array([0.5], np.float32), np.arange(3, dtype=np.float32))
    msg = w.finish()
    frames, cond, events = read_bundle(msg.copy(), len(msg), 4, 1)
    np.testing.assert_array_equal(frames[0], [0, 1, 2])
    assert cond.tolist() == [[0.5]]
    assert events.tolist() == [(SAMPLE, 9, 3, 0.0)]


def test_bad_bundles_are_refused():
    w = BundleWriter(2, 4, 1)
    w.sample(0, 0, np.zeros(1, np.float32), np.zeros(3, np.float32))
    msg = w.finish().copy()
    with pytest.raises(ValueError, match="expected 5"):
        read_bundle(msg, len(msg), 5, 1)
    with pytest.raises(ValueError, match="expected 4 \\(2\\)"):
        read_bundle(msg, len(msg), 4, 2)
    with pytest.raises(ValueError, match="cannot be"):
        read_bundle(msg, len(msg) - 8, 4, 1)
    bad = msg.copy()
    bad[0] ^= 0xFF
    with pytest.raises(ValueError, match="not a version-1 bundle"):
        read_bundle(bad, len(bad), 4, 1)
    w.reset()
    w.sample(0, 0, np.zeros(2, np.float32), np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="bundles hold 3 and 1"):
        w.finish()


def test_split_events_keeps_each_kind_in_order_and_checks_the_count():
    w = BundleWriter(4, 3, 1)
    w.sample(7, 0, np.zeros(1, np.float32), np.zeros(2, np.float32))
    w.event(ALIVE)
    w.sample(8, 5, np.zeros(1, np.float32), np.zeros(2, np.float32))
    w.event(DONE, 7)
    w.event(DIVERGED, 8, 12, 0.25)
    w.sample(9, 2, np.zeros(1, np.float32), np.zeros(2, np.float32))
    msg = w.finish()
    frames, _, events = read_bundle(msg, len(msg), 3, 1)
    sampled, other = split_events(events, len(frames))
    assert list(zip(sampled["a"].tolist(), sampled["b"].tolist(), strict=True)) == [
        (7, 0),
        (8, 5),
        (9, 2),
    ]
    assert other == [(ALIVE, 0, 0, 0.0), (DONE, 7, 0, 0.0), (DIVERGED, 8, 12, 0.25)]
    with pytest.raises(ValueError, match="a bundle of 2 samples with 3 sample events"):
        split_events(events, 2)


class _Comm:
    def __init__(self):
        self.sent = []

    def Send(self, buf, dest, tag):  # noqa: N802 (mpi4py's name)
        self.sent.append((int(buf[0]), dest, tag))


class _Rx:
    def __init__(self, capacity):
        self.comm, self.buffer, self.ledger = _Comm(), FIFOBuffer(capacity), Ledger()
        self.stopping = threading.Event()


def _samples(traj, n):
    return [Sample(torch.full((1, 1, 2), float(i)), torch.zeros(1), traj, i) for i in range(n)]


def test_delivery_keeps_stream_order_and_grants_one_credit_message():
    rx = _Rx(16)
    s = _samples(4, 3)
    # the bundle: sample, sample, sample, done(4), bye
    deliver(rx, 2, s, [(DONE, 4, 0, 0.0), (BYE, 0, 0, 0.0)], 23)
    assert rx.ledger.received == {4: 3} and rx.ledger.done == {4} and rx.ledger.finished == {2}
    assert rx.comm.sent == [(3, 2, 23)]  # one credit message for the whole bundle
    assert [x.time_index for x in rx.buffer.get_batch(3)] == [0, 1, 2]


def test_a_bundle_goes_into_the_buffer_in_one_put_then_its_events():
    """Samples after an event (another trajectory's) are delivered too, in order, with the
    whole bundle in one locked put; the events are recorded after the samples before them."""
    rx = _Rx(16)
    calls = []
    put_many = rx.buffer.put_many
    rx.buffer.put_many = lambda samples: calls.append(len(samples)) or put_many(samples)
    a, b = _samples(4, 3), _samples(5, 2)
    # the bundle: 4's three samples, done(4), 5's two samples, bye
    deliver(rx, 2, a + b, [(DONE, 4, 0, 0.0), (BYE, 0, 0, 0.0)], 23)
    assert calls == [5]
    assert rx.ledger.received == {4: 3, 5: 2} and rx.ledger.done == {4}
    assert rx.ledger.finished == {2} and rx.comm.sent == [(5, 2, 23)]
    assert [(x.trajectory, x.time_index) for x in rx.buffer.get_batch(5)] == [
        (4, 0),
        (4, 1),
        (4, 2),
        (5, 0),
        (5, 1),
    ]


def test_put_many_takes_what_fits():
    buf = FIFOBuffer(4)
    assert buf.put_many(_samples(0, 6)) == 4
    assert buf.put_many(_samples(1, 1)) == 0 and len(buf) == 4
    buf.close()
    assert buf.put_many(_samples(1, 1)) == 0


def test_unpacked_samples_own_their_group_and_match_the_payload():
    rng = np.random.default_rng(1)
    shape, floats = (2, 1, 40), 1 + 80  # 324 B: 12 samples per 4 KiB group
    w = BundleWriter(30, floats, 1)
    sent = [rng.standard_normal(shape).astype(np.float32) for _ in range(30)]
    for i, f in enumerate(sent):
        w.sample(3, i, np.array([i], np.float32), f)
    msg = w.finish().copy()
    frames, cond, events = read_bundle(msg, len(msg), floats, 1)
    out = unpack_samples(frames, cond, events, shape)
    msg[:] = 0  # the receive buffer is re-used: samples must not depend on it
    assert len(out) == 30
    for i, s in enumerate(out):
        np.testing.assert_array_equal(s.frames.numpy(), sent[i])  # exact copies
        assert s.cond.tolist() == [float(i)] and (s.trajectory, s.time_index) == (3, i)
    storages = {s.frames.untyped_storage().data_ptr() for s in out}
    assert len(storages) == 3  # ceil(30 / 12) groups: a held sample pins at most 4 KiB


def _bundle_in(buf, n, shape, seed):
    """Write a bundle of n random samples (1 cond float) into the receive buffer buf."""
    rng = np.random.default_rng(seed)
    floats = 1 + int(np.prod(shape))
    w = BundleWriter(n, floats, 1)
    sent = [rng.standard_normal(shape).astype(np.float32) for _ in range(n)]
    for i, f in enumerate(sent):
        w.sample(5, i, np.array([i], np.float32), f)
    msg = w.finish()
    buf[: len(msg)] = msg
    return sent, read_bundle(buf, len(msg), floats, 1)[2], floats


def test_lent_samples_view_the_bundle_and_free_it_when_the_last_one_goes():
    shape = (1, 1, 1024)  # 4 KiB + 4 B: in place, as receive_bundles does for these
    pool = ReceivePool(max_bytes(4, 1025), limit=2)
    buf = pool.take()
    sent, events, floats = _bundle_in(buf, 4, shape, 0)
    out = lend_samples(pool, buf, events, floats, 1, shape)
    for i, s in enumerate(out):
        assert (s.trajectory, s.time_index) == (5, i)
        np.testing.assert_array_equal(s.frames.numpy(), sent[i])  # the payload itself
        assert s.cond.tolist() == [float(i)]
        # a view of the receive buffer: no copy was made
        assert s.frames.untyped_storage().data_ptr() == buf.ctypes.data
    kept = out[2]
    del out, s
    assert not pool.free  # one held sample pins its bundle: buf must not be re-posted
    del kept
    assert list(pool.free) == [buf]  # the last view gone: buf is free again
    assert pool.take() is buf


def test_received_samples_train_like_any_other_and_refuse_writes():
    """Received samples are inference tensors (cheaper views): a batch collated from them is
    an ordinary tensor that a network's backward pass can save; writing into one raises,
    so a received bundle cannot be altered through a sample."""
    shape = (1, 4, 4)
    pool = ReceivePool(max_bytes(3, 17), limit=2)
    buf = pool.take()
    sent, events, floats = _bundle_in(buf, 3, shape, 2)
    lent = lend_samples(pool, buf, events, floats, 1, shape)
    msg = BundleWriter(3, floats, 1)
    for i, f in enumerate(sent):
        msg.sample(5, i, np.array([i], np.float32), f)
    copied = unpack_samples(*read_bundle(m := msg.finish(), len(m), floats, 1)[:2], events, shape)
    conv = torch.nn.Conv2d(1, 2, 3, padding=1, dtype=torch.float32)
    for samples in (lent, copied):
        frames, cond = collate_inputs(samples)
        assert not frames.is_inference() and frames.shape == (3, 1, 4, 4)
        conv.zero_grad()
        (conv(frames).square().sum() + cond.sum()).backward()
        # d/dW of sum(conv(x)^2) needs x: the gradient equals one from a plain copy
        x = torch.from_numpy(np.stack(sent))
        w = conv.weight.detach().clone().requires_grad_(True)
        out = torch.nn.functional.conv2d(x, w, conv.bias.detach(), padding=1)
        out.square().sum().backward()
        torch.testing.assert_close(conv.weight.grad, w.grad)
        with pytest.raises(RuntimeError, match="[Ii]nference"):
            samples[0].frames.add_(1.0)


def test_receive_pool_never_exceeds_its_limit():
    assert ReceivePool.limit_for(3, 100, 15) == 3 + 2 * 7 + 1  # ring + 2 ceil(C / B) + 1
    pool = ReceivePool(64, limit=3)
    bufs = [pool.take() for _ in range(3)]
    assert all(b is not None for b in bufs) and pool.take() is None  # caller copies out then
    pool.free.append(bufs[1])
    assert pool.take() is bufs[1] and pool.made == 3


def test_fifo_of_lent_samples_pins_at_most_its_bundles():
    # a FIFO of C samples from bundles of B pins <= ceil(C / B) + 1 bundles, so the pool's
    # limit (ring + 2 ceil(C / B) + 1) is never reached and no bundle is copied
    shape, per, capacity, ring = (1, 1, 1024), 4, 10, 2
    pool = ReceivePool(max_bytes(per, 1025), ReceivePool.limit_for(ring, capacity, per))
    fifo = FIFOBuffer(capacity)
    for k in range(20):
        if len(fifo) > capacity - per:
            fifo.get_batch(per)  # the trainer takes a batch, freeing room
        buf = pool.take()
        assert buf is not None, f"pool exhausted at bundle {k}"
        _, events, floats = _bundle_in(buf, per, shape, k)
        assert fifo.put_many(lend_samples(pool, buf, events, floats, 1, shape))
        pinned = pool.made - len(pool.free)
        assert pinned <= -(-len(fifo) // per) + 1


def test_backoff_spins_then_doubles_to_its_cap_and_resets(monkeypatch):
    """The receive thread's idle waits: yields first, then sleeps doubling up to the cap,
    back to yields after an arrival (each wait-up takes the GIL from the trainer)."""
    slept = []
    monkeypatch.setattr("pdesurr.stream.bundled.time.sleep", slept.append)
    wait = Backoff(spins=2, first=1e-4, longest=1e-3)
    asked = [wait.sleep() for _ in range(8)]
    assert asked == [0.0, 0.0, 1e-4, 2e-4, 4e-4, 8e-4, 1e-3, 1e-3]
    assert slept == asked  # what it reports is what it slept
    wait.reset()
    assert [wait.sleep() for _ in range(3)] == [0.0, 0.0, 1e-4]


def test_samples_with_autograd_history_pack_as_their_values():
    """Producers hand over tensors as they come; one with a graph is packed by value (the
    writer detaches only those: ``stack(out=)`` refuses them)."""
    frames = torch.randn(2, 1, 3, requires_grad=True) * 2  # carries a grad_fn
    w = BundleWriter(2, 6 + 1, 1)
    w.sample(3, 4, np.array([0.5], np.float32), frames)
    f, c, events = read_bundle(w.finish().copy(), len(w.finish()), 7, 1)
    np.testing.assert_array_equal(f[0], frames.detach().numpy().ravel())
    assert c[0, 0] == 0.5 and events["a"].tolist() == [3] and events["b"].tolist() == [4]
