r"""Lagrangian PINN (Mojgani, Balajewicz & Hassanzadeh 2023, CMAME, arXiv:2205.02902).

Convection-dominated problems are hard for PINNs in the Eulerian frame; along the
characteristics the solution is simple. Two branches of the label coordinate ``x_0`` (the
start of a characteristic) and ``t``: the characteristic ``X(x_0, t)`` and the state
``u(x_0, t) = u(X(x_0, t), t)``. Residuals along characteristics:

.. math::

    r_X = \partial_t X - c \ \text{(convection)}, \quad r_X = \partial_t X - u \
    \text{(Burgers)}, \qquad r_u = \partial_t u - \nu\, \partial_{XX} u

with ``d_XX u = [u_{x0x0} X_{x0} - u_{x0} X_{x0x0}] / X_{x0}^3`` (chain rule), and initial
conditions ``X(x_0, 0) = x_0``, ``u(x_0, 0) = u_0(x_0)``. Loss weights 10 (``r_X``),
1 (``r_u``), 1000 (initial condition) as in the paper (applied here to mean squares).

Simplifications: the characteristic branch predicts the displacement, written
``X = x_0 + t U_s N_X(x_0, t)``, so that it is periodic in ``x_0`` (both branches use the
exact periodic embedding; the periodic boundary condition needs no loss term), the
initial condition ``X(x_0, 0) = x_0`` holds exactly, and the network output is O(1):
``U_s`` is the problem's speed scale (``|c|`` for convection, ``max |u_0|`` for Burgers),
a nondimensionalisation, not the answer (``N_X`` must still learn ``X_t = c`` or ``u``).
Evaluation maps back to the Eulerian grid: at each time, ``(X mod L, u)`` on a fine
label grid is interpolated periodically at the grid points (valid while characteristics
do not cross, i.e. before a shock; viscous Burgers keeps them apart).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from pdesurr.physics.derivatives import derivatives
from pdesurr.physics.residual import Residual

FIELDS = ("d", "u")  # displacement X - x0, state u


class LagrangianNetwork(nn.Module):
    """Two coordinate networks of ``(x0, t)``: displacement ``D = X - x0 = t U_s N_X`` and
    state ``u``; forward ``(P, 2)``."""

    def __init__(self, network_cls, args: dict, speed_scale: float = 1.0):
        super().__init__()
        args = dict(args)
        self.speed_scale = float(speed_scale)
        self.displacement = network_cls(**{**args, "fields": ["d"]})
        self.state = network_cls(**{**args, "fields": ["u"], "seed": args.get("seed", 0) + 1})

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        d = points[:, 1:2] * self.speed_scale * self.displacement(points)
        return torch.cat([d, self.state(points)], dim=1)


def speed_scale(ref) -> float:
    """``U_s``: ``|c|`` for convection, ``max |u_0|`` for Burgers (1 if that is 0)."""
    if ref.pde["kind"] == "convection":
        return abs(float(ref.pde["velocity"])) or 1.0
    return float(ref.u[0].abs().max()) or 1.0


def residuals(net: nn.Module, residual: Residual, points: torch.Tensor, engine: str = "autograd"):
    """``(r_X, r_u)``, each ``(P,)``, for the convection or Burgers ``residual``."""
    nu = residual.viscosity
    needs = ["u", "d_t", "u_t"] + (["d_x", "d_xx", "u_x", "u_xx"] if nu else [])
    d = derivatives(engine, net, points, needs, FIELDS, ("x", "t"))
    speed = residual.velocity if residual.name == "convection" else d["u"]
    r_x = d["d_t"] - speed
    r_u = d["u_t"]
    if nu:
        jac = 1 + d["d_x"]  # X_{x0}
        r_u = r_u - nu * (d["u_xx"] * jac - d["u_x"] * d["d_xx"]) / jac**3
    return r_x, r_u


@torch.no_grad()
def eulerian(
    net: nn.Module, x: torch.Tensor, t: torch.Tensor, origin: float, length: float, refine: int = 4
) -> torch.Tensor:
    """``u`` on the Eulerian grid ``x (N,)`` at times ``t (T,)``: ``(T, N)``."""
    p = next(net.parameters())
    n = refine * len(x)
    x0 = origin + torch.arange(n, dtype=p.dtype, device=p.device) * (length / n)
    xs = x.cpu().numpy()
    out = np.empty((len(t), len(x)))
    for i, ti in enumerate(t.tolist()):
        pts = torch.stack([x0, torch.full_like(x0, ti)], 1)
        du = net(pts).double().cpu().numpy()
        pos = np.mod(x0.double().cpu().numpy() + du[:, 0] - origin, length) + origin
        order = np.argsort(pos)
        out[i] = np.interp(xs, pos[order], du[order, 1], period=length)
    return torch.from_numpy(out)
