"""Buffers: exact error messages, counters and checkpoint fields, written against mutants.

Expected counts come from the sequence of calls made here (each FIFO/FIRO sample served
exactly once; a reservoir batch of n counts n serves), never from the buffer's own state.
"""

import pytest
import torch

from pdesurr.stream.buffer import Sample, collate
from pdesurr.stream.buffers import (
    FIFOBuffer,
    FIROBuffer,
    ReservoirBuffer,
    make_buffer,
)

# every test takes milliseconds: a blocked put/get_batch (a deadlock bug, or a mutant)
# fails after 5 s instead of hanging the run
pytestmark = pytest.mark.timeout(5)


def sample(i: int, width: int = 4) -> Sample:
    return Sample(torch.full((2, 1, width), float(i)), torch.tensor([float(i)]), i, 10 + i)


def test_collate_contents_and_empty_message():
    frames, cond, traj, t = collate([sample(3), sample(5)])
    assert frames[:, 0, 0, 0].tolist() == [3.0, 5.0] and cond.flatten().tolist() == [3.0, 5.0]
    assert traj.tolist() == [3, 5] and t.tolist() == [13, 15] and t.dtype == torch.int64
    with pytest.raises(ValueError, match=r"^cannot collate an empty batch$"):
        collate([])


@pytest.mark.parametrize(
    "args,msg",
    [
        (("lifo", 4), r"unknown buffer kind 'lifo'; choose one of \['fifo', 'firo', 'reservoir'\]"),
        (("fifo", 0), r"^capacity must be an integer >= 1, got 0$"),
        (("firo", 2.0), r"^capacity must be an integer >= 1, got 2.0$"),
        (("firo", 4, 5), r"^watermark must be an integer in \[1, capacity=4\], got 5$"),
        (("reservoir", 4, 0), r"^watermark must be an integer in \[1, capacity=4\], got 0$"),
        (("reservoir", 4, 1.0), r"watermark must be an integer in \[1, capacity=4\], got 1.0"),
    ],
)
def test_make_buffer_messages(args, msg):
    with pytest.raises(ValueError, match=msg):
        make_buffer(*args)


@pytest.mark.parametrize(
    "kwargs,msg",
    [
        ({"capacity": 0}, r"^capacity must be an integer >= 1, got 0$"),
        ({"capacity": "3"}, r"^capacity must be an integer >= 1, got '3'$"),
        ({"capacity": 3, "watermark": 4}, r"^watermark must be an integer in \[1, capacity=3\]"),
        ({"capacity": 3, "watermark": 0}, r"got 0$"),
    ],
)
def test_constructor_messages(kwargs, msg):
    for cls in (FIROBuffer, ReservoirBuffer):
        with pytest.raises(ValueError, match=msg):
            cls(**kwargs)


def test_boundary_arguments_are_accepted():
    assert make_buffer("firo", 1, 1).capacity == 1
    assert make_buffer("reservoir", 3, 3).watermark == 3
    assert FIROBuffer(2, watermark=2).watermark == 2 and FIROBuffer(1).capacity == 1
    buf = make_buffer("fifo", 3, 3)  # FIFO ignores the watermark
    assert buf.watermark == 1 and buf.kind == "fifo"
    assert make_buffer("firo", 3).kind == "firo" and make_buffer("reservoir", 3).kind == "reservoir"


def test_get_batch_and_put_messages():
    buf = FIFOBuffer(3)
    for n in (0, 4, 2.0):
        with pytest.raises(ValueError, match=r"batch size must be an integer in \[1, capacity=3\]"):
            buf.get_batch(n)
    with pytest.raises(TypeError, match=r"^expected a Sample, got tuple$"):
        buf.put((1, 2))
    buf.put(sample(0))
    with pytest.raises(
        ValueError,
        match=r"sample frames \(2, 1, 5\) torch.float32 on cpu, cond \(1,\) on cpu "
        r"differ from held frames \(2, 1, 4\) torch.float32 on cpu, cond \(1,\) on cpu$",
    ):
        buf.put(sample(1, width=5))
    bad_cond = Sample(torch.zeros(2, 1, 4), torch.zeros(2), 0, 0)
    with pytest.raises(ValueError, match=r"cond \(2,\) on cpu differ"):
        buf.put(bad_cond)
    bad_dtype = Sample(torch.zeros(2, 1, 4, dtype=torch.float64), torch.zeros(1), 0, 0)
    with pytest.raises(ValueError, match="float64"):
        buf.put(bad_dtype)
    with pytest.raises(TimeoutError, match=r"^no batch of 2 within 0.01 s \(1 held\)$"):
        buf.get_batch(2, timeout=0.01)
    assert buf.wait_time > 0


