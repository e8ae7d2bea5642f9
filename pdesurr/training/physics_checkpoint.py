"""Checkpoints of physics-informed runs, in the safe format of :mod:`.checkpoint`.

A directory like every pdesurr checkpoint (:func:`save_checkpoint`): ``model.safetensors``
holds every window's network (keys ``window<w>.<parameter>``), ``config.json`` has
``family = "physics"``, the network's registry name and the arguments of each window
(``args[w]``), the window edges, the resolved recipe, the reference (preset, ``[pde]``
overrides, store), the training history and the causal weights over training;
``training_state.pt`` (``weights_only=True``) the optimizer, scheduler and ``eps`` state
of an unfinished window and where to resume (``window``, ``step``).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from pdesurr.checkpoints.files import FORMAT, CheckpointError, load_training_state, save_checkpoint
from pdesurr.checkpoints.readers import PHYSICS, READERS, Reader
from pdesurr.physics import NETWORKS
from pdesurr.physics.lagrangian import LagrangianNetwork, speed_scale
from pdesurr.physics.reference import Reference, load_reference
from pdesurr.physics.solution import PINNSolution

FAMILY = "physics"


def network_args(recipe, ref: Reference, t0: float, t1: float) -> dict:
    """Constructor arguments of a window's network: the problem fixes coords and bounds."""
    opts = {k: v for k, v in recipe.network.items() if k not in ("kind", "periodic")}
    fields = ["u"]
    if recipe.network["periodic"]:
        periodic, bounds = {"x": ref.length}, {"t": [t0, t1]}
    else:
        periodic, bounds = {}, {"x": [ref.origin, ref.origin + ref.length], "t": [t0, t1]}
    return {"coords": ["x", "t"], "fields": fields, "periodic": periodic, "bounds": bounds, **opts}


def _build(kind: str, method: str, args: dict, scale: float):
    if method == "lagrangian":
        return LagrangianNetwork(NETWORKS[kind], args, scale)
    return NETWORKS[kind](**args)


def save_pinn(
    path, recipe, ref: Reference, edges, nets, history, causal_log, resume_at, opt_state, step: int
) -> Path:
    weights = {
        f"window{w}.{k}": v for w, net in enumerate(nets) for k, v in net.state_dict().items()
    }
    args = [network_args(recipe, ref, t0, t1) for t0, t1 in edges]
    last = {k: v for r in history for k, v in r.items()}
    config = {
        "family": FAMILY,
        "model": {"kind": recipe.network["kind"], "args": args},
        "method": recipe.physics["method"],
        "speed_scale": speed_scale(ref) if recipe.physics["method"] == "lagrangian" else 1.0,
        "edges": [list(e) for e in edges],
        "recipe": recipe.resolved(),
        "reference": {
            "preset": recipe.physics["reference"],
            "pde": recipe.pde,
            "store_dir": recipe.physics["store_dir"],
            "store": str(ref.store),
        },
        "step": step,
        "metrics": last,
        "history": history,
        "causal_log": causal_log,
    }
    state = {"window": resume_at[0], "step": resume_at[1], "rng": torch.get_rng_state()}
    if opt_state is not None:
        state.update(opt_state)
    return save_checkpoint(path, weights, config, state)


def is_pinn_checkpoint(path: str | Path) -> bool:
    file = Path(path) / "config.json"
    try:
        config = json.loads(file.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return config.get("format") == FORMAT and config.get("family") == FAMILY


def read_pinn_config(path: str | Path) -> dict:
    file = Path(path) / "config.json"
    if not is_pinn_checkpoint(path):
        raise CheckpointError(f"{file}: not a physics-informed pdesurr checkpoint")
    config = json.loads(file.read_text())
    if config["model"]["kind"] not in NETWORKS:
        raise CheckpointError(
            f"{file}: unknown network {config['model']['kind']!r}; "
            f"this pdesurr knows {sorted(NETWORKS)}"
        )
    return config


def _networks(path: Path, config: dict, device, dtype) -> list:
    file = path / "model.safetensors"
    try:
        weights = load_file(file)
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(
            f"{file}: unreadable weights (corrupted or truncated?): {e}"
        ) from None
    nets = []
    for w, args in enumerate(config["model"]["args"]):
        net = _build(config["model"]["kind"], config["method"], args, config["speed_scale"])
        prefix = f"window{w}."
        own = {k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)}
        try:
            net.load_state_dict(own)
        except RuntimeError as e:
            raise CheckpointError(f"{file}: window {w} does not fit its network: {e}") from None
        nets.append(net.to(device, dtype).eval())
    return nets


def load_pinn(path: str | Path, device="cpu", dtype=None) -> PINNSolution:
    """A trained PINN and its reference (re-simulated if its store has gone)."""
    path = Path(path)
    config = read_pinn_config(path)
    rec = config["recipe"]
    dtype = dtype or {"float32": torch.float32, "float64": torch.float64}[rec["physics"]["dtype"]]
    r = config["reference"]
    ref = load_reference(r["preset"], r["pde"], r["store_dir"])
    nets = _networks(path, config, device, dtype)
    return PINNSolution(
        rec,
        ref,
        nets,
        [tuple(e) for e in config["edges"]],
        config.get("history", []),
        config.get("causal_log", []),
    )


def load_state(path: Path, recipe, ref: Reference, device, dtype):
    """Resume: the saved networks and the training state; the recipe must match."""
    config = read_pinn_config(path)
    saved = json.loads(json.dumps(config["recipe"]))
    now = json.loads(json.dumps(recipe.resolved()))
    for key in ("physics", "pde", "network"):
        if saved[key] != now[key]:
            raise CheckpointError(
                f"{path} was trained with a different [{key}] "
                f"({saved[key]}); use another train.out or --restart"
            )
    nets = _networks(path, config, device, dtype)
    for net in nets:
        net.train()
    state = load_training_state(path)
    solution = PINNSolution(
        now,
        ref,
        nets,
        [tuple(e) for e in config["edges"]],
        config.get("history", []),
        config.get("causal_log", []),
    )
    return solution, state


# --- registration: the reader of this family (pdesurr.checkpoints.readers) ---------------
def describe(path) -> str:
    """``pdesurr info`` of a PINN checkpoint."""
    c = read_pinn_config(path)
    args = c["model"]["args"][0]
    shown = {k: args[k] for k in ("width", "depth", "periodic") if k in args}
    ref = c["reference"]
    err = c.get("metrics", {}).get("rel_l2")
    lines = [
        f"{path}: physics-informed checkpoint (pdesurr {c.get('pdesurr_version', '?')}), "
        f"{c['method']} PINN, step {c['step']}",
        f"  network: {c['model']['kind']} {shown}, {len(c['edges'])} time window(s) {c['edges']}",
        f"  reference: {ref['preset']} with [pde] overrides {ref['pde']} ({ref['store']})",
    ]
    if err is not None:
        lines.append(f"  last relative L2 on the reference grid: {err:.4g}")
    return "\n".join(lines)


READERS["pdesurr.physics"] = Reader(
    claims=lambda raw: raw.get("format") == FORMAT and raw.get("family") == FAMILY,
    config=lambda path, raw: read_pinn_config(path),
    describe=describe,
    family=PHYSICS,
)
