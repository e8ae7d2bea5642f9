"""The interface of a PDE residual for physics-informed losses.

A :class:`Residual` names its coordinates (``coords``, e.g. ``("x", "t")``; time last),
the network's output fields (``fields``), the derivatives it needs (``needs``, names as in
:mod:`pdesurr.physics.derivatives`) and the residual components (``components``). Calling
it on a field function and collocation points ``(P, D)`` returns the residuals ``(P, R)``;
an exact solution gives zeros. The sign convention and parameter names are those of the
matching solver in :mod:`pdesurr.solvers`, so a PINN and the reference solve one equation.

``forcing`` (optional, every residual) is a function ``points (P, D) -> (P,)`` added to the
right-hand side: manufactured solutions in tests, or a physical forcing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

import torch

from pdesurr.physics.derivatives import FieldFn, derivatives

Forcing = Callable[[torch.Tensor], torch.Tensor]


class Residual(ABC):
    name: str
    coords: tuple[str, ...]
    fields: tuple[str, ...]
    needs: tuple[str, ...]
    components: tuple[str, ...]
    # a first-order transport part whose characteristics the Lagrangian PINN follows
    # (Mojgani et al.): dx/dt = c for convection, dx/dt = u for Burgers
    characteristics: bool = False

    def __init__(self, forcing: Forcing | None = None):
        self.forcing = forcing

    def _rhs(self, points: torch.Tensor) -> torch.Tensor | float:
        return 0.0 if self.forcing is None else self.forcing(points)

    @abstractmethod
    def formula(self, d: dict[str, torch.Tensor], points: torch.Tensor) -> torch.Tensor:
        """Residuals ``(P, R)`` from the derivatives ``d`` (each ``(P,)``)."""

    def __call__(self, fn: FieldFn, points: torch.Tensor, engine: str = "autograd"):
        d = derivatives(engine, fn, points, self.needs, self.fields, self.coords)
        return self.formula(d, points)

    def parameters(self) -> dict:
        """The constructor arguments (forcing excluded), saved with checkpoints."""
        return {}
