"""The MPI transport: producer ranks send windows to the trainer rank as raw buffers.

Messages (all from a producer to its trainer, except credits and stop):

    hello    3 messages at the start: the shared-memory handshake
                       (:mod:`pdesurr.stream.shared`)                          tag 26
    bundle   bytes     many samples and events (sample, done, diverged, alive, bye) in
                       the fixed layout of :mod:`pdesurr.stream.bundle`, sent with
                       ``Isend`` from a ring of buffers (:mod:`pdesurr.stream.bundled`);
                       from a producer whose segment the trainer mapped, a 16-byte
                       reference to the slot holding that layout               tag 25
    credit   int64[1+r] trainer -> producer: may send that many more samples;
                       then r released slots of its segment (if any)           tag 23
    stop     int64[1]  trainer -> producer: finish now                          tag 24

Arrays travel as buffers (``Send``/``Recv``), never pickles; shapes are known on both
sides from the spec and the recipe. Flow control by credits: the trainer grants each
producer ``credits`` at the start and one more for each sample it has put in its buffer,
so at most ``capacity + producers x credits`` samples exist on the trainer side, and a
producer with no credit waits (throttled, never dropped). At the end the trainer sends
stop, keeps draining (discarding) until every live producer has said bye, then returns:
no producer is left blocked in a ``Send``.

Faults. Producers send a heartbeat at most once a second; a producer silent for
``timeout`` seconds (hung, frozen, its node unreachable) is declared dead, reported at
once through ``on_dead``, and the trainer goes on with the others; since that rank will
never reach ``MPI_Finalize``, the job ends after training, with the final checkpoint
written, the summary printed and exit code 4 (``pdesurr train`` does this at the CLI
edge): the same command resumes. A producer that *crashes* (killed, segfault) ends the
whole job at once under MPICH, with or without ``mpiexec -disable-auto-cleanup`` (the
trainer's receives from any rank fail once a peer is gone): ``mpiexec`` names the PID
and host of the failed process (the trainer's first log line maps PIDs to ranks), and the
last periodic checkpoint (``train.checkpoint_every``) is where the same command resumes.
"""

from __future__ import annotations

import math
import threading
import time

import numpy as np

from pdesurr.stream.buffer import Sample
from pdesurr.stream.producer import produce

TAG_HEADER, TAG_PAYLOAD, TAG_CREDIT, TAG_STOP, TAG_BUNDLE = 21, 22, 23, 24, 25
SAMPLE, DONE, DIVERGED, ALIVE, BYE = range(5)  # as in pdesurr.stream.bundle


def run_producer(
    comm,
    trainer: int,
    spec,
    split,
    chunks,
    window,
    sample_shape,
    credits: int,
    skip=None,
    exclude=frozenset(),
    device="cpu",
    fail_after: int | None = None,
):
    """The loop of a producer rank; returns when done (after the trainer's stop)."""
    from mpi4py import MPI

    from pdesurr.stream.bundle import bundle_samples, max_bytes
    from pdesurr.stream.bundled import BundleSender
    from pdesurr.stream.shared import offer_segment

    n_cond = len(window.conditioning) if window is not None else 0
    floats = n_cond + math.prod(sample_shape)
    # first the shared-memory handshake (pdesurr.stream.shared): slots, or messages
    slots = offer_segment(comm, trainer, max_bytes(bundle_samples(floats, credits), floats))
    # a credit message: credits granted, then slots released
    credit_buf = np.zeros(1 + (slots.slots if slots is not None else 0), np.int64)
    # no credit until the trainer grants the first ``credits`` (MPIReceiver.start)
    state = {"credits": 0, "stopped": False, "sent": 0, "alive": 0.0, "bye": False}

    def take_messages(block: bool) -> None:
        status = MPI.Status()
        while True:
            if block:
                comm.Probe(source=trainer, tag=MPI.ANY_TAG, status=status)
            elif not comm.Iprobe(source=trainer, tag=MPI.ANY_TAG, status=status):
                return
            n = status.Get_count(MPI.BYTE) // credit_buf.itemsize
            comm.Recv(credit_buf, source=trainer, tag=status.tag)
            if status.tag == TAG_STOP:
                state["stopped"] = True
                return
            state["credits"] += int(credit_buf[0])
            if n > 1:
                slots.release(credit_buf[1:n].tolist())
            block = False

    sender = BundleSender(
        comm, trainer, TAG_BUNDLE, floats, n_cond, credits, slots=slots,
        wait=lambda: take_messages(block=True), stopping=lambda: state["stopped"],
    )  # fmt: skip

    def goodbye() -> None:
        if not state["bye"]:
            sender.event(BYE)
            sender.close()
            state["bye"] = True

    for event in produce(spec, split, chunks, window, device, skip, exclude):
        if sender.poll_due(state["credits"]):
            take_messages(block=False)
        if state["stopped"]:
            return goodbye()
        kind = event[0]
        if kind == "alive":
            sender.tick()
        elif kind == "sample":
            if state["credits"] == 0:
                sender.flush()
            while state["credits"] == 0 and not state["stopped"]:
                take_messages(block=True)
            if state["stopped"]:
                return goodbye()
            if fail_after is not None and state["sent"] >= fail_after:
                sender.flush()  # what was sent arrives
                while True:  # fault injection: this producer hangs, silent, like a dead node
                    time.sleep(3600)
            s: Sample = event[1]
            sender.sample(s)
            state["credits"] -= 1
            state["sent"] += 1
        elif kind == "done":
            sender.event(DONE, event[1])
        elif kind == "diverged":
            sender.event(DIVERGED, event[1], event[2], event[3])
    goodbye()
    while not state["stopped"]:  # wait for the trainer's stop: an orderly MPI_Finalize
        take_messages(block=True)


