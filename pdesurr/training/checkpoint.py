"""Checkpoints: a directory that never unpickles arbitrary objects, and never loads
corrupted bytes silently.

    model.safetensors     inference weights (the EMA weights when EMA is on)
    training_state.pt     optimizer, scheduler, RNG, step, raw weights when EMA is on,
                          the data ledger; read with ``torch.load(weights_only=True)``
    config.json           format, registry name and constructor arguments of the model,
                          data layout (history, channels, conditioning, predict) and
                          normalisation, the recipe, provenance (dataset fingerprint and
                          spec, solver, pdesurr version), the step, and ``hashes``: the
                          SHA-256 of the two files above, checked on every load

The model is rebuilt from ``MODELS[kind](**args)``, so renaming a Python class never
breaks a checkpoint.

Saving is crash-safe: the new checkpoint is written into ``<path>.tmp`` (config.json
last, so a complete config means complete files), the current one is renamed to
``<path>.old``, ``.tmp`` to ``<path>``, then ``.old`` is removed. :func:`recover` finishes
whatever a crash interrupted: with no ``<path>``, a ``.tmp`` whose hashes check out is
the newest complete checkpoint, else ``.old`` is the previous one.

Formats: ``READERS`` maps a format name to a :class:`Reader` (how to recognise a
``config.json`` of that format, validate it, and build the inference stepper).
:func:`read_config` and :func:`load_surrogate` dispatch on the directory's format, so
another layout (e.g. Poseidon's Hugging Face ``config.json`` without a ``format`` key but
with ``model_type = "swinv2"``) joins as one entry, and ``info``/``evaluate`` need no
special case.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from pdesurr import __version__
from pdesurr.models import MODELS
from pdesurr.training.surrogate import Surrogate

FORMAT = "pdesurr.checkpoint"
HASHED = ("model.safetensors", "training_state.pt")  # files whose content config.json pins
HASH_BLOCK = 1 << 20  # bytes read at a time while hashing


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file and what is wrong."""


