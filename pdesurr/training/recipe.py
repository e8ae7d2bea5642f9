"""Training recipes (``train/*.toml``): data, model, objective, optimiser, run.

::

    [data]       store (path); spec (a datasets/ spec, generated into ``store`` when it is
                 missing); history; stride; normalize; conditioning; predict; pairs,
                 max_steps, step (pdesurr.data.pairs); channel_map (pdesurr.data.channel_map)
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
import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from pdesurr.config import CATALOGUE_ROOT, ConfigError, check_kwargs, load_toml
from pdesurr.data.channel_map import CHANNEL_MAPS
from pdesurr.data.windows import WindowSpec
from pdesurr.devices import check_device
from pdesurr.models import MODELS
from pdesurr.sections import Section, suggest
from pdesurr.stream.ending import WHEN_DONE, default_when_done
from pdesurr.training.objectives import OBJECTIVES


@dataclass(kw_only=True)
class DataSection(Section):
    """``[data]``: the store, the windows cut from it and how they are presented."""

    store: str
    spec: str | None = None
    train_split: str = "train"
    valid_split: str = "valid"
    history: int = 1
    stride: int = 1
    normalize: bool = True
    conditioning: list[str] = field(default_factory=list)
    predict: str = "residual"
    pairs: str | None = None  # Poseidon's "all2all" / "next" pairs (pdesurr.data.pairs)
    max_steps: int = 7
    step: int = 2
    channel_map: str | None = None  # e.g. "rho_u_v_p" (pdesurr.data.channel_map)


@dataclass(kw_only=True)
class ObjectiveSection(Section):
    """``[objective]``: a name of OBJECTIVES and its options."""

    kind: str = "pushforward"
    unroll: int = 2
    # objective "poseidon" (Poseidon's relative L^p per channel group)
    channel_slices: list[int] = field(default_factory=list)
    p: int = 1
    masked_channels: list[int] = field(default_factory=list)
    # objective "refiner" (PDE-Refiner): the one-step level's draw probability (None:
    # uniform over the K + 1 levels, as released) and loss weight
    one_step_prob: float | None = None
    one_step_weight: float = 1.0


@dataclass(kw_only=True)
class OptimSection(Section):
    """``[optim]``: AdamW, its schedule, clipping, EMA, autocast."""

    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 16
    steps: int = 1000
    warmup: int = 0
    min_lr_ratio: float = 0.0
    grad_clip: float = 1.0
    ema: float = 0.0
    amp: bool = False
    lr_embedding: float | None = None  # scOT fine-tuning groups (models.scot.finetune)
    lr_time: float | None = None


@dataclass(kw_only=True)
class TrainSection(Section):
    """``[train]``: seed, device, output directory, cadences."""

    seed: int = 0
    device: str = "cpu"
    out: str = "runs/run"
    eval_every: int = 100
    eval_windows: int = 256
    log_every: int = 10
    checkpoint_every: int = 0


@dataclass(kw_only=True)
class OnlineSection(Section):
    """``[online]``: the stream of an online run (see :mod:`pdesurr.training.online`)."""

    trajectories: int
    producers: int = 1
    buffer: str = "reservoir"
    capacity: int = 2000
    watermark: int = 200
    split: str = "train"
    device: str = "cpu"
    producer_timeout: float = 300.0
    fault: str | None = None
    trainers: int = 1
    when_done: str | None = None  # pdesurr.stream.ending: "continue" | "stop"
    max_reuse: int = 0
    # MPI: bundles of producers on the trainer's node through shared memory
    # (pdesurr.stream.shared); false: every bundle as a message
    shared_memory: bool = True

    @property
    def end_policy(self) -> str:
        """``when_done``, or the buffer's default (kept apart from ``when_done`` so that the
        recipe saved in a checkpoint holds what was written)."""
        return self.when_done or default_when_done(self.buffer)

    def buffer_config(self) -> dict:
        """The buffer's own arguments (pdesurr.stream.buffers.make_buffer)."""
        return {"kind": self.buffer, "capacity": self.capacity, "watermark": self.watermark}


