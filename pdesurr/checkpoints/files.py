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

Which formats a directory may hold and how each is read: :mod:`.readers`.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from pdesurr import __version__

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
