"""Poseidon's all2all (or "next") pairs streamed online: producers emit pairs, the buffer
holds pairs (Herde et al. 2024, arXiv:2405.19101, Sec. 3.2; see :mod:`pdesurr.data.pairs`).

A producer runs the spec's solver as for windows (:func:`pdesurr.stream.producer.produce`,
same batches, same seeds, bit-for-bit the frames of an offline store), keeps the first
``K + 1`` snapshots of a trajectory at stride ``step`` (``t = 0, step, .., K step``, the
snapshots the offline :class:`~pdesurr.data.pairs.PairDataset` uses) and emits, once they
are there, every pair of :func:`~pdesurr.data.pairs.pair_offsets` as one sample::

    frames  (2, C, *S)       u(t_a), u(t_b)    (a <= b; the identity pairs included)
    cond    (1 + n_cond,)    (t_b - t_a) / time_scale, then the spec's conditioning
    time_index               t_a

``time_scale`` is the spec's snapshots - 1, the offline pairs' normalisation. Why pairs in
the buffer rather than windows of ``K + 1`` snapshots from which the trainer draws pairs:
a sample is then exactly the one-step sample's size (two frames), so ``capacity`` bounds
the memory as for any other online run (``capacity x 2 x C x prod(S)`` floats), the buffer
policies keep their meaning (a FIFO serves each *pair* once, a reservoir re-uses pairs),
and both transports carry pairs unchanged (the MPI message size is the window's, plus one
conditioning scalar). The price is duplication: a snapshot appears in up to ``K + 1``
pairs, ``(K + 1)(K + 2)`` frames per trajectory instead of ``K + 1``, which is what the
offline pairs cost the trainer too. The ledger counts pairs, so a resumed run skips the
pairs already received (``skip``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pdesurr.data.pairs import pair_offsets
from pdesurr.data.windows import WindowSpec
from pdesurr.stream.buffer import Sample

LEAD_TIME = "lead_time"  # the first conditioning scalar of a pair


@dataclass(frozen=True)
class PairSpec:
    """What a pair producer emits (the stream's counterpart of ``WindowSpec``)."""

    pairs: str = "all2all"
    max_steps: int = 7
    step: int = 2
    time_scale: float = 20.0
    base_conditioning: tuple[str, ...] = ()

    @property
    def conditioning(self) -> tuple[str, ...]:
        """The names of a pair's conditioning scalars, the lead time first."""
        return (LEAD_TIME, *self.base_conditioning)

    @property
    def window(self) -> WindowSpec:
        """The window of the ``K + 1`` snapshots the pairs are cut from."""
        return WindowSpec(1, self.max_steps, self.step, self.base_conditioning)

    @property
    def span(self) -> int:
        return self.window.span


def stream_window(data, horizon: int, spec) -> WindowSpec | PairSpec:
    """What the producers of an online recipe emit, from its ``[data]`` section
    (:class:`~pdesurr.training.recipe.DataSection`): pairs when ``data.pairs`` is set,
    windows of ``history + horizon`` frames otherwise."""
    if data.pairs:
        return PairSpec(
            data.pairs, data.max_steps, data.step, float(spec.frames - 1),
            tuple(data.conditioning))  # fmt: skip
    return WindowSpec(data.history, horizon, data.stride, tuple(data.conditioning))


def produce_pairs(spec, split, chunks, window: PairSpec, device="cpu", skip=None,
                  exclude=frozenset()):  # fmt: skip
    """The producer's events (as :func:`~pdesurr.stream.producer.produce`'s) with pairs as
    samples; ``skip = {trajectory: n}`` suppresses its first ``n`` pairs."""
    from pdesurr.stream.producer import produce

    offsets = pair_offsets(window.pairs, window.max_steps, window.step)
    skip, emitted = skip or {}, {}
    for event in produce(spec, split, chunks, window.window, device, None, exclude):
        if event[0] != "sample":
            yield event
            continue
        s: Sample = event[1]
        if s.time_index != 0:  # later windows: the pairs come from the first K + 1 snapshots
            continue
        for a, b in offsets:
            n = emitted.get(s.trajectory, 0)
            emitted[s.trajectory] = n + 1
            if n < skip.get(s.trajectory, 0):
                continue
            lead = torch.tensor(
                [(b - a) / window.time_scale], dtype=s.cond.dtype, device=s.cond.device
            )
            frames = torch.stack([s.frames[a // window.step], s.frames[b // window.step]])
            yield ("sample", Sample(frames, torch.cat([lead, s.cond]), s.trajectory, a))
