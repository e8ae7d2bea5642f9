"""Receive buffers that large received samples view in place (no copy out), with a bound.

A sample of ``s >= GROUP_BYTES`` bytes is not copied out of its receive buffer: the samples
of a bundle are torch views of that buffer, and the buffer goes back to the free list when
the last of them is gone (evicted from the trainer's buffer, or never kept). The receive
loop re-posts a free buffer in its place. So a held sample pins its whole bundle (at most
``TARGET_BYTES`` = 4 MiB, or one sample when a sample alone exceeds that): memory is
bounded by bundles, not by samples, and the pool caps how many bundles may be pinned::

    limit = ring + 2 * ceil(capacity / B) + 1      buffers of max_bytes(B, F) each

(``ring`` posted receives, ``B`` samples per bundle, ``capacity`` the trainer buffer's).
A FIFO buffer of ``capacity`` samples pins about ``capacity / B + 1`` bundles (consecutive
samples share one); a reservoir, which evicts at random, may pin one bundle per held
sample, and once the pool is exhausted the next bundles are copied out sample by sample
(:func:`pdesurr.stream.bundled.unpack_samples`, a held sample then pins at most
``max(s, GROUP_BYTES)``) until views are released. Memory on the receive side is thus at
most ``limit`` bundles plus ``capacity x max(s, GROUP_BYTES)`` bytes, whichever buffer.

Release is detected without polling: each lent bundle is a fresh ndarray view that torch
views keep alive (``torch.from_numpy`` holds it); ``weakref.finalize`` on that view returns
the buffer to the free list (a deque: safe from the trainer thread that drops the sample).
"""

from __future__ import annotations

import math
import weakref
from collections import deque
from functools import partial

import numpy as np
import torch

from pdesurr.stream.bundle import HEAD


class ReceivePool:
    """Preallocated receive buffers of ``nbytes``; at most ``limit`` ever exist."""

    def __init__(self, nbytes: int, limit: int):
        if limit < 1:
            raise ValueError(f"receive pool limit must be >= 1, got {limit}")
        self.nbytes, self.limit = nbytes, limit
        self.free: deque = deque()  # buffers no sample views: ready to post
        self.made = 0

    @staticmethod
    def limit_for(ring: int, capacity: int, per_bundle: int) -> int:
        """``ring + 2 ceil(capacity / B) + 1``: the bound the module docstring explains."""
        return ring + 2 * math.ceil(max(capacity, 0) / max(per_bundle, 1)) + 1

    def take(self) -> np.ndarray | None:
        """A buffer to post a receive into; ``None`` when all ``limit`` are in use."""
        if self.free:
            return self.free.popleft()
        if self.made < self.limit:
            self.made += 1
            return np.empty(self.nbytes, np.uint8)
        return None

    def lend(self, buf: np.ndarray, n: int, floats: int, n_cond: int, shape) -> tuple:
        """``(frames, cond)``: ``n`` sample views ``shape`` and ``(n_cond,)`` into ``buf``
        (a received bundle, layout of :mod:`pdesurr.stream.bundle`); ``buf`` returns to the
        free list once every one of them is gone."""
        return lend_views(buf, n, floats, n_cond, shape, partial(self.free.append, buf))


def lend_views(buf: np.ndarray, n: int, floats: int, n_cond: int, shape, on_free) -> tuple:
    """``(frames, cond)``: ``n`` sample views ``shape`` and ``(n_cond,)`` into the bundle
    ``buf``; ``on_free()`` is called once every one of them is gone."""
    view = buf[:]  # a new object for the finalizer; torch views keep it alive
    weakref.finalize(view, on_free)
    f = floats - n_cond
    # inference tensors: views without autograd's view bookkeeping (0.34 against 0.47
    # µs a view, measured; the receiver makes two per sample). A batch stacked from
    # them is an ordinary tensor, what training uses; writing into a received sample
    # outside inference mode is an error, and nothing needs to.
    with torch.inference_mode():
        data = torch.from_numpy(view)[HEAD.size : HEAD.size + 4 * n * floats]
        data = data.view(torch.float32)
        frames = data[: n * f].view(n, *shape).unbind(0)
        cond = data[n * f :].view(n, n_cond).unbind(0)
    return frames, cond
