"""The in-process transport: producers as threads of the trainer's process.

The embedded default (no ``mpiexec`` needed): each producer runs
:func:`~pdesurr.stream.producer.produce` in a thread and puts its samples straight into
the trainer's buffer, through the same event schema as the MPI transport. A full buffer
blocks the producer (throttled, never dropped); torch releases the GIL inside its
kernels, so solving and training overlap on a multi-core machine.

A producer that dies (an exception in its thread) is noticed by :meth:`poll`: the
trainer logs it and goes on with the others.
"""

from __future__ import annotations

import threading

from pdesurr.stream.buffer import ROOM_WAIT
from pdesurr.stream.ledger import Ledger
from pdesurr.stream.producer import produce


class ProducerKilled(RuntimeError):
    """Raised inside a producer by fault injection (tests of fault handling)."""


class ThreadTransport:
    def __init__(
        self,
        spec,
        split,
        assignments,
        window,
        buffer,
        ledger: Ledger,
        skip=None,
        exclude=frozenset(),
        device="cpu",
        fail_after: dict[int, int] | None = None,
    ):
        self.buffer, self.ledger = buffer, ledger
        self.fail_after = fail_after or {}
        self.stop_flag = threading.Event()
        self.errors: dict[int, str] = {}
        self.threads = [
            threading.Thread(
                target=self._run,
                name=f"producer-{p}",
                daemon=True,
                args=(p, produce(spec, split, chunks, window, device, skip, exclude)),
            )
            for p, chunks in enumerate(assignments)
        ]

    def start(self) -> ThreadTransport:
        for t in self.threads:
            t.start()
        return self

    def _put(self, sample) -> bool:
        """Put under the ledger lock; while the buffer is full, sleep on its condition
        outside that lock (a poll would take the GIL from the training thread hundreds of
        times a second, as the MPI receiver's did: :func:`pdesurr.stream.bundled._put_all`)."""
        while not self.stop_flag.is_set() and not self.buffer.closed:
            with self.ledger.lock:  # buffer and ledger change together (checkpoints see both)
                if self.buffer.put(sample, block=False):
                    self.ledger.sample(sample.trajectory)
                    return True
            self.buffer.wait_room(ROOM_WAIT)
        return False

    def _run(self, p, events) -> None:
        sent = 0
        try:
            for event in events:
                if self.stop_flag.is_set():
                    return
                if event[0] == "sample":
                    if p in self.fail_after and sent >= self.fail_after[p]:
                        raise ProducerKilled(
                            f"producer {p} killed after {sent} samples (fault injection)"
                        )
                    if not self._put(event[1]):
                        return
                    sent += 1
                    self.ledger.event(p, ("alive",))
                else:
                    self.ledger.event(p, event)
            with self.ledger.lock:
                self.ledger.finished.add(p)
        except Exception as e:  # a dead producer must not take the trainer with it
            with self.ledger.lock:
                self.ledger.dead[p] = f"{type(e).__name__}: {e}"

    def poll(self) -> None:
        """Close the buffer once every producer has finished or died."""
        self.ledger.close_when_over(len(self.threads), self.buffer)

    def stop(self) -> None:
        self.stop_flag.set()
        self.buffer.close()
        for t in self.threads:
            t.join(timeout=30)
