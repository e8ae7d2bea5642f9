"""Producers: run a dataset spec's solver and emit training windows as frames appear.

A producer simulates whole batches of the spec's fixed chunks (the same batches that
``pdesurr generate`` writes, so the stream carries bit-for-bit the windows an offline
store of the same seeds holds), discards the spin-up, down-samples each saved frame to the
stored resolution and dtype, and as soon as a trajectory has ``span`` frames emits the
window ``(history + horizon frames, stride apart)`` ending at the newest frame.

Events (plain tuples, so any transport can carry them):

    ("sample", Sample)                       a window
    ("done", trajectory)                     all windows of a trajectory were emitted
    ("diverged", trajectory, step, time)     the simulation blew up; no more windows
    ("alive",)                               heartbeat, at every saved frame

``skip = {trajectory: n}`` suppresses the first ``n`` windows of a trajectory: a resumed
run re-simulates a trajectory that was in flight and sends only what was not received.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

import torch

from pdesurr.data.channels import conditioning_columns
from pdesurr.data.spec import DatasetSpec
from pdesurr.data.windows import WindowSpec
from pdesurr.stream.buffer import Sample
from pdesurr.stream.pairs import PairSpec, produce_pairs


def chunks_for(spec: DatasetSpec, split: str, n_trajectories: int) -> list[tuple[int, int]]:
    """The generation batches ``[a, b)`` covering trajectories ``0 .. n-1`` of ``split``."""
    b = spec.batch
    return [(a, min(a + b, n_trajectories)) for a in range(0, n_trajectories, b)]


def produce(
    spec: DatasetSpec,
    split: str,
    chunks: list[tuple[int, int]],
    window: WindowSpec | PairSpec,
    device="cpu",
    skip: dict[int, int] | None = None,
    exclude: set[int] | frozenset = frozenset(),
) -> Iterator[tuple]:
    if isinstance(window, PairSpec):  # Poseidon's pairs as samples
        yield from produce_pairs(spec, split, chunks, window, device, skip, exclude)
        return
    skip = skip or {}
    if window.span > spec.frames:
        raise ValueError(f"a window spans {window.span} frames; the spec saves {spec.frames}")
    frame_dt = spec.data["time"]["save_interval"]
    for a, b in chunks:
        members = [i for i in range(a, b) if i not in exclude]
        if not members:
            continue
        pde, stepper, u0, params = spec.build_batch(split, a, b)
        columns = conditioning_columns(
            window.conditioning, b - a, frame_dt * window.stride, params.__getitem__
        )
        # (b - a, n_cond), on the frames' device: a GPU producer's samples are whole there
        cond = torch.as_tensor(columns, dtype=torch.float32, device=device)
        recent: deque = deque(maxlen=window.span)
        emitted = {i: 0 for i in members}
        dead: set[int] = set()
        masked: dict[int, tuple[int, float]] = {}  # filled by the stepper as frames come
        for j, frame in enumerate(spec.stored_frames(stepper, u0, masked, device)):
            recent.append(frame)
            yield ("alive",)
            diverged = dict(masked)
            overflow = (~torch.isfinite(frame.flatten(1)).all(1)).nonzero().flatten().tolist()
            for m in overflow:  # finite in the solver, not in the stored dtype: the same
                step = spec.spinup_steps + j * spec.save_every  # rule as offline generation
                diverged.setdefault(m, (step, step * spec.dt))
            for m, (step, time) in diverged.items():
                if a + m in emitted and a + m not in dead:
                    dead.add(a + m)
                    yield ("diverged", a + m, int(step), float(time))
            if len(recent) < window.span:
                continue
            win = torch.stack(list(recent)[:: window.stride], 1)  # (B, W, C, *S)
            t0 = j - window.span + 1
            for i in members:
                if i in dead:
                    continue
                if emitted[i] >= skip.get(i, 0):
                    yield ("sample", Sample(win[i - a].float(), cond[i - a], i, t0))
                emitted[i] += 1
        for i in members:
            if i not in dead:
                yield ("done", i)
