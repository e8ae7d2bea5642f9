"""The PDE interface: what is solved, independent of how it is stepped.

A PDE knows its grid, its fields (names and channels of the state ``(B, C, *S)``), its
parameters (``parameters()`` returns the resolved constructor arguments, saved with every
output), and builds a :class:`~pdesurr.solvers.system.SpectralSystem` (``L``, ``N``,
optional filter) for a device, dtype and batch size. It also offers what users and the
evaluation layer need: initial conditions, invariants, energy spectra.

Per-trajectory parameters are accepted as a float (shared) or a sequence of ``B``
values; :func:`batched` turns either into a tensor that broadcasts over ``(B, C, *K)``.
"""

from __future__ import annotations

import inspect
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import ClassVar

import torch

from pdesurr.solvers.system import Field, SpectralSystem
from pdesurr.spectral import Grid, parse_length


class ParameterError(ValueError):
    """An impossible parameter value; ``key`` names the constructor argument."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(f"{key}: {message}")


def check(condition: bool, key: str, message: str) -> None:
    if not condition:
        raise ParameterError(key, message)


def per_sample(value, key: str, *, positive: bool = False, nonnegative: bool = False):
    """Validate a float or a sequence of floats (one per trajectory); returns a float or a
    1D float64 tensor."""
    if isinstance(value, torch.Tensor):
        value = value.detach().to("cpu", torch.float64).flatten()
        values = value
    elif isinstance(value, Sequence) and not isinstance(value, str):
        values = torch.as_tensor([float(v) for v in value], dtype=torch.float64)
        value = values
    else:
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ParameterError(key, f"expected a number, got {value!r}") from None
        values = torch.as_tensor([value], dtype=torch.float64)
    check(bool(torch.isfinite(values).all()), key, f"must be finite, got {value}")
    if positive:
        check(bool((values > 0).all()), key, f"must be > 0, got {value}")
    if nonnegative:
        check(bool((values >= 0).all()), key, f"must be >= 0, got {value}")
    return value


def batched(value, batch: int, ndim: int, dtype, device) -> torch.Tensor | float:
    """A per-sample parameter as a tensor of shape ``(B, 1, ...)`` (``ndim`` dims in all),
    or a plain float when shared."""
    if not isinstance(value, torch.Tensor):
        return float(value)
    if value.numel() != batch:
        raise ValueError(
            f"per-trajectory parameter has {value.numel()} values for a batch of {batch}"
        )
    return value.to(device=device, dtype=dtype).reshape(batch, *([1] * (ndim - 1)))


def check_resolution(resolution) -> int:
    check(
        isinstance(resolution, int) and resolution >= 8 and resolution % 2 == 0,
        "resolution",
        f"must be an even integer >= 8, got {resolution}",
    )
    return resolution


def line_grid(resolution, length) -> tuple[float, Grid]:
    """The checked periodic line of a 1D PDE: ``resolution`` even and >= 8, ``length`` a
    positive number or a multiple of pi (``"2pi"``); errors name the key."""
    check_resolution(resolution)
    try:
        length = parse_length(length)
    except ValueError as e:
        raise ParameterError("length", str(e)) from None
    check(length > 0, "length", f"must be > 0, got {length}")
    return length, Grid((resolution,), (length,))


def real_dtype(dtype: torch.dtype) -> torch.dtype:
    return {torch.complex64: torch.float32, torch.complex128: torch.float64}.get(dtype, dtype)


class PDE(ABC):
    """Abstract base of the PDEs. Subclasses set ``grid`` and ``fields`` in ``__init__``.

    What the data and evaluation layers need to know about a PDE is asked of its class, so
    that adding a PDE touches only ``solvers/`` and a preset: ``spatial_dims`` (the length
    of ``*S``), :meth:`resolution_arguments` (the constructor arguments that give a stored
    grid of shape ``*S``), ``time_units`` (``""`` for nondimensional time, ``"s"`` for SI),
    ``wavenumber_label`` (the axis of its spectra), ``per_sample_length`` (an instance
    whose grid is in units of a per-trajectory domain length ``L``) and ``periodic`` (the
    boundary conditions: always, for these pseudo-spectral solvers)."""

    name: str
    grid: Grid
    fields: tuple[Field, ...]
    spatial_dims: ClassVar[int]
    time_units: ClassVar[str] = ""
    wavenumber_label: ClassVar[str] = "wavenumber k"
    per_sample_length: bool = False
    periodic: ClassVar[bool] = True

    @classmethod
    def resolution_arguments(cls, shape: Sequence[int]) -> dict[str, int]:
        """Constructor arguments for a grid of shape ``*S`` (default: ``resolution`` points
        per side)."""
        return {"resolution": int(shape[-1])}

    @property
    def channels(self) -> int:
        return sum(f.channels for f in self.fields)

    @property
    def batch_size(self) -> int | None:
        """Number of trajectories fixed by per-sample parameters, or None if all are shared."""
        sizes = {v.numel() for v in self.parameters().values() if isinstance(v, torch.Tensor)}
        if len(sizes) > 1:
            raise ValueError(f"per-trajectory parameters disagree on the batch size: {sizes}")
        return sizes.pop() if sizes else None

    def check_state(self, u: torch.Tensor) -> None:
        expected = (self.channels, *self.grid.shape)
        if u.ndim != len(expected) + 1 or tuple(u.shape[1:]) != expected:
            raise ValueError(
                f"{self.name}: state must have shape (B, {', '.join(map(str, expected))}), "
                f"got {tuple(u.shape)}"
            )
        if u.dtype not in (torch.float32, torch.float64):
            raise TypeError(f"{self.name}: state dtype must be float32 or float64, got {u.dtype}")
        b = self.batch_size
        if b is not None and u.shape[0] != b:
            raise ValueError(
                f"{self.name}: per-trajectory parameters are given for {b} trajectories, "
                f"but the state has batch {u.shape[0]}"
            )

    @abstractmethod
    def parameters(self) -> dict:
        """The constructor arguments, resolved (what a preset would need to rebuild it)."""

    @abstractmethod
    def system(self, device, dtype, batch: int) -> SpectralSystem:
        """``L``, ``N`` and filter for states of this dtype on this device."""

    @abstractmethod
    def initial_conditions(self) -> dict[str, Callable]:
        """Named makers ``f(batch, generator, **options) -> (B, C, *S)`` float64 on CPU."""

    def initial_condition(
        self, kind: str, batch: int, generator: torch.Generator | None = None, **options
    ) -> torch.Tensor:
        """A float64 CPU batch ``(B, C, *S)`` of initial states of the named kind; unknown
        kinds or options raise :class:`ParameterError` naming ``initial.<key>``."""
        makers = self.initial_conditions()
        if kind not in makers:
            raise ParameterError(
                "initial.kind", f"unknown for {self.name}: {kind!r}; choose from {sorted(makers)}"
            )
        accepted = list(inspect.signature(makers[kind]).parameters)[2:]
        for key in options:
            if key not in accepted:
                raise ParameterError(
                    f"initial.{key}",
                    f"not an option of initial condition {kind!r}; options: {accepted}",
                )
        return makers[kind](batch, generator, **options)

    @abstractmethod
    def invariants(self, u: torch.Tensor) -> dict[str, torch.Tensor]:
        """Conserved or dissipated quantities of a batch, each of shape ``(B,)``."""

    @abstractmethod
    def energy_spectrum(self, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
        """``(k, E, labels)``: ``E`` of shape ``(B, G, K)``, one curve per label."""


class LinePDE(PDE):
    """A 1D PDE on the periodic line ``[origin, origin + length)`` of ``resolution`` points
    (Allen–Cahn, Burgers, convection): the checked grid, the physical coordinates and the
    phase ``2 pi (x - origin) / length`` their initial conditions are written in."""

    def _set_line(self, resolution, length, origin) -> None:
        self.length, self.grid = line_grid(resolution, length)
        self.resolution, self.origin = resolution, float(origin)

    def x(self, dtype=torch.float64, device=None) -> torch.Tensor:
        """Physical coordinates ``origin + j L / N``, shape ``(N,)``."""
        return self.origin + self.grid.coords(dtype, device)[0]

    def phase(self) -> torch.Tensor:
        """``2 pi (x - origin) / L``, shape ``(N,)`` (float64)."""
        return 2 * math.pi * (self.x() - self.origin) / self.length
