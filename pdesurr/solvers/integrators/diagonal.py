"""Diagonal coefficients ``c(k)`` applied to Fourier states with the fewest passes.

The integrators' coefficients (``e^{hL}``, the ``phi`` functions, ...) multiply Fourier
states mode by mode. For the dissipative PDEs (NS, KS, Allen-Cahn, ...) ``L`` is real, so
each coefficient is real although the state is complex. A complex-by-complex multiply
costs 6 flops and reads 32 bytes per mode (float64); writing ``c * u`` as a real multiply
of the interleaved ``(re, im)`` pairs costs 2 flops. :class:`Diagonal` keeps a real
coefficient as ``(..., 2)`` pairs ``(c, c)`` matching ``torch.view_as_real(u)`` (a
broadcast over the pair axis is slower in torch's CPU kernels than the duplicated pair,
measured in ``benchmarks/peers.py``'s history), and a complex one as it is.

``mul(u) = c * u`` and ``addmul(acc, u)``: ``acc += c * u`` in place (one fused
``addcmul_`` pass instead of a multiply, a temporary and an add). Results equal the
plain complex products to round-off; shapes broadcast as ``c * u`` would.
"""

from __future__ import annotations

import torch


class Diagonal:
    def __init__(self, coefficient: torch.Tensor):
        coefficient = coefficient.resolve_conj()
        self.is_real = bool((coefficient.imag == 0).all()) if coefficient.is_complex() else True
        if self.is_real:
            real = coefficient.real if coefficient.is_complex() else coefficient
            self.value = torch.stack([real, real], dim=-1).contiguous()  # (..., 2)
        else:
            self.value = coefficient
        self.complex = coefficient if coefficient.is_complex() else None

    def mul(self, u: torch.Tensor) -> torch.Tensor:
        """``c * u`` for a complex state ``u``."""
        if not self.is_real:
            return self.value * u
        return torch.view_as_complex(self.value * torch.view_as_real(u))

    def addmul(self, acc: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """``acc += c * u`` in place; ``acc`` must have the broadcast shape. Returns ``acc``."""
        if not self.is_real:
            return acc.addcmul_(self.value, u)
        torch.view_as_real(acc).addcmul_(self.value, torch.view_as_real(u))
        return acc