def test_fifo_counters_fill_and_drain():
    buf = FIFOBuffer(4)
    assert buf.fill == 0 and buf.reuse == {"mean": 0.0, "max": 0}
    for i in range(4):
        assert buf.put(sample(i))
    assert not buf.put(sample(9), block=False) and buf.fill == 1.0
    assert not buf.put(sample(9), timeout=0.01) and buf.throttle_time > 0
    assert [s.trajectory for s in buf.get_batch(3)] == [0, 1, 2]
    assert len(buf) == 1 and buf.fill == 0.25 and buf.served == 3 and buf.received == 4
    assert buf.reuse == {"mean": 1.0, "max": 1}
    buf.put(sample(4))
    buf.close()
    assert not buf.put(sample(5))  # closed
    assert [s.trajectory for s in buf.get_batch(3)] == [3, 4]  # drain: fewer than n
    assert buf.get_batch(3) == []
    assert buf.served == 5 and buf.received == 5 and buf.reuse == {"mean": 1.0, "max": 1}


def test_firo_serves_each_once_and_drains_all():
    buf = FIROBuffer(5, watermark=3, seed=2)
    for i in range(2):
        buf.put(sample(i))
    with pytest.raises(TimeoutError):
        buf.get_batch(1, timeout=0.01)  # below the watermark
    for i in range(2, 5):
        buf.put(sample(i))
    got = [s.trajectory for s in buf.get_batch(2)]
    assert len(set(got)) == 2 and len(buf) == 3
    buf.close()
    rest = [s.trajectory for s in buf.get_batch(5)]
    assert sorted(got + rest) == [0, 1, 2, 3, 4] and buf.get_batch(1) == []
    assert buf.served == 5 and buf.reuse == {"mean": 1.0, "max": 1}


def test_reservoir_counters():
    buf = ReservoirBuffer(3, watermark=2, seed=0)
    for i in range(3):
        buf.put(sample(i))
    for _ in range(4):
        assert len(buf.get_batch(3)) == 3  # all three held, each batch
    # 12 serves of 3 distinct samples, each served 4 times
    assert buf.served == 12 and buf.reuse == {"mean": 4.0, "max": 4}
    assert buf.put(sample(7), block=False) and buf.evicted == 1 and len(buf) == 3
    buf.get_batch(3)
    assert buf.served == 15 and buf.reuse["max"] == 5
    assert buf.reuse["mean"] == pytest.approx(15 / 4)  # 4 distinct samples served so far


@pytest.mark.parametrize("kind", ["fifo", "firo", "reservoir"])
def test_state_dict_fields_and_round_trip(kind):
    buf = make_buffer(kind, 4, 1, seed=5)
    for i in range(4):
        buf.put(sample(i))
    buf.get_batch(2)
    buf.wait_time, buf.throttle_time = 1.5, 2.5
    state = buf.state_dict()
    k = len(buf)
    assert state["kind"] == kind and state["capacity"] == 4
    assert state["frames"].shape == (k, 2, 1, 4) and state["cond"].shape == (k, 1)
    assert state["received"] == 4 and state["served"] == 2 and state["distinct"] == 2
    assert state["max_reuse"] == 1 and state["closed"] is False
    assert state["wait_time"] == 1.5 and state["throttle_time"] == 2.5
    assert state["counts"].shape == (k,)
    assert state["time_index"].tolist() == [t + 10 for t in state["trajectory"].tolist()]
    other = make_buffer(kind, 4, 1, seed=99)
    other.load_state_dict(state)
    assert [s.trajectory for s in other._samples] == [s.trajectory for s in buf._samples]
    assert [s.time_index for s in other._samples] == [s.time_index for s in buf._samples]
    assert torch.equal(other._counts, buf._counts)
    for name in ("received", "served", "evicted", "wait_time", "throttle_time", "closed"):
        assert getattr(other, name) == getattr(buf, name), name
    assert other._distinct == buf._distinct and other._max_reuse == buf._max_reuse
    # the RNG state travels: the next batches are the same
    assert [s.trajectory for s in other.get_batch(2)] == [s.trajectory for s in buf.get_batch(2)]
    # the restored samples are copies, not views of the stacked state
    assert all(s.frames.untyped_storage().size() == 2 * 4 * 4 for s in other._samples)


def test_load_state_dict_messages():
    state = FIFOBuffer(4).state_dict()
    with pytest.raises(ValueError, match=r"^state of a 'fifo' buffer, this one is 'firo'$"):
        FIROBuffer(4).load_state_dict(state)
    full = FIFOBuffer(4)
    for i in range(4):
        full.put(sample(i))
    with pytest.raises(ValueError, match=r"^state holds 4 samples, more than capacity 3$"):
        FIFOBuffer(3).load_state_dict(full.state_dict())
    three = FIFOBuffer(3)
    for i in range(3):
        three.put(sample(i))
    FIFOBuffer(3).load_state_dict(three.state_dict())  # exactly at capacity is fine


