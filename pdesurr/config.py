"""TOML presets: load, apply ``--set section.key=value`` overrides, validate, build.

A solver preset has four tables::

    [pde]          kind = registry name in pdesurr.solvers.PDES; the rest are its
                   constructor's arguments (the signature is the schema)
    [integrator]   kind = name in INTEGRATORS; dt; engine ("auto", "torch", "numba": how
                   the steps run, see pdesurr.solvers.Stepper); the integrator's own options
    [initial]      kind = a named initial condition of the PDE; its options
    [run]          batch, steps | t_end, save_every, seed, dtype, device

Every error names the file and the ``section.key`` at fault: unknown keys (with a
suggestion), missing required keys, wrong types, impossible values (odd grids, negative
viscosity, ``dt <= 0``...).
"""

from __future__ import annotations

import copy
import inspect
import math
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path

import torch

from pdesurr.devices import check_device
from pdesurr.memory import check_memory
from pdesurr.sections import ConfigError, Section, suggest, type_name, type_ok
from pdesurr.solvers import DEFAULT_INTEGRATOR, INTEGRATORS, PDES, ParameterError, Stepper
from pdesurr.solvers.integrators.compiled import ENGINES, numba_missing
from pdesurr.solvers.pde import PDE

CATALOGUE_ROOT = Path(__file__).resolve().parent.parent


@dataclass(kw_only=True)
class RunSection(Section):
    """``[run]`` of a solver preset: how much to simulate, where, at which precision."""

    batch: int = 1
    steps: int | None = None
    t_end: float | None = None
    save_every: int = 1
    seed: int = 0
    dtype: str = "float64"
    device: str = "cpu"


SECTIONS = ("pde", "integrator", "initial", "run")
DTYPES = {"float32": torch.float32, "float64": torch.float64}  # the precisions a run names
STEP_ROUNDOFF = 1e-9  # t_end / dt = 100.0000000001 is 100 steps, not 101


def find_preset(name: str | Path, catalogue: str = "solvers") -> Path:
    """A preset by path, or by name in the ``catalogue`` folder (``solvers/NAME.toml``)."""
    path = Path(name)
    if path.suffix == ".toml" and path.is_file():
        return path
    for root in (Path.cwd(), CATALOGUE_ROOT):
        candidate = root / catalogue / f"{path.stem}.toml"
        if candidate.is_file():
            return candidate
    available = sorted(p.stem for p in (CATALOGUE_ROOT / catalogue).glob("*.toml"))
    raise ConfigError(f"no preset {str(name)!r}: not a file, and not in {catalogue}/ ({available})")


