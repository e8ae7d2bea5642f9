"""Physics-informed recipes (``train/pinn_*.toml``): a ``[physics]`` table instead of ``[data]``.

::

    [physics]   reference (a solvers/ preset), store_dir, method ("plain" | "causal" |
                "lagrangian"), engine ("autograd" | "func"), sampling ("grid" | "random"),
                points_x, points_t, ic_weight, bc_weight, windows (time marching), dtype
    [physics.causal]      chunks, eps (increasing list), delta
    [physics.lagrangian]  weight_x, weight_u, weight_ic (Mojgani et al.'s 10, 1, 1000)
    [pde]       overrides of the reference preset's [pde] table (``velocity = 50``): the
                residual takes the same parameters under the same names
    [network]   kind (``pdesurr.physics.NETWORKS``) and its options; ``periodic = true``
                embeds x with the reference's period; ``initial_modes = M`` imposes the
                initial condition exactly (M Fourier modes, at most N/2 + 1 of the
                reference grid); coordinates, fields and time bounds come from the problem
    [optim]     lr, steps (Adam, per window), warmup, min_lr_ratio (the cosine schedule of
                ``fit``), lbfgs_steps (0 = none; after Adam, per window)
    [train]     seed, device, out, log_every, eval_every (rel. L2 on the reference grid),
                checkpoint_every
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

from pdesurr.config import ConfigError, check_kwargs, load_toml
from pdesurr.physics import ENGINES, NETWORKS, RESIDUALS
from pdesurr.sections import check_section, suggest
from pdesurr.training.recipe import find_recipe

METHODS = ("plain", "causal", "lagrangian")
SCHEMA = {
    "physics": {
        "reference": (str, ...),
        "store_dir": (str, "data/reference"),
        "method": (str, "plain"),
        "engine": (str, "autograd"),
        "sampling": (str, "grid"),
        "points_x": (int, 256),
        "points_t": (int, 100),
        "ic_weight": (float, 1.0),
        "bc_weight": (float, 1.0),
        "windows": (int, 1),
        "dtype": (str, "float32"),
        "causal": (dict, {}),
        "lagrangian": (dict, {}),
    },
    "causal": {
        "chunks": (int, 32),
        "eps": (list[float], [1e-2, 1e-1, 1.0, 10.0, 100.0]),
        "delta": (float, 0.99),
    },
    "lagrangian": {
        "weight_x": (float, 10.0),
        "weight_u": (float, 1.0),
        "weight_ic": (float, 1000.0),
    },
    "optim": {
        "lr": (float, 1e-3),
        "steps": (int, 1000),
        "warmup": (int, 0),
        "min_lr_ratio": (float, 0.0),
        "lbfgs_steps": (int, 0),
    },
    "train": {
        "seed": (int, 0),
        "device": (str, "cpu"),
        "out": (str, "runs/pinn"),
        "log_every": (int, 10),
        "eval_every": (int, 100),
        "checkpoint_every": (int, 0),
    },
}
# 1D PDEs a PINN can be trained on: the residual registry uses the solver's name


def is_physics_recipe(name: str | Path, overrides=()) -> bool:
    """Does the recipe have a ``[physics]`` table (cheap check for CLI dispatch)."""
    return "physics" in load_toml(find_recipe(name), list(overrides))


@dataclass
class PhysicsRecipe:
    physics: dict
    causal: dict
    lagrangian: dict
    pde: dict
    network: dict
    optim: dict
    train: dict
    source: str = "<recipe>"

    @classmethod
    def load(cls, name: str | Path, overrides=()) -> PhysicsRecipe:
        path = find_recipe(name)
        return cls.from_dict(load_toml(path, list(overrides)), str(path))

    @classmethod
    def from_dict(cls, raw: dict, source: str = "<recipe>") -> PhysicsRecipe:
        raw = copy.deepcopy(raw)
        known = ["physics", "pde", "network", "optim", "train"]
        for key in raw:
            if key not in known:
                raise ConfigError(f"{source}: unknown section [{key}]{suggest(key, known)}")
        phys = check_section(raw.get("physics", {}), "physics", SCHEMA["physics"], source)
        causal = check_section(phys.pop("causal"), "physics.causal", SCHEMA["causal"], source)
        lag = check_section(
            phys.pop("lagrangian"), "physics.lagrangian", SCHEMA["lagrangian"], source
        )
        optim = check_section(raw.get("optim", {}), "optim", SCHEMA["optim"], source)
        train = check_section(raw.get("train", {}), "train", SCHEMA["train"], source)
        network = dict(raw.get("network", {}))
        kind = network.get("kind", "mlp")
        if kind not in NETWORKS:
            raise ConfigError(f"{source}: network.kind = {kind!r}; choose from {sorted(NETWORKS)}")
        options = {k: v for k, v in network.items() if k not in ("kind", "periodic")}
        for key in ("coords", "fields", "bounds"):
            if key in options:
                raise ConfigError(f"{source}: network.{key} is set by the problem, not the recipe")
        check_kwargs(NETWORKS[kind].__init__, options, "network", source, skip=3)
        network = {"kind": kind, "periodic": bool(network.get("periodic", True)), **options}
        r = cls(phys, causal, lag, dict(raw.get("pde", {})), network, optim, train, source)
        r.validate()
        return r

    def _err(self, key, msg):
        return ConfigError(f"{self.source}: {key}: {msg}")

    def validate(self) -> None:
        p = self.physics
        for key, choices in (
            ("method", METHODS),
            ("engine", ENGINES),
            ("sampling", ("grid", "random")),
            ("dtype", ("float32", "float64")),
        ):
            if p[key] not in choices:
                raise self._err(f"physics.{key}", f"{p[key]!r}; choose from {choices}")
        for key in ("points_x", "points_t", "windows"):
            if p[key] < 1:
                raise self._err(f"physics.{key}", f"must be >= 1, got {p[key]}")
        if p["method"] == "causal" and not 1 <= self.causal["chunks"] <= p["points_t"]:
            raise self._err("physics.causal.chunks", "must be in [1, physics.points_t]")
        if p["method"] == "lagrangian" and p["windows"] != 1:
            raise self._err("physics.windows", "the Lagrangian trainer uses one window")
        if self.network.get("initial_modes", 0) and (
            p["method"] == "lagrangian" or not self.network["periodic"]
        ):
            raise self._err(
                "network.initial_modes", "the hard IC needs a periodic, Eulerian network"
            )
        if not self.optim["lr"] > 0:
            raise self._err("optim.lr", f"must be > 0, got {self.optim['lr']}")
        for key in ("steps", "lbfgs_steps", "warmup"):
            if self.optim[key] < 0:
                raise self._err(f"optim.{key}", f"must be >= 0, got {self.optim[key]}")
        for key in ("log_every", "eval_every"):
            if self.train[key] < 1:
                raise self._err(f"train.{key}", f"must be >= 1, got {self.train[key]}")

    def residual_kind(self, pde_kind: str) -> str:
        residual = RESIDUALS.get(pde_kind)
        if residual is None or len(residual.coords) != 2:  # the trainer is (x, t) only
            raise self._err("physics.reference", f"no 1D PINN trainer for PDE {pde_kind!r}")
        if self.physics["method"] == "lagrangian" and not residual.characteristics:
            along = [k for k, r in RESIDUALS.items() if r.characteristics]
            raise self._err(
                "physics.method", f"lagrangian needs characteristics ({along}), not {pde_kind}"
            )
        return pde_kind

    def resolved(self) -> dict:
        phys = {**self.physics, "causal": self.causal, "lagrangian": self.lagrangian}
        return {
            "physics": phys,
            "pde": self.pde,
            "network": self.network,
            "optim": self.optim,
            "train": self.train,
        }


def residual_from_reference(recipe: PhysicsRecipe, pde: dict):
    """The residual of the reference's PDE with the parameters of the same names."""
    import inspect

    kind = recipe.residual_kind(pde["kind"])
    cls = RESIDUALS[kind]
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "forcing"}
    return cls(**{k: v for k, v in pde.items() if k in accepted})
