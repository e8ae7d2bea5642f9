"""Poseidon checkpoints in the published (Hugging Face) layout, read and written.

    DIR/config.json          ScOTConfig fields under their published names, plus fields
                             the loader ignores (architectures, transformers_version,
                             torch_dtype, derived num_layers / hidden_size, ...)
    DIR/model.safetensors    F32 tensors, sorted keys, metadata {"format": "pt"}
      or model.safetensors.index.json + shards, or a legacy pytorch_model.bin (read only
      through ``torch.load(weights_only=True)``: no arbitrary object is ever unpickled)

Loading is strict: every key of the model must be present with its shape and no other key
may be; errors name the file and the keys. Loading with other channel counts (Poseidon's
fine-tuning on new variables) must be asked for with ``ignore_mismatched_sizes=True`` (the
reference's name); it then replaces exactly the tensors whose shapes change, among
``REPLACEABLE`` (all four when both counts change), freshly initialised, and logs them.
"""

from __future__ import annotations

import inspect
import json
import logging
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

log = logging.getLogger(__name__)

REPLACEABLE = (
    "embeddings.patch_embeddings.projection.weight",
    "patch_recovery.projection.weight",
    "patch_recovery.projection.bias",
    "patch_recovery.mixup.weight",
)
# the reference ScOTConfig's defaults, used for fields a config.json leaves out
SCOT_CONFIG_DEFAULTS = dict(
    image_size=224, patch_size=4, num_channels=3, num_out_channels=1, embed_dim=96,
    depths=[2, 2, 6, 2], num_heads=[3, 6, 12, 24], skip_connections=[1, 1, 1], window_size=7,
    mlp_ratio=4.0, qkv_bias=True, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    drop_path_rate=0.1, hidden_act="gelu", use_absolute_embeddings=False,
    initializer_range=0.02, layer_norm_eps=1e-5, p=1, channel_slice_list_normalized_loss=None,
    residual_model="convnext", use_conditioning=False, learn_residual=False,
)  # fmt: skip
# options that change no tensor shape and may be overridden when loading
OVERRIDABLE = {
    "hidden_dropout_prob", "attention_probs_dropout_prob", "drop_path_rate", "p",
    "channel_slice_list_normalized_loss", "learn_residual", "gradient_checkpointing",
}  # fmt: skip
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


def _error(msg: str) -> Exception:
    from pdesurr.checkpoints.files import CheckpointError  # above models/ in the layering

    return CheckpointError(msg)


def _names(keys, limit: int = 6) -> str:
    keys = sorted(keys)
    more = f" (+{len(keys) - limit} more)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def is_poseidon_config(config) -> bool:
    """A parsed config.json with ScOT's fields and no pdesurr ``format`` key."""
    return (
        isinstance(config, dict)
        and "format" not in config
        and {"embed_dim", "depths", "num_channels", "patch_size"} <= set(config)
    )


def read_poseidon_config(path: str | Path) -> dict:
    file = Path(path) / "config.json"
    if not file.is_file():
        raise _error(f"{path}: not a Poseidon checkpoint directory (no config.json)")
    try:
        config = json.loads(file.read_text())
    except json.JSONDecodeError as e:
        raise _error(f"{file}: corrupt JSON ({e})") from None
    if not isinstance(config, dict) or "embed_dim" not in config or "depths" not in config:
        raise _error(f"{file}: not a ScOT config (no embed_dim/depths)")
    return config


def read_weights(path: str | Path) -> tuple[dict[str, torch.Tensor], Path]:
    """The state dict stored in ``path`` and the file it came from."""
    path = Path(path)
    file = path / "model.safetensors"
    index = path / "model.safetensors.index.json"
    legacy = path / "pytorch_model.bin"
    if file.is_file():
        return _load_safetensors(file), file
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (ValueError, KeyError, AttributeError) as e:
            raise _error(f"{index}: not a safetensors index ({e})") from None
        weights = {}
        for shard in shards:
            weights.update(_load_safetensors(path / shard))
        return weights, index
    if legacy.is_file():
        try:
            weights = torch.load(legacy, map_location="cpu", weights_only=True)
        except Exception as e:  # weights_only refuses any pickled object but tensors
            raise _error(
                f"{legacy}: refused (only plain tensors are loaded, weights_only=True): "
                f"{str(e).splitlines()[0] if str(e) else type(e).__name__}"
            ) from None
        if not isinstance(weights, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in weights.items()
        ):
            raise _error(f"{legacy}: not a state dict of named tensors")
        return weights, legacy
    raise _error(f"{path}: no weights (looked for {', '.join(WEIGHT_FILES)})")


def _load_safetensors(file: Path) -> dict[str, torch.Tensor]:
    if not file.is_file():
        raise _error(f"{file}: missing shard")
    try:
        return load_file(file)
    except Exception as e:  # SafetensorError, or OSError/ValueError on foreign bytes
        raise _error(f"{file}: not a readable safetensors file ({e})") from None


