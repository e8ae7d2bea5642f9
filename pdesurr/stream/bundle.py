"""Bundles: many stream events and samples in one message, in a fixed binary layout.

One MPI message per bundle instead of two per sample: per-message costs (the matching,
the Python around each ``Send``/``Recv``, the credit back) are paid once for ``n``
samples. Layout of a bundle of ``n`` samples of ``F`` float32 each and ``e`` events
(little-endian, no pickles, both sides know ``F`` from the spec and the recipe)::

    offset 0            HEAD     magic u4 ("PDSB"), version u2, k u2, n u4, e u4, F u8
    offset 24           frames   float32[n, F - k]   sample i's frames (W*C*prod(S), C order)
    offset 24 + 4 n (F - k)
                        cond     float32[n, k]       sample i's conditioning scalars
    offset align8(24 + 4 n F)
                        events   EVENT[e]            kind i8, a i8, b i8, x f8 (32 bytes each)

Frames and conditioning lie in two blocks, so that each is one contiguous copy on either
side (``torch.stack(..., out=)`` on the producer, a slice on the trainer). Events keep
the stream's order: a ``SAMPLE`` event (a = trajectory, b = time index) stands for the
next sample of the blocks; ``DONE`` (a = trajectory), ``DIVERGED`` (a, b = step, x =
time), ``ALIVE`` and ``BYE`` carry none. The size of a bundle adapts to the sample
(:func:`bundle_samples`): about ``target_bytes`` per message, but at most a quarter of a
producer's credit window, so that several bundles are in flight while the next one fills.
"""

from __future__ import annotations

import struct

import numpy as np
import torch

SAMPLE, DONE, DIVERGED, ALIVE, BYE = range(5)
MAGIC, VERSION = 0x42534450, 1  # b"PDSB" read as little-endian u4
# magic u4, version u2, k u2, n u4, e u4, floats u8: 24 bytes (struct: ~0.3 µs a read,
# numpy's structured-field access ~5)
HEAD = struct.Struct("<IHHIIQ")
EVENT = np.dtype([("kind", "<i8"), ("a", "<i8"), ("b", "<i8"), ("x", "<f8")])
EXTRA_EVENTS = 64  # room for done/diverged/alive/bye events beside the samples
FLOAT_BYTES = 4  # samples travel as float32
# a bundle takes at most this fraction of a producer's credits, so several are in flight
# and the trainer's buffer is refilled while the next one is simulated
BUNDLES_PER_CREDITS = 4


# bytes a bundle aims at: per-bundle costs (the receive, the header and event parsing, the
# views, the put and the credit, ~50-120 us on each side) must be spread over many samples;
# at 128² (64 KiB) 1 MiB bundles of 15 samples moved 0.28 of the bare loop, 4 MiB of 63
# moved 0.40-0.44, 8 MiB no more (benchmarks/stream.py --parts mpi, README)
TARGET_BYTES = 4 << 20


