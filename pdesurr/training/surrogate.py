"""A trained model as a time stepper: history in, next state out, in physical units.

The data layer stacks ``history`` frames into channels and standardises each channel;
the model maps that to the next frame (``predict = "state"``) or to the change from the
last frame (``predict = "residual"``), in standardised units. :class:`Surrogate` wraps the
model with those conventions so that rollouts (training objectives, evaluation) call
``step(window)`` with physical ``(B, history, C, *S)`` frames, exactly like a solver.
"""

from __future__ import annotations

import torch
from torch import nn


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

    def step_normalized(self, window: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        """Standardised ``(B, history, C, *S)`` -> standardised next frame ``(B, C, *S)``."""
        out = self.model(window.flatten(1, 2), cond=cond)
        return window[:, -1] + out if self.predict == "residual" else out

    def forward(self, window: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """Physical ``(B, history, C, *S)`` -> physical next frame ``(B, C, *S)``."""
        shape = (1, 1, -1) + (1,) * (window.ndim - 3)
        mean = self.mean.to(window.dtype).reshape(shape)
        std = self.std.to(window.dtype).reshape(shape)
        nxt = self.step_normalized((window - mean) / std, cond)
        return nxt * std[:, 0] + mean[:, 0]
