"""Online-training buffers: Melissa's FIFO, FIRO and reservoir semantics, threads, checkpoints."""

import io
import threading
import time

import pytest
import torch

from pdesurr.stream.buffer import Sample, collate
from pdesurr.stream.buffers import (
    BUFFERS,
    FIFOBuffer,
    FIROBuffer,
    ReservoirBuffer,
    make_buffer,
)

# every test takes milliseconds: a blocked put/get_batch (a deadlock bug, or a mutant)
# fails after 5 s instead of hanging the run
pytestmark = pytest.mark.timeout(5)


def sample(i: int) -> Sample:
    # the id is written into the frames so that content, not just metadata, is checked
    return Sample(
        torch.full((2, 1, 4), float(i)), torch.tensor([i, -i], dtype=torch.float32), i, i % 3
    )


def ids(batch) -> list[int]:
    return [s.trajectory for s in batch]


def start(fn, *args) -> threading.Thread:
    t = threading.Thread(target=fn, args=args, daemon=True)
    t.start()
    return t


def blocked(buf) -> threading.Event:
    """Set once a thread starts waiting inside ``buf``. It is set while the buffer's lock is
    held, just before the wait releases it, so whoever takes the lock next (``close``,
    ``put``) runs while that thread is truly blocked: no sleep, no race."""
    entered = threading.Event()
    real = buf._cond.wait_for

    def wait_for(predicate, timeout=None):
        entered.set()
        return real(predicate, timeout)

    buf._cond.wait_for = wait_for
    return entered


def test_collate_shapes():
    frames, cond, traj, t = collate([sample(i) for i in range(5)])
    assert frames.shape == (5, 2, 1, 4) and cond.shape == (5, 2)
    assert traj.tolist() == [0, 1, 2, 3, 4] and t.tolist() == [0, 1, 2, 0, 1]
    assert traj.dtype == torch.int64


def test_make_buffer_and_bad_arguments():
    assert isinstance(make_buffer("fifo", 4), FIFOBuffer)
    assert isinstance(make_buffer("firo", 4, 2, seed=1), FIROBuffer)
    assert isinstance(make_buffer("reservoir", 4, 4), ReservoirBuffer)
    for kind, cap, wm in [("lifo", 4, 1), ("fifo", 0, 1), ("firo", 4, 5), ("reservoir", 4, 0)]:
        with pytest.raises(ValueError):
            make_buffer(kind, cap, wm)
    with pytest.raises(ValueError):
        FIROBuffer(3, watermark=4)
    with pytest.raises(ValueError):
        make_buffer("fifo", 4).get_batch(5)  # could never be served
    buf = make_buffer("fifo", 4)
    buf.put(sample(0))
    with pytest.raises(ValueError):
        buf.put(Sample(torch.zeros(3, 1, 4), torch.zeros(2), 1, 0))  # cannot be collated


def test_fifo_order_and_exactly_once():
    buf = FIFOBuffer(8)
    for i in range(8):
        assert buf.put(sample(i))
    assert not buf.put(sample(8), block=False)  # full
    assert len(buf) == 8 and buf.fill == 1.0
    assert ids(buf.get_batch(3)) == [0, 1, 2]
    for i in range(8, 11):
        assert buf.put(sample(i), block=False)
    assert ids(buf.get_batch(4)) == [3, 4, 5, 6]
    buf.close()
    assert ids(buf.get_batch(8)) == [7, 8, 9, 10]  # closed: what is left
    assert buf.get_batch(2) == []
    assert (buf.received, buf.served, buf.evicted) == (11, 11, 0)
    assert buf.reuse == {"mean": 1.0, "max": 1}


