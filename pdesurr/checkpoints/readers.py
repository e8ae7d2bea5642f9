"""Checkpoint formats: a :class:`Reader` per format, chosen by the directory's config.json.

``READERS`` maps a format name to its reader:

* ``"pdesurr.checkpoint"``: pdesurr's own layout (:mod:`.files`), a grid surrogate;
* ``"poseidon"``: Poseidon's published Hugging Face layout (``config.json`` with ScOT's
  fields and no ``format`` key, ``model.safetensors``; :mod:`pdesurr.models.scot.pretrained`),
  read as a one-frame, unnormalised grid surrogate unless its ``"pdesurr"`` entry says more;
* ``"pdesurr.physics"``: physics-informed runs, registered by
  :mod:`pdesurr.training.physics_checkpoint` (family ``"physics"``: scored on their own
  reference, not rolled out on a store).

:func:`read_config`, :func:`load_surrogate` and :func:`describe` dispatch on the format,
so ``info``, ``evaluate`` and ``train`` need no special case, and a new layout joins as one
entry.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from pdesurr.checkpoints.describe import describe_surrogate
from pdesurr.checkpoints.files import FORMAT, CheckpointError, load_weights
from pdesurr.checkpoints.surrogate import Surrogate
from pdesurr.models import MODELS
from pdesurr.models.scot import pretrained as poseidon

GRID, PHYSICS = "grid", "physics"  # what a checkpoint family is evaluated on


@dataclass(frozen=True)
class Reader:
    """One checkpoint format.

    ``claims(raw)``: does this parsed ``config.json`` belong to this format although its
    ``format`` key does not name it (e.g. Hugging Face's ``model_type``)? ``config(path,
    raw)``: the validated config, in pdesurr's shape (``model``, ``data``, ...).
    ``surrogate(path, config)``: the inference stepper with its weights loaded (CPU), for
    the ``grid`` family. ``describe(path)``: the ``pdesurr info`` text (default: the
    surrogate's summary). ``family``: ``"grid"`` (rolled out on a store) or ``"physics"``."""

    claims: Callable[[dict], bool]
    config: Callable[[Path, dict], dict]
    surrogate: Callable[[Path, dict], Surrogate] | None = None
    describe: Callable[[Path], str] | None = None
    family: str = GRID


def build_model(config: dict) -> nn.Module:
    model = config["model"]
    try:
        return MODELS[model["kind"]](**model["args"])
    except TypeError as e:
        raise CheckpointError(
            f"checkpoint model arguments do not fit {model['kind']}: {e}"
        ) from None


# --- pdesurr's own format ---------------------------------------------------------------
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


# --- Poseidon's published layout --------------------------------------------------------
def _poseidon_config(path: Path, raw: dict) -> dict:
    """pdesurr's shape of a Poseidon config: one input frame, the state predicted, the
    normalisation and conditioning names of its ``"pdesurr"`` entry when it has one."""
    from pdesurr.models.scot.model import ScOT

    options, _ = poseidon.model_options(ScOT, raw)
    cin, cout = options.pop("num_channels"), options.pop("num_out_channels")
    cond_dim = 1 if options.get("use_conditioning") else 0
    extra = raw.get("pdesurr") if isinstance(raw.get("pdesurr"), dict) else {}
    args = dict(in_channels=cin, out_channels=cout, ndim=2, cond_dim=cond_dim, **options)
    data = {
        "history": 1,
        "channels": cout,
        "ndim": 2,
        "stride": 1,
        "predict": "state",
        "conditioning": list(extra.get("conditioning", [])),
        "mean": extra.get("mean"),
        "std": extra.get("std"),
    }
    return {**raw, "model": {"kind": "scot", "args": args}, "data": data}


def _poseidon_surrogate(path: Path, config: dict) -> Surrogate:
    from pdesurr.models.scot.model import ScOT

    model = ScOT.from_pretrained(path)
    data = config["data"]
    mean = torch.tensor(data["mean"]) if data["mean"] is not None else None
    std = torch.tensor(data["std"]) if data["std"] is not None else None
    return Surrogate(model, 1, data["channels"], mean, std, "state")


def _poseidon_describe(path: Path) -> str:
    from pdesurr.models.scot.describe import describe_poseidon

    return describe_poseidon(path)


READERS: dict[str, Reader] = {
    FORMAT: Reader(
        claims=lambda raw: False,  # always says its format
        config=_pdesurr_config,
        surrogate=_pdesurr_surrogate,
    ),
    "poseidon": Reader(
        claims=poseidon.is_poseidon_config,
        config=_poseidon_config,
        surrogate=_poseidon_surrogate,
        describe=_poseidon_describe,
    ),
}


# --- dispatch ---------------------------------------------------------------------------
def checkpoint_format(path: Path, raw: dict) -> str:
    """The key of ``READERS`` that reads this ``config.json``; CheckpointError if none.

    A reader that claims the config wins (a family sharing pdesurr's ``format`` key, a
    foreign layout without one); otherwise the ``format`` key names the reader."""
    for name, reader in READERS.items():
        if reader.claims(raw):
            return name
    fmt = raw.get("format")
    if fmt in READERS:
        return fmt
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


def reader_of(path: str | Path) -> Reader:
    """The reader of the checkpoint directory ``path`` (its config validated)."""
    return READERS[read_config(path)["format"]]


def load_surrogate(path: str | Path, device="cpu") -> tuple[Surrogate, dict]:
    """The inference stepper of a grid checkpoint (any format in ``READERS``) and its config."""
    path = Path(path)
    config = read_config(path)
    reader = READERS[config["format"]]
    if reader.surrogate is None:
        raise CheckpointError(
            f"{path}: a {reader.family} checkpoint ({config['format']}), not a grid surrogate"
        )
    surrogate = reader.surrogate(path, config)
    return surrogate.to(device).eval(), config


def describe(path: str | Path) -> str:
    """The ``pdesurr info`` text of a checkpoint directory of any format."""
    path = Path(path)
    reader = reader_of(path)
    if reader.describe is not None:
        return reader.describe(path)
    surrogate, config = load_surrogate(path)  # weights checked against their hashes
    return describe_surrogate(path, surrogate, config)
