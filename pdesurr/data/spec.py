"""Dataset specs: how a dataset is made, in a small TOML file.

``datasets/<name>/spec.toml`` (and variants such as ``datasets/<name>/small.toml``)::

    [dataset]     description, seed, dtype (stored), batch (trajectories simulated together)
    [splits]      train = 512, valid = 64, test = 64      (trajectories per split)
    [solver]      preset = "ks_refiner"  (a solvers/ preset) and overrides of its tables:
                  [solver.pde], [solver.integrator]
    [initial]     the initial-condition distribution (replaces the preset's [initial])
    [parameters]  per-trajectory sampling of [pde] arguments:
                  length = { uniform = [57.6, 70.4] } | { loguniform = [a, b] } | { choice = [...] }
    [time]        spinup (time discarded), save_interval (time between frames), frames,
                  split_frames = { test = 640 } (optional: longer or shorter splits, e.g. test
                  trajectories long enough for every model's correlation to decay)
    [output]      resolution (spectral down-sampling of the simulation; default: none)

Trajectory ``i`` of split ``s`` is a pure function of ``(seed, s, i)``: its parameters and
initial condition are drawn from a generator seeded by :func:`trajectory_seed`, and the
trajectories are simulated in fixed batches ``[k*batch, (k+1)*batch)`` whatever the number
of ranks, so 1 rank and 1,000 ranks write the same bytes.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from pdesurr import __version__
from pdesurr.config import (
    CATALOGUE_ROOT,
    DTYPES,
    ConfigError,
    SolverConfig,
    find_preset,
    load_toml,
)
from pdesurr.data.parameters import check_distribution, check_support, sample, trajectory_seed
from pdesurr.data.reader import SPLITS
from pdesurr.data.spec_sections import (
    SECTIONS,
    DatasetSection,
    OutputSection,
    SolverSection,
    SplitsSection,
    TimeSection,
)
from pdesurr.memory import check_memory
from pdesurr.sections import suggest
from pdesurr.solvers import DEFAULT_INTEGRATOR, PDES, Stepper

FINGERPRINT_HEX = 16  # hex digits of SHA-256 kept: 64 bits, no accidental collision
DT_MULTIPLE_RTOL = 1e-6  # a time is a multiple of dt up to float round-off in the TOML


def find_spec(name: str | Path) -> Path:
    """A spec by path, or ``NAME`` (``datasets/NAME/spec.toml``) or ``NAME/VARIANT``."""
    path = Path(name)
    if path.is_file():
        return path
    parts = str(name).split("/")
    folder, variant = parts[0], parts[1] if len(parts) > 1 else "spec"
    for root in (Path.cwd(), CATALOGUE_ROOT):
        candidate = root / "datasets" / folder / f"{Path(variant).stem}.toml"
        if candidate.is_file():
            return candidate
    available = sorted(
        str(p.relative_to(CATALOGUE_ROOT / "datasets").with_suffix("")).replace("/spec", "")
        for p in (CATALOGUE_ROOT / "datasets").glob("*/*.toml")
    )
    raise ConfigError(f"no dataset spec {str(name)!r}: not a file, nor in datasets/ ({available})")


@dataclass
class DatasetSpec:
    name: str
    data: dict  # the spec as written (after overrides)
    solver: SolverConfig  # the solver preset with the spec's overrides, validated
    source: str

    # --- loading -------------------------------------------------------------------
    @classmethod
    def load(cls, name: str | Path, overrides: list[str] = ()) -> DatasetSpec:
        path = find_spec(name)
        label = path.parent.name if path.stem == "spec" else f"{path.parent.name}/{path.stem}"
        return cls.from_dict(load_toml(path, overrides), str(path), label)

    @classmethod
    def from_dict(cls, data: dict, source: str = "<spec>", name: str = "dataset") -> DatasetSpec:
        data = copy.deepcopy(data)
        err = lambda key, msg: ConfigError(f"{source}: {key}: {msg}")  # noqa: E731
        for key in data:
            if key not in SECTIONS:
                raise ConfigError(f"{source}: unknown section [{key}]{suggest(key, SECTIONS)}")
        ds = DatasetSection.from_table(data.get("dataset", {}), "dataset", source)
        data["dataset"] = ds.as_dict()
        if ds.dtype not in DTYPES:
            raise err("dataset.dtype", f"must be one of {list(DTYPES)}, got {ds.dtype!r}")
        if ds.batch < 1:
            raise err("dataset.batch", f"must be >= 1, got {ds.batch}")

        splits = SplitsSection.from_table(data.setdefault("splits", {}), "splits", source)
        for key in SPLITS:
            if splits[key] < 0:
                raise err(f"splits.{key}", f"must be an integer >= 0, got {splits[key]!r}")
        if not any(splits.as_dict().values()):
            raise err("splits", "no trajectories requested")

        solver = SolverSection.from_table(data.get("solver", {}), "solver", source)
        preset_path = find_preset(solver.preset)
        base = load_toml(preset_path)
        for section in ("pde", "integrator"):
            base.setdefault(section, {}).update(solver[section])
        if "initial" in data:
            base["initial"] = dict(data["initial"])
        base["run"] = {"batch": 1, "steps": 0, "seed": ds.seed, "dtype": "float64"}
        pde_cls = PDES.get(base["pde"].get("kind"))
        params = data.setdefault("parameters", {})
        for key, dist in params.items():
            check_distribution(key, dist, pde_cls, base["pde"].get("kind"), source)
            base["pde"][key] = sample(dist, torch.Generator().manual_seed(0))
        try:
            solver_cfg = SolverConfig.from_dict(base, f"{source} (solver preset {preset_path})")
        except ConfigError as e:  # the representative draw of a distribution was refused
            for key, dist in params.items():
                if f": pde.{key}: " in str(e):
                    raise err(
                        f"parameters.{key}",
                        f"{dist} can draw {base['pde'][key]!r}, which {base['pde']['kind']} "
                        f"refuses ({str(e).split(f'pde.{key}: ', 1)[1]})",
                    ) from None
            raise
        check_memory(
            pde_cls,
            {k: v for k, v in solver_cfg.pde.items() if k != "kind"},
            {**solver_cfg.resolved_run(), "batch": ds.batch},
            "solver.pde",
            "dataset.batch",
            source,
        )
        check_support(solver_cfg, params, source)

        time = data.setdefault("time", {})
        typed_time = TimeSection.from_table(time, "time", source)
        if typed_time.frames < 2:
            raise err("time.frames", f"must be an integer >= 2, got {typed_time.frames!r}")
        for key, n in typed_time.split_frames.items():
            if key not in SPLITS:
                raise err(f"time.split_frames.{key}", f"unknown split; use {SPLITS}")
            if not (isinstance(n, int) and not isinstance(n, bool) and n >= 2):
                raise err(f"time.split_frames.{key}", f"must be an integer >= 2, got {n!r}")
        dt = solver_cfg.integrator["dt"]
        if isinstance(dt, list):
            raise err("solver.integrator.dt", "datasets use one dt for all trajectories")
        time.setdefault("spinup", 0.0)
        time.setdefault("save_interval", dt)
        for key in ("save_interval", "spinup"):
            value = time[key]
            if not (isinstance(value, int | float) and value >= 0) or (
                key == "save_interval" and value <= 0
            ):
                raise err(
                    f"time.{key}",
                    f"must be a number {'> 0' if key == 'save_interval' else '>= 0'}, "
                    f"got {value!r}",
                )
            steps = value / dt
            if abs(steps - round(steps)) > DT_MULTIPLE_RTOL * max(1.0, steps):
                raise err(f"time.{key}", f"{value} is not a multiple of the time step dt = {dt}")

        out = data.setdefault("output", {})
        res = OutputSection.from_table(out, "output", source).resolution
        sim_shape = solver_cfg.build_pde().grid.shape
        res = list(sim_shape) if res is None else res
        res = [res] * len(sim_shape) if isinstance(res, int) else res
        if not (
            isinstance(res, list)
            and len(res) == len(sim_shape)
            and all(
                isinstance(r, int) and r >= 4 and r % 2 == 0 and r <= n
                for r, n in zip(res, sim_shape, strict=True)
            )
        ):
            raise err(
                "output.resolution",
                f"must be even and <= the simulation grid {sim_shape}, got {res!r}",
            )
        out["resolution"] = res
        return cls(name=name, data=data, solver=solver_cfg, source=source)

    # --- derived -------------------------------------------------------------------
    @property
    def seed(self) -> int:
        return self.data["dataset"]["seed"]

    @property
    def batch(self) -> int:
        return self.data["dataset"]["batch"]

    @property
    def dtype(self) -> torch.dtype:
        return DTYPES[self.data["dataset"]["dtype"]]

    @property
    def splits(self) -> dict[str, int]:
        return {s: self.data["splits"].get(s, 0) for s in SPLITS if self.data["splits"].get(s, 0)}

    @property
    def frames(self) -> int:
        """Frames per trajectory of the training split (and of every split by default)."""
        return self.data["time"]["frames"]

    def frames_of(self, split: str | None) -> int:
        """Frames per trajectory of ``split`` (``time.split_frames`` overrides ``frames``)."""
        return self.data["time"].get("split_frames", {}).get(split, self.frames)

    @property
    def dt(self) -> float:
        return float(self.solver.integrator["dt"])

    @property
    def save_every(self) -> int:
        return round(self.data["time"]["save_interval"] / self.dt)

    @property
    def spinup_steps(self) -> int:
        return round(self.data["time"]["spinup"] / self.dt)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return tuple(self.data["output"]["resolution"])

    @property
    def sampled_parameters(self) -> list[str]:
        return list(self.data["parameters"])

    def times(self, split: str | None = None) -> list[float]:
        frames = self.frames_of(split)
        return [(self.spinup_steps + j * self.save_every) * self.dt for j in range(frames)]

    def resolved(self) -> dict:
        """Everything that determines the bytes of the store (hashed into the fingerprint)."""
        solver = self.solver.resolved()
        for key in self.sampled_parameters:
            solver["pde"][key] = self.data["parameters"][key]
        solver.pop("run")
        return {"name": self.name, "spec": self.data, "solver": solver}

    def fingerprint(self) -> str:
        text = json.dumps(self.resolved(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:FINGERPRINT_HEX]

    def chunks(self) -> list[tuple[str, int, int]]:
        """Fixed simulation batches ``(split, start, stop)``, independent of the rank count."""
        out = []
        for split, n in self.splits.items():
            out += [(split, s, min(s + self.batch, n)) for s in range(0, n, self.batch)]
        return out

    def trajectory_parameters(self, split: str, index: int) -> tuple[dict, torch.Generator]:
        """The sampled parameters of one trajectory, and its generator (for the IC next)."""
        gen = torch.Generator().manual_seed(trajectory_seed(self.seed, split, index))
        return {k: sample(d, gen) for k, d in self.data["parameters"].items()}, gen

    def build_batch(self, split: str, start: int, stop: int):
        """``(pde, stepper, u0, params)`` for trajectories ``start..stop-1`` of ``split``."""
        pde_kwargs = {k: v for k, v in self.solver.pde.items() if k != "kind"}
        pde_cls = PDES[self.solver.pde["kind"]]
        params = {k: [] for k in self.sampled_parameters}
        states = []
        init = dict(self.solver.initial)
        kind = init.pop("kind")
        for i in range(start, stop):
            values, gen = self.trajectory_parameters(split, i)
            for k, v in values.items():
                params[k].append(v)
            single = pde_cls(**{**pde_kwargs, **values})
            states.append(single.initial_condition(kind, 1, gen, **init))
        pde = pde_cls(**{**pde_kwargs, **params}) if params else pde_cls(**pde_kwargs)
        integ = {k: v for k, v in self.solver.integrator.items() if k not in ("kind", "dt")}
        integrator = self.solver.integrator.get("kind", DEFAULT_INTEGRATOR)
        stepper = Stepper(pde, integrator, self.dt, **integ)
        return pde, stepper, torch.cat(states), params

    def stored_frames(self, stepper, u0, diverged: dict, device="cpu", split: str | None = None):
        """The frames a store holds for a batch: after the spin-up, every save interval,
        down-sampled to the output resolution and cast to the stored dtype, on the CPU.
        Divergent members are masked and recorded in the caller's ``diverged``
        (``{member: (step, time)}``, see :meth:`pdesurr.solvers.Stepper.trajectory`)."""
        from pdesurr.spectral import spectral_resample

        traj = stepper.trajectory(
            u0.to(device),
            self.frames_of(split) - 1,
            self.save_every,
            on_divergence="mask",
            skip=self.spinup_steps,
            diverged=diverged,
        )
        for u in traj:
            yield spectral_resample(u, self.output_shape).to(self.dtype).cpu()

    def attrs(self) -> dict:
        return {
            "format": "pdesurr.dataset",
            "format_version": 1,
            "pdesurr_version": __version__,
            "name": self.name,
            "pde": self.solver.pde["kind"],
            "fingerprint": self.fingerprint(),
            "spec": json.dumps(self.resolved(), default=str),
        }