def bundle_samples(floats: int, credits: int, target_bytes: int = TARGET_BYTES) -> int:
    """Samples per bundle: ~``target_bytes`` per message, at most
    ``credits // BUNDLES_PER_CREDITS``, >= 1."""
    return max(1, min(target_bytes // (FLOAT_BYTES * floats), credits // BUNDLES_PER_CREDITS))


def events_offset(n: int, floats: int) -> int:
    end = HEAD.size + FLOAT_BYTES * n * floats
    return (end + 7) // 8 * 8


def max_bytes(max_samples: int, floats: int) -> int:
    """Size of the largest bundle: what a receive buffer must hold."""
    return events_offset(max_samples, floats) + EVENT.itemsize * (max_samples + EXTRA_EVENTS)


class BundleWriter:
    """Collects samples and events; :meth:`finish` packs them into one preallocated byte
    buffer (one stacked copy per block and bundle, not per sample) and returns the message."""

    def __init__(self, max_samples: int, floats: int, n_cond: int):
        if not 0 <= n_cond <= floats:
            raise ValueError(f"n_cond = {n_cond} must lie in [0, floats = {floats}]")
        self.max_samples, self.floats, self.n_cond = max_samples, floats, n_cond
        self.max_events = max_samples + EXTRA_EVENTS
        self.buf = np.zeros(max_bytes(max_samples, floats), np.uint8)
        self.data = torch.from_numpy(self.buf[HEAD.size :].view(np.float32))
        self.reset()

    def reset(self) -> None:
        self._cond: list = []
        self._frames: list = []
        self._events: list[tuple] = []
        self.n = self.e = 0

    @property
    def full(self) -> bool:
        return self.n >= self.max_samples or self.e >= self.max_events

    def sample(self, trajectory: int, time_index: int, cond, frames) -> None:
        """Append a sample: cond ``(k,)`` and frames (``F - k`` floats, one shape for every
        sample of a bundle; tensors or arrays, on any device)."""
        if self.full:
            raise ValueError(f"bundle full ({self.n} samples, {self.e} events)")
        self._cond.append(_plain(cond))
        self._frames.append(_plain(frames))
        self._events.append((SAMPLE, trajectory, time_index, 0.0))
        self.n += 1
        self.e += 1

    def event(self, kind: int, a: int = 0, b: int = 0, x: float = 0.0) -> None:
        if self.e >= self.max_events:
            raise ValueError(f"bundle full ({self.e} events)")
        self._events.append((kind, a, b, x))
        self.e += 1

    def finish(self, into: np.ndarray | None = None) -> np.ndarray:
        """The message: a view of the writer's buffer (valid until the next :meth:`reset`),
        or of ``into`` (uint8, at least :func:`max_bytes` long: a shared-memory slot)."""
        n, k, f = self.n, self.n_cond, self.floats - self.n_cond
        buf, data = self.buf, self.data
        if into is not None:
            if len(into) < len(buf):
                raise ValueError(f"a bundle buffer of {len(into)} bytes; bundles need {len(buf)}")
            buf = into
            data = torch.from_numpy(into[HEAD.size : len(self.buf)].view(np.float32))
        if n:
            shape = self._frames[0].shape
            if self._frames[0].numel() != f or self._cond[0].numel() != k:
                raise ValueError(
                    f"a sample of {self._frames[0].numel()} frame and {self._cond[0].numel()} "
                    f"conditioning floats; bundles hold {f} and {k}"
                )
            _stack_into(self._frames, data[: n * f].view(n, *shape))
            _stack_into(self._cond, data[n * f : n * (f + k)].view(n, k))
        HEAD.pack_into(buf, 0, MAGIC, VERSION, k, n, self.e, self.floats)
        off = events_offset(n, self.floats)
        end = off + EVENT.itemsize * self.e
        buf[off:end] = np.array(self._events, EVENT).view(np.uint8)
        return buf[:end]


def _plain(x) -> torch.Tensor:
    """A tensor without autograd history (``stack(out=)`` refuses those); arrays wrapped.
    Checks before converting: ``as_tensor`` and ``detach`` cost ~0.7 µs each a call."""
    if not isinstance(x, torch.Tensor):
        return torch.as_tensor(x)
    return x.detach() if x.requires_grad else x


def _stack_into(tensors: list, out: torch.Tensor) -> None:
    if tensors[0].device == out.device and tensors[0].dtype == out.dtype:
        torch.stack(tensors, out=out)
    else:  # a GPU producer, or float64 samples: one stack there, one copy here
        out.copy_(torch.stack(tensors).reshape(out.shape))


def split_events(events: np.ndarray, n: int) -> tuple[np.ndarray, list[tuple]]:
    """``(sampled, other)``: the ``SAMPLE`` events of a bundle of ``n`` samples (an
    ``EVENT`` array, one per row of its blocks, in order) and its other events as
    ``(kind, a, b, x)`` tuples, in order; refuses a bundle whose counts disagree."""
    is_sample = events["kind"] == SAMPLE
    sampled = events[is_sample]
    if len(sampled) != n:
        raise ValueError(f"a bundle of {n} samples with {len(sampled)} sample events")
    return sampled, events[~is_sample].tolist()


def read_bundle(buf: np.ndarray, nbytes: int, floats: int, n_cond: int):
    """``(frames float32 (n, F - k), cond float32 (n, k), events EVENT (e,))``, views of
    ``buf``; checks the layout."""
    if nbytes < HEAD.size:
        raise ValueError(f"a bundle of {nbytes} bytes is shorter than its header")
    magic, version, k, n, e, f_head = HEAD.unpack_from(buf, 0)
    if magic != MAGIC or version != VERSION:
        raise ValueError(f"not a version-{VERSION} bundle (magic {magic:#x}, version {version})")
    if f_head != floats or k != n_cond:
        raise ValueError(
            f"bundle samples have {f_head} floats ({k} conditioning), expected {floats} ({n_cond})"
        )
    off = events_offset(n, floats)
    if off + EVENT.itemsize * e != nbytes:
        raise ValueError(f"bundle of {n} samples, {e} events cannot be {nbytes} bytes long")
    data = buf[HEAD.size : HEAD.size + FLOAT_BYTES * n * floats].view(np.float32)
    f = floats - k
    frames, cond = data[: n * f].reshape(n, f), data[n * f :].reshape(n, k)
    return frames, cond, buf[off : off + EVENT.itemsize * e].view(EVENT)
