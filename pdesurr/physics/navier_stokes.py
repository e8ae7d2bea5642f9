r"""2D incompressible Navier-Stokes, vorticity form, on a periodic box.

The network gives the velocity ``(u, v)``; the vorticity is ``omega = v_x - u_y`` (the
solver's convention, :class:`pdesurr.solvers.navier_stokes.NavierStokes2D`: ``u = psi_y``,
``v = -psi_x``, ``lap psi = -omega``). Two residual components:

.. math::

    r_\omega = \omega_t + u\,\omega_x + v\,\omega_y - \nu(\omega_{xx} + \omega_{yy})
               + \alpha\,\omega - f, \qquad r_{div} = u_x + v_y

``viscosity = nu``, ``drag = alpha``; ``forcing = "kolmogorov"`` adds the solver's
``f = -A k cos(k y)`` with ``k = 2 pi forcing_wavenumber / length`` and
``A = forcing_amplitude``, or pass a function ``points (P, 3) -> (P,)`` (coordinates
``(x, y, t)``). This is the form of the causal-PINN NS-on-a-torus case (Wang et al. 2022).
"""

from __future__ import annotations

import math

import torch

from pdesurr.physics.residual import Residual


class NavierStokesResidual(Residual):
    name = "navier_stokes_2d"
    coords = ("x", "y", "t")
    fields = ("u", "v")
    # omega = v_x - u_y and its derivatives, spelled in the velocity's derivatives
    needs = (
        "u",
        "v",
        "u_x",
        "v_y",
        "u_y",
        "v_x",
        "v_xt",
        "u_yt",
        "v_xx",
        "u_xy",
        "v_xy",
        "u_yy",
        "v_xxx",
        "u_xxy",
        "v_xyy",
        "u_yyy",
    )
    components = ("vorticity", "divergence")

    def __init__(
        self,
        viscosity: float = 1e-3,
        drag: float = 0.0,
        forcing=None,
        forcing_wavenumber: int = 4,
        forcing_amplitude: float = 1.0,
        length: float = 2 * math.pi,
    ):
        self.viscosity, self.drag = float(viscosity), float(drag)
        self.forcing_wavenumber = int(forcing_wavenumber)
        self.forcing_amplitude = float(forcing_amplitude)
        self.length = float(length)
        self.forcing_kind = forcing if isinstance(forcing, str) or forcing is None else "custom"
        if forcing == "kolmogorov":
            k = 2 * math.pi * self.forcing_wavenumber / self.length
            amp = self.forcing_amplitude

            def forcing(points: torch.Tensor) -> torch.Tensor:
                return -amp * k * torch.cos(k * points[:, 1])

        elif forcing in (None, "none"):
            forcing = None
        elif isinstance(forcing, str):
            raise ValueError(f"forcing: 'none', 'kolmogorov' or a function, got {forcing!r}")
        super().__init__(forcing)

    def formula(self, d, points):
        w = d["v_x"] - d["u_y"]
        w_t = d["v_xt"] - d["u_yt"]
        w_x = d["v_xx"] - d["u_xy"]
        w_y = d["v_xy"] - d["u_yy"]
        lap_w = d["v_xxx"] - d["u_xxy"] + d["v_xyy"] - d["u_yyy"]
        r_w = w_t + d["u"] * w_x + d["v"] * w_y - self.viscosity * lap_w + self.drag * w
        r_w = r_w - self._rhs(points)
        return torch.stack([r_w, d["u_x"] + d["v_y"]], dim=1)

    def parameters(self):
        return {
            "viscosity": self.viscosity,
            "drag": self.drag,
            "forcing": self.forcing_kind or "none",
            "forcing_wavenumber": self.forcing_wavenumber,
            "forcing_amplitude": self.forcing_amplitude,
            "length": self.length,
        }