def parse_override(text: str) -> tuple[list[str], object]:
    """``"pde.viscosity=1e-4"`` -> ``(["pde", "viscosity"], 1e-4)``; values are TOML
    literals, anything that does not parse as one is a string."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected section.key=value")
    key, raw = text.split("=", 1)
    parts = key.strip().split(".")
    if len(parts) < 2 or not all(parts):
        raise ConfigError(f"--set {text!r}: the key must be section.key, e.g. pde.viscosity")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return parts, value


def load_toml(path: Path, overrides: list[str] = ()) -> dict:
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (TOML is UTF-8): byte {e.start}") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror})") from None
    for text in overrides:
        parts, value = parse_override(text)
        node = data
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {text!r}: {p!r} is not a table in {path}")
        node[parts[-1]] = value
    return data


def check_kwargs(fn, kwargs: dict, section: str, source: str, skip: int = 0) -> None:
    """Check ``kwargs`` against the signature of ``fn`` (minus its first ``skip`` args)."""
    params = list(inspect.signature(fn).parameters.values())[skip:]
    params = [p for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    hints = typing.get_type_hints(fn)
    names = [p.name for p in params]
    for key, value in kwargs.items():
        if key not in names:
            raise ConfigError(
                f"{source}: unknown key {section}.{key}{suggest(key, names)}; known: {names}"
            )
        annotation = hints.get(key, inspect.Parameter.empty)
        if not type_ok(value, annotation):
            raise ConfigError(
                f"{source}: {section}.{key} = {value!r} has the wrong type "
                f"(expected {type_name(annotation)})"
            )
    for p in params:
        if p.default is p.empty and p.name not in kwargs:
            raise ConfigError(f"{source}: missing required key {section}.{p.name}")


def check_finite(table: dict, section: str, source: str) -> None:
    """Every number of a table (lists included) is finite: ``inf`` or ``nan`` is never a
    physical parameter, and would surface later as a divergence or an overflow."""
    for key, value in table.items():
        values = value if isinstance(value, list) else [value]
        for v in values:
            if isinstance(v, float) and not math.isfinite(v):
                raise ConfigError(f"{source}: {section}.{key}: must be finite, got {value!r}")


def _jsonable(value):
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


@dataclass
class SolverConfig:
    """A validated solver preset. ``source`` names the file (for error messages)."""

    pde: dict
    integrator: dict
    initial: dict
    run: dict
    source: str = "<preset>"
    _pde_obj: PDE | None = field(default=None, repr=False)

    @classmethod
    def load(cls, preset: str | Path, overrides: list[str] = ()) -> SolverConfig:
        """Load a preset with ``--set`` overrides; ``run.steps`` (``run.t_end``) given as an
        override replaces a ``run.t_end`` (``run.steps``) written in the preset."""
        path = find_preset(preset)
        data = load_toml(path, overrides)
        given = {".".join(parse_override(o)[0]) for o in overrides}
        run = data.get("run", {})
        for key, other in (("steps", "t_end"), ("t_end", "steps")):
            if f"run.{key}" in given and f"run.{other}" not in given:
                run.pop(other, None)
        return cls.from_dict(data, str(path))

    @classmethod
    def from_dict(cls, data: dict, source: str = "<preset>") -> SolverConfig:
        data = copy.deepcopy(data)
        for key in data:
            if key not in SECTIONS:
                raise ConfigError(f"{source}: unknown section [{key}]{suggest(key, SECTIONS)}")
        for key in ("pde", "integrator"):
            if key not in data:
                raise ConfigError(f"{source}: missing section [{key}]")
        cfg = cls(
            pde=data["pde"],
            integrator=data["integrator"],
            initial=data.get("initial", {}),
            run=data.get("run", {}),
            source=source,
        )
        cfg.validate()
        return cfg

    def _err(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.source}: {key}: {message}")

    def validate(self) -> None:
        pde_kwargs = dict(self.pde)
        kind = pde_kwargs.pop("kind", None)
        if kind not in PDES:
            raise self._err(
                "pde.kind",
                f"{kind!r} is not a PDE; choose from {sorted(PDES)}" + suggest(str(kind), PDES),
            )
        check_kwargs(PDES[kind].__init__, pde_kwargs, "pde", self.source, skip=1)
        for section in ("pde", "integrator", "initial", "run"):
            check_finite(getattr(self, section), section, self.source)
        check_memory(PDES[kind], pde_kwargs, self.resolved_run(), "pde", "run.batch", self.source)
        try:
            self._pde_obj = PDES[kind](**pde_kwargs)
        except ParameterError as e:
            raise self._err(f"pde.{e.key}", str(e).split(": ", 1)[1]) from None

        integ = dict(self.integrator)
        ikind = integ.pop("kind", DEFAULT_INTEGRATOR)
        if ikind not in INTEGRATORS:
            raise self._err(
                "integrator.kind",
                f"{ikind!r} is not an integrator; choose from "
                f"{sorted(INTEGRATORS)}" + suggest(str(ikind), INTEGRATORS),
            )
        if "dt" not in integ:
            raise self._err("integrator.dt", "missing (the time step)")
        dt = integ.pop("dt")
        dts = dt if isinstance(dt, list) else [dt]
        if not all(isinstance(d, int | float) and not isinstance(d, bool) for d in dts) or not all(
            math.isfinite(d) and d > 0 for d in dts
        ):
            raise self._err("integrator.dt", f"must be a positive number, got {dt!r}")
        engine = integ.pop("engine", "auto")
        if engine not in ENGINES:
            raise self._err(
                "integrator.engine",
                f"{engine!r} is not an engine; choose from {list(ENGINES)}"
                + suggest(str(engine), ENGINES),
            )
        if engine == "numba" and (why := numba_missing()):
            raise self._err("integrator.engine", f"'numba' cannot run here: {why}")
        check_kwargs(INTEGRATORS[ikind].__init__, integ, "integrator", self.source, skip=4)

        run = self.resolved_run()
        if run["batch"] < 1:
            raise self._err("run.batch", f"must be >= 1, got {run['batch']}")
        if run["save_every"] < 1:
            raise self._err("run.save_every", f"must be >= 1, got {run['save_every']}")
        if run["steps"] is not None and run["t_end"] is not None:
            raise self._err("run.steps", "give run.steps or run.t_end, not both")
        if run["steps"] is not None and run["steps"] < 0:
            raise self._err("run.steps", f"must be >= 0, got {run['steps']}")
        if run["t_end"] is not None and not run["t_end"] > 0:
            raise self._err("run.t_end", f"must be > 0, got {run['t_end']}")
        if run["dtype"] not in DTYPES:
            raise self._err("run.dtype", f"must be one of {list(DTYPES)}, got {run['dtype']!r}")
        check_device(run["device"], "run.device", self.source)
        b = self._pde_obj.batch_size
        if b is not None and b != run["batch"]:
            raise self._err(
                "run.batch",
                f"is {run['batch']} but the per-trajectory parameters of [pde] have {b} values",
            )
        if isinstance(dt, list) and len(dt) != run["batch"]:
            raise self._err("integrator.dt", f"has {len(dt)} values for run.batch = {run['batch']}")
        self.initial.setdefault("kind", None)
        if self.initial["kind"] is None:
            raise self._err(
                "initial.kind", f"missing; choose from {sorted(self._pde_obj.initial_conditions())}"
            )
        try:
            self.initial_state(batch=1)
        except ParameterError as e:
            raise self._err(e.key, str(e).split(": ", 1)[1]) from None

    # --- building ------------------------------------------------------------------
    def resolved_run(self) -> dict:
        """``[run]`` with its defaults, checked against :class:`RunSection`."""
        return RunSection.from_table(self.run, "run", self.source).as_dict()

    def build_pde(self) -> PDE:
        return self._pde_obj

    def build_stepper(self) -> Stepper:
        integ = dict(self.integrator)
        kind = integ.pop("kind", DEFAULT_INTEGRATOR)
        dt = integ.pop("dt")
        if isinstance(dt, list):
            dt = torch.tensor(dt, dtype=torch.float64)
        return Stepper(self._pde_obj, kind, dt, **integ)

    def n_steps(self) -> int:
        """Steps to run: ``run.steps``, or ``ceil(t_end / dt)`` (largest dt when per sample)."""
        run = self.resolved_run()
        if run["steps"] is not None:
            return run["steps"]
        if run["t_end"] is None:
            raise self._err("run.steps", "set run.steps or run.t_end (or --steps / --t-end)")
        dt = self.integrator["dt"]
        dt = min(dt) if isinstance(dt, list) else dt
        return math.ceil(run["t_end"] / dt - STEP_ROUNDOFF)

    def initial_state(self, batch: int | None = None) -> torch.Tensor:
        """The initial batch (float64, CPU) drawn with ``run.seed``."""
        run = self.resolved_run()
        opts = dict(self.initial)
        kind = opts.pop("kind")
        gen = torch.Generator().manual_seed(run["seed"])
        b = run["batch"] if batch is None else batch
        if batch is not None and self._pde_obj.batch_size is not None:
            b = self._pde_obj.batch_size
        return self._pde_obj.initial_condition(kind, b, gen, **opts)

    def resolved(self) -> dict:
        """The full resolved configuration (what is saved beside every output)."""
        pde = {"kind": self.pde["kind"], **_jsonable(self._pde_obj.parameters())}
        integ = {"kind": self.integrator.get("kind", DEFAULT_INTEGRATOR), **self.integrator}
        return {
            "pde": pde,
            "integrator": integ,
            "initial": dict(self.initial),
            "run": self.resolved_run(),
        }
