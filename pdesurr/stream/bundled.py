"""Bundled MPI messaging: non-blocking sends from a ring, receives posted ahead.

The producer side (:class:`BundleSender`) packs samples straight into one of ``ring``
preallocated bundle buffers (:mod:`pdesurr.stream.bundle`) and ships a full one with
``Isend``, so the solver computes the next frames while the message travels; a buffer is
re-used only once its previous send completed. A bundle leaves when it is full, when the
producer runs out of credits, or when its oldest content is older than ``max_delay``
seconds at a heartbeat (the solver is slow: do not hold samples back); with nothing sent
for a second, an ``ALIVE`` event goes alone.

The trainer side (:func:`receive_bundles`) keeps ``ring`` ``Irecv`` posted ahead into
preallocated buffers (from any producer, completed in posting order, so each producer's
events stay in order). Samples of at least ``GROUP_BYTES`` view their receive buffer in
place and a free buffer of a bounded pool is posted instead
(:mod:`pdesurr.stream.recvpool`: a held sample pins its bundle); smaller ones, or all when
the pool is exhausted, are copied out (a held one pins at most ``max(its size,
GROUP_BYTES)``) and the buffer is re-posted. Then it puts the samples into the buffer in
one locked call (:meth:`~pdesurr.stream.buffer.Buffer.put_many`) and sends one credit
message per bundle. Credits count samples, as before: at most ``capacity + producers x credits``
samples exist on the trainer side.

A producer on the trainer's node whose segment the trainer mapped packs into a slot of it
and sends a reference instead (:mod:`pdesurr.stream.shared`); the samples then view the
slot, and released slots go back in the credit messages.
"""

from __future__ import annotations

import time
from collections import deque

import numpy as np
import torch

from pdesurr.stream.buffer import ROOM_WAIT, Sample
from pdesurr.stream.bundle import (
    ALIVE,
    BYE,
    DIVERGED,
    DONE,
    FLOAT_BYTES,
    BundleWriter,
    bundle_samples,
    max_bytes,
    read_bundle,
    split_events,
)
from pdesurr.stream.recvpool import ReceivePool
from pdesurr.stream.shared import REF, REF_MAGIC

GROUP_BYTES = 4096  # received samples are copied out in groups of about this size
HEARTBEAT = 1.0  # s: a producer with nothing else to send says it is alive this often
SILENCE_CHECK = 0.05  # s between two checks for silent producers while nothing arrives
# a producer's bundle buffers in rotation: three bundles in flight while the next one fills;
# a deeper ring only spreads the copies over more memory (4 MiB bundles of 128² samples,
# benchmarks/stream.py --parts mpi: 0.51-0.52 of bare with 3, 0.47-0.51 with 6; 64 floats
# and 64² unchanged)
RING = 3


class Backoff:
    """The receive thread's wait between two empty tests: ``spins`` bare yields (a bundle
    in flight completes within a few progress calls), then sleeps doubling from ``first``
    to ``longest`` seconds; :meth:`reset` on every arrival.

    Each wake-up takes the GIL from the training thread on the same core, so a quiet
    stream must not be polled at a fixed fine interval (a 0.5 ms poll after 200 yields
    took 13-20 % of the trainer rank's core at ~50 bundles/s); a ring of receives posted
    ahead keeps the producers sending while the thread sleeps, and ``longest`` bounds the
    latency a sleeping receiver adds to a burst.
    """

    def __init__(self, spins: int = 3, first: float = 1e-4, longest: float = 1e-2):
        self.spins, self.first, self.longest = spins, first, longest
        self.reset()

    def reset(self) -> None:
        self.empty, self.delay = 0, self.first

    def sleep(self) -> float:
        """Wait once; return the seconds asked for (0 for a yield)."""
        self.empty += 1
        if self.empty <= self.spins:
            time.sleep(0)
            return 0.0
        delay = self.delay
        time.sleep(delay)
        self.delay = min(2 * delay, self.longest)
        return delay