def served_order(buf, n_put=8, n=3):
    for i in range(n_put):
        buf.put(sample(i))
    buf.close()
    out = []
    while batch := buf.get_batch(n):
        out.append([s.trajectory for s in batch])
    return out


def test_ready_at_exactly_n_or_the_watermark():
    fifo = FIFOBuffer(4)
    fifo.put(sample(0))
    fifo.put(sample(1))
    assert len(fifo.get_batch(2, timeout=1.0)) == 2  # exactly n held is enough
    firo = FIROBuffer(4, watermark=3)
    for i in range(3):
        firo.put(sample(i))
    assert len(firo.get_batch(1, timeout=1.0)) == 1  # exactly the watermark held


def test_drain_removes_at_most_n():
    buf = FIROBuffer(6, watermark=1, seed=0)
    assert [len(b) for b in served_order(buf, 5, 2)] == [2, 2, 1]


def test_make_buffer_defaults_and_seed():
    assert make_buffer("firo", 4).watermark == 1
    with pytest.raises(ValueError, match=r"watermark must be an integer in \[1, capacity=4\]"):
        make_buffer("fifo", 4, 5)  # validated even though FIFO ignores it
    default = served_order(make_buffer("firo", 8))
    assert default == served_order(make_buffer("firo", 8, 1, seed=0))
    assert served_order(FIROBuffer(8)) == served_order(FIROBuffer(8, seed=0))  # default seed 0
    orders = {str(served_order(make_buffer("firo", 8, 1, seed=s))) for s in range(6)}
    assert len(orders) > 1  # the seed reaches the buffer


def test_reservoir_has_room_while_not_full_and_evicts_by_its_own_rng():
    buf = ReservoirBuffer(3, watermark=1, seed=0)
    assert buf.put(sample(0), block=False)  # empty, nothing seen yet: still room

    def run():
        res = ReservoirBuffer(4, watermark=1, seed=11)
        for i in range(4):
            res.put(sample(i))
        held = []
        for i in range(4, 12):
            res.get_batch(2)
            res.put(sample(i), block=False)
            held.append(sorted(s.trajectory for s in res._samples))
        return held

    first = run()
    torch.rand(7)  # move the global RNG: the buffer must not use it
    assert run() == first


def test_empty_and_closed_state_dicts():
    state = FIROBuffer(3).state_dict()
    assert state["frames"].numel() == 0 and state["cond"].numel() == 0
    assert state["trajectory"].dtype == torch.int64 and state["time_index"].dtype == torch.int64
    assert state["trajectory"].shape == (0,) and state["counts"].shape == (0,)
    buf = FIFOBuffer(3)
    buf.put(sample(1))
    buf.close()
    other = FIFOBuffer(3)
    other.load_state_dict(buf.state_dict())
    assert other.closed and not other.put(sample(2))
    assert [s.trajectory for s in other.get_batch(3)] == [1]


def test_fresh_buffer_counters_and_count_dtype():
    buf = ReservoirBuffer(3, watermark=1, seed=0)
    assert buf.wait_time == 0.0 and buf.throttle_time == 0.0 and not buf.closed
    assert buf.received == buf.served == buf.evicted == 0
    buf.put(sample(0))
    buf.get_batch(1)
    assert buf.state_dict()["counts"].dtype == torch.int64 and buf.state_dict()[
        "counts"
    ].tolist() == [1]


def test_put_many_takes_what_fits_in_order():
    buf = FIFOBuffer(4)
    assert buf.put_many([]) == 0 and buf.received == 0
    assert buf.put_many([sample(i) for i in range(6)]) == 4  # room for four
    assert [s.trajectory for s in buf._samples] == [0, 1, 2, 3] and buf.received == 4
    assert buf.put_many([sample(9)]) == 0 and buf.received == 4  # full: nothing, no blocking
    buf.get_batch(3)
    assert buf.put_many([sample(i) for i in range(10, 14)]) == 3 and buf.received == 7
    assert [s.trajectory for s in buf.get_batch(4)] == [3, 10, 11, 12]
    with pytest.raises(TypeError, match="expected a Sample"):
        buf.put_many([(1, 2)])
    buf.close()
    assert buf.put_many([sample(20)]) == 0 and buf.received == 7 and len(buf) == 0


