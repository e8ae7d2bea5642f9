"""Poseidon's all2all training pairs (Herde et al. 2024, arXiv:2405.19101, Sec. 3.2).

From a trajectory's snapshots ``u(t_0), u(t_1), ...`` take ``K + 1`` of them at stride
``step`` (``t_0, t_step, ..., t_{K step}``) and use *every* ordered pair as one training
item: input ``u(t_{step i})``, target ``u(t_{step j})`` for ``0 <= i <= j <= K``, identity
pairs included: ``(K + 1)(K + 2) / 2`` items per trajectory (36 for Poseidon's K = 7,
step = 2). The lead time is the conditioning, in Poseidon's normalisation
``(t2 - t1) / time_scale`` with ``time_scale`` the index span of the whole trajectory
(20 for Poseidon's 21 snapshots). ``"next"`` is the vanilla baseline, ``j = i + 1`` only.

:class:`PairDataset` serves such pairs from a pdesurr store with the trainer's batch
interface: ``batch(indices) -> (frames (B, 2, C, *S), cond (B, 1 + n_cond))``, the lead
time first (``cond[:, 0]``, what scOT's conditioned norms read), then the store's own
conditioning scalars.
"""

from __future__ import annotations

from pathlib import Path

import torch

from pdesurr.data.windows import WindowDataset

PAIRINGS = ("all2all", "next")


def pair_offsets(pairs: str, max_steps: int, step: int = 1) -> list[tuple[int, int]]:
    """Frame offsets ``(step i, step j)`` of every item of one trajectory."""
    if pairs not in PAIRINGS:
        raise ValueError(f"pairs = {pairs!r}: expected one of {PAIRINGS}")
    if max_steps < 1 or step < 1:
        raise ValueError(f"pairs: max_steps and step must be >= 1, got {max_steps}, {step}")
    if pairs == "next":
        return [(step * i, step * (i + 1)) for i in range(max_steps)]
    return [(step * i, step * j) for i in range(max_steps + 1) for j in range(i, max_steps + 1)]


def pairs_of(data: dict) -> dict:
    """The pair options of a recipe's ``[data]`` table."""
    return {k: data[k] for k in ("pairs", "max_steps", "step")}


