"""Autoregressive rollouts: one pure function for models and solvers alike.

``rollout(step_fn, history, n_steps)`` feeds ``history`` ``(B, H, C, *S)`` to
``step_fn(window, cond) -> (B, C, *S)``, appends the output and drops the oldest frame,
``n_steps`` times, and returns only the predictions ``(B, n_steps, C, *S)``: the context
frames are never part of the output, so they can never be scored.

Step functions: a trained :class:`~pdesurr.checkpoints.surrogate.Surrogate` is one as is;
:class:`SolverStep` makes one of a solver stepper (several solver steps per frame);
PDE-Refiner-style models that need several calls per step wrap them in a function.

Stochastic step functions (``step_fn.stochastic`` true, e.g. a Surrogate of a
PDE-Refiner) are called as ``step_fn(window, cond, noise=StepNoise(seed, trajectories,
step, member))``: sample ``b``'s noise at step ``i`` depends only on ``(seed, member,
trajectories[b], i)``, so rollouts are reproducible and independent of how trajectories
are batched; ``member`` numbers the samples of an ensemble.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from pdesurr.data.windows import shift_window
from pdesurr.models.refiner import StepNoise
from pdesurr.solvers import Stepper

StepFn = Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]


def rollout(
    step_fn: StepFn,
    history: torch.Tensor,
    n_steps: int,
    cond: torch.Tensor | None = None,
    trajectories=None,
    seed: int = 0,
    member: int = 0,
) -> torch.Tensor:
    """``trajectories`` (ids of the batch's rows, default ``0..B-1``), ``seed`` and
    ``member`` key the noise of a stochastic step function; others ignore them."""
    if history.ndim < 4:
        raise ValueError(f"history must be (B, H, C, *S), got {tuple(history.shape)}")
    stochastic = getattr(step_fn, "stochastic", False)
    ids = list(range(history.shape[0])) if trajectories is None else [int(i) for i in trajectories]
    if len(ids) != history.shape[0]:
        raise ValueError(f"{len(ids)} trajectory ids for a batch of {history.shape[0]}")
    window, outputs = history, []
    for i in range(n_steps):
        if stochastic:
            nxt = step_fn(window, cond, noise=StepNoise(seed, ids, i, member))
        else:
            nxt = step_fn(window, cond)
        if nxt.shape != window[:, -1].shape:
            raise ValueError(
                f"step_fn returned {tuple(nxt.shape)}, expected {tuple(window[:, -1].shape)}"
            )
        outputs.append(nxt)
        window = shift_window(window, nxt)
    return torch.stack(outputs, 1)


class SolverStep:
    """A solver as a step function: advance the last frame by ``substeps`` solver steps.

    The state is taken to float64 for the solver and returned in the input's dtype.
    """

    def __init__(self, stepper: Stepper, substeps: int):
        if substeps < 1:
            raise ValueError(f"substeps must be >= 1, got {substeps}")
        self.stepper, self.substeps = stepper, substeps

    def __call__(self, window: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        last = window[:, -1]
        return self.stepper.step(last.double(), self.substeps).to(last.dtype)


def persistence(window: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
    """The "useless" reference: repeat the last frame."""
    return window[:, -1].clone()
