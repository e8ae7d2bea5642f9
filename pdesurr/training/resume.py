"""What a resumed run may change: the recipe saved in the checkpoint against today's.

Resuming continues the optimiser's trajectory, so it is only honest when the run would
have been the same had it never stopped. :func:`check_resume` lists every difference
between the checkpoint's resolved recipe (``config.json``'s ``recipe``) and the new one,
as ``section.key: old -> new``, and refuses (CheckpointError, naming them) unless every
difference is in :data:`SAFE`: the length of the run (``optim.steps``: the schedule is a
function of the step, so more steps extend it), where and how often it logs, validates and
checkpoints, the device, and the path of a store with the same content (the dataset
fingerprint is compared, not the path). Anything else (learning rate, objective, batch
size, what the model predicts, the model, the seed, the data) asks for ``--restart``.
"""

from __future__ import annotations

import json

from pdesurr.checkpoints.files import CheckpointError

SAFE = frozenset(
    {
        "optim.steps",
        "train.device",
        "train.out",
        "train.eval_every",
        "train.eval_windows",
        "train.log_every",
        "train.checkpoint_every",
        "data.store",
        "data.spec",
        "online.device",
        "online.producer_timeout",
        "online.shared_memory",
    }
)


def _flatten(value, prefix: str = "") -> dict:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def schema_defaults(*schemas: dict) -> dict:
    """``{"section.key": default}`` of recipe schemas: ``{section: Section class}`` or
    ``{section: {key: (type, default)}}`` (required keys, default ``...``, have none)."""
    out = {}
    for schema in schemas:
        for section, keys in schema.items():
            if isinstance(keys, dict):
                keys = {k: d for k, (_, d) in keys.items() if d is not ...}
            else:
                keys = keys.defaults()
            for key, default in keys.items():
                out[f"{section}.{key}"] = json.loads(json.dumps(default, default=str))
    return out


def recipe_changes(
    saved: dict, now: dict, defaults: dict | None = None
) -> list[tuple[str, object, object]]:
    """``(section.key, saved value, new value)`` for every key that differs. A key that one
    recipe lacks counts as its schema default (``defaults``): a key added to the schema
    after the checkpoint was written changes nothing when the new run keeps its default."""
    a = _flatten(json.loads(json.dumps(saved, default=str)))
    b = _flatten(json.loads(json.dumps(now, default=str)))
    missing = object()
    defaults = defaults or {}

    def value(side: dict, key: str):
        return side.get(key, defaults.get(key, missing))

    return [
        (k, value(a, k), value(b, k))
        for k in sorted(a.keys() | b.keys())
        if value(a, k) != value(b, k)
    ]


def _show(value) -> str:
    return "(unset)" if type(value) is object else json.dumps(value)


def check_resume(ckpt_dir, saved: dict, config: dict, defaults: dict | None = None) -> list[str]:
    """Raise CheckpointError when resuming ``saved`` (a checkpoint's config) with the new
    run's ``config`` would silently change the run; returns the safe changes accepted,
    described, so that the caller can say what changed. ``defaults``: see
    :func:`recipe_changes`."""
    changes = recipe_changes(saved.get("recipe", {}), config["recipe"], defaults)
    theirs = saved.get("provenance", {}).get("fingerprint")
    ours = config.get("provenance", {}).get("fingerprint")
    unsafe = [c for c in changes if c[0] not in SAFE]
    if theirs is not None and theirs != ours:
        unsafe.append(("data (dataset fingerprint)", theirs, ours))
    described = [f"{k}: {_show(old)} -> {_show(new)}" for k, old, new in unsafe]
    if described:
        raise CheckpointError(
            f"{ckpt_dir} was trained with a different recipe ({'; '.join(described)}); "
            "resuming would silently change the run: pass --restart to train from scratch, "
            "or choose another train.out"
        )
    return [f"{k}: {_show(old)} -> {_show(new)}" for k, old, new in changes]
