"""The MPI transport: producer ranks send windows to the trainer rank as raw buffers.

Messages (all from a producer to its trainer, except credits and stop):

    header   int64[4]  (kind, trajectory, time index or step, 0); kinds: 0 sample, 1 done,
                       2 diverged, 3 alive, 4 bye                               tag 21
    payload  float32[n_cond + W*C*prod(S)] for a sample; float64[1] (time) for a divergence
                                                                               tag 22
    credit   int64[1]  trainer -> producer: may send that many more samples     tag 23
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
import torch

from pdesurr.stream.buffers import Sample
from pdesurr.stream.producer import produce

TAG_HEADER, TAG_PAYLOAD, TAG_CREDIT, TAG_STOP = 21, 22, 23, 24
SAMPLE, DONE, DIVERGED, ALIVE, BYE = range(5)


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

    header = np.zeros(4, np.int64)
    credit_buf = np.zeros(1, np.int64)
    # no credit until the trainer grants the first ``credits`` (MPIReceiver.start)
    state = {"credits": 0, "stopped": False, "sent": 0, "alive": 0.0, "bye": False}

    def take_messages(block: bool) -> None:
        status = MPI.Status()
        while True:
            if block:
                comm.Probe(source=trainer, tag=MPI.ANY_TAG, status=status)
            elif not comm.Iprobe(source=trainer, tag=MPI.ANY_TAG, status=status):
                return
            comm.Recv(credit_buf, source=trainer, tag=status.tag)
            if status.tag == TAG_STOP:
                state["stopped"] = True
                return
            state["credits"] += int(credit_buf[0])
            block = False

    def send(kind, a=0, b=0, payload=None):
        header[:] = (kind, a, b, 0)
        comm.Send(header, dest=trainer, tag=TAG_HEADER)
        if payload is not None:
            comm.Send(payload, dest=trainer, tag=TAG_PAYLOAD)

    def goodbye() -> None:
        if not state["bye"]:
            send(BYE)
            state["bye"] = True

    for event in produce(spec, split, chunks, window, device, skip, exclude):
        take_messages(block=False)
        if state["stopped"]:
            return goodbye()
        kind = event[0]
        if kind == "alive":
            if time.monotonic() - state["alive"] > 1.0:
                send(ALIVE)
                state["alive"] = time.monotonic()
        elif kind == "sample":
            while state["credits"] == 0 and not state["stopped"]:
                take_messages(block=True)
            if state["stopped"]:
                return goodbye()
            if fail_after is not None and state["sent"] >= fail_after:
                while True:  # fault injection: this producer hangs, silent, like a dead node
                    time.sleep(3600)
            s: Sample = event[1]
            payload = np.concatenate([s.cond.numpy().ravel(), s.frames.numpy().ravel()])
            send(SAMPLE, s.trajectory, s.time_index, payload.astype(np.float32))
            state["credits"] -= 1
            state["sent"] += 1
        elif kind == "done":
            send(DONE, event[1])
        elif kind == "diverged":
            send(DIVERGED, event[1], event[2], np.array([event[3]], np.float64))
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
    ):
        self.on_dead = on_dead  # called as on_dead(rank, why) when a producer is declared dead
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
        now = time.monotonic()
        for p in self.producers:
            self.ledger.heard[p] = now
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

    def _accounted(self) -> bool:
        with self.ledger.lock:
            return all(p in self.ledger.finished or p in self.ledger.dead for p in self.producers)

    def _run(self) -> None:
        from mpi4py import MPI

        header = np.zeros(4, np.int64)
        status = MPI.Status()
        empty = 0
        while not (self.stopping.is_set() and self._accounted()):
            if not self.comm.Iprobe(source=MPI.ANY_SOURCE, tag=TAG_HEADER, status=status):
                self._check_silence()
                empty += 1
                # keep probing while messages flow (a Send completes when this side makes
                # progress), back off when the stream is quiet
                time.sleep(0 if empty < 200 else 0.0005)
                continue
            empty = 0
            src = status.source
            self.comm.Recv(header, source=src, tag=TAG_HEADER)
            kind, a, b = int(header[0]), int(header[1]), int(header[2])
            with self.ledger.lock:
                self.ledger.heard[src] = time.monotonic()
            if kind == SAMPLE:
                buf = np.empty(self.size, np.float32)
                self.comm.Recv(buf, source=src, tag=TAG_PAYLOAD)
                if self.stopping.is_set():
                    continue  # training is over: drain, grant nothing
                t = torch.from_numpy(buf)
                frames = t[self.n_cond :].reshape(self.shape).clone()
                if self._put(Sample(frames, t[: self.n_cond].clone(), a, b)):
                    self.comm.Send(np.array([1], np.int64), dest=src, tag=TAG_CREDIT)
            elif kind == DONE:
                self.ledger.event(src, ("done", a))
            elif kind == DIVERGED:
                t = np.empty(1, np.float64)
                self.comm.Recv(t, source=src, tag=TAG_PAYLOAD)
                self.ledger.event(src, ("diverged", a, b, float(t[0])))
            elif kind == BYE:
                with self.ledger.lock:
                    self.ledger.finished.add(src)

    def _check_silence(self) -> None:
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