class BundleSender:
    """The producer's side. With ``slots`` (a :class:`~pdesurr.stream.shared.SharedSlots`
    the trainer mapped) bundles are packed into a free slot and a reference is sent;
    ``wait()`` then blocks for the trainer's next message (credits, released slots) and
    ``stopping()`` says whether the trainer said stop (see :mod:`pdesurr.stream.shared`)."""

    def __init__(self, comm, dest: int, tag: int, floats: int, n_cond: int, credits: int,
                 ring: int = RING, max_delay: float = 0.02, slots=None, wait=None,
                 stopping=None):  # fmt: skip
        from mpi4py import MPI

        self.MPI, self.comm, self.dest, self.tag = MPI, comm, dest, tag
        self.slots, self.wait, self.stopping = slots, wait, stopping
        m = bundle_samples(floats, credits)
        ring = 1 if slots is not None else ring  # one writer: slots hold the bundles in flight
        self.writers = [BundleWriter(m, floats, n_cond) for _ in range(ring)]
        self.requests = [MPI.REQUEST_NULL] * ring
        self.i, self.max_delay = 0, max_delay
        self.t_first: float | None = None  # when the pending bundle got its first content
        self.t_sent = 0.0
        self.messages = self.polled = self.events = self.completed = 0
        # samples large enough to poke sends at every event (no sends to poke with slots)
        self.big = 4 * floats >= 4096 and slots is None

    def poll_due(self, credits: int) -> bool:
        """Whether to look for credits and stop now: at every event while credits run low
        (fewer than two bundles), else after each bundle sent and every 64th event."""
        self.events += 1
        if self.big and self.messages > self.completed:
            # without an MPI progress thread a large Isend advances only inside MPI calls:
            # poke it between events (one Testall, ~1 us; skipped for small samples)
            if self.MPI.Request.Testall(self.requests):
                self.completed = self.messages
        due = credits < 2 * self.writer.max_samples or self.polled < self.messages
        if due or self.events % 64 == 0:
            self.polled = self.messages
            return True
        return False

    @property
    def writer(self) -> BundleWriter:
        return self.writers[self.i]

    def _touch(self) -> None:
        if self.t_first is None:
            self.t_first = time.monotonic()

    def sample(self, s: Sample) -> None:
        """Add a sample to the pending bundle; ship it when full."""
        w = self.writer
        w.sample(s.trajectory, s.time_index, s.cond, s.frames)
        self._touch()
        if w.full:
            self.flush()

    def event(self, kind: int, a: int = 0, b: int = 0, x: float = 0.0) -> None:
        if self.writer.full:
            self.flush()
        self.writer.event(kind, a, b, x)
        self._touch()
        if kind in (BYE, ALIVE):
            self.flush()

    def tick(self) -> None:
        """At a heartbeat: ship an old bundle; say alive if nothing went for a while."""
        now = time.monotonic()
        if self.t_first is not None and now - self.t_first > self.max_delay:
            self.flush()
        elif self.t_first is None and now - self.t_sent > HEARTBEAT:
            self.event(ALIVE)

    def flush(self) -> None:
        w = self.writer
        if w.e == 0:
            return
        if self.slots is not None:
            return self._flush_shared(w)
        msg = w.finish()
        self.requests[self.i] = self.comm.Isend([msg, self.MPI.BYTE], dest=self.dest, tag=self.tag)
        self.messages += 1
        self.i = (self.i + 1) % len(self.writers)
        self.requests[self.i].Wait()  # the next buffer's previous send is done: re-use it
        self.writers[self.i].reset()
        self.t_first, self.t_sent = None, time.monotonic()

    def _flush_shared(self, w: BundleWriter) -> None:
        k = self.slots.take()
        while k is None and not self.stopping():
            self.wait()  # every slot pinned by the trainer: wait for a release
            k = self.slots.take()
        if k is None:  # stopping, every slot pinned: no release comes now, send the bytes
            msg = w.finish()
            self.comm.Send([msg, self.MPI.BYTE], dest=self.dest, tag=self.tag)
        else:
            msg = w.finish(self.slots.slot(k))
            ref = REF.pack(REF_MAGIC, k, len(msg))
            self.comm.Send([ref, len(ref), self.MPI.BYTE], dest=self.dest, tag=self.tag)
        self.messages += 1
        w.reset()
        self.t_first, self.t_sent = None, time.monotonic()

    def close(self) -> None:
        """Send what is pending and wait until every send has completed."""
        self.flush()
        self.MPI.Request.Waitall(self.requests)


