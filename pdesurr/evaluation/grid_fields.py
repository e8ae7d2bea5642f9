"""What the evaluation needs of a PDE, for stores with no pdesurr solver (The Well, PDEBench).

A pdesurr store rebuilds its solver's PDE (:func:`pdesurr.evaluation.reference.store_pde`),
which gives the energy spectrum and invariants in the PDE's own physics. A foreign file
has no solver, so :class:`GridFields` stands in with physics-free diagnostics on the
store's grid:

* ``energy_spectrum``: per state channel ``c``, the shell-binned spectrum of ``u_c^2 / 2``
  (:func:`pdesurr.spectral.energy_spectrum`, summing to ``mean(u_c^2) / 2``);
* ``invariants``: per channel mean ``<u_c>`` and the total ``<sum_c u_c^2> / 2``, monitored
  quantities, conserved only where the physics conserves them.

The grid is periodic by construction (the FFT); ``periodic`` carries the store's own
boundary conditions, so the evaluation can say when a non-periodic domain is treated as
periodic (the spectra then include the jump across the boundaries).
"""

from __future__ import annotations

import numpy as np
import torch

from pdesurr.data.store import StoreError
from pdesurr.spectral import Grid, energy_spectrum


class GridFields:
    def __init__(self, grid: Grid, channel_names: list[str], periodic: bool):
        self.grid, self.channel_names, self.periodic = grid, list(channel_names), periodic

    @classmethod
    def from_store(cls, store, split: str) -> GridFields:
        """The grid of a store's split: ``N`` points spaced ``dx`` cover ``L = N dx``."""
        f0 = store.fields[0]
        shape = tuple(store.array(split, f0["name"]).shape[2 + (f0["channels"] > 1) :])
        axes = ("x",) if len(shape) == 1 else ("y", "x")
        lengths = []
        for axis, n in zip(axes, shape, strict=True):
            c = np.asarray(store.read(split, axis), dtype=np.float64)
            dx = float(np.mean(np.diff(c))) if c.size > 1 else 1.0
            lengths.append(abs(dx) * n if dx else float(n))
        try:
            grid = Grid(shape, tuple(lengths))
        except ValueError as e:
            raise StoreError(
                f"{store.path}: spectra need an even grid of >= 4 points: {e}"
            ) from None
        names = [c for f in store.fields for c in f.get("components", [f["name"]])]
        return cls(grid, names, bool(getattr(store, "periodic", True)))

    def energy_spectrum(self, u: torch.Tensor):
        """``(B, C, *S)`` -> ``k (K,)``, ``E (B, C, K)``, one group per channel."""
        k, e = energy_spectrum(u, self.grid)
        return k, e, self.channel_names

    def invariants(self, u: torch.Tensor) -> dict[str, torch.Tensor]:
        out = {f"mean_{n}": u[:, i].flatten(1).mean(-1) for i, n in enumerate(self.channel_names)}
        out["energy"] = 0.5 * (u**2).sum(1).flatten(1).mean(-1)
        return out
