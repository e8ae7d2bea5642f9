r"""Channel mappings from a store's fields onto a checkpoint's channels (``[data] channel_map``).

Poseidon's checkpoints (Herde et al. 2024, arXiv:2405.19101, Sec. 3 and App. B) read and
predict the four channels (rho, u, v, p). Incompressible data enter them as
``(1, u, v, 0)`` with the pressure masked (``pixel_mask``). ``"rho_u_v_p"`` does that for a
pdesurr 2D Navier-Stokes store, whose one field is the vorticity ``omega (.., 1, Ny, Nx)``:

.. math::

    (\rho, u, v, p) = (1,\ \partial_y\psi,\ -\partial_x\psi,\ 0), \qquad
    \nabla^2\psi = -\omega

with the velocity from the solver's own map (:meth:`NavierStokes2D.velocity`, built at
the input's resolution on the store's box ``length``). Back, a prediction's velocity gives
the vorticity ``omega = dv/dx - du/dy`` (spectral derivatives on the same grid; the
predicted rho and p are discarded), so a mapped model steps vorticity to vorticity
(:class:`MappedStep`) and every rollout metric compares vorticity with the store's truth.
``omega -> (u, v) -> omega`` is exact for fields with zero mean and no Nyquist content
(the solver's states: its inversion zeroes both). Shapes: any leading dims, then the
channel axis, then ``(Ny, Nx)``.

Normalisation of mapped channels (``[data] normalize = true``): Poseidon's pretraining
constants ``MEAN``, ``STD`` (those the checkpoint has seen; rho = 1 is then 0.645 and
p = 0 is 0, as in pretraining), not the store's vorticity statistics.
"""

from __future__ import annotations

import torch

from pdesurr.spectral import derivative_symbol, parse_length

CHANNEL_MAPS = ("rho_u_v_p",)
MEAN = (0.80, 0.0, 0.0, 0.0)  # Poseidon's pretraining normalisation (rho, u, v, p)
STD = (0.31, 0.391, 0.356, 0.185)


class VorticityToRhoUVP:
    """``omega (.., 1, Ny, Nx) <-> (rho, u, v, p) (.., 4, Ny, Nx)`` on a box of side ``length``."""

    name = "rho_u_v_p"
    channels = 4
    masked = (3,)  # p: incompressible data carry no pressure

    def __init__(self, length: float | str = "2pi"):
        self.length = parse_length(length)
        self._pdes: dict[int, object] = {}

    def _pde(self, n: int):
        if n not in self._pdes:
            from pdesurr.solvers.navier_stokes import NavierStokes2D

            self._pdes[n] = NavierStokes2D(resolution=n, length=self.length)
        return self._pdes[n]

    @staticmethod
    def _grid_of(x: torch.Tensor, channels: int, what: str) -> int:
        if x.ndim < 3 or x.shape[-3] != channels or x.shape[-1] != x.shape[-2]:
            raise ValueError(
                f"channel_map rho_u_v_p: {what} must be (..., {channels}, n, n), got "
                f"{tuple(x.shape)}"
            )
        return x.shape[-1]

    def forward(self, omega: torch.Tensor) -> torch.Tensor:
        """``(.., 1, n, n)`` vorticity -> ``(.., 4, n, n)`` = ``(1, u, v, 0)``."""
        n = self._grid_of(omega, 1, "the vorticity")
        lead = omega.shape[:-3]
        vel = self._pde(n).velocity(omega.reshape(-1, 1, n, n))  # (B, 2, n, n): u, v
        rho, p = torch.ones_like(vel[:, :1]), torch.zeros_like(vel[:, :1])
        return torch.cat([rho, vel, p], 1).reshape(*lead, 4, n, n)

    __call__ = forward

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        """``(.., 4, n, n)`` (rho, u, v, p) -> ``(.., 1, n, n)`` vorticity ``dv/dx - du/dy``."""
        n = self._grid_of(x, 4, "the mapped state")
        lead = x.shape[:-3]
        grid = self._pde(n).grid
        ky, kx = grid.wavenumbers(x.dtype, x.device)
        nyq_y, nyq_x = grid.nyquist_masks(x.device)
        uv_hat = grid.rfft(x.reshape(-1, 4, n, n)[:, 1:3])
        w_hat = derivative_symbol(kx, 1, nyq_x) * uv_hat[:, 1:2]
        w_hat = w_hat - derivative_symbol(ky, 1, nyq_y) * uv_hat[:, 0:1]
        return grid.irfft(w_hat).reshape(*lead, 1, n, n)

    def describe(self) -> dict:
        """What a checkpoint's config stores to rebuild the map (:func:`from_config`)."""
        return {"name": self.name, "length": self.length, "masked": list(self.masked)}


def from_config(entry: dict | None):
    """The map a checkpoint's ``data.channel_map`` describes (None: no mapping)."""
    if not entry:
        return None
    if entry.get("name") != VorticityToRhoUVP.name:
        raise ValueError(f"channel_map {entry!r}: unknown (known: {list(CHANNEL_MAPS)})")
    return VorticityToRhoUVP(entry["length"])


def for_store(name: str | None, store, source: str = "<recipe>"):
    """The map ``[data] channel_map = name`` asks for, checked against ``store``: ConfigError
    naming the key when the store's fields cannot be mapped."""
    from pdesurr.config import ConfigError

    if name is None:
        return None
    if name not in CHANNEL_MAPS:
        raise ConfigError(
            f"{source}: data.channel_map: {name!r}; choose from {list(CHANNEL_MAPS)} (or omit it)"
        )
    fields = [(f["name"], f["channels"]) for f in store.fields]
    pde = store.spec.get("solver", {}).get("pde", {})
    if fields != [("vorticity", 1)] or pde.get("kind") != "navier_stokes_2d":
        raise ConfigError(
            f"{source}: data.channel_map = {name!r} maps 2D Navier-Stokes vorticity onto "
            f"(rho, u, v, p); {store.path} holds fields {fields} of {pde.get('kind', 'no solver')}"
        )
    return VorticityToRhoUVP(pde.get("length", "2pi"))


class MappedStep:
    """A step function on mapped channels as a vorticity stepper: ``window (B, h, 1, n, n)``
    -> map -> ``inner`` -> ``(B, 4, n, n)`` -> vorticity ``(B, 1, n, n)``."""

    def __init__(self, inner, channel_map):
        self.inner, self.channel_map = inner, channel_map

    def __call__(self, window: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        return self.channel_map.inverse(self.inner(self.channel_map(window), cond))
