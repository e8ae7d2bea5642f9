"""Fine-tuning scOT from a Poseidon checkpoint inside pdesurr's trainer.

``[model] pretrained = "DIR"`` builds the model with :meth:`ScOT.from_pretrained` (other
channel counts need ``replace_channels = true``, which replaces the embedding/recovery
tensors); other keys of ``[model]`` may override the options that change no tensor shape
(dropouts, ``gradient_checkpointing``, ...).

Parameter groups of the published recipe (the reference ``scOT/trainer.py``), with
``lr`` for the body, ``lr_embedding`` for everything under ``embeddings`` and
``patch_recovery``, ``lr_time`` for the parameters of the conditioned norms:

    body, decayed         not in a norm, no "bias" in the name (*)   lr,           wd
    body, not decayed     the rest (biases, plain LayerNorms)        lr,           0
    embedding/recovery    (all of them, norms and biases included)   lr_embedding, wd
    conditioning norms    ConditionalLayerNorm parameters            lr_time,      0

(*) a test on the name, as in the reference: the position-bias MLP
(``continuous_position_bias_mlp``) is therefore not decayed either.

Poseidon-B was fine-tuned with lr 5e-5, lr_embedding = lr_time = 5e-4, wd 1e-6. Without
``lr_embedding`` the embedding/recovery parameters join the body groups; without
``lr_time`` the conditioned norms join the non-decayed body group.
"""

from __future__ import annotations

from torch import nn

from pdesurr.models.scot.norms import ConditionalLayerNorm, LayerNorm


def parameter_groups(
    model: nn.Module,
    lr: float,
    weight_decay: float,
    lr_embedding: float | None = None,
    lr_time: float | None = None,
) -> list[dict]:
    """AdamW parameter groups of the published fine-tuning recipe (see the module doc).

    Names are taken relative to ``model``; a wrapper (pdesurr's Surrogate) may be passed,
    its prefix does not change the grouping."""
    in_norm, time_norm = set(), set()
    for module in model.modules():
        if isinstance(module, (nn.LayerNorm, LayerNorm, ConditionalLayerNorm)):
            for p in module.parameters(recurse=False):
                in_norm.add(id(p))
            if isinstance(module, ConditionalLayerNorm):
                time_norm.update(id(p) for p in module.parameters())
                in_norm.update(id(p) for p in module.parameters())
    groups = {"decay": [], "no_decay": [], "embedding": [], "time": []}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if lr_embedding is not None and ("embeddings" in name or "patch_recovery" in name):
            groups["embedding"].append(p)
        elif id(p) not in in_norm and "bias" not in name:
            groups["decay"].append(p)
        elif lr_time is not None and id(p) in time_norm:
            groups["time"].append(p)
        else:
            groups["no_decay"].append(p)
    out = [
        {"params": groups["decay"], "lr": lr, "weight_decay": weight_decay},
        {"params": groups["no_decay"], "lr": lr, "weight_decay": 0.0},
    ]
    if lr_embedding is not None:
        out.append(
            {"params": groups["embedding"], "lr": lr_embedding, "weight_decay": weight_decay}
        )
    if lr_time is not None:
        out.append({"params": groups["time"], "lr": lr_time, "weight_decay": 0.0})
    return [g for g in out if g["params"]]


def load_pretrained(options: dict, in_channels: int, out_channels: int, ndim: int, cond_dim: int):
    """``(model, args)`` for ``[model] pretrained = DIR`` (``args`` rebuild the model with
    ``MODELS["scot"](**args)``, as pdesurr checkpoints store it)."""
    from pdesurr.checkpoints.files import CheckpointError
    from pdesurr.models.scot.model import ScOT

    options = dict(options)
    directory = options.pop("pretrained")
    replace = bool(options.pop("replace_channels", False))
    if ndim != 2:
        raise CheckpointError(f"{directory}: scOT checkpoints are 2D; the data are {ndim}D")
    model = ScOT.from_pretrained(
        directory, in_channels, out_channels, ignore_mismatched_sizes=replace, **options
    )
    if model.cond_dim != cond_dim:
        raise CheckpointError(
            f"{directory}: the checkpoint takes {model.cond_dim} conditioning scalar(s), the "
            f"recipe supplies {cond_dim} (a time-conditioned checkpoint needs [data] pairs = "
            "'all2all' or 'next', whose lead time is the conditioning)"
        )
    cfg = {k: v for k, v in model.config.items() if k not in ("num_channels", "num_out_channels")}
    args = dict(in_channels=in_channels, out_channels=out_channels, ndim=2, cond_dim=cond_dim)
    args.update(cfg, gradient_checkpointing=model.gradient_checkpointing)
    return model.train(), args
