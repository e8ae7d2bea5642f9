"""What a pseudo-spectral PDE hands to an integrator: ``u_t = L u + N(u)`` in Fourier space.

A :class:`SpectralSystem` is built by a PDE for one device, dtype and batch of
parameters. ``linear`` is the diagonal symbol ``L`` (broadcastable to the spectral state
``(B, C, *K)``; real or complex), ``nonlinear`` maps ``u_hat -> N(u_hat)`` (forcing
included), and ``filter`` (optional) multiplies the state after every step, as pyqg's
exponential filter does.

A :class:`FactoredNonlinear` is a nonlinear term of the form ``N(u_hat) = D * M(u_hat)``
with a fixed spectral multiplier ``D`` (e.g. ``-1/2 i k`` of ``-1/2 (u^2)_x``): an
exponential integrator multiplies every ``N`` by a coefficient anyway, so it folds ``D``
into its coefficients once and saves one multiply per stage.

A :class:`VorticityAdvection` declares that ``nonlinear`` is 2D vorticity advection with
the 2/3 rule, the form :mod:`pdesurr.solvers.integrators.compiled_vorticity` steps with
fused kernels and pruned transforms; a :class:`TwoLayerAdvection`, pyqg's two-layer QG
tendency (:mod:`pdesurr.solvers.integrators.compiled_layers`). ``nonlinear`` stays the
definition, what every other path runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class FactoredNonlinear:
    """``N(u_hat) = factor * unscaled(u_hat)``; callable as ``N`` itself."""

    factor: torch.Tensor
    unscaled: Callable[[torch.Tensor], torch.Tensor]
    #: set when ``unscaled(u_hat)`` is ``rfft(irfft(u_hat, n) ** 2)`` over the last axis
    #: with ``n = square_points`` (1D quadratic advection): the form that
    #: :mod:`pdesurr.solvers.integrators.compiled` evaluates without calling ``unscaled``
    square_points: int | None = None

    def __call__(self, u_hat: torch.Tensor) -> torch.Tensor:
        return self.factor * self.unscaled(u_hat)


@dataclass(frozen=True)
class VorticityAdvection:
    r"""``N(w_hat) = -P[i k_x FFT(u w) + i k_y FFT(v w)] + f_hat`` with
    ``u_hat = i k_y w_hat / |k|^2``, ``v_hat = -i k_x w_hat / |k|^2`` on a ``shape = (Ny, Nx)``
    grid, ``P`` keeping the modes ``|m_y| <= rows``, ``m_x < cols``."""

    shape: tuple[int, int]
    kx: torch.Tensor  #: ``(Kx,)`` real: ``d/dx`` is ``i kx`` (0 on the Nyquist column)
    ky: torch.Tensor  #: ``(Ny,)`` real: ``d/dy`` is ``i ky`` (0 on the Nyquist row)
    inv_k2: torch.Tensor  #: ``(Ny, Kx)``: ``1 / |k|^2``, 0 for the mean
    rows: int
    cols: int
    forcing: torch.Tensor | None = None  #: ``f_hat``, ``(1 or B, 1, Ny, Kx)``


@dataclass(frozen=True)
class TwoLayerAdvection:
    r"""``F_n = c_n psi_n - i k FFT((u_n + U_n) q_n) - i l FFT(v_n q_n)`` with
    ``psi_n = sum_m a_nm q_m``, ``u_n = -i l psi_n``, ``v_n = i k psi_n`` (hats implied) on
    a ``shape = (Ny, Nx)`` grid, no dealiasing."""

    shape: tuple[int, int]
    k: torch.Tensor  #: ``(Kx,)`` real x wavenumbers (Nyquist kept, as pyqg)
    l: torch.Tensor  #: ``(Ny,)`` real y wavenumbers  # noqa: E741
    inversion: torch.Tensor  #: ``a``, ``(2, 2, Ny, Kx)`` real
    psi_coefficient: torch.Tensor  #: ``c``, ``(2, Ny, Kx)`` complex
    mean_flow: tuple[float, float]  #: ``(U_1, U_2)``


@dataclass(frozen=True)
class SpectralSystem:
    linear: torch.Tensor
    nonlinear: Callable[[torch.Tensor], torch.Tensor]
    filter: torch.Tensor | None = None
    #: the nonlinear term's declared form, when it has one the compiled engines know
    advection: VorticityAdvection | TwoLayerAdvection | None = None


@dataclass(frozen=True)
class Field:
    """A named field of the state: ``channels`` consecutive channels of ``(B, C, *S)``.

    ``dims`` names the channel-like axes (e.g. ``("layer",)``) when ``channels > 1``.
    """

    name: str
    channels: int = 1
    dims: tuple[str, ...] = ()
    units: str = ""
    long_name: str = ""


class DivergenceError(FloatingPointError):
    """The state stopped being finite.

    Attributes name the step and time at which it was detected, the last step known to
    be finite, and which batch members diverged.
    """

    def __init__(self, step: int, time: float, last_finite_step: int, members: list[int]):
        self.step = step
        self.time = time
        self.last_finite_step = last_finite_step
        self.members = members
        super().__init__(
            f"simulation diverged: non-finite state at step {step} (t = {time:.6g}); "
            f"last finite check at step {last_finite_step}; batch members {members}"
        )
