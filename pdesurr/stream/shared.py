"""Bundles through shared memory when a producer and its trainer share a node.

Over MPI within a node a bundle's bytes are copied twice: the producer packs them into its
send buffer, then MPICH's receive copies them into the trainer's (one CMA copy of each
4 MiB message, about 5.5 µs of the trainer's receive thread per 128² sample, half its
time: ``benchmarks/stream.py --parts mpi``, README). Here the producer packs each bundle
straight into a slot of a memory segment that the trainer maps too, and sends a 16-byte
reference (:data:`REF`) instead; the trainer's samples view the slot in place, as they view
a received bundle (:mod:`pdesurr.stream.recvpool`), and the slot goes back to its producer
in the next credit message once no sample views it. So the trainer copies nothing, as
over a network (where the NIC writes into the receive buffer). Across nodes, or when the
trainer cannot map the segment, bundles travel as messages, unchanged.

The segment is a ``memfd_create`` file (anonymous: no name to clean up after a crash; its
memory goes when both processes have unmapped it), mapped by the trainer through
``/proc/<pid>/fd/<fd>`` (the same permission MPICH's CMA copy needs). Handshake, at the
start, before the first credit (:func:`offer_segment` / :func:`accept_segments`)::

    trainer -> producer   int64[1]   slots wanted (0: messages only)              TAG_SHM
    producer -> trainer   OFFER      pid, fd, slots, slot bytes, nonce, host name
                                     (pid 0: no segment)                          TAG_SHM
    trainer -> producer   int64[1]   1: mapped, use it; 0: bundles as messages    TAG_SHM

The trainer maps the segment only when the host names agree, and uses it only when its
first 16 bytes are the offer's random nonce (a process with that pid on another node, or
a recycled pid, holds other bytes).

Slots. The producer packs into its lowest free slot (so only as many slots are ever touched
as are in use at once), waits for a release when none is free, and, once stopping with none
free, sends the bundle as a message (no release comes after the trainer's stop). The
trainer lends a slot's samples while fewer than ``slots - RING`` of that producer's slots
are pinned by held samples, else copies them out and releases the slot at once; ``slots``
is :meth:`~pdesurr.stream.recvpool.ReceivePool.limit_for` (ring, capacity, samples per
bundle), the bound on pinned receive buffers, per producer: memory per producer at most
``slots x max_bytes`` (touched only as used).
"""

from __future__ import annotations

import heapq
import mmap
import os
import socket
import struct
import time
from collections import deque
from functools import partial

import numpy as np

from pdesurr.stream.recvpool import lend_views

TAG_SHM = 26
PAGE = 4096  # the nonce's page; slots start at page boundaries
NONCE = 16
# pid i8, fd i8, slots u4, slot bytes u8, nonce 16 s, host name 64 s (utf-8, zero-padded)
OFFER = struct.Struct("<qqIQ16s64s")
# magic u4 ("PDSR"), slot u4, bundle bytes u8: a bundle that lies in slot ``slot``
REF = struct.Struct("<IIQ")
REF_MAGIC = 0x52534450  # b"PDSR" read as little-endian u4


def _host() -> bytes:
    return socket.gethostname().encode()[:64]


