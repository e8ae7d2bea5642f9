"""What a training run is made of, one named step each: the datasets of the recipe's store,
the standardisation statistics, the provenance, the (untrained) model, and the checkpoint
config that records them. :func:`build` runs them in that order with the store opened once.

The model's ``in_channels`` (``history x C``), ``out_channels`` (``C``), ``ndim`` (the
store's spatial axes) and ``cond_dim`` (``len(conditioning)``, plus the lead time of
Poseidon pairs) come from the data; the rest are the recipe's ``[model]`` options.
"""

from __future__ import annotations

import json
import warnings
from typing import NamedTuple

import torch

from pdesurr import __version__
from pdesurr.checkpoints.surrogate import Surrogate
from pdesurr.data import channel_map
from pdesurr.data.pairs import PairDataset, pairs_of
from pdesurr.data.standardize import channel_statistics
from pdesurr.data.store import open_store
from pdesurr.data.windows import WindowDataset
from pdesurr.models import MODELS
from pdesurr.training.recipe import DataSection, Recipe


class Built(NamedTuple):
    train: WindowDataset | PairDataset
    valid: WindowDataset | PairDataset | None
    surrogate: Surrogate
    config: dict  # what the checkpoint's config.json holds (model, data, recipe, provenance)


def datasets(d: DataSection, horizon: int, store):
    """``(train, valid)`` windows (or Poseidon pairs) of the store; ``valid`` is None when
    the store has no ``valid_split``."""

    cond = tuple(d.conditioning)

    def windows(split, horizon):
        if d.pairs:  # Poseidon's (input, target, lead time) pairs; lead time = cond[:, 0]
            return PairDataset(d.store, split, conditioning=cond, store=store, **pairs_of(d))
        return WindowDataset(
            d.store, split, d.history, horizon, d.stride, conditioning=cond, store=store
        )

    train = windows(d.train_split, horizon)
    valid = windows(d.valid_split, 1) if d.valid_split in store.splits else None
    return train, valid


def statistics(d: DataSection, store, fields: list[dict]):
    """Per-channel ``(mean, std)`` float64 tensors of the training split, or ``(None, None)``
    without ``data.normalize``."""
    if not d.normalize:
        return None, None
    mean, std = channel_statistics(store, d.train_split, fields)
    return torch.tensor(mean), torch.tensor(std)


def provenance(d: DataSection, store) -> dict:
    return {
        "store": str(d.store),
        "fingerprint": store.attrs["fingerprint"],
        "dataset": json.loads(store.attrs["spec"]),
        "pdesurr_version": __version__,
    }


def model(recipe: Recipe, channels: int, ndim: int, generator: torch.Generator):
    """``(model, constructor args)``: initialised from ``generator`` (the run's seed), or
    loaded from a Poseidon checkpoint (``model.pretrained``)."""
    d = recipe.data
    options = {k: v for k, v in recipe.model.items() if k != "kind"}
    args = dict(
        in_channels=d.history * channels,
        out_channels=channels,
        ndim=ndim,
        cond_dim=len(d.conditioning) + (1 if d.pairs else 0),
        **options,
    )
    if "pretrained" in options:  # a Poseidon checkpoint: pdesurr.models.scot.finetune
        from pdesurr.models.scot.finetune import load_pretrained

        shape = (args["in_channels"], args["out_channels"], ndim, args["cond_dim"])
        return initialised(lambda: load_pretrained(options, *shape), generator)
    return initialised(lambda: MODELS[recipe.model["kind"]](**args), generator), args


def initialised(make, generator: torch.Generator):
    """``make()``, its default initialisation drawn from ``generator``: torch's initialisers
    read the global generator, so its state is swapped in for the call and put back after,
    leaving the caller's random state as it was."""
    saved = torch.get_rng_state()
    try:
        torch.set_rng_state(generator.get_state())
        return make()
    finally:
        torch.set_rng_state(saved)


def checkpoint_config(recipe: Recipe, train, args: dict, ndim: int, mean, std, origin,
                      cmap=None) -> dict:  # fmt: skip
    d = recipe.data
    pairs = None if not d.pairs else {**pairs_of(d), "time_scale": train.time_scale}
    return {
        "model": {"kind": recipe.model["kind"], "args": args},
        "data": {
            "history": d.history,
            "channels": train.channels if cmap is None else cmap.channels,
            "ndim": ndim,
            "conditioning": d.conditioning,
            "predict": d.predict,
            "stride": d.stride,
            "pairs": pairs,
            "channel_map": None if cmap is None else cmap.describe(),
            "mean": None if mean is None else mean.tolist(),
            "std": None if std is None else std.tolist(),
            "fields": train.fields,
        },
        "recipe": recipe.resolved(),
        "provenance": origin,
    }


def build(recipe: Recipe, device="cpu") -> Built:
    """Datasets, statistics, provenance and the (untrained) surrogate of a recipe."""
    d = recipe.data
    with open_store(d.store) as store:
        if not store.periodic:  # a Well / PDEBench file with walls or open sides
            warnings.warn(
                f"{d.store}: boundaries {store.spec.get('boundary_conditions')} are not all "
                "periodic; Fourier-based models (FNO) and the spectral metrics assume they are",
                stacklevel=2,
            )
        train, valid = datasets(d, recipe.horizon, store)
        mean, std = statistics(d, store, train.fields)
        origin = provenance(d, store)
        cmap = channel_map.for_store(d.channel_map, store, recipe.source)
    channels = train.channels
    if cmap is not None:  # the model sees the mapped channels, standardised as pretrained
        channels = cmap.channels
        if d.normalize:
            mean, std = torch.tensor(channel_map.MEAN), torch.tensor(channel_map.STD)
    generator = torch.Generator().manual_seed(recipe.train.seed)
    net, args = model(recipe, channels, train.ndim, generator)
    surrogate = Surrogate(
        net,
        d.history,
        channels,
        mean.float() if mean is not None else None,
        std.float() if std is not None else None,
        d.predict,
    ).to(device)
    config = checkpoint_config(recipe, train, args, train.ndim, mean, std, origin, cmap)
    return Built(train, valid, surrogate, config)