def receive_bundles(rx, tag: int, credit_tag: int, ring: int | None = None) -> None:
    """The receive loop of an :class:`~pdesurr.stream.mpi.MPIReceiver` ``rx``: runs until
    it is stopping and every producer said goodbye or was declared dead."""
    from mpi4py import MPI

    comm, floats = rx.comm, rx.size
    per = bundle_samples(floats, rx.credits)
    ring = ring or min(8, 2 + 2 * len(rx.producers))
    # samples of at least GROUP_BYTES are not copied out but view their receive buffer
    capacity = getattr(rx.buffer, "capacity", 0)
    pool = ReceivePool(max_bytes(per, floats), ReceivePool.limit_for(ring, capacity, per))
    in_place = FLOAT_BYTES * floats >= GROUP_BYTES
    shared = rx.shared  # rank -> SharedBundles: that producer's bundles lie in its segment
    posted: deque = deque()

    def post(buf):
        posted.append((comm.Irecv([buf, MPI.BYTE], source=MPI.ANY_SOURCE, tag=tag), buf))

    for _ in range(ring):
        post(pool.take())
    status = MPI.Status()
    wait = Backoff()
    next_check = 0.0
    rx.bundles, rx.work_time = 0, 0.0  # bundles taken; s spent handling them (monitoring)
    while not (rx.stopping.is_set() and rx.accounted()):
        req, buf = posted[0]
        if not req.Test(status):
            if shared:
                send_released(rx, credit_tag)  # a producer may be waiting for a slot
            now = time.monotonic()
            if now >= next_check:
                rx.check_silence()
                next_check = now + SILENCE_CHECK
            wait.sleep()
            continue
        wait.reset()
        t_work = time.perf_counter()
        posted.popleft()
        src = status.Get_source()
        nbytes = status.Get_count(MPI.BYTE)
        view = shared.get(src) if nbytes == REF.size else None
        if view is not None:  # a reference to a bundle in the producer's segment
            slot, bundle = view.bundle(buf)
            frames, cond, events = read_bundle(bundle, len(bundle), floats, rx.n_cond)
        else:
            frames, cond, events = read_bundle(buf, nbytes, floats, rx.n_cond)
        samples, spare = [], None
        sampled, other = split_events(events, len(frames))
        live = len(frames) and not rx.stopping.is_set()  # after the stop: drain, grant nothing
        if view is not None:  # (only samples of >= GROUP_BYTES take this path: MPIReceiver)
            if live and view.can_lend():  # views of the slot, released when all are gone
                lent = view.lend(slot, bundle, len(frames), floats, rx.n_cond, rx.shape)
                samples = _samples(*lent, sampled)
                del lent  # the samples alone hold the views now
            else:  # nothing to keep, or too many of its slots pinned: copy out, release
                if live:
                    samples = unpack_samples(frames, cond, sampled, rx.shape)
                    view.copied += 1
                view.release(slot)
            post(buf)
        else:
            if live:
                spare = pool.take() if in_place else None
                if spare is not None:  # the samples view buf; a free buffer takes its place
                    samples = lend_samples(pool, buf, sampled, floats, rx.n_cond, rx.shape)
                else:  # small samples, or every pooled buffer pinned: copy out
                    samples = unpack_samples(frames, cond, sampled, rx.shape)
            post(buf if spare is None else spare)
        del frames, cond
        rx.bundles += 1
        with rx.ledger.lock:
            rx.ledger.heard[src] = time.monotonic()
        # with the credits go this producer's released slots, this one's too if no sample kept it
        deliver(rx, src, samples, other, credit_tag, view.take_released if view else None)
        if shared:
            send_released(rx, credit_tag)
        rx.work_time += time.perf_counter() - t_work
    for req, _ in posted:  # every producer is accounted for: nothing more will match
        req.Cancel()
    # a receive matched by a dead producer's half-sent bundle cannot be cancelled: give
    # up on it after a second rather than wait forever
    pending, deadline = [req for req, _ in posted], time.monotonic() + 1.0
    while pending and time.monotonic() < deadline:
        pending = [req for req in pending if not req.Test()]
        time.sleep(0.001)


