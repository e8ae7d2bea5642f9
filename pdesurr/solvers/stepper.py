"""A stepper composes a PDE (what is solved) with an integrator (how).

It takes a physical-space batch ``(B, C, *S)`` and advances it; device and dtype follow
the input (float32 or float64; coefficients are built once per device/dtype and cached).
Per-sample parameters of the PDE (e.g. a KS domain length per trajectory) and a
per-sample ``dt`` of shape ``(B,)`` are supported.

The stepper owns its spectral state and advances it in place (``Integrator.step_``, the
filter as ``mul_``); integrators and PDEs may keep work arrays between steps (QG, AB3),
so one stepper serves one thread at a time (use one stepper per thread).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

from pdesurr.allocator import prime_allocator
from pdesurr.solvers.integrators import DEFAULT_INTEGRATOR, INTEGRATORS
from pdesurr.solvers.integrators.compiled import check_engine, compiled_stepper
from pdesurr.solvers.pde import PDE
from pdesurr.solvers.system import DivergenceError


class Stepper:
    """Advance ``pde`` with ``integrator`` and time step ``dt``.

    Args:
        pde: the equation (a :class:`~pdesurr.solvers.pde.PDE`).
        integrator: registry name (``"etdrk4"``, ``"etdrk2"``, ``"etdrk1"``, ``"rk4"``,
            ``"ab3"``) or an integrator class.
        dt: time step, a positive float or a ``(B,)`` tensor (one per trajectory).
        engine: ``"auto"`` (default), ``"torch"`` or ``"numba"``: how the steps run, the
            eager torch step or a compiled CPU engine where one covers the system: ETDRK4
            on 1D quadratic advection (KS, Burgers) as one compiled loop
            (:mod:`pdesurr.solvers.integrators.compiled`), ETDRK4 on 2D vorticity
            advection (NS, dealiased states) and AB3 on the two-layer QG model as fused
            kernels around ducc0 transforms
            (:mod:`~pdesurr.solvers.integrators.compiled_vorticity`,
            :mod:`~pdesurr.solvers.integrators.compiled_layers`); ``"auto"`` takes them on
            CPU when numba (and rocket-fft, ducc0) are installed. Same results to
            round-off; autograd always takes the torch step.
        integrator_options: extra keyword arguments of the integrator (``startup`` for AB3).
    """

    def __init__(
        self,
        pde: PDE,
        integrator: str | type = DEFAULT_INTEGRATOR,
        dt=0.01,
        *,
        engine: str = "auto",
        **integrator_options,
    ):
        if isinstance(integrator, str):
            if integrator not in INTEGRATORS:
                raise ValueError(
                    f"unknown integrator {integrator!r}; choose from {sorted(INTEGRATORS)}"
                )
            integrator = INTEGRATORS[integrator]
        dt_check = torch.as_tensor(dt, dtype=torch.float64)
        if not bool(torch.all(dt_check > 0)) or not bool(torch.all(torch.isfinite(dt_check))):
            raise ValueError(f"dt must be positive and finite, got {dt}")
        self.pde = pde
        self.integrator_cls = integrator
        self.integrator_options = integrator_options
        self.dt = dt
        self.engine = check_engine(engine)
        self._cache: dict[tuple, Any] = {}

    @property
    def order(self) -> int:
        return self.integrator_cls.order

    def _prepared(self, u: torch.Tensor):
        key = (u.device, u.dtype, u.shape[0])
        if key not in self._cache:
            self.pde.check_state(u)
            if u.device.type == "cpu":
                prime_allocator()  # the first steps at the steady rate (see allocator.py)
            system = self.pde.system(u.device, u.dtype, batch=u.shape[0])
            integ = self.integrator_cls(
                system.linear, system.nonlinear, self.dt, **self.integrator_options
            )
            shape = (*u.shape[:2], *self.pde.grid.spectral_shape)
            spectral = torch.complex64 if u.dtype == torch.float32 else torch.complex128
            compiled = compiled_stepper(self.engine, integ, system, shape, spectral, u.device)
            self._cache[key] = (integ, system.filter, compiled)
        return self._cache[key]

    def engine_for(self, u: torch.Tensor) -> str:
        """How states like ``u`` are stepped: ``"numba"`` (a compiled engine) or
        ``"torch"``."""
        return self.engine_details(u).split()[0]

    def engine_details(self, u: torch.Tensor) -> str:
        """:meth:`engine_for` with which compiled step: ``"numba compiled loop"`` (KS,
        Burgers), ``"numba fused NS"``, ``"numba fused QG"``, or ``"torch"``."""
        prepared = self._prepared(u)
        compiled = _compiled_for(prepared, self.pde.grid.rfft(u), self.engine)
        return "torch" if compiled is None else f"numba {compiled.describe()}"

    def _advance_hat(self, u_hat, carry, prepared, n_steps: int):
        integ, filt, _ = prepared
        compiled = _compiled_for(prepared, u_hat, self.engine)
        if compiled is None:
            return _torch_steps(integ, filt, u_hat, carry, n_steps)
        first = min(compiled.startup(carry), n_steps)  # a multistep start-up, in torch
        u_hat, carry = _torch_steps(integ, filt, u_hat, carry, first)
        if n_steps > first:
            u_hat, carry = compiled.advance(u_hat, carry, n_steps - first)
        return u_hat, carry

    def step(self, u: torch.Tensor, n_steps: int = 1) -> torch.Tensor:
        """Advance ``u`` by ``n_steps`` steps; a multistep integrator restarts each call."""
        prepared = self._prepared(u)
        u_hat = self.pde.grid.rfft(u)
        u_hat, _ = self._advance_hat(u_hat, prepared[0].init(u_hat), prepared, n_steps)
        out = self.pde.grid.irfft(u_hat)
        if not bool(torch.isfinite(out).all()):
            bad = (~torch.isfinite(out)).flatten(1).any(1).nonzero().flatten().tolist()
            raise DivergenceError(n_steps, self._time(n_steps), 0, bad)
        return out

    __call__ = step

    def _time(self, n: int) -> float:
        dt = torch.as_tensor(self.dt, dtype=torch.float64)
        return float(n * dt.max())

    def trajectory(
        self,
        u0: torch.Tensor,
        n_saves: int,
        save_every: int = 1,
        on_divergence: str = "raise",
        skip: int = 0,
        diverged: dict[int, tuple[int, float]] | None = None,
    ) -> Iterator[torch.Tensor]:
        """Yield the state after ``skip`` steps (``u0`` itself when ``skip = 0``; a spin-up
        otherwise), then every ``save_every`` steps, ``n_saves`` times.

        Finiteness is checked at every save (a check syncs the device, so it is not done
        every step). ``on_divergence="raise"`` raises :class:`DivergenceError` naming the
        step and time; ``"mask"`` zeroes the diverged batch members, records them in the
        caller's ``diverged`` (``{member: (step, time)}``, filled as the frames are
        yielded: a member appears there with the first frame it is zero in) and carries on
        with the others.
        """
        if on_divergence not in ("raise", "mask"):
            raise ValueError(f"on_divergence must be 'raise' or 'mask', got {on_divergence!r}")
        if on_divergence == "mask" and diverged is None:
            raise ValueError("on_divergence='mask' needs a dict `diverged` to record them in")
        if save_every < 1 or n_saves < 0 or skip < 0:
            raise ValueError(
                "need save_every >= 1, n_saves >= 0, skip >= 0; "
                f"got {save_every}, {n_saves}, {skip}"
            )
        prepared = self._prepared(u0)
        integ = prepared[0]
        grid = self.pde.grid
        u_hat = grid.rfft(u0)
        carry = integ.init(u_hat)
        step = 0
        for i in range(n_saves + 1):
            n = skip if i == 0 else save_every
            if n == 0:
                yield u0
                continue
            u_hat, carry = self._advance_hat(u_hat, carry, prepared, n)
            step += n
            u = grid.irfft(u_hat)
            finite = torch.isfinite(u).flatten(1).all(1)
            if not bool(finite.all()):
                bad = (~finite).nonzero().flatten().tolist()
                bad = [m for m in bad if diverged is None or m not in diverged]
                if on_divergence == "raise":
                    raise DivergenceError(step, self._time(step), step - n, bad)
                for m in bad:
                    diverged[m] = (step, self._time(step))
                keep = finite.reshape(-1, *([1] * (u.ndim - 1)))
                u = torch.where(keep, u, torch.zeros_like(u))
                u_hat = grid.rfft(u)
                carry = _mask_carry(carry, keep.reshape(-1, *([1] * (u_hat.ndim - 1))))
            yield u


def _torch_steps(integ, filt, u_hat, carry, n_steps: int):
    """``n_steps`` eager steps; the stepper owns ``u_hat`` (a transform it made), so the
    steps and the filter work in place."""
    for _ in range(n_steps):
        u_hat, carry = integ.step_(u_hat, carry)
        if filt is not None:
            u_hat.mul_(filt)
    return u_hat, carry


def _compiled_for(prepared, x_hat: torch.Tensor, engine: str):
    """The prepared compiled loop for the spectral state ``x_hat``, unless it needs
    autograd or the loop does not take it (2D: modes outside the dealiasing mask): the
    torch step then, or, under ``engine="numba"``, an error saying why."""
    compiled = prepared[2]
    if compiled is None or (torch.is_grad_enabled() and x_hat.requires_grad):
        return None
    if not compiled.applies(x_hat):
        if engine == "numba":
            raise ValueError(
                "engine 'numba' does not apply: the state has modes outside the 2/3 "
                "dealiasing mask (more than round-off); dealias it or use engine='torch'"
            )
        return None
    return compiled


def _mask_carry(carry, keep: torch.Tensor):
    """Zero the diverged members in a multistep history, leaving the others untouched."""
    if isinstance(carry, torch.Tensor):
        return torch.where(keep, carry, torch.zeros_like(carry))
    if isinstance(carry, tuple):
        return tuple(_mask_carry(c, keep) for c in carry)
    return carry
