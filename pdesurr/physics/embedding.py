r"""Input embeddings of coordinate networks: exact periodicity and Fourier features.

* Periodic coordinate ``x`` of period ``L`` (``omega = 2 pi / L``):
  ``[1, cos(k omega x), sin(k omega x)]_{k = 1..M}``, so every function of the embedding
  is exactly periodic (Dong & Ni 2021; Wang, Sankaran & Perdikaris 2022, "exact
  periodicity"). The boundary condition then needs no loss term.
* Other coordinates (time) are scaled to ``[-1, 1]`` from their ``bounds``; with
  ``fourier_features = m > 0`` the time also gets random Fourier features
  ``[cos(b_j t'), sin(b_j t')]_{j = 1..m}``, ``b_j ~ N(0, s^2)`` (Tancik et al. 2020;
  jaxpi applies them to all inputs; here to time only, the periodic embedding already
  resolves space). ``b`` is a buffer, saved in the checkpoint.

Shapes: ``(P, D)`` in, ``(P, E)`` out, ``E`` given by :attr:`CoordinateEmbedding.width`.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class CoordinateEmbedding(nn.Module):
    def __init__(
        self,
        coords: list[str],
        periodic: dict,
        bounds: dict,
        harmonics: int = 1,
        fourier_features: int = 0,
        fourier_scale: float = 1.0,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        for key in list(periodic) + list(bounds):
            if key not in coords:
                raise ValueError(f"embedding: {key!r} is not a coordinate of {coords}")
        if harmonics < 1:
            raise ValueError(f"harmonics: must be >= 1, got {harmonics}")
        self.coords = list(coords)
        self.periodic = {k: float(v) for k, v in periodic.items()}
        self.bounds = {k: (float(v[0]), float(v[1])) for k, v in bounds.items()}
        self.harmonics = harmonics
        self.register_buffer("k", torch.arange(1, harmonics + 1, dtype=torch.float32))
        b = torch.randn(fourier_features, generator=generator) * fourier_scale
        self.register_buffer("fourier_b", b)
        self.fourier_axis = next((c for c in reversed(coords) if c not in self.periodic), None)
        if fourier_features and self.fourier_axis is None:
            raise ValueError("fourier_features: no non-periodic coordinate to apply them to")

    @property
    def width(self) -> int:
        n_per = len(self.periodic)
        width = n_per * 2 * self.harmonics + (1 if n_per else 0)
        width += len(self.coords) - n_per
        return width + 2 * self.fourier_b.numel()

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        parts = []
        if self.periodic:
            parts.append(torch.ones_like(points[:, :1]))
        k = self.k.to(points.dtype)
        for i, name in enumerate(self.coords):
            c = points[:, i : i + 1]
            if name in self.periodic:
                phase = c * (2 * math.pi / self.periodic[name]) * k  # (P, M)
                parts += [torch.cos(phase), torch.sin(phase)]
                continue
            lo, hi = self.bounds.get(name, (-1.0, 1.0))
            scaled = 2 * (c - lo) / (hi - lo) - 1
            parts.append(scaled)
            if name == self.fourier_axis and self.fourier_b.numel():
                arg = scaled * self.fourier_b.to(points.dtype)
                parts += [torch.cos(arg), torch.sin(arg)]
        return torch.cat(parts, dim=1)