class LeadTimeStep:
    """A pair-trained surrogate as a rollout step of ``step`` frames: prepends the lead time
    ``step / time_scale`` to the conditioning (Poseidon's autoregressive use)."""

    def __init__(self, surrogate, lead: float):
        self.surrogate, self.lead = surrogate, lead

    def __call__(self, window: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        lead = torch.full((window.shape[0], 1), self.lead, dtype=window.dtype, device=window.device)
        cond = lead if cond is None else torch.cat([lead, cond.to(window.dtype)], 1)
        return self.surrogate(window, cond)


def rollout_step(surrogate, data: dict):
    """``(step function, stride in frames)`` for rolling out a checkpoint whose data layout
    is ``data`` (its config's ``data`` section): a pair-trained model advances ``step``
    frames per call with the lead time prepended to its conditioning (:class:`LeadTimeStep`),
    any other one ``stride`` frames as trained; a model trained on mapped channels
    (``data.channel_map``) steps the store's fields through the map and back
    (:class:`pdesurr.data.channel_map.MappedStep`). ``evaluate`` and ``benchmark`` share it."""
    from pdesurr.data.channel_map import MappedStep, from_config

    pairs, cmap = data.get("pairs"), from_config(data.get("channel_map"))
    step, stride = surrogate, data["stride"]
    if pairs:
        step, stride = LeadTimeStep(surrogate, pairs["step"] / pairs["time_scale"]), pairs["step"]
    return (step if cmap is None else MappedStep(step, cmap)), stride


class PairDataset:
    """(input, target, lead time) pairs over the usable trajectories of a store split."""

    def __init__(
        self,
        path: str | Path,
        split: str = "train",
        pairs: str = "all2all",
        max_steps: int = 7,
        step: int = 2,
        time_scale: float | None = None,
        normalize: bool = False,
        conditioning: tuple[str, ...] = (),
        dtype: torch.dtype = torch.float32,
        store=None,
    ):
        # windows of two frames at stride 1 (one per snapshot but the last): metadata,
        # statistics and reads; frame() picks single snapshots out of them
        self.frames = WindowDataset(
            path, split, 1, 1, 1, normalize, conditioning, dtype, store
        )  # fmt: skip
        total = self.frames.frames
        if max_steps * step >= total:
            raise ValueError(
                f"pairs: max_steps * step = {max_steps * step} needs {max_steps * step + 1} "
                f"snapshots; {path} has {total}"
            )
        self.offsets = pair_offsets(pairs, max_steps, step)
        self.time_scale = float(total - 1 if time_scale is None else time_scale)
        self.dtype = dtype
        self.trajectories = self.frames.trajectories
        self.channels = self.frames.channels

    def __len__(self) -> int:
        return len(self.trajectories) * len(self.offsets)

    def locate(self, index: int) -> tuple[int, int, int]:
        """``(trajectory position, input frame, target frame)`` of item ``index``."""
        if not 0 <= index < len(self):
            raise IndexError(f"pair {index} out of range ({len(self)})")
        pos, k = divmod(index, len(self.offsets))
        return (pos, *self.offsets[k])

    def frame(self, pos: int, t: int) -> torch.Tensor:
        """Raw snapshot ``t`` of trajectory ``pos``, ``(C, *S)``: the first frame of the
        two-frame window starting at ``t``, or for the last snapshot the second frame of
        the window before it (no window starts there)."""
        per = self.frames.per_trajectory  # windows per trajectory: snapshots - 1
        return self.frames.window(pos * per + min(t, per - 1))[int(t >= per)]

    def lead_time(self, t1: int, t2: int) -> float:
        return (t2 - t1) / self.time_scale

    def batch(self, indices) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw frames ``(B, 2, C, *S)`` (input, target) and cond ``(B, 1 + n_cond)``."""
        frames, leads, conds = [], [], []
        for i in indices:
            pos, t1, t2 = self.locate(int(i))
            frames.append(torch.stack([self.frame(pos, t1), self.frame(pos, t2)]))
            leads.append(self.lead_time(t1, t2))
            conds.append(self.frames.cond[pos])
        lead = torch.tensor(leads, dtype=self.dtype)[:, None]
        return torch.stack(frames), torch.cat([lead, torch.stack(conds)], 1)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return self.frames.normalize(x)

    # --- what the offline trainer asks of a training source ---------------------------
    @property
    def fields(self):
        return self.frames.fields

    @property
    def ndim(self) -> int:
        return self.frames.ndim

    def nbytes(self) -> int:
        return self.frames.nbytes()

    def to_memory(self) -> MemoryPairs:
        """The same pairs served from one in-memory ``(N, T, C, *S)`` tensor."""
        return MemoryPairs(self, self.frames.to_memory().data)


class MemoryPairs:
    """The pairs of a :class:`PairDataset` from an in-memory ``(N, T, C, *S)`` tensor."""

    def __init__(self, source: PairDataset, data: torch.Tensor):
        self.source, self.data = source, data

    def __len__(self) -> int:
        return len(self.source)

    def batch(self, indices) -> tuple[torch.Tensor, torch.Tensor]:
        where = torch.tensor([self.source.locate(int(i)) for i in indices])  # (B, 3)
        pos, t1, t2 = where.unbind(1)
        frames = torch.stack([self.data[pos, t1], self.data[pos, t2]], 1)  # (B, 2, C, *S)
        lead = ((t2 - t1).to(self.data.dtype) / self.source.time_scale)[:, None]
        return frames, torch.cat([lead, self.source.frames.cond[pos]], 1)