def test_put_many_into_a_full_reservoir_replaces_seen_samples():
    buf = ReservoirBuffer(2, watermark=1, seed=0)
    assert buf.put_many([sample(0), sample(1)]) == 2
    assert buf.put_many([sample(2)]) == 0  # both unseen: no room
    buf.get_batch(1)
    # one seen sample: the first new one replaces it, then every held sample is unseen again
    assert buf.put_many([sample(3), sample(4)]) == 1
    assert buf.evicted == 1 and buf.received == 3 and len(buf) == 2


def test_put_many_wakes_a_waiting_consumer():
    import threading

    buf = FIFOBuffer(4)
    entered, real = threading.Event(), buf._cond.wait_for

    def wait_for(predicate, timeout=None):
        entered.set()
        return real(predicate, timeout)

    buf._cond.wait_for = wait_for
    got = {}
    t = threading.Thread(target=lambda: got.setdefault("b", buf.get_batch(2, timeout=3)))
    t.start()
    assert entered.wait(3)
    assert buf.put_many([sample(0), sample(1)]) == 2  # must notify the waiting get_batch
    t.join(4)
    assert [s.trajectory for s in got["b"]] == [0, 1]


@pytest.mark.parametrize("bad", [-1, 1.5, "2"])
def test_replay_after_close_message(bad):
    with pytest.raises(ValueError, match=rf"^max_reuse must be an integer >= 0, got {bad!r}$"):
        FIROBuffer(3).replay_after_close(bad)


@pytest.mark.parametrize("kind", ["firo", "reservoir"])
def test_replay_serves_each_held_sample_max_reuse_times(kind):
    # 6 held, none served yet; replay with max_reuse 2 in batches of 4: each sample must be
    # served exactly twice in all, then [] (counted here, from the batches)
    buf = make_buffer(kind, 6, 1, seed=3)
    for i in range(6):
        buf.put(sample(i))
    buf.close()
    buf.replay_after_close(2)
    assert buf.replay == 2
    batches = []
    while batch := buf.get_batch(4):
        ids = [s.trajectory for s in batch]
        assert len(set(ids)) == len(ids) and len(ids) == min(4, len(buf))
        batches.append(ids)
        assert len(batches) < 10
    counts = [sum(ids.count(i) for ids in batches) for i in range(6)]
    assert counts == [2] * 6 and buf.served == 12
    assert buf.reuse == {"mean": 2.0, "max": 2} and buf.get_batch(2) == []


def test_replay_counts_serves_made_before_the_close():
    buf = ReservoirBuffer(3, watermark=1, seed=0)
    for i in range(3):
        buf.put(sample(i))
    buf.get_batch(3)  # each served once while open
    buf.close()
    buf.replay_after_close(2)
    assert sorted(s.trajectory for s in buf.get_batch(3)) == [0, 1, 2]  # second serve each
    assert buf.get_batch(3) == [] and len(buf) == 0 and buf.reuse["max"] == 2


def test_replay_without_bound_never_retires():
    buf = FIROBuffer(5, watermark=1, seed=1)
    for i in range(3):
        buf.put(sample(i))
    buf.close()
    buf.replay_after_close()  # default 0: no bound
    assert buf.replay == 0
    for _ in range(7):
        assert sorted(s.trajectory for s in buf.get_batch(5)) == [0, 1, 2]  # min(n, held)
    assert len(buf) == 3 and buf.served == 21 and buf.reuse == {"mean": 7.0, "max": 7}
    assert [len(buf.get_batch(2)) for _ in range(3)] == [2, 2, 2]


def test_replay_is_seeded_and_only_after_close():
    def order(seed):
        buf = FIROBuffer(6, watermark=1, seed=seed)
        for i in range(6):
            buf.put(sample(i))
        buf.replay_after_close(1)  # set while open: batches still remove samples
        first = [s.trajectory for s in buf.get_batch(2)]
        assert len(buf) == 4
        buf.close()
        rest = []
        while batch := buf.get_batch(3):
            rest.append([s.trajectory for s in batch])
        assert sorted(first + sum(rest, [])) == list(range(6))  # max_reuse 1: once each
        return first, rest

    assert order(4) == order(4)
    assert len({str(order(s)) for s in range(5)}) > 1


def test_throttle_time_adds_up_every_blocked_put():
    import time

    buf = FIFOBuffer(1)
    buf.put(sample(0))
    t0 = time.perf_counter()
    assert not buf.put(sample(1), timeout=0.05)  # full: blocks 0.05 s, then gives up
    assert not buf.put(sample(1), timeout=0.03)
    elapsed = time.perf_counter() - t0
    # both waits are counted (a wait never ends before its timeout), never more than the
    # wall time that passed
    assert 0.075 <= buf.throttle_time <= elapsed
