"""The ``pdesurr info`` text of a grid-surrogate checkpoint: model, data layout,
provenance, last metrics, whether it can resume."""

from __future__ import annotations

from pathlib import Path

from torch import nn


def describe_surrogate(path: Path, surrogate: nn.Module, config: dict) -> str:
    """A human summary of a loaded checkpoint (``surrogate`` with its ``config``)."""
    n_params = sum(p.numel() for p in surrogate.model.parameters())
    data, prov = config["data"], config.get("provenance", {})
    dataset = prov.get("dataset", {}).get("name", "?")
    lines = [
        f"{path}: checkpoint (pdesurr {config.get('pdesurr_version', '?')}), "
        f"step {config.get('step')}",
        f"  model:       {config['model']['kind']} ({n_params:,} parameters)",
        "  arguments:   " + ", ".join(f"{k}={v}" for k, v in config["model"]["args"].items()),
        f"  data:        history {data['history']}, channels {data['channels']}, "
        f"{data['ndim']}D, conditioning {data['conditioning']}, predicts the {data['predict']}",
    ]
    cmap = data.get("channel_map")
    if cmap:  # the store's fields reach the model through a map (pdesurr.data.channel_map)
        masked = f", masked {cmap['masked']}" if cmap.get("masked") else ""
        lines.append(f"  channel map: {cmap['name']} (store fields -> model channels{masked})")
    lines += [
        f"  trained on:  dataset {dataset!r} ({prov.get('store')}, "
        f"fingerprint {prov.get('fingerprint')})",
        f"  objective:   {config['recipe']['objective']}",
    ]
    metrics = config.get("metrics", {})
    if metrics:
        lines.append(
            "  metrics:     "
            + ", ".join(
                f"{k} {v:.4g}" for k, v in metrics.items() if k != "step" and isinstance(v, float)
            )
        )
    training_state = (path / "training_state.pt").is_file()
    lines.append(f"  resumable:   {'yes' if training_state else 'no (weights only)'}")
    return "\n".join(lines)