class MPIReceiver:
    """The trainer's side: a thread that receives events into the buffer and the ledger."""

    def __init__(
        self,
        comm,
        producers: list[int],
        buffer,
        ledger,
        sample_shape,
        n_cond: int,
        credits: int,
        timeout: float,
        on_dead=None,
        shared_memory: bool = True,
    ):
        self.on_dead = on_dead  # called as on_dead(rank, why) when a producer is declared dead
        # bundles of producers on this node through their memory (pdesurr.stream.shared)
        self.shared_memory = shared_memory
        self.shared: dict = {}  # rank -> SharedBundles, filled by start()
        self.paths: dict[int, str] = {}  # rank -> how its bundles travel (for the log)
        self.comm, self.producers, self.buffer, self.ledger = comm, producers, buffer, ledger
        self.shape, self.n_cond, self.credits, self.timeout = (
            tuple(sample_shape),
            n_cond,
            credits,
            timeout,
        )
        self.size = n_cond + math.prod(sample_shape)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="mpi-receiver", daemon=True)

    def start(self) -> MPIReceiver:
        """The shared-memory handshake with every producer, then the first credits, then
        the receive thread. A producer silent through the handshake for ``timeout`` s is
        declared dead."""
        from pdesurr.stream.bundle import FLOAT_BYTES, bundle_samples, max_bytes
        from pdesurr.stream.bundled import GROUP_BYTES, RING
        from pdesurr.stream.recvpool import ReceivePool
        from pdesurr.stream.shared import accept_segments

        per = bundle_samples(self.size, self.credits)
        capacity = getattr(self.buffer, "capacity", 0)
        slots, why_not = ReceivePool.limit_for(RING, capacity, per), ""
        if not self.shared_memory:
            slots, why_not = 0, "online.shared_memory = false"
        elif FLOAT_BYTES * self.size < GROUP_BYTES:  # copied out on arrival either way
            slots, why_not = 0, f"samples under {GROUP_BYTES} bytes are copied out"
        self.shared, self.paths, silent = accept_segments(
            self.comm,
            self.producers,
            slots,
            max_bytes(per, self.size),
            RING,
            self.timeout,
            why_not,
        )
        now = time.monotonic()
        for p in self.producers:
            self.ledger.heard[p] = now
            if p in silent:
                with self.ledger.lock:
                    self.ledger.dead[p] = f"no handshake within {self.timeout:g} s"
                if self.on_dead is not None:
                    self.on_dead(p, self.ledger.dead[p])
                continue
            self.comm.Send(np.array([self.credits], np.int64), dest=p, tag=TAG_CREDIT)
        self.thread.start()
        return self

    def _put(self, sample) -> bool:
        while not self.stopping.is_set():
            with self.ledger.lock:
                if self.buffer.put(sample, block=False):
                    self.ledger.sample(sample.trajectory)
                    return True
            time.sleep(0.001)
        return False

    def accounted(self) -> bool:
        """Has every producer of this receiver said goodbye or been declared dead."""
        with self.ledger.lock:
            return all(p in self.ledger.finished or p in self.ledger.dead for p in self.producers)

    def _run(self) -> None:
        from pdesurr.stream.bundled import receive_bundles

        receive_bundles(self, TAG_BUNDLE, TAG_CREDIT)

    def check_silence(self) -> None:
        """Declare dead each producer silent for more than ``timeout`` seconds."""
        now, declared = time.monotonic(), []
        with self.ledger.lock:
            for p in self.producers:
                if p in self.ledger.finished or p in self.ledger.dead:
                    continue
                if now - self.ledger.heard.get(p, now) > self.timeout:
                    self.ledger.dead[p] = f"silent for more than {self.timeout:g} s"
                    declared.append(p)
        for p in declared:  # outside the lock: the callback may log, flush, take time
            if self.on_dead is not None:
                self.on_dead(p, self.ledger.dead[p])

    def poll(self) -> None:
        self.ledger.close_when_over(len(self.producers), self.buffer)

    def stop(self) -> list[int]:
        """Tell the live producers to finish, drain what they still send until each says
        goodbye (or is declared dead), then stop; returns the dead ones."""
        self.stopping.set()
        self.buffer.close()
        with self.ledger.lock:
            live = [p for p in self.producers if p not in self.ledger.dead]
        for p in live:
            self.comm.Send(np.zeros(1, np.int64), dest=p, tag=TAG_STOP)
        self.thread.join(timeout=self.timeout + 30)
        return sorted(self.ledger.dead)
