r"""The initial condition imposed exactly ("hard") on a coordinate network.

.. math::

    u(x, t) = g(x) + s\, N(x, t), \qquad s = \frac{t - t_a}{t_b - t_a}, \qquad
    g(x) = \sum_{k=0}^{M-1} a_k \cos(k\omega x) + b_k \sin(k\omega x)

with ``omega = 2 pi / L``, so ``u(x, t_a) = g(x)`` for every ``x`` and the network ``N``
only learns the change over the window ``[t_a, t_b]``. ``g`` is the trigonometric
interpolant of the initial state on the reference grid ``x_j = x_0 + j L / n``
(:meth:`FourierInitial.fit`): exact at the grid points, smooth, periodic and
differentiable, so the residual's ``u_xx`` sees the same ``g`` as the loss. For time
marching, window ``w > 0`` fits ``g`` to the previous window's end state.

Why: on Allen-Cahn the state ``u = 0`` is unstable (growth rate ``r = 5``), and the
solution near ``x = 0`` grows from ``u_0 = x^2 cos(pi x) ~ 1e-3``; an initial-condition
error there is amplified ``e^{5 t}`` (about 150x by ``t = 1``). A soft IC loss leaves
errors of ~5e-3 (the soft-IC runs of the README), too large by two orders. Lu et al. 2021
(hPINNs) and Sukumar & Srivastava 2022 impose conditions the same way.

Shapes: ``x`` ``(P,)`` in, ``(P,)`` out. The coefficients ``(2, M)`` are a buffer, saved
with the network's weights.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class FourierInitial(nn.Module):
    def __init__(self, modes: int, length: float):
        super().__init__()
        if modes < 1:
            raise ValueError(f"initial_modes: must be >= 1, got {modes}")
        self.omega = 2 * math.pi / float(length)
        self.register_buffer("coef", torch.zeros(2, modes))
        self.register_buffer("k", torch.arange(modes, dtype=torch.float32))

    @torch.no_grad()
    def fit(self, values: torch.Tensor, origin: float) -> None:
        """Interpolate ``values`` ``(n,)`` at ``x_j = origin + j L / n`` (``n >= 2 M - 2``;
        with ``n = 2 M - 2`` every mode, the Nyquist one halved, so ``g(x_j) = values_j``)."""
        n, modes = values.numel(), self.coef.shape[1]
        if n < 2 * modes - 2:
            raise ValueError(f"initial_modes = {modes}: needs >= {2 * modes - 2} grid points")
        c = torch.fft.rfft(values.double().cpu())[:modes] / n
        c[1:] *= 2
        if n == 2 * modes - 2:
            c[-1] /= 2  # the Nyquist mode is counted once
        # shift the phase origin to x = 0: values_j = g(origin + j L / n)
        c = c * torch.exp(-1j * torch.arange(modes, dtype=torch.float64) * self.omega * origin)
        self.coef.copy_(torch.stack([c.real, -c.imag]).to(self.coef))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        phase = x[:, None] * (self.omega * self.k.to(x.dtype))  # (P, M)
        coef = self.coef.to(x.dtype)
        return torch.cos(phase) @ coef[0] + torch.sin(phase) @ coef[1]