def model_options(cls, config: dict) -> tuple[dict, list[str]]:
    """Constructor options of ``cls`` read from a config dict, and the fields defaulted."""
    names = [n for n, p in inspect.signature(cls).parameters.items() if p.kind is p.KEYWORD_ONLY]
    options, missing = {}, []
    for name in names:
        if name in config:
            options[name] = config[name]
        elif name in SCOT_CONFIG_DEFAULTS:
            options[name] = SCOT_CONFIG_DEFAULTS[name]
            missing.append(name)
    return options, missing


def from_pretrained(
    cls,
    directory: str | Path,
    in_channels: int | None = None,
    out_channels: int | None = None,
    *,
    ignore_mismatched_sizes: bool = False,
    **overrides,
):
    """Build a ScOT from a Poseidon-format directory (see the module docstring).

    ``in_channels`` / ``out_channels`` default to the checkpoint's; other counts need
    ``ignore_mismatched_sizes=True``. ``overrides`` may set the options in
    ``OVERRIDABLE`` (dropouts, loss settings, gradient checkpointing). Returns the model
    in eval mode, on the CPU, in float32.
    """
    directory = Path(directory)
    config = read_poseidon_config(directory)
    options, missing = model_options(cls, config)
    if missing:
        log.info("%s: config.json lacks %s; using ScOTConfig's defaults", directory, missing)
    bad = set(overrides) - OVERRIDABLE
    if bad:
        raise _error(f"{directory}: cannot override {sorted(bad)} (allowed: {sorted(OVERRIDABLE)})")
    options.update(overrides)
    ckpt_in, ckpt_out = options.pop("num_channels"), options.pop("num_out_channels")
    cin = ckpt_in if in_channels is None else in_channels
    cout = ckpt_out if out_channels is None else out_channels
    if (cin, cout) != (ckpt_in, ckpt_out) and not ignore_mismatched_sizes:
        raise _error(
            f"{directory}: the checkpoint maps {ckpt_in} -> {ckpt_out} channels, asked for "
            f"{cin} -> {cout}; pass ignore_mismatched_sizes=True (recipe: [model] "
            "replace_channels = true) to replace the embedding/recovery tensors"
        )
    cond_dim = 1 if options.get("use_conditioning", False) else 0
    try:
        model = cls(cin, cout, 2, cond_dim, **options)
    except (TypeError, ValueError) as e:
        raise _error(f"{directory / 'config.json'}: {e}") from None
    weights, file = read_weights(directory)
    load_checked(model, weights, file, (cin, cout) != (ckpt_in, ckpt_out))
    return model.eval()


def load_checked(model, weights: dict, file: Path, replace: bool) -> list[str]:
    """Strictly load ``weights`` into ``model``; with ``replace``, keep the model's own
    (fresh) values for the ``REPLACEABLE`` tensors whose shapes differ. Returns those keys."""
    own = model.state_dict()
    missing, unexpected = set(own) - set(weights), set(weights) - set(own)
    if missing or unexpected:
        parts = [f"missing keys: {_names(missing)}"] if missing else []
        parts += [f"unexpected keys: {_names(unexpected)}"] if unexpected else []
        raise _error(f"{file}: does not match the model's layout; " + "; ".join(parts))
    mismatched = {k for k in own if tuple(weights[k].shape) != tuple(own[k].shape)}
    replaced = sorted(mismatched & set(REPLACEABLE)) if replace else []
    wrong = mismatched - set(replaced)
    if wrong:
        shapes = ", ".join(
            f"{k} {tuple(weights[k].shape)} != {tuple(own[k].shape)}" for k in sorted(wrong)[:6]
        )
        raise _error(f"{file}: shape mismatch: {shapes}")
    bad = [
        k for k, v in weights.items() if not v.is_floating_point() and own[k].is_floating_point()
    ]
    if bad:
        raise _error(f"{file}: non-floating tensors for {_names(bad)}")
    state = {k: (own[k] if k in replaced else v) for k, v in weights.items()}
    model.load_state_dict(state, strict=True)
    if replaced:
        log.warning("%s: replaced (freshly initialised) %s", file, ", ".join(replaced))
    return replaced


def save_pretrained(model, directory: str | Path, extra: dict | None = None) -> Path:
    """Write ``model`` in the published layout (loadable by the reference code).

    ``extra`` (e.g. pdesurr's channel mapping and normalisation) is stored under the
    ``"pdesurr"`` key of config.json, which the reference's config class ignores.
    """
    from pdesurr import __version__

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    cfg = dict(model.config)
    config = {
        "architectures": ["ScOT"],
        "model_type": "swinv2",
        **cfg,
        "num_layers": len(cfg["depths"]),
        "hidden_size": int(cfg["embed_dim"] * 2 ** (len(cfg["depths"]) - 1)),
        "pretrained_window_sizes": [0] * len(cfg["depths"]),
        "torch_dtype": "float32",
        "pdesurr": {"version": __version__, **(extra or {})},
    }
    (directory / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    state = model.state_dict()
    tensors = {k: state[k].detach().to("cpu", torch.float32).contiguous() for k in sorted(state)}
    save_file(tensors, directory / "model.safetensors", metadata={"format": "pt"})
    return directory
