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
        match=r"sample frames \(2, 1, 5\) torch.float32, cond \(1,\) "
        r"differ from held frames \(2, 1, 4\) torch.float32, cond \(1,\)",
    ):
        buf.put(sample(1, width=5))
    bad_cond = Sample(torch.zeros(2, 1, 4), torch.zeros(2), 0, 0)
    with pytest.raises(ValueError, match=r"cond \(2,\) differ"):
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
