"""The integrator interface: one step of ``u_t = L u + N(u)`` with diagonal ``L``.

An integrator is built once per (system, dt) so that its coefficients are computed once.
``step(u_hat, carry) -> (u_hat, carry)`` is functional: ``carry`` holds what a multistep
method remembers (``None`` for one-step methods) and starts as ``init(u_hat)``.
``step_`` is the in-place variant the stepper uses (it owns its state).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

import torch


def step_size(dt, like: torch.Tensor):
    """``dt`` as a float, or a per-sample ``(B,)`` tensor shaped to broadcast like ``like``
    in ``like``'s real precision (so float32 states are not promoted)."""
    if isinstance(dt, torch.Tensor) and dt.ndim == 1:
        real = like.real.dtype if like.is_complex() else like.dtype
        return dt.to(device=like.device, dtype=real).reshape(-1, *([1] * (like.ndim - 1)))
    return float(dt)


class Integrator(ABC):
    order: ClassVar[int]

    def __init__(
        self,
        linear: torch.Tensor,
        nonlinear: Callable[[torch.Tensor], torch.Tensor],
        dt: torch.Tensor | float,
    ):
        self.linear = linear
        self.nonlinear = nonlinear
        self.dt = dt

    def init(self, u_hat: torch.Tensor) -> Any:
        return None

    @abstractmethod
    def step(self, u_hat: torch.Tensor, carry: Any) -> tuple[torch.Tensor, Any]: ...

    def step_(self, u_hat: torch.Tensor, carry: Any) -> tuple[torch.Tensor, Any]:
        """The same step for a caller that owns ``u_hat`` and ``carry``: may overwrite
        them and reuse their memory. Returns a state the caller owns (it may modify it in
        place). By default the functional :meth:`step`, whose result is always new."""
        return self.step(u_hat, carry)
