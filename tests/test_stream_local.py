"""The in-process transport's put: throttled by a full buffer without polling it."""

import threading
import time

import torch

from pdesurr.stream.buffer import Sample
from pdesurr.stream.buffers import FIFOBuffer
from pdesurr.stream.ledger import Ledger
from pdesurr.stream.local import ThreadTransport


def _sample(i: int) -> Sample:
    return Sample(torch.full((1, 1, 4), float(i)), torch.zeros(1), i, 0)


class CountingFIFO(FIFOBuffer):
    def __init__(self, capacity):
        super().__init__(capacity)
        self.tries = 0

    def put(self, sample, block=True, timeout=None):
        self.tries += 1
        return super().put(sample, block, timeout)


def _transport(buffer) -> ThreadTransport:
    return ThreadTransport(None, "train", [], None, buffer, Ledger())


def test_a_full_buffer_puts_the_producer_to_sleep_until_a_batch_makes_room():
    buffer = CountingFIFO(1)
    transport = _transport(buffer)
    assert transport._put(_sample(0))
    done = []
    producer = threading.Thread(target=lambda: done.append(transport._put(_sample(1))), daemon=True)
    producer.start()
    time.sleep(0.5)  # full: a 2 ms poll would try ~250 times, a 50 ms timeout ~10
    assert buffer.tries - 1 <= 15 and not done
    t0 = time.monotonic()
    assert [s.trajectory for s in buffer.get_batch(1)] == [0]  # room: woken at once
    producer.join(timeout=5)
    assert done == [True] and time.monotonic() - t0 < 0.04
    assert transport.ledger.received == {0: 1, 1: 1}
    assert [s.trajectory for s in buffer.get_batch(1)] == [1]


def test_stop_and_close_release_a_producer_waiting_on_a_full_buffer():
    for release in ("stop", "close"):
        buffer = CountingFIFO(1)
        transport = _transport(buffer)
        transport._put(_sample(0))
        done = []
        producer = threading.Thread(
            target=lambda t=transport, d=done: d.append(t._put(_sample(1))), daemon=True
        )
        producer.start()
        time.sleep(0.1)
        transport.stop() if release == "stop" else buffer.close()
        producer.join(timeout=2)
        assert done == [False], release
        assert transport.ledger.received == {0: 1}
