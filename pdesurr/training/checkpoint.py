"""Checkpoints: a directory that never unpickles arbitrary objects.

    model.safetensors     inference weights (the EMA weights when EMA is on)
    config.json           format, registry name and constructor arguments of the model,
                          data layout (history, channels, conditioning, predict) and
                          normalisation, the recipe, provenance (dataset fingerprint and
                          spec, solver, pdesurr version), the step
    training_state.pt     optimizer, scheduler, RNG, step, raw weights when EMA is on,
                          the data ledger; read with ``torch.load(weights_only=True)``

The model is rebuilt from ``MODELS[kind](**args)``, so renaming a Python class never
breaks a checkpoint. Writes go to a temporary directory renamed into place, so a crash
leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from pdesurr import __version__
from pdesurr.models import MODELS
from pdesurr.training.surrogate import Surrogate

FORMAT = "pdesurr.checkpoint"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file and what is wrong."""


def save_checkpoint(path: str | Path, weights: dict, config: dict, state: dict | None = None):
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    save_file(
        {k: v.detach().contiguous().cpu() for k, v in weights.items()}, tmp / "model.safetensors"
    )
    config = {"format": FORMAT, "format_version": 1, "pdesurr_version": __version__, **config}
    (tmp / "config.json").write_text(json.dumps(config, indent=1, default=str))
    if state is not None:
        torch.save(state, tmp / "training_state.pt")
    old = path.with_name(path.name + ".old")
    if path.exists():
        path.rename(old)
    tmp.rename(path)
    if old.exists():
        shutil.rmtree(old)
    return path


def read_config(path: str | Path) -> dict:
    path = Path(path)
    file = path / "config.json"
    if not file.is_file():
        raise CheckpointError(f"{path}: not a checkpoint directory (no config.json)")
    try:
        config = json.loads(file.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{file}: corrupt JSON ({e})") from None
    if config.get("format") != FORMAT:
        raise CheckpointError(f"{file}: not a pdesurr checkpoint (format {config.get('format')!r})")
    kind = config.get("model", {}).get("kind")
    if kind not in MODELS:
        raise CheckpointError(
            f"{file}: unknown model {kind!r}; this pdesurr knows {sorted(MODELS)}"
        )
    return config


def build_model(config: dict) -> nn.Module:
    model = config["model"]
    try:
        return MODELS[model["kind"]](**model["args"])
    except TypeError as e:
        raise CheckpointError(
            f"checkpoint model arguments do not fit {model['kind']}: {e}"
        ) from None


def load_weights(path: str | Path, model: nn.Module, file: str = "model.safetensors") -> None:
    path = Path(path) / file
    try:
        weights = load_file(path)
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(
            f"{path}: unreadable weights (corrupted or truncated?): {e}"
        ) from None
    own = model.state_dict()
    missing = sorted(set(own) - set(weights))
    unexpected = sorted(set(weights) - set(own))
    wrong = [k for k in own.keys() & weights.keys() if own[k].shape != weights[k].shape]
    if missing or unexpected or wrong:
        detail = "; ".join(
            f"{what}: {keys[:5]}{'...' if len(keys) > 5 else ''}"
            for what, keys in (
                ("missing", missing),
                ("unexpected", unexpected),
                ("shape mismatch", wrong),
            )
            if keys
        )
        raise CheckpointError(f"{path} does not match the model {type(model).__name__}: {detail}")
    model.load_state_dict(weights)


def load_training_state(path: str | Path) -> dict:
    file = Path(path) / "training_state.pt"
    if not file.is_file():
        raise CheckpointError(f"{file}: missing (a weights-only checkpoint cannot resume training)")
    try:
        return torch.load(file, weights_only=True, map_location="cpu")
    except Exception as e:  # torch raises UnpicklingError, RuntimeError, EOFError...
        raise CheckpointError(f"{file}: cannot be read safely (corrupted?): {e}") from None


def load_surrogate(path: str | Path, device="cpu") -> tuple[Surrogate, dict]:
    """The inference stepper of a checkpoint and its config."""
    config = read_config(path)
    model = build_model(config)
    load_weights(path, model)
    data = config["data"]
    mean = torch.tensor(data["mean"]) if data.get("mean") is not None else None
    std = torch.tensor(data["std"]) if data.get("std") is not None else None
    surrogate = Surrogate(model, data["history"], data["channels"], mean, std, data["predict"])
    return surrogate.to(device).eval(), config
