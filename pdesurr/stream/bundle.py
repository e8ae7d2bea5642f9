"""Bundles: many stream events and samples in one message, in a fixed binary layout.

One MPI message per bundle instead of two per sample: per-message costs (the matching,
the Python around each ``Send``/``Recv``, the credit back) are paid once for ``n``
samples. Layout of a bundle of ``n`` samples of ``F`` float32 each and ``e`` events
(little-endian, no pickles, both sides know ``F`` from the spec and the recipe)::

    offset 0            HEAD     magic u4 ("PDSB"), version u2, 0 u2, n u4, e u4, F u8
    offset 24           payload  float32[n, F]    sample k = cond (n_cond) + frames (W*C*prod(S))
    offset align8(24 + 4 n F)
                        events   EVENT[e]         kind i8, a i8, b i8, x f8 (32 bytes each)

Events keep the stream's order: a ``SAMPLE`` event (a = trajectory, b = time index)
stands for the next payload row; ``DONE`` (a = trajectory), ``DIVERGED`` (a, b = step,
x = time), ``ALIVE`` and ``BYE`` carry no row. The size of a bundle adapts to the sample
(:func:`bundle_samples`): about ``target_bytes`` per message, but at most a quarter of a
producer's credit window, so that several bundles are in flight while the next one fills.
"""

from __future__ import annotations

import numpy as np

SAMPLE, DONE, DIVERGED, ALIVE, BYE = range(5)
MAGIC, VERSION = 0x42534450, 1  # b"PDSB" read as little-endian u4
HEAD = np.dtype(
    [("magic", "<u4"), ("version", "<u2"), ("zero", "<u2"), ("n", "<u4"), ("e", "<u4"),
     ("floats", "<u8")]
)  # fmt: skip
EVENT = np.dtype([("kind", "<i8"), ("a", "<i8"), ("b", "<i8"), ("x", "<f8")])
EXTRA_EVENTS = 64  # room for done/diverged/alive/bye events beside the samples


def bundle_samples(floats: int, credits: int, target_bytes: int = 1 << 20) -> int:
    """Samples per bundle: ~``target_bytes`` per message, at most ``credits // 4``, >= 1."""
    return max(1, min(target_bytes // (4 * floats), credits // 4))


def events_offset(n: int, floats: int) -> int:
    end = HEAD.itemsize + 4 * n * floats
    return (end + 7) // 8 * 8


def max_bytes(max_samples: int, floats: int) -> int:
    """Size of the largest bundle: what a receive buffer must hold."""
    return events_offset(max_samples, floats) + EVENT.itemsize * (max_samples + EXTRA_EVENTS)


class BundleWriter:
    """Fills one preallocated byte buffer; :meth:`finish` returns the message to send."""

    def __init__(self, max_samples: int, floats: int):
        self.max_samples, self.floats = max_samples, floats
        self.buf = np.zeros(max_bytes(max_samples, floats), np.uint8)
        self.payload = (
            self.buf[HEAD.itemsize : HEAD.itemsize + 4 * max_samples * floats]
            .view(np.float32)
            .reshape(max_samples, floats)
        )
        self.events = np.zeros(max_samples + EXTRA_EVENTS, EVENT)
        self.n = self.e = 0

    def reset(self) -> None:
        self.n = self.e = 0

    @property
    def full(self) -> bool:
        return self.n >= self.max_samples or self.e >= len(self.events)

    def sample(self, trajectory: int, time_index: int, cond: np.ndarray, frames: np.ndarray):
        """Append a sample (cond ``(n_cond,)``, frames any shape of ``F - n_cond`` floats)."""
        if self.full:
            raise ValueError(f"bundle full ({self.n} samples, {self.e} events)")
        row = self.payload[self.n]
        k = cond.size
        if k + frames.size != self.floats:
            raise ValueError(f"a sample of {k + frames.size} floats; bundles hold {self.floats}")
        row[:k] = cond.reshape(-1)
        row[k:] = frames.reshape(-1)
        self.events[self.e] = (SAMPLE, trajectory, time_index, 0.0)
        self.n += 1
        self.e += 1

    def event(self, kind: int, a: int = 0, b: int = 0, x: float = 0.0) -> None:
        if self.e >= len(self.events):
            raise ValueError(f"bundle full ({self.e} events)")
        self.events[self.e] = (kind, a, b, x)
        self.e += 1

    def finish(self) -> np.ndarray:
        """The message: a view of the buffer (valid until the next :meth:`reset`)."""
        head = np.array([(MAGIC, VERSION, 0, self.n, self.e, self.floats)], HEAD)
        self.buf[: HEAD.itemsize] = head.view(np.uint8)
        off = events_offset(self.n, self.floats)
        end = off + EVENT.itemsize * self.e
        self.buf[off:end] = self.events[: self.e].view(np.uint8)
        return self.buf[:end]


def read_bundle(buf: np.ndarray, nbytes: int, floats: int) -> tuple[np.ndarray, np.ndarray]:
    """``(payload float32 (n, F), events EVENT (e,))``, views of ``buf``; checks the layout."""
    if nbytes < HEAD.itemsize:
        raise ValueError(f"a bundle of {nbytes} bytes is shorter than its header")
    head = buf[: HEAD.itemsize].view(HEAD)[0]
    if int(head["magic"]) != MAGIC or int(head["version"]) != VERSION:
        raise ValueError(
            f"not a version-{VERSION} bundle (magic {int(head['magic']):#x}, "
            f"version {int(head['version'])})"
        )
    n, e = int(head["n"]), int(head["e"])
    if int(head["floats"]) != floats:
        raise ValueError(f"bundle samples have {int(head['floats'])} floats, expected {floats}")
    off = events_offset(n, floats)
    if off + EVENT.itemsize * e != nbytes:
        raise ValueError(f"bundle of {n} samples, {e} events cannot be {nbytes} bytes long")
    payload = buf[HEAD.itemsize : HEAD.itemsize + 4 * n * floats].view(np.float32)
    events = buf[off : off + EVENT.itemsize * e].view(EVENT)
    return payload.reshape(n, floats), events
