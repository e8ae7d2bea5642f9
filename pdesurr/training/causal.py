r"""Causal weights for physics-informed training (Wang, Sankaran & Perdikaris 2022).

Written from the paper's formulas (arXiv:2203.07404, CMAME 2024). **Note:** the original
authors state that the causal training algorithm is patented (University of
Pennsylvania) and their code (``PredictiveIntelligenceLab/CausalPINNs``) is licensed
CC BY-NC-SA 4.0, non-commercial; pdesurr's implementation shares no code with it. Users
with commercial aims should check the patent's status themselves.

With the residual loss of each of ``N_t`` sorted time chunks ``L_r(t_i)``, the weights are

.. math::

    w_i = \exp\Big(-\varepsilon \sum_{k < i} L_r(t_k)\Big), \quad w_1 = 1, \qquad
    \mathcal L = \lambda_{ic} \mathcal L_{ic} + \frac1{N_t} \sum_i w_i\, \mathcal L_r(t_i)

computed without gradient (they steer the optimiser, they are not optimised). A chunk is
trained only once the residual before it is small. The tolerance ``eps`` follows a
schedule ``eps_1 < eps_2 < ...``: when ``min_i w_i > delta`` (``delta = 0.99``: every
chunk is "open") the next, stricter ``eps`` is used. The original code also adds
``lambda_ic L_ic`` inside the exponent; jaxpi does not, nor does this.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def causal_weights(chunk_losses: torch.Tensor, eps: float) -> torch.Tensor:
    """``w_i = exp(-eps * sum_{k<i} L_k)`` for losses ``(N_t,)`` in time order; no gradient."""
    losses = chunk_losses.detach()
    before = torch.cumsum(losses, 0) - losses  # exclusive prefix sum: w_1 = 1
    return torch.exp(-eps * before)


@dataclass
class EpsSchedule:
    """The ``eps`` ladder; :meth:`update` moves to the next rung when ``min w > delta``."""

    values: list[float]
    delta: float = 0.99
    index: int = 0

    def __post_init__(self):
        if not self.values:
            raise ValueError("physics.causal.eps: needs at least one value")
        if any(b <= a for a, b in zip(self.values[:-1], self.values[1:], strict=True)):
            raise ValueError(f"physics.causal.eps: must increase, got {self.values}")
        if not 0 < self.delta < 1:
            raise ValueError(f"physics.causal.delta: must be in (0, 1), got {self.delta}")

    @property
    def eps(self) -> float:
        return self.values[self.index]

    @property
    def converged(self) -> bool:
        """At the last rung (its ``min w > delta`` is then the stopping criterion)."""
        return self.index == len(self.values) - 1

    def update(self, weights: torch.Tensor) -> bool:
        """Advance when every weight exceeds ``delta``; returns whether it advanced."""
        if float(weights.min()) > self.delta and not self.converged:
            self.index += 1
            return True
        return False

    def state_dict(self) -> dict:
        return {"index": self.index}

    def load_state_dict(self, state: dict) -> None:
        self.index = int(state["index"])
