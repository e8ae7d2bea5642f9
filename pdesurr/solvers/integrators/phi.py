"""Exponential-integrator coefficients by Kassam & Trefethen's contour integral.

The ETD ``phi`` functions (``phi_1(z) = (e^z - 1)/z`` etc.) cancel catastrophically for
small ``|z|``. Kassam & Trefethen (2005, SIAM J. Sci. Comput. 26(4),
doi:10.1137/S1064827502410633) evaluate ``f(z)`` as the mean of ``f`` over ``M`` points on
a circle of radius 1 around ``z`` (Cauchy's formula), which is accurate for every ``z``.
Their ``kursiv.m`` uses 16 points on the upper half circle and takes the real part,
valid for real ``L``; we use ``M = 32`` points on the full circle so complex ``L``
(advection, dispersion) works too. Coefficients are computed in complex128 whatever the
state's dtype, then cast.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

CONTOUR_POINTS = 32


def contour_mean(
    z: torch.Tensor, f: Callable[[torch.Tensor], torch.Tensor], points: int = CONTOUR_POINTS
) -> torch.Tensor:
    """``f(z)`` evaluated as the mean of ``f(z + e^{i theta_j})`` over ``points`` angles."""
    z = z.to(torch.complex128)
    theta = (torch.arange(points, dtype=torch.float64, device=z.device) + 0.5) * (
        2 * math.pi / points
    )
    r = torch.exp(1j * theta).reshape(*([1] * z.ndim), points)
    return f(z.unsqueeze(-1) + r).mean(-1)


def linear_times_dt(linear: torch.Tensor, dt: torch.Tensor | float) -> torch.Tensor:
    """``h L`` in complex128, with a per-sample ``dt`` of shape ``(B,)`` broadcast to ``L``."""
    hl = linear.to(torch.complex128)
    if isinstance(dt, torch.Tensor) and dt.ndim == 1:
        dt = dt.to(device=hl.device, dtype=torch.float64).reshape(-1, *([1] * (hl.ndim - 1)))
    return hl * dt


def cast_like(x: torch.Tensor, linear: torch.Tensor) -> torch.Tensor:
    """Cast a complex128 coefficient to the complex dtype matching ``linear``'s precision."""
    real = linear.real.dtype if linear.is_complex() else linear.dtype
    return x.to(torch.complex64 if real in (torch.float32, torch.float16) else torch.complex128)
