"""Training objectives on standardised windows ``(B, history + horizon, C, *S)``.

* ``one_step``: MSE of the prediction of frame ``history`` from the frames before it.
* ``pushforward`` (Brandstetter, Worrall & Welling 2022, arXiv:2202.03376): draw
  ``k`` uniformly in ``[0, unroll - 1]``, roll the model ``k`` steps *without* gradient,
  then train the next step on the model's own output: the model learns to correct the
  distribution shift of its rollouts at the cost of one backward pass. The default.
* ``unrolled``: roll ``unroll`` steps with gradients through all of them and average the
  per-step MSE (backpropagation through time).

``k`` comes from a generator seeded by the step, so a resumed run draws the same ones.
"""

from __future__ import annotations

import torch

from pdesurr.training.surrogate import Surrogate


def _shift(window: torch.Tensor, nxt: torch.Tensor) -> torch.Tensor:
    return torch.cat([window[:, 1:], nxt.unsqueeze(1)], dim=1)


def loss(
    kind: str,
    surrogate: Surrogate,
    frames: torch.Tensor,
    cond: torch.Tensor | None,
    history: int,
    unroll: int,
    step: int,
    seed: int,
) -> torch.Tensor:
    window, targets = frames[:, :history], frames[:, history:]
    if kind == "one_step":
        return torch.mean((surrogate.step_normalized(window, cond) - targets[:, 0]) ** 2)
    if kind == "pushforward":
        gen = torch.Generator().manual_seed(seed * 7_919 + step)
        k = int(torch.randint(0, unroll, (), generator=gen))
        with torch.no_grad():
            for _ in range(k):
                window = _shift(window, surrogate.step_normalized(window, cond))
        return torch.mean((surrogate.step_normalized(window, cond) - targets[:, k]) ** 2)
    if kind == "unrolled":
        total = 0.0
        for i in range(unroll):
            nxt = surrogate.step_normalized(window, cond)
            total = total + torch.mean((nxt - targets[:, i]) ** 2)
            window = _shift(window, nxt)
        return total / unroll
    raise ValueError(f"unknown objective {kind!r}")