def unpack_samples(frames: np.ndarray, cond: np.ndarray, sampled: np.ndarray, shape) -> list:
    """A bundle's samples, in order, copied out of the receive buffer; ``sampled`` are its
    ``SAMPLE`` events (one per row of ``frames`` and ``cond``).

    Copies go in groups of about ``GROUP_BYTES`` (each group its own storage; a sample is a
    view of its group): one copy per sample would dominate for small samples, one copy
    per bundle would let a single held sample pin a whole bundle. So a held sample keeps
    at most ``max(its size, GROUP_BYTES)`` alive.
    """
    n = len(frames)
    g = max(1, GROUP_BYTES // (4 * (frames.shape[1] + cond.shape[1])))
    fs = []
    with torch.inference_mode():  # cheaper views (see ReceivePool.lend)
        for i in range(0, n, g):
            fs += torch.from_numpy(frames[i : i + g].copy()).view(-1, *shape).unbind(0)
        cs = torch.from_numpy(cond.copy()).unbind(0)  # a few floats each: one copy per bundle
    return _samples(fs, cs, sampled)


def lend_samples(pool, buf, sampled: np.ndarray, floats: int, n_cond: int, shape) -> list:
    """A bundle's samples, in order, viewing the received bundle ``buf`` in place (see
    :mod:`pdesurr.stream.recvpool`: a held sample pins its bundle, the pool bounds them);
    ``sampled`` are its ``SAMPLE`` events."""
    fs, cs = pool.lend(buf, len(sampled), floats, n_cond, shape)
    return _samples(fs, cs, sampled)


def _samples(frames, cond, sampled: np.ndarray) -> list[Sample]:
    """One :class:`Sample` per frame view, conditioning view and ``SAMPLE`` event."""
    return list(map(Sample, frames, cond, sampled["a"].tolist(), sampled["b"].tolist()))


def send_released(rx, credit_tag: int) -> None:
    """Give back to each producer the slots its samples released since the last message
    (none after the stop: a stopping producer sends its last bundles as messages)."""
    if rx.stopping.is_set():
        return
    for p, view in rx.shared.items():
        if view.released:
            msg = np.array([0, *view.take_released()], np.int64)
            rx.comm.Send(msg, dest=p, tag=credit_tag)


def deliver(rx, src: int, samples: list, other: list, credit_tag: int, released=None) -> None:
    """A bundle's samples (in order), then its other events ``(kind, a, b, x)`` in their
    order: each event after the samples that precede it. The events of a bundle concern
    trajectories whose samples came before them (``done`` and ``diverged`` end a
    trajectory's stream, ``bye`` the producer's), so putting the whole bundle first changes
    no outcome, and takes one locked put (and one ledger update) instead of one per event.
    ``samples`` is emptied once put: a sample the buffer did not keep releases its bundle
    now. The credit message ``int64[1 + r]`` grants samples, then gives back the slots of
    the producer's segment that ``released()`` names (:mod:`pdesurr.stream.shared`)."""
    granted = _put_all(rx, samples)
    samples.clear()
    for kind, a, b, x in other:
        if kind == DONE:
            rx.ledger.event(src, ("done", a))
        elif kind == DIVERGED:
            rx.ledger.event(src, ("diverged", a, b, x))
        elif kind == BYE:
            with rx.ledger.lock:
                rx.ledger.finished.add(src)
    # none after the stop: a stopping producer waits for no slot (see send_released)
    released = released() if released is not None and not rx.stopping.is_set() else ()
    if granted or released:
        rx.comm.Send(np.array([granted, *released], np.int64), dest=src, tag=credit_tag)


def _put_all(rx, samples: list[Sample]) -> int:
    """Put ``samples`` (waiting while the buffer is full, on its condition: a poll would
    take the GIL from the training thread ~1000 times a second); how many were put."""
    done = 0
    while done < len(samples) and not rx.stopping.is_set():
        with rx.ledger.lock:  # buffer and ledger change together (checkpoints see both)
            n = rx.buffer.put_many(samples[done:])
            rx.ledger.samples([s.trajectory for s in samples[done : done + n]])
        done += n
        if done < len(samples):  # full: sleep until a batch makes room (outside the ledger lock)
            rx.buffer.wait_room(ROOM_WAIT)
    return done