def test_fifo_threads_no_loss_no_duplicate_bounded():
    buf, n_prod, per = FIFOBuffer(5), 3, 40
    max_len = [0]

    def produce(p):
        for j in range(per):
            assert buf.put(sample(p * 1000 + j))
            max_len[0] = max(max_len[0], len(buf))

    threads = [start(produce, p) for p in range(n_prod)]
    got = []
    while len(got) < n_prod * per:
        got += ids(buf.get_batch(4, timeout=5))
        max_len[0] = max(max_len[0], len(buf))
    for t in threads:
        t.join(5)
    assert sorted(got) == sorted(p * 1000 + j for p in range(n_prod) for j in range(per))
    for p in range(n_prod):  # each producer's samples arrive in its own order
        mine = [g for g in got if g // 1000 == p]
        assert mine == sorted(mine)
    assert max_len[0] <= 5
    assert buf.throttle_time > 0  # 120 samples through 5 slots: producers had to wait


def test_firo_watermark_and_seeded_randomness():
    def run(seed):
        buf = FIROBuffer(10, watermark=6, seed=seed)
        for i in range(5):
            buf.put(sample(i))
        with pytest.raises(TimeoutError):  # 5 >= n but below the watermark
            buf.get_batch(2, timeout=0.02)
        buf.put(sample(5))
        out = ids(buf.get_batch(4))
        assert len(buf) == 2
        buf.close()
        return out + ids(buf.get_batch(4))

    a = run(0)
    assert sorted(a) == list(range(6))  # exactly once
    assert a == run(0)
    assert any(run(s) != a for s in range(1, 5))
    assert a != sorted(a) or run(1) != sorted(a)  # not just arrival order


def test_reservoir_reuse_and_eviction_of_seen_only():
    buf = ReservoirBuffer(4, watermark=4, seed=0)
    for i in range(4):
        buf.put(sample(i))
    assert not buf.put(sample(4), block=False)  # all held samples unseen
    first = ids(buf.get_batch(2))
    assert len(set(first)) == 2  # distinct within a batch
    for _ in range(20):
        buf.get_batch(3)
    assert buf.reuse["max"] > 1 and buf.reuse["mean"] > 1
    assert len(buf) == 4 and buf.served == 62

    buf2 = ReservoirBuffer(4, watermark=1, seed=3)
    for i in range(4):
        buf2.put(sample(i))
    seen = set(ids(buf2.get_batch(2)))
    assert buf2.put(sample(10), block=False)  # replaces one of the seen two
    held = {s.trajectory for s in buf2._samples}
    assert 10 in held and {0, 1, 2, 3} - seen <= held and len(held & seen) == 1
    assert buf2.evicted == 1 and buf2.received == 5


@pytest.mark.parametrize("kind", sorted(BUFFERS))
def test_put_many_equals_puts_one_by_one(kind):
    """A bundle's put_many (the reservoir draws its evictions from one reduction) holds,
    evicts and counts exactly what the same samples put one by one do, with the same RNG;
    it stops where a put would block (every held sample unseen)."""
    a, b = make_buffer(kind, 8, 4, seed=5), make_buffer(kind, 8, 4, seed=5)
    for i in range(8):
        assert a.put(sample(i)) and b.put(sample(i))
    next_id, short = 8, 0
    for n_served, n_new in ((3, 2), (5, 9), (8, 5), (2, 1)):
        ids_a, ids_b = ids(a.get_batch(n_served)), ids(b.get_batch(n_served))
        assert ids_a == ids_b
        new = [sample(next_id + j) for j in range(n_new)]
        next_id += n_new
        k_a = a.put_many(new)
        k_b = 0
        for s in new:
            if not b.put(s, block=False):
                break
            k_b += 1
        assert k_a == k_b
        short += k_a < n_new
        assert ids(a._samples) == ids(b._samples)
        assert torch.equal(a._counts, b._counts)
        assert (a.evicted, a.received, a.served) == (b.evicted, b.received, b.served)
    assert short >= 1  # some bundle met a full buffer part-way
    if kind == "reservoir":
        assert a.evicted >= 8  # the eviction path ran, across several bundles


def test_reservoir_put_blocks_until_a_sample_is_seen():
    buf = ReservoirBuffer(3, watermark=3, seed=0)
    for i in range(3):
        buf.put(sample(i))
    done, waiting = threading.Event(), blocked(buf)
    t = start(lambda: buf.put(sample(99)) and done.set())
    assert waiting.wait(5) and not done.is_set()  # blocked: nothing seen yet
    buf.get_batch(1)
    assert done.wait(5)
    t.join(5)
    assert buf.evicted == 1 and 99 in {s.trajectory for s in buf._samples}


def test_wait_room_blocks_until_a_batch_makes_room_and_returns_on_close():
    buf = ReservoirBuffer(2, watermark=2, seed=0)
    assert buf.wait_room(0) is True  # empty: room at once, no wait
    buf.put(sample(0))
    buf.put(sample(1))
    t0 = time.perf_counter()
    assert buf.wait_room(0.05) is False  # full of unseen samples: times out
    assert time.perf_counter() - t0 >= 0.04 and buf.throttle_time >= 0.04
    got, waiting = [], blocked(buf)
    t = start(lambda: got.append(buf.wait_room(5)))
    assert waiting.wait(5) and not got
    buf.get_batch(1)  # one sample seen: a put would now evict it
    t.join(5)
    assert got == [True] and len(buf) == 2  # wait_room itself holds nothing
    other = FIFOBuffer(1)
    other.put(sample(0))
    got, waiting = [], blocked(other)
    t = start(lambda: got.append(other.wait_room(5)))
    assert waiting.wait(5)
    other.close()
    t.join(5)
    assert got == [False]  # closed: no room will come


def test_reservoir_every_sample_served_at_least_once():
    buf, total = ReservoirBuffer(6, watermark=3, seed=7), 60
    t = start(lambda: [buf.put(sample(i)) for i in range(total)] and buf.close())
    served = set()
    while batch := buf.get_batch(2, timeout=5):
        served |= set(ids(batch))
    t.join(5)
    assert served == set(range(total))
    assert buf.received == total and buf.served > total  # re-use happened
    assert buf.evicted == total - 6 and len(buf) == 0


@pytest.mark.parametrize("kind", sorted(BUFFERS))
def test_close_unblocks_get_batch_and_put(kind):
    buf = make_buffer(kind, 2, 2)
    waiting = blocked(buf)
    results = {}
    t = start(lambda: results.setdefault("get", buf.get_batch(2)))
    assert waiting.wait(5)  # the consumer is blocked in get_batch
    assert "get" not in results
    buf.close()
    t.join(5)
    assert results["get"] == []

    buf = make_buffer(kind, 2, 2)
    buf.put(sample(0))
    buf.put(sample(1))
    waiting = blocked(buf)
    t = start(lambda: results.setdefault("put", buf.put(sample(2))))
    assert waiting.wait(5)  # the producer is blocked in put: the buffer is full
    assert "put" not in results
    buf.close()
    t.join(5)
    assert results["put"] is False and buf.closed
    assert not buf.put(sample(3))


def test_wait_time_grows_while_consumer_waits():
    buf = FIFOBuffer(4)
    assert buf.wait_time == 0
    waits = []
    for i in range(2):
        waiting = blocked(buf)  # the producer puts only once the consumer is waiting
        t = start(lambda i=i, w=waiting: (w.wait(5), buf.put(sample(i))))
        t0 = time.perf_counter()
        assert ids(buf.get_batch(1)) == [i]
        elapsed = time.perf_counter() - t0
        t.join(5)
        waits.append(buf.wait_time)
        assert 0 < buf.wait_time - (waits[-2] if i else 0) <= elapsed
    buf.put(sample(2))
    buf.get_batch(1)  # ready at once: no waiting recorded
    assert buf.wait_time == waits[-1]


@pytest.mark.parametrize("kind", sorted(BUFFERS))
def test_state_dict_round_trip(kind):
    def fresh():
        return make_buffer(kind, 6, 3, seed=11)

    buf = fresh()
    for i in range(6):
        buf.put(sample(i))
    buf.get_batch(2)
    buf.put(sample(6))
    stream = io.BytesIO()
    torch.save(buf.state_dict(), stream)
    stream.seek(0)
    state = torch.load(stream, weights_only=True)
    other = fresh()
    other.load_state_dict(state)

    def held(b):
        return [
            (s.trajectory, s.time_index, s.frames.tolist(), s.cond.tolist()) for s in b._samples
        ]

    assert held(other) == held(buf) and len(other) == len(buf)
    for name in ("received", "served", "evicted", "reuse", "wait_time", "closed"):
        assert getattr(other, name) == getattr(buf, name), name
    # the same calls from here give the same batches (RNG and per-sample counts restored)
    for b in (buf, other):
        b.put(sample(7), block=False)
        b.close()
    drains = [[ids(b.get_batch(2)) for _ in range(5)] for b in (buf, other)]
    assert drains[0] == drains[1]
    assert buf.served == other.served and buf.reuse == other.reuse

    with pytest.raises(ValueError):
        make_buffer("reservoir" if kind != "reservoir" else "fifo", 6, 3).load_state_dict(state)
    with pytest.raises(ValueError):
        make_buffer(kind, 1, 1).load_state_dict(state)  # too many samples to hold


def test_empty_state_dict_round_trip():
    stream = io.BytesIO()
    torch.save(FIROBuffer(3, 1, seed=0).state_dict(), stream)
    stream.seek(0)
    buf = FIROBuffer(3, 1, seed=0)
    buf.load_state_dict(torch.load(stream, weights_only=True))
    assert len(buf) == 0 and buf.received == 0


@pytest.mark.parametrize("full", [False, True])
def test_reservoir_bundle_with_a_foreign_sample_is_refused_whole(full):
    """A bundle is checked before any of it is held: one sample of another layout raises
    naming its shape, and the buffer holds, evicts and counts what it did before."""
    buf = make_buffer("reservoir", 4, 1, seed=0)
    for i in range(4 if full else 2):
        buf.put(sample(i))
    if full:
        buf.get_batch(4)  # all seen: a bundle would evict
    before = (ids(buf._samples), buf.evicted, buf.received, buf._counts.clone())
    odd = Sample(torch.zeros(2, 1, 5), torch.zeros(2), 99, 0)
    with pytest.raises(ValueError, match=r"sample frames \(2, 1, 5\)"):
        buf.put_many([sample(10), odd, sample(11)])
    with pytest.raises(TypeError, match="expected a Sample, got tuple"):
        buf.put_many([sample(12), (1, 2)])
    assert (ids(buf._samples), buf.evicted, buf.received) == before[:3]
    assert torch.equal(buf._counts, before[3])
    assert buf.put_many([sample(13), sample(14)]) == 2  # a good bundle still goes in


def _on(device: str, i: int) -> Sample:
    s = sample(i)
    return Sample(s.frames.to(device), s.cond.to(device), s.trajectory, s.time_index)


@pytest.mark.parametrize("kind", sorted(BUFFERS))
def test_a_sample_on_another_device_is_refused(kind):
    """A batch is stacked on one device: a sample whose frames or cond live elsewhere (the
    ``meta`` device stands for a GPU here) is refused when put, naming both devices, by
    ``put`` and by a bundle's one-pass check alike, and nothing of the bundle is held."""
    buf = make_buffer(kind, 8, 1)
    buf.put(sample(0))
    with pytest.raises(ValueError, match="on meta.*differ from held frames .* on cpu"):
        buf.put(_on("meta", 1))
    elsewhere = Sample(sample(2).frames, sample(2).cond.to("meta"), 2, 0)  # cond only
    with pytest.raises(ValueError, match="cond \\(2,\\) on meta differ"):
        buf.put_many([sample(3), elsewhere])
    assert ids(buf._samples) == [0]


@pytest.mark.parametrize("kind", sorted(BUFFERS))
def test_restored_samples_go_to_the_producers_device(kind):
    """Checkpoints load on the CPU; ``load_state_dict(state, device)`` puts the held
    samples where the producers' samples live, so a resumed GPU run's batches stack on
    one device (and a CPU sample is then refused)."""
    buf = make_buffer(kind, 6, 1, seed=3)
    for i in range(4):
        buf.put(sample(i))
    other = make_buffer(kind, 6, 1, seed=3)
    other.load_state_dict(buf.state_dict(), device="meta")
    assert len(other) == 4
    assert {(s.frames.device.type, s.cond.device.type) for s in other._samples} == {
        ("meta", "meta")
    }
    assert [s.trajectory for s in other._samples] == [s.trajectory for s in buf._samples]
    assert other.put(_on("meta", 9))
    with pytest.raises(ValueError, match="on cpu.*on meta"):
        other.put(sample(10))
    kept = make_buffer(kind, 6, 1, seed=3)
    kept.load_state_dict(buf.state_dict())  # no device: where torch.load put them
    assert {s.frames.device.type for s in kept._samples} == {"cpu"}


@pytest.mark.parametrize("kind", sorted(BUFFERS))
def test_a_mixed_bundle_into_an_empty_buffer_is_refused_whole(kind):
    """With nothing held, a bundle's first sample sets the layout: a later sample of
    another layout refuses the whole bundle (nothing held, nothing counted)."""
    buf = make_buffer(kind, 8, 1)
    odd = Sample(torch.zeros(2, 1, 5), torch.zeros(2), 99, 0)
    with pytest.raises(ValueError, match=r"sample frames \(2, 1, 5\).*held frames \(2, 1, 4\)"):
        buf.put_many([sample(0), sample(1), odd])
    assert len(buf) == 0 and buf.received == 0
    assert buf.put_many([sample(2), sample(3)]) == 2