# --- integrity --------------------------------------------------------------------------
def file_hash(path: Path) -> str:
    """``"sha256:<hex>"`` of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(HASH_BLOCK):
            h.update(block)
    return f"sha256:{h.hexdigest()}"


def _recorded_hashes(path: Path) -> dict:
    try:
        return json.loads((path / "config.json").read_text()).get("hashes") or {}
    except (OSError, ValueError):
        return {}


def verify_file(path: str | Path, name: str) -> None:
    """Raise CheckpointError when ``path/name`` differs from the hash in config.json
    (checkpoints written before hashes were recorded have none to check)."""
    path = Path(path)
    expected = _recorded_hashes(path).get(name)
    if expected is None:
        return
    got = file_hash(path / name)
    if got != expected:
        raise CheckpointError(
            f"{path / name}: content hash {got[:19]}... differs from the {expected[:19]}... "
            "recorded in config.json: the file is corrupted or was modified; refusing to load it"
        )


def _complete(path: Path) -> bool:
    """A checkpoint directory whose config.json parses and whose files match its hashes."""
    hashes = _recorded_hashes(path)
    if not hashes:
        return False
    try:
        return all(file_hash(path / n) == h for n, h in hashes.items())
    except OSError:
        return False


def recover(path: str | Path) -> str | None:
    """Finish a save that a crash interrupted (see the module doc); returns what was
    done (``"tmp"``/``"old"`` promoted, ``"cleaned"``) or None when nothing was left."""
    path = Path(path)
    tmp, old = path.with_name(path.name + ".tmp"), path.with_name(path.name + ".old")
    if path.exists():  # the new checkpoint is in place: leftovers are stale
        done = None
        for stale in (tmp, old):
            if stale.exists():
                shutil.rmtree(stale)
                done = "cleaned"
        return done
    if tmp.exists() and _complete(tmp):
        tmp.rename(path)
        if old.exists():
            shutil.rmtree(old)
        return "tmp"
    if old.exists():
        old.rename(path)
        if tmp.exists():
            shutil.rmtree(tmp)
        return "old"
    return None


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def save_checkpoint(path: str | Path, weights: dict, config: dict, state: dict | None = None):
    """Write a checkpoint atomically; on failure (a full disk...) the previous checkpoint
    stays intact and the error names the file that could not be written."""
    path = Path(path)
    recover(path)
    tmp = path.with_name(path.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        tmp.mkdir(parents=True)
        save_file(
            {k: v.detach().contiguous().cpu() for k, v in weights.items()},
            tmp / "model.safetensors",
        )
        if state is not None:
            torch.save(state, tmp / "training_state.pt")
        hashes = {n: file_hash(tmp / n) for n in HASHED if (tmp / n).is_file()}
        config = {
            "format": FORMAT,
            "format_version": 1,
            "pdesurr_version": __version__,
            **config,
            "hashes": hashes,
        }
        (tmp / "config.json").write_text(json.dumps(config, indent=1, default=str))
        for name in (*hashes, "config.json"):
            _fsync(tmp / name)
    except (OSError, SafetensorError, RuntimeError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        previous = f"; the previous checkpoint {path} is intact" if path.exists() else ""
        full = getattr(e, "errno", None) == errno.ENOSPC or "No space left" in str(e)
        reason = "no space left on device" if full else getattr(e, "strerror", None) or str(e)
        raise OSError(
            errno.ENOSPC if full else getattr(e, "errno", None) or errno.EIO,
            f"{reason} while writing the checkpoint {tmp}{previous}",
            str(tmp),
        ) from None
    old = path.with_name(path.name + ".old")
    if path.exists():
        path.rename(old)
    tmp.rename(path)
    if old.exists():
        shutil.rmtree(old)
    return path


# --- loading ----------------------------------------------------------------------------
def build_model(config: dict) -> nn.Module:
    model = config["model"]
    try:
        return MODELS[model["kind"]](**model["args"])
    except TypeError as e:
        raise CheckpointError(
            f"checkpoint model arguments do not fit {model['kind']}: {e}"
        ) from None


def load_weights(path: str | Path, model: nn.Module, file: str = "model.safetensors") -> None:
    path = Path(path)
    try:
        weights = load_file(path / file)
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(
            f"{path / file}: unreadable weights (corrupted or truncated?): {e}"
        ) from None
    verify_file(path, file)
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
        raise CheckpointError(
            f"{path / file} does not match the model {type(model).__name__}: {detail}"
        )
    model.load_state_dict(weights)


def load_training_state(path: str | Path) -> dict:
    file = Path(path) / "training_state.pt"
    if not file.is_file():
        raise CheckpointError(f"{file}: missing (a weights-only checkpoint cannot resume training)")
    verify_file(path, "training_state.pt")
    try:
        return torch.load(file, weights_only=True, map_location="cpu")
    except Exception as e:  # torch raises UnpicklingError, RuntimeError, EOFError...
        raise CheckpointError(f"{file}: cannot be read safely (corrupted?): {e}") from None


# --- formats ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Reader:
    """One checkpoint format.

    ``claims(raw)``: does a ``config.json`` without a ``format`` key belong to this format
    (e.g. Hugging Face's ``model_type``)? ``config(path, raw)``: the validated config, in
    pdesurr's shape (``model``, ``data``, ...). ``surrogate(path, config)``: the inference
    stepper with its weights loaded (CPU)."""

    claims: Callable[[dict], bool]
    config: Callable[[Path, dict], dict]
    surrogate: Callable[[Path, dict], Surrogate]


def _pdesurr_config(path: Path, raw: dict) -> dict:
    kind = raw.get("model", {}).get("kind")
    if kind not in MODELS:
        raise CheckpointError(
            f"{path / 'config.json'}: unknown model {kind!r}; this pdesurr knows {sorted(MODELS)}"
        )
    return raw


def _pdesurr_surrogate(path: Path, config: dict) -> Surrogate:
    model = build_model(config)
    load_weights(path, model)
    data = config["data"]
    mean = torch.tensor(data["mean"]) if data.get("mean") is not None else None
    std = torch.tensor(data["std"]) if data.get("std") is not None else None
    return Surrogate(model, data["history"], data["channels"], mean, std, data["predict"])


READERS: dict[str, Reader] = {
    FORMAT: Reader(
        claims=lambda raw: False,  # always says its format
        config=_pdesurr_config,
        surrogate=_pdesurr_surrogate,
    ),
}


def checkpoint_format(path: Path, raw: dict) -> str:
    """The key of ``READERS`` that reads this ``config.json``; CheckpointError if none."""
    fmt = raw.get("format")
    if fmt in READERS:
        return fmt
    if fmt is None:
        for name, reader in READERS.items():
            if reader.claims(raw):
                return name
    raise CheckpointError(
        f"{path / 'config.json'}: not a checkpoint this pdesurr reads (format {fmt!r}; "
        f"known formats: {sorted(READERS)})"
    )


def read_config(path: str | Path) -> dict:
    """The validated config of the checkpoint directory ``path``, with its ``format``."""
    path = Path(path)
    file = path / "config.json"
    if not file.is_file():
        leftovers = [
            p.name for p in (path.with_name(path.name + s) for s in (".tmp", ".old")) if p.exists()
        ]
        hint = (
            f" ({', '.join(leftovers)} left by an interrupted save: `pdesurr train` recovers it)"
            if leftovers
            else ""
        )
        raise CheckpointError(f"{path}: not a checkpoint directory (no config.json){hint}")
    try:
        raw = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{file}: corrupt JSON ({e})") from None
    if not isinstance(raw, dict):
        raise CheckpointError(f"{file}: corrupt (not a JSON object)")
    fmt = checkpoint_format(path, raw)
    return {**READERS[fmt].config(path, raw), "format": fmt}


def load_surrogate(path: str | Path, device="cpu") -> tuple[Surrogate, dict]:
    """The inference stepper of a checkpoint (any format in ``READERS``) and its config."""
    path = Path(path)
    config = read_config(path)
    surrogate = READERS[config["format"]].surrogate(path, config)
    return surrogate.to(device).eval(), config
