"""The stream ledger's bookkeeping, event by event, against counts kept by hand."""

import threading
import time

import pytest
import torch

from pdesurr.stream.buffers import FIFOBuffer
from pdesurr.stream.ledger import Ledger


def filled() -> Ledger:
    led = Ledger()
    for traj, n in ((3, 2), (1, 5), (7, 1), (4, 6)):
        for _ in range(n):
            led.sample(traj)
    led.event(0, ("done", 4))
    led.event(1, ("diverged", 7, 12, 0.75))
    led.event(1, ("alive",))
    return led


def test_counts_done_diverged_and_in_flight():
    led = filled()
    assert led.received == {3: 2, 1: 5, 7: 1, 4: 6}
    assert led.done == {4}
    assert led.diverged == {7: (12, 0.75)}
    # in flight: received, neither complete nor diverged
    assert led.in_flight() == {3: 2, 1: 5}
    assert set(led.heard) == {0, 1}
    led.event(2, ("done", 1))
    assert led.in_flight() == {3: 2}


def test_state_dict_round_trip_keeps_every_count():
    led = filled()
    state = led.state_dict()
    # plain tensors (loadable with weights_only=True), sorted by trajectory
    assert state["received_ids"].tolist() == [1, 3, 4, 7]
    assert state["received_counts"].tolist() == [5, 2, 6, 1]
    assert state["done"].tolist() == [4]
    assert state["diverged_ids"].tolist() == [7] and state["diverged_step"].tolist() == [12]
    assert state["diverged_time"].tolist() == [0.75]
    assert all(v.dtype in (torch.int64, torch.float64) for v in state.values())
    again = Ledger()
    again.load_state_dict(state)
    assert again.received == led.received
    assert again.done == led.done and again.diverged == led.diverged
    assert again.in_flight() == {3: 2, 1: 5}


def test_load_replaces_what_was_there():
    led = Ledger()
    led.sample(99)
    led.event(0, ("done", 98))
    led.load_state_dict(filled().state_dict())
    assert 99 not in led.received and 98 not in led.done


def test_empty_state_round_trip():
    state = Ledger().state_dict()
    # the checkpoint schema holds for a fresh run too: ids and counts are integers even
    # when empty (torch would make an empty list float32), times float64
    for key in ("received_ids", "received_counts", "done", "diverged_ids", "diverged_step"):
        assert state[key].dtype == torch.int64 and state[key].numel() == 0, key
    assert state["diverged_time"].dtype == torch.float64
    again = Ledger()
    again.load_state_dict(state)
    assert again.received == {} and again.done == set() and again.diverged == {}


@pytest.mark.parametrize("short", ["received_counts", "diverged_step", "diverged_time"])
def test_inconsistent_state_is_refused(short):
    state = filled().state_dict()
    state[short] = state[short][:-1]  # a truncated or hand-edited checkpoint
    with pytest.raises(ValueError):
        Ledger().load_state_dict(state)


def test_events_record_when_each_producer_was_last_heard():
    led = Ledger()
    before = time.monotonic()
    led.event(3, ("alive",))
    led.event(5, ("done", 1))
    first = led.heard[3]
    assert before <= first <= led.heard[5] <= time.monotonic()
    led.event(3, ("alive",))
    assert led.heard[3] >= first and led.done == {1}


def test_merge_adds_counts_and_unions_sets():
    a, b = filled(), Ledger()
    b.sample(3)
    b.sample(9)
    b.event(0, ("done", 3))
    b.event(0, ("diverged", 5, 2, 0.1))
    a.merge(b)
    assert a.received == {3: 3, 1: 5, 7: 1, 4: 6, 9: 1}
    assert a.done == {3, 4}
    assert a.diverged == {7: (12, 0.75), 5: (2, 0.1)}
    assert b.received == {3: 1, 9: 1}  # the other ledger is left alone


def test_close_when_over_waits_for_every_producer():
    led, buf = Ledger(), FIFOBuffer(4)
    led.close_when_over(3, buf)
    assert not buf.closed
    led.finished.add(0)
    led.dead[2] = "killed"
    led.close_when_over(3, buf)
    assert not buf.closed  # producer 1 is still running
    led.finished.add(1)
    led.close_when_over(3, buf)
    assert buf.closed


def test_samples_from_threads_are_all_counted():
    led = Ledger()

    def work(t):
        for _ in range(500):
            led.sample(t % 3)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert led.received == {0: 1000, 1: 1000, 2: 1000}
