"""A human summary of a Poseidon-format checkpoint directory, for ``pdesurr info DIR``."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import torch

from pdesurr.models.scot.pretrained import model_options, read_poseidon_config, read_weights

# parameter counts of the released checkpoints (4 -> 4 channels)
PUBLISHED = {20_774_444: "Poseidon-T", 157_729_988: "Poseidon-B", 628_575_524: "Poseidon-L"}


def _stored_counts(path: Path) -> tuple[int, str, set[str]]:
    """Number of stored values, the weight file's description, and its dtypes, read from
    the safetensors header when there is one (no tensor is loaded)."""
    file = path / "model.safetensors"
    if file.is_file():
        raw = file.open("rb")
        with raw:
            (n,) = struct.unpack("<Q", raw.read(8))
            header = json.loads(raw.read(n))
        header.pop("__metadata__", None)
        count = sum(math.prod(v["shape"]) for v in header.values())
        dtypes = {v["dtype"] for v in header.values()}
        return count, f"{file.name} ({file.stat().st_size / 1e6:.1f} MB)", dtypes
    weights, file = read_weights(path)
    dtypes = {str(v.dtype).removeprefix("torch.") for v in weights.values()}
    return sum(v.numel() for v in weights.values()), file.name, dtypes


def describe_poseidon(path: str | Path) -> str:
    from pdesurr.models.scot.model import ScOT

    path = Path(path)
    config = read_poseidon_config(path)
    options, missing = model_options(ScOT, config)
    cin, cout = options.pop("num_channels"), options.pop("num_out_channels")
    cond = bool(options.get("use_conditioning"))
    with torch.device("meta"):
        model = ScOT(cin, cout, 2, 1 if cond else 0, **options)
    n_params = sum(p.numel() for p in model.parameters())
    stored, weights, dtypes = _stored_counts(path)
    name = PUBLISHED.get(n_params, "custom size") if (cin, cout) == (4, 4) else "custom size"
    grid = options["image_size"] // options["patch_size"]
    lines = [
        f"{path}: Poseidon (scOT) checkpoint, {name} ({n_params:,} parameters)",
        f"  channels:     {cin} in -> {cout} out"
        + ("  (published: rho, u, v, p)" if (cin, cout) == (4, 4) else ""),
        f"  image size:   {options['image_size']}x{options['image_size']}, patches "
        f"{options['patch_size']} -> {grid}x{grid} tokens, window {options['window_size']}",
        f"  layout:       embed_dim {options['embed_dim']}, depths {options['depths']}, "
        f"heads {options['num_heads']}, skips {options['skip_connections']}",
        f"  conditioning: {'lead time (time-conditioned LayerNorm)' if cond else 'none'}"
        f"{', learn_residual' if options.get('learn_residual') and cond else ''}",
        f"  weights:      {weights}, {stored:,} values, {'/'.join(sorted(dtypes))}"
        + ("" if stored == n_params else f"  WARNING: the model needs {n_params:,}"),
    ]
    extra = config.get("pdesurr")
    if isinstance(extra, dict):
        lines.append("  pdesurr:      " + ", ".join(f"{k}={v}" for k, v in extra.items()))
    if config.get("transformers_version"):
        lines.append(f"  written by:   transformers {config['transformers_version']}")
    if missing:
        lines.append(f"  defaulted:    {missing} (not in config.json)")
    return "\n".join(lines)
