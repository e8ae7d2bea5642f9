"""The tables of a dataset spec (``datasets/<name>/spec.toml``) as typed sections.

Each dataclass's fields are its table's schema (:class:`pdesurr.sections.Section` checks
unknown keys and types); the checks that relate tables to each other and to the solver
preset (dtype names, frame counts, multiples of ``dt``, resolutions) are
:meth:`pdesurr.data.spec.DatasetSpec.from_dict`'s. ``[initial]`` and ``[parameters]`` are
free-form: the PDE's initial-condition arguments, and :mod:`pdesurr.data.parameters`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pdesurr.sections import Section

SECTIONS = ("dataset", "splits", "solver", "initial", "parameters", "time", "output")


@dataclass(kw_only=True)
class DatasetSection(Section):
    """``[dataset]``: what the store says of itself and how it is simulated."""

    description: str = ""
    seed: int = 0
    dtype: str = "float32"  # stored precision, a name of DTYPES
    batch: int = 8  # trajectories simulated together


@dataclass(kw_only=True)
class SplitsSection(Section):
    """``[splits]``: trajectories per split."""

    train: int = 0
    valid: int = 0
    test: int = 0


@dataclass(kw_only=True)
class SolverSection(Section):
    """``[solver]``: a solvers/ preset and overrides of its ``[pde]``, ``[integrator]``."""

    preset: str
    pde: dict = field(default_factory=dict)
    integrator: dict = field(default_factory=dict)


@dataclass(kw_only=True)
class TimeSection(Section):
    """``[time]``: spin-up and save interval (time units), frames per trajectory."""

    frames: int
    spinup: float = 0.0
    save_interval: float | None = None  # default: the solver's dt
    split_frames: dict = field(default_factory=dict)  # {split: frames}


@dataclass(kw_only=True)
class OutputSection(Section):
    """``[output]``: the stored resolution (an int for every axis, or one per axis)."""

    resolution: int | list[int] | None = None