SCHEMA: dict[str, type[Section]] = {
    "data": DataSection,
    "objective": ObjectiveSection,
    "optim": OptimSection,
    "train": TrainSection,
    "online": OnlineSection,
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
    """A training recipe resolved into typed sections (the whole schema is here)."""

    data: DataSection
    model: dict  # kind + options (preset resolved); the model's signature is its schema
    objective: ObjectiveSection
    optim: OptimSection
    train: TrainSection
    source: str = "<recipe>"
    online: OnlineSection | None = None  # see pdesurr.training.online

    @classmethod
    def load(cls, name: str | Path, overrides: list[str] = ()) -> Recipe:
        path = find_recipe(name)
        return cls.from_dict(load_toml(path, overrides), str(path))

    @classmethod
    def from_dict(cls, raw: dict, source: str = "<recipe>") -> Recipe:
        raw = copy.deepcopy(raw)
        known = [*SCHEMA, "model"]
        for key in raw:
            if key not in known:
                raise ConfigError(f"{source}: unknown section [{key}]{suggest(key, known)}")
        sections = {
            k: section.from_table(raw.get(k, {}), k, source)
            for k, section in SCHEMA.items()
            if k != "online"
        }
        online = None
        if "online" in raw:
            online = OnlineSection.from_table(raw["online"], "online", source)
        model = dict(raw.get("model", {}))
        if "preset" in model:
            model = {**model_preset(model.pop("preset")), **model}
        kind = model.pop("kind", None)
        if kind not in MODELS:
            raise ConfigError(
                f"{source}: model.kind = {kind!r}; choose from {sorted(MODELS)}"
                + suggest(str(kind), MODELS)
            )
        finetune = {k: model.pop(k) for k in ("pretrained", "replace_channels") if k in model}
        check_kwargs(MODELS[kind].__init__, model, "model", source, skip=5)
        model = {"kind": kind, **model, **finetune}
        r = cls(model=model, source=source, online=online, **sections)
        r.validate()
        return r

    def _err(self, key, msg):
        return ConfigError(f"{self.source}: {key}: {msg}")

    def validate(self) -> None:
        d, o, opt, t = self.data, self.objective, self.optim, self.train
        if o.kind not in OBJECTIVES:
            raise self._err(
                "objective.kind",
                f"{o.kind!r}; choose from {sorted(OBJECTIVES)}" + suggest(o.kind, OBJECTIVES),
            )
        needs = OBJECTIVES[o.kind].needs
        if o.unroll < 1:
            raise self._err("objective.unroll", f"must be >= 1, got {o.unroll}")
        if o.one_step_prob is not None and not 0 < o.one_step_prob < 1:
            raise self._err("objective.one_step_prob", f"must be in (0, 1), got {o.one_step_prob}")
        if not o.one_step_weight > 0:
            raise self._err("objective.one_step_weight", f"must be > 0, got {o.one_step_weight}")
        denoiser = hasattr(MODELS[self.model["kind"]], "denoising_loss")
        if ("denoiser" in needs) != denoiser:
            raise self._err(
                "objective.kind",
                f"{o.kind!r} does not fit model.kind = {self.model['kind']!r} "
                + (
                    "(it trains a denoiser such as 'refiner')"
                    if not denoiser
                    else "(a denoiser trains with objective.kind = 'refiner')"
                ),
            )
        if d.predict not in ("state", "residual"):
            raise self._err("data.predict", f"must be 'state' or 'residual', got {d.predict!r}")
        if d.pairs is not None:
            if d.pairs not in ("all2all", "next"):
                raise self._err("data.pairs", f"{d.pairs!r}; choose 'all2all' or 'next'")
            if o.kind not in ("one_step", "poseidon") or d.history != 1:
                raise self._err(
                    "data.pairs", "needs objective.kind = 'one_step' or 'poseidon' and history = 1"
                )
        if d.channel_map is not None and d.channel_map not in CHANNEL_MAPS:
            raise self._err(
                "data.channel_map", f"{d.channel_map!r}; choose from {list(CHANNEL_MAPS)}"
            )
        if self.model.get("predict") == "scaled_difference" and d.predict == "residual":
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
        if not opt.lr > 0:
            raise self._err("optim.lr", f"must be > 0, got {opt.lr}")
        if not 0 <= opt.ema < 1:
            raise self._err("optim.ema", f"must be in [0, 1), got {opt.ema}")
        if not 0 <= opt.min_lr_ratio <= 1:
            raise self._err("optim.min_lr_ratio", f"must be in [0, 1], got {opt.min_lr_ratio}")
        for key in ("eval_every", "log_every", "eval_windows"):
            if t[key] < 1:
                raise self._err(f"train.{key}", f"must be >= 1, got {t[key]}")
        check_device(t.device, "train.device", self.source)
        if self.online is not None:
            self.validate_online()

    def validate_online(self) -> None:
        o = self.online
        check_device(o.device, "online.device", self.source)
        if not self.data.spec:
            raise self._err("data.spec", "online training needs the dataset spec to stream")
        for key in ("trajectories", "producers", "capacity"):
            if o[key] < 1:
                raise self._err(f"online.{key}", f"must be >= 1, got {o[key]}")
        if not 1 <= o.watermark <= o.capacity:
            raise self._err("online.watermark", "must be in [1, capacity]")
        if o.end_policy not in WHEN_DONE or o.max_reuse < 0:
            raise self._err(
                "online.when_done",
                f"must be one of {list(WHEN_DONE)} and online.max_reuse >= 0, got "
                f"{o.when_done!r}, {o.max_reuse}",
            )
        if self.optim.batch_size > o.capacity:
            raise self._err(
                "optim.batch_size",
                f"({self.optim.batch_size}) exceeds online.capacity ({o.capacity})",
            )

    @property
    def horizon(self) -> int:
        """Target frames per window: what the objective unrolls."""
        return OBJECTIVES[self.objective.kind].horizon(self.objective)

    @property
    def window(self) -> WindowSpec:
        """The windows the data layer and the stream cut for this recipe."""
        d = self.data
        return WindowSpec(d.history, self.horizon, d.stride, tuple(d.conditioning))

    def with_data(self, **changes) -> Recipe:
        """A copy with ``[data]`` keys replaced (the caller's recipe is left as it is)."""
        return dataclasses.replace(self, data=dataclasses.replace(self.data, **changes))

    def resolved(self) -> dict:
        out = {
            "data": self.data.as_dict(),
            "model": self.model,
            "objective": self.objective.as_dict(),
            "optim": self.optim.as_dict(),
            "train": self.train.as_dict(),
        }
        return {**out, "online": self.online.as_dict()} if self.online is not None else out
