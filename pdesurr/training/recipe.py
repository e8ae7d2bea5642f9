"""Training recipes (``train/*.toml``): data, model, objective, optimiser, run.

::

    [data]       store (path); spec (a datasets/ spec, generated into ``store`` when it is
                 missing); history; stride; normalize; conditioning; predict
    [model]      preset = "fno/small" (a models/ preset) and/or kind + constructor options
    [objective]  kind = a name of pdesurr.training.objectives.OBJECTIVES ("pushforward",
                 the default, "unrolled", "one_step", "refiner"); unroll
    [optim]      lr, weight_decay, batch_size, steps, warmup, min_lr_ratio, grad_clip,
                 ema (decay, 0 = off), amp (bf16 autocast, CUDA only)
    [train]      seed, device, out, eval_every, eval_windows, log_every, checkpoint_every

``in_channels``, ``out_channels``, ``ndim`` and ``cond_dim`` of the model come from the
data (``history x C``, ``C``, the store's spatial dims, ``len(conditioning)``).
"""

from __future__ import annotations

import copy
import tomllib
from dataclasses import dataclass
from pathlib import Path

from pdesurr.config import (
    CATALOGUE_ROOT,
    ConfigError,
    _suggest,
    check_device,
    check_kwargs,
    check_section,
    load_toml,
)
from pdesurr.models import MODELS
from pdesurr.training.objectives import OBJECTIVES

SCHEMA = {
    "data": {
        "store": (str, ...),
        "spec": (str | None, None),
        "train_split": (str, "train"),
        "valid_split": (str, "valid"),
        "history": (int, 1),
        "stride": (int, 1),
        "normalize": (bool, True),
        "conditioning": (list[str], []),
        "predict": (str, "residual"),
        "pairs": (str | None, None),  # Poseidon's "all2all" / "next" pairs (pdesurr.data.pairs)
        "max_steps": (int, 7),
        "step": (int, 2),
    },
    "objective": {
        "kind": (str, "pushforward"),
        "unroll": (int, 2),
        # objective "poseidon" (Poseidon's relative L^p per channel group)
        "channel_slices": (list[int], []),
        "p": (int, 1),
        "masked_channels": (list[int], []),
        # objective "refiner" (PDE-Refiner): the one-step level's draw probability (None:
        # uniform over the K + 1 levels, as released) and loss weight
        "one_step_prob": (float | None, None),
        "one_step_weight": (float, 1.0),
    },
    "optim": {
        "lr": (float, 1e-3),
        "weight_decay": (float, 1e-4),
        "batch_size": (int, 16),
        "steps": (int, 1000),
        "warmup": (int, 0),
        "min_lr_ratio": (float, 0.0),
        "grad_clip": (float, 1.0),
        "ema": (float, 0.0),
        "amp": (bool, False),
        "lr_embedding": (float | None, None),  # scOT fine-tuning groups (models.scot.finetune)
        "lr_time": (float | None, None),
    },
    "train": {
        "seed": (int, 0),
        "device": (str, "cpu"),
        "out": (str, "runs/run"),
        "eval_every": (int, 100),
        "eval_windows": (int, 256),
        "log_every": (int, 10),
        "checkpoint_every": (int, 0),
    },
}


def find_recipe(name: str | Path) -> Path:
    path = Path(name)
    if path.is_file():
        return path
    for root in (Path.cwd(), CATALOGUE_ROOT):
        candidate = root / "train" / f"{path.stem}.toml"
        if candidate.is_file():
            return candidate
    known = sorted(p.stem for p in (CATALOGUE_ROOT / "train").glob("*.toml"))
    raise ConfigError(f"no recipe {str(name)!r}: not a file, nor in train/ ({known})")


def model_preset(name: str) -> dict:
    """``models/<kind>/<variant>.toml``'s ``[model]`` table, from ``"kind/variant"``."""
    kind, _, variant = name.partition("/")
    path = CATALOGUE_ROOT / "models" / kind / f"{variant or 'default'}.toml"
    if not path.is_file():
        raise ConfigError(f"model.preset = {name!r}: no file {path}")
    with open(path, "rb") as f:
        return tomllib.load(f).get("model", {})