def _stride(slot_bytes: int) -> int:
    """Bytes from one slot's start to the next: ``slot_bytes`` rounded up to pages."""
    return -(-slot_bytes // PAGE) * PAGE


def _slot_start(k: int, stride: int) -> int:
    """Offset of slot ``k`` in a segment: the nonce's page, then the slots."""
    return PAGE + k * stride


class SharedSlots:
    """The producer's segment: ``slots`` bundle slots of ``slot_bytes``, in a memfd."""

    def __init__(self, slots: int, slot_bytes: int):
        if slots < 1 or slot_bytes < 1:
            raise ValueError(f"a segment needs slots, slot bytes >= 1, got {slots}, {slot_bytes}")
        self.slots, self.slot_bytes = slots, slot_bytes
        self.stride = _stride(slot_bytes)
        size = _slot_start(slots, self.stride)
        self.fd = os.memfd_create("pdesurr-bundles", os.MFD_CLOEXEC)
        try:
            os.ftruncate(self.fd, size)
            self.mem = np.frombuffer(mmap.mmap(self.fd, size), np.uint8)
        except OSError:
            os.close(self.fd)
            raise
        self.nonce = os.urandom(NONCE)
        self.mem[:NONCE] = np.frombuffer(self.nonce, np.uint8)
        self.free = list(range(slots))  # a heap: the lowest free slot first

    def offer(self) -> bytes:
        return OFFER.pack(os.getpid(), self.fd, self.slots, self.slot_bytes, self.nonce, _host())

    def close_fd(self) -> None:
        """Once the trainer answered: the mapping stays, the descriptor is not needed."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def take(self) -> int | None:
        """The lowest free slot, now in use; ``None`` when every slot is in use."""
        return heapq.heappop(self.free) if self.free else None

    def release(self, slots) -> None:
        for k in slots:
            k = int(k)
            if not 0 <= k < self.slots or k in self.free:
                raise ValueError(f"release of slot {k}: not a slot in use (0 .. {self.slots - 1})")
            heapq.heappush(self.free, k)

    def slot(self, k: int) -> np.ndarray:
        start = _slot_start(k, self.stride)
        return self.mem[start : start + self.slot_bytes]


class SharedBundles:
    """The trainer's view of one producer's segment (``mem``, mapped)."""

    def __init__(self, mem: np.ndarray, slots: int, slot_bytes: int, ring: int):
        self.mem, self.slots, self.slot_bytes = mem, slots, slot_bytes
        self.stride = _stride(slot_bytes)
        self.lend_limit = slots - ring  # the producer keeps ``ring`` slots to pack into
        self.lent = 0  # slots pinned by held samples
        self.copied = 0  # bundles copied out because lend_limit slots were pinned
        # (slot, lent) to give back: appended when a lent slot's last view goes (by the
        # finalizer, in whichever thread drops it) or at once for a slot copied out
        self.released: deque = deque()

    def bundle(self, ref: bytes | np.ndarray) -> tuple[int, np.ndarray]:
        """``(slot, bytes of the bundle)`` a :data:`REF` message names; checks it."""
        magic, k, nbytes = REF.unpack_from(ref, 0)
        if magic != REF_MAGIC or not 0 <= k < self.slots or nbytes > self.slot_bytes:
            raise ValueError(
                f"bad shared-memory reference (magic {magic:#x}, slot {k} of {self.slots}, "
                f"{nbytes} bytes of {self.slot_bytes})"
            )
        start = _slot_start(k, self.stride)
        return k, self.mem[start : start + nbytes]

    def can_lend(self) -> bool:
        return self.lent < self.lend_limit

    def lend(self, k: int, bundle: np.ndarray, n: int, floats: int, n_cond: int, shape):
        """``(frames, cond)`` views of slot ``k``; the slot is released once all are gone."""
        self.lent += 1
        on_free = partial(self.released.append, (k, True))
        return lend_views(bundle, n, floats, n_cond, shape, on_free)

    def release(self, k: int) -> None:
        """Slot ``k``, not lent (its samples were copied out, or none kept), goes back."""
        self.released.append((k, False))

    def take_released(self) -> list[int]:
        """Slots to give back since the last call (the receive thread's)."""
        out = []
        while self.released:
            k, lent = self.released.popleft()
            out.append(k)
            self.lent -= lent
        return out


def map_offer(offer: bytes, slot_bytes: int, ring: int) -> tuple[SharedBundles | None, str]:
    """The trainer's side of an offer: ``(view, "")`` or ``(None, why not)``."""
    pid, fd, slots, offered_bytes, nonce, host = OFFER.unpack(offer)
    if pid == 0:
        return None, "the producer offered no segment"
    if host.rstrip(b"\0") != _host():
        return None, "another node"
    if offered_bytes < slot_bytes or slots <= ring:
        return None, f"a segment of {slots} slots of {offered_bytes} bytes is too small"
    size = _slot_start(slots, _stride(offered_bytes))
    try:
        f = os.open(f"/proc/{pid}/fd/{fd}", os.O_RDWR)
    except OSError as e:
        return None, f"cannot open the producer's segment ({e.strerror})"
    try:
        # writable like a receive buffer (torch views of read-only memory warn); received
        # samples are inference tensors: nothing writes through them
        mem = np.frombuffer(mmap.mmap(f, size), np.uint8)
    except (OSError, ValueError) as e:
        return None, f"cannot map the producer's segment ({e})"
    finally:
        os.close(f)
    if mem[:NONCE].tobytes() != nonce:
        return None, "the segment is not the producer's (nonce differs)"
    return SharedBundles(mem, slots, offered_bytes, ring), ""


def offer_segment(comm, trainer: int, slot_bytes: int) -> SharedSlots | None:
    """The producer's handshake (see the module docstring): its segment if the trainer
    mapped it, else ``None`` (bundles as messages)."""
    from mpi4py import MPI

    wanted = np.zeros(1, np.int64)
    comm.Recv(wanted, source=trainer, tag=TAG_SHM)
    slots = None
    if wanted[0] > 0:
        try:
            slots = SharedSlots(int(wanted[0]), slot_bytes)
        except OSError:  # no memfd here (or no memory): messages
            slots = None
    offer = slots.offer() if slots is not None else bytes(OFFER.size)
    comm.Send([offer, len(offer), MPI.BYTE], dest=trainer, tag=TAG_SHM)
    answer = np.zeros(1, np.int64)
    comm.Recv(answer, source=trainer, tag=TAG_SHM)
    if slots is not None:
        slots.close_fd()
    return slots if answer[0] == 1 and slots is not None else None


def accept_segments(comm, producers, slots: int, slot_bytes: int, ring: int, timeout: float,
                    why_not: str = "off"):  # fmt: skip
    """The trainer's handshake with every producer: ``(views, paths, silent)``: the mapped
    segments by rank, how each producer's bundles travel (``"shared memory"`` or
    ``"messages (why)"``; ``why_not`` when ``slots`` is 0), and the producers that did not
    answer within ``timeout`` s."""
    from mpi4py import MPI

    for p in producers:
        comm.Send(np.array([slots], np.int64), dest=p, tag=TAG_SHM)
    offers = {p: bytearray(OFFER.size) for p in producers}
    requests = {p: comm.Irecv([offers[p], MPI.BYTE], source=p, tag=TAG_SHM) for p in producers}
    views, paths, deadline = {}, {}, time.monotonic() + timeout
    while requests and time.monotonic() < deadline:
        for p in [p for p, r in requests.items() if r.Test()]:
            del requests[p]
            if slots == 0:
                view, why = None, why_not
            else:
                view, why = map_offer(bytes(offers[p]), slot_bytes, ring)
            comm.Send(np.array([view is not None], np.int64), dest=p, tag=TAG_SHM)
            if view is not None:
                views[p] = view
            paths[p] = "shared memory" if view is not None else f"messages ({why})"
        if requests:
            time.sleep(0.001)
    for r in requests.values():
        r.Cancel()
    return views, paths, sorted(requests)
