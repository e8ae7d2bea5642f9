"""A trained PINN as a function of ``(x, t)``: its window networks, stitched in time.

``PINNSolution`` holds one network per time window (``edges[w] = (t_a, t_b)``), the
method (the Lagrangian networks are mapped back to the Eulerian grid), the reference and
the training record (history, causal weights). ``predict(t)`` gives ``u`` on the
reference's grid at times ``t``: ``(T, N)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from pdesurr.physics.lagrangian import eulerian
from pdesurr.physics.reference import Reference


@torch.no_grad()
def predict(net, method: str, ref: Reference, t: torch.Tensor) -> torch.Tensor:
    """The network's ``u`` on ``ref.x`` at times ``t``: ``(T, N)``, float64 CPU."""
    p = next(net.parameters())
    t = t.to(torch.float64)
    if method == "lagrangian":
        return eulerian(net, ref.x.to(p.device, p.dtype), t, ref.origin, ref.length)
    tt, xx = torch.meshgrid(t, ref.x, indexing="ij")
    pts = torch.stack([xx.flatten(), tt.flatten()], 1).to(p.device, p.dtype)
    return net(pts)[:, 0].reshape(len(t), len(ref.x)).double().cpu()


def stitch(nets, edges, method: str, ref: Reference, t: torch.Tensor) -> torch.Tensor:
    """Predictions ``(T, N)`` at times ``t``, each time from its window's network (the
    first window that contains it; times past the last trained window use the last)."""
    t = t.to(torch.float64)
    out = torch.empty(len(t), len(ref.x), dtype=torch.float64)
    index = torch.zeros(len(t), dtype=torch.long)
    for w in range(len(edges) - 1, 0, -1):
        index[(t > edges[w][0] + 1e-12) & (index == 0)] = w
    index.clamp_(max=len(nets) - 1)
    for w, net in enumerate(nets):
        sel = index == w
        if sel.any():
            out[sel] = predict(net, method, ref, t[sel])
    return out


def rel_l2(pred: torch.Tensor, true: torch.Tensor) -> float:
    """``||pred - true|| / ||true||`` over every entry."""
    return float((pred - true).norm() / true.norm())


@dataclass
class PINNSolution:
    recipe: dict  # the resolved recipe
    reference: Reference
    networks: list
    edges: list
    history: list = field(default_factory=list)
    causal_log: list = field(default_factory=list)

    @property
    def method(self) -> str:
        return self.recipe["physics"]["method"]

    def predict(self, t: torch.Tensor | None = None) -> torch.Tensor:
        t = self.reference.t if t is None else t
        return stitch(self.networks, self.edges, self.method, self.reference, t)