@dataclass
class Recipe:
    data: dict
    model: dict  # kind + options (preset resolved)
    objective: dict
    optim: dict
    train: dict
    source: str = "<recipe>"
    online: dict | None = None  # see pdesurr.training.online

    @classmethod
    def load(cls, name: str | Path, overrides: list[str] = ()) -> Recipe:
        path = find_recipe(name)
        return cls.from_dict(load_toml(path, overrides), str(path))

    @classmethod
    def from_dict(cls, raw: dict, source: str = "<recipe>") -> Recipe:
        raw = copy.deepcopy(raw)
        known = [*SCHEMA, "model", "online"]
        for key in raw:
            if key not in known:
                raise ConfigError(f"{source}: unknown section [{key}]{_suggest(key, known)}")
        sections = {
            k: check_section(raw.get(k, {}), k, schema, source) for k, schema in SCHEMA.items()
        }
        model = dict(raw.get("model", {}))
        if "preset" in model:
            model = {**model_preset(model.pop("preset")), **model}
        kind = model.pop("kind", None)
        if kind not in MODELS:
            raise ConfigError(
                f"{source}: model.kind = {kind!r}; choose from {sorted(MODELS)}"
                + _suggest(str(kind), MODELS)
            )
        finetune = {k: model.pop(k) for k in ("pretrained", "replace_channels") if k in model}
        check_kwargs(MODELS[kind].__init__, model, "model", source, skip=5)
        model = {"kind": kind, **model, **finetune}
        r = cls(model=model, source=source, online=raw.get("online"), **sections)
        r.validate()
        return r

    def _err(self, key, msg):
        return ConfigError(f"{self.source}: {key}: {msg}")

    def validate(self) -> None:
        d, o, opt, t = self.data, self.objective, self.optim, self.train
        if o["kind"] not in OBJECTIVES:
            raise self._err(
                "objective.kind",
                f"{o['kind']!r}; choose from {sorted(OBJECTIVES)}"
                + _suggest(o["kind"], OBJECTIVES),
            )
        needs = OBJECTIVES[o["kind"]].needs
        if o["unroll"] < 1:
            raise self._err("objective.unroll", f"must be >= 1, got {o['unroll']}")
        if o["one_step_prob"] is not None and not 0 < o["one_step_prob"] < 1:
            raise self._err(
                "objective.one_step_prob", f"must be in (0, 1), got {o['one_step_prob']}"
            )
        if not o["one_step_weight"] > 0:
            raise self._err("objective.one_step_weight", f"must be > 0, got {o['one_step_weight']}")
        denoiser = hasattr(MODELS[self.model["kind"]], "denoising_loss")
        if ("denoiser" in needs) != denoiser:
            raise self._err(
                "objective.kind",
                f"{o['kind']!r} does not fit model.kind = {self.model['kind']!r} "
                + (
                    "(it trains a denoiser such as 'refiner')"
                    if not denoiser
                    else "(a denoiser trains with objective.kind = 'refiner')"
                ),
            )
        if d["predict"] not in ("state", "residual"):
            raise self._err("data.predict", f"must be 'state' or 'residual', got {d['predict']!r}")
        if d["pairs"] is not None:
            if d["pairs"] not in ("all2all", "next"):
                raise self._err("data.pairs", f"{d['pairs']!r}; choose 'all2all' or 'next'")
            if o["kind"] not in ("one_step", "poseidon") or d["history"] != 1:
                raise self._err(
                    "data.pairs", "needs objective.kind = 'one_step' or 'poseidon' and history = 1"
                )
        if self.model.get("predict") == "scaled_difference" and d["predict"] == "residual":
            raise self._err(
                "data.predict",
                "'residual' on top of model.predict = 'scaled_difference' would add the last "
                "frame twice; set data.predict = 'state'",
            )
        for key in ("history", "stride"):
            if d[key] < 1:
                raise self._err(f"data.{key}", f"must be >= 1, got {d[key]}")
        for key in ("batch_size", "steps"):
            if opt[key] < 1:
                raise self._err(f"optim.{key}", f"must be >= 1, got {opt[key]}")
        if not opt["lr"] > 0:
            raise self._err("optim.lr", f"must be > 0, got {opt['lr']}")
        if not 0 <= opt["ema"] < 1:
            raise self._err("optim.ema", f"must be in [0, 1), got {opt['ema']}")
        if not 0 <= opt["min_lr_ratio"] <= 1:
            raise self._err("optim.min_lr_ratio", f"must be in [0, 1], got {opt['min_lr_ratio']}")
        for key in ("eval_every", "log_every", "eval_windows"):
            if t[key] < 1:
                raise self._err(f"train.{key}", f"must be >= 1, got {t[key]}")
        check_device(t["device"], "train.device", self.source)
        if isinstance(self.online, dict) and "device" in self.online:
            check_device(self.online["device"], "online.device", self.source)

    @property
    def horizon(self) -> int:
        """Target frames per window: what the objective unrolls."""
        return OBJECTIVES[self.objective["kind"]].horizon(self.objective)

    def resolved(self) -> dict:
        out = {
            "data": self.data,
            "model": self.model,
            "objective": self.objective,
            "optim": self.optim,
            "train": self.train,
        }
        return {**out, "online": self.online} if self.online is not None else out
