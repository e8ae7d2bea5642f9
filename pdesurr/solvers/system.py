"""What a pseudo-spectral PDE hands to an integrator: ``u_t = L u + N(u)`` in Fourier space.

A :class:`SpectralSystem` is built by a PDE for one device, dtype and batch of
parameters. ``linear`` is the diagonal symbol ``L`` (broadcastable to the spectral state
``(B, C, *K)``; real or complex), ``nonlinear`` maps ``u_hat -> N(u_hat)`` (forcing
included), and ``filter`` (optional) multiplies the state after every step, as pyqg's
exponential filter does.

A :class:`FactoredNonlinear` is a nonlinear term of the form ``N(u_hat) = D * M(u_hat)``
with a fixed spectral multiplier ``D`` (e.g. ``-1/2 i k`` of ``-1/2 (u^2)_x``): an
exponential integrator multiplies every ``N`` by a coefficient anyway, so it folds ``D``
into its coefficients once and saves one multiply per stage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class FactoredNonlinear:
    """``N(u_hat) = factor * unscaled(u_hat)``; callable as ``N`` itself."""

    factor: torch.Tensor
    unscaled: Callable[[torch.Tensor], torch.Tensor]
    #: set when ``unscaled(u_hat)`` is ``rfft(irfft(u_hat, n) ** 2)`` over the last axis
    #: with ``n = square_points`` (1D quadratic advection): the form that
    #: :mod:`pdesurr.solvers.integrators.compiled` evaluates without calling ``unscaled``
    square_points: int | None = None

    def __call__(self, u_hat: torch.Tensor) -> torch.Tensor:
        return self.factor * self.unscaled(u_hat)


@dataclass(frozen=True)
class SpectralSystem:
    linear: torch.Tensor
    nonlinear: Callable[[torch.Tensor], torch.Tensor]
    filter: torch.Tensor | None = None


@dataclass(frozen=True)
class Field:
    """A named field of the state: ``channels`` consecutive channels of ``(B, C, *S)``.

    ``dims`` names the channel-like axes (e.g. ``("layer",)``) when ``channels > 1``.
    """

    name: str
    channels: int = 1
    dims: tuple[str, ...] = ()
    units: str = ""
    long_name: str = ""


class DivergenceError(FloatingPointError):
    """The state stopped being finite.

    Attributes name the step and time at which it was detected, the last step known to
    be finite, and which batch members diverged.
    """

    def __init__(self, step: int, time: float, last_finite_step: int, members: list[int]):
        self.step = step
        self.time = time
        self.last_finite_step = last_finite_step
        self.members = members
        super().__init__(
            f"simulation diverged: non-finite state at step {step} (t = {time:.6g}); "
            f"last finite check at step {last_finite_step}; batch members {members}"
        )
