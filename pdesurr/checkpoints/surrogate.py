"""A trained model as a time stepper: history in, next state out, in physical units.

The data layer stacks ``history`` frames into channels and standardises each channel;
the model maps that to the next frame (``predict = "state"``) or to the change from the
last frame (``predict = "residual"``), in standardised units. :class:`Surrogate` wraps the
model with those conventions so that rollouts (training objectives, evaluation) call
``step(window)`` with physical ``(B, history, C, *S)`` frames, exactly like a solver.

A stochastic model (PDE-Refiner, :class:`pdesurr.models.refiner.Refiner`) makes each step
with its K + 1-call :meth:`sample`, its noise drawn from ``noise`` (a
:class:`~pdesurr.models.refiner.StepNoise`, which rollouts build per trajectory and step);
without one, from generators seeded by the batch position (deterministic, but then a
sample's noise depends on where it sits in the batch).
"""

from __future__ import annotations

import torch
from torch import nn

from pdesurr.data.standardize import destandardize, standardize
from pdesurr.models.refiner import StepNoise


class Surrogate(nn.Module):
    def __init__(
        self,
        model: nn.Module,
        history: int,
        channels: int,
        mean: torch.Tensor | None = None,
        std: torch.Tensor | None = None,
        predict: str = "state",
    ):
        super().__init__()
        if predict not in ("state", "residual"):
            raise ValueError(f"predict must be 'state' or 'residual', got {predict!r}")
        self.model, self.history, self.channels, self.predict = model, history, channels, predict
        self.register_buffer("mean", mean if mean is not None else torch.zeros(channels))
        self.register_buffer("std", std if std is not None else torch.ones(channels))

    @property
    def stochastic(self) -> bool:
        return getattr(self.model, "stochastic", False)

    def step_normalized(
        self, window: torch.Tensor, cond: torch.Tensor | None, noise=None
    ) -> torch.Tensor:
        """Standardised ``(B, history, C, *S)`` -> standardised next frame ``(B, C, *S)``.

        The plain model call; a stochastic model samples only when given ``noise``."""
        x = window.flatten(1, 2)
        out = self.model(x, cond=cond) if noise is None else self.model.sample(x, cond, noise)
        return window[:, -1] + out if self.predict == "residual" else out

    def model_target(self, window: torch.Tensor, nxt: torch.Tensor) -> torch.Tensor:
        """What the model must output for the standardised next frame ``nxt``."""
        return nxt - window[:, -1] if self.predict == "residual" else nxt

    def forward(
        self, window: torch.Tensor, cond: torch.Tensor | None = None, noise=None
    ) -> torch.Tensor:
        """Physical ``(B, history, C, *S)`` -> physical next frame ``(B, C, *S)``."""
        return self.stages(window, cond, noise)[-1]

    def stages(
        self, window: torch.Tensor, cond: torch.Tensor | None = None, noise=None
    ) -> list[torch.Tensor]:
        """The physical next-frame estimates a step goes through: one for a plain model;
        for a refiner the one-step prediction, then the estimate after each refinement."""
        ndim = window.ndim - 3  # (B, history, C, *S)
        z = standardize(window, self.mean, self.std, ndim)
        if self.stochastic:
            noise = StepNoise(0, range(window.shape[0]), 0) if noise is None else noise
            estimates = []
            self.model.sample(z.flatten(1, 2), cond, noise, estimates)
            if self.predict == "residual":
                estimates = [z[:, -1] + e for e in estimates]
        else:
            estimates = [self.step_normalized(z, cond)]
        return [destandardize(e, self.mean, self.std, ndim) for e in estimates]
