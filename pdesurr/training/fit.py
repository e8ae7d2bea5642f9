"""The offline training loop, flat and readable top to bottom (nanoGPT style).

One iteration: batch of step ``s`` from the stateless sampler -> standardised frames ->
objective (pushforward by default) -> backward -> gradient clipping -> AdamW step ->
warm-up + cosine learning rate -> EMA update. Every ``eval_every`` steps the one-step
validation loss; every ``checkpoint_every`` steps (and at the end) a checkpoint. Under
``torch.distributed`` the objective runs inside DDP, each rank taking its share of the
global batch. Resuming from ``out/checkpoint`` restores weights, optimizer, scheduler,
EMA and step; the sampler and the pushforward draws are functions of the step, so a
resumed run computes the same losses as an uninterrupted one.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from pdesurr import __version__
from pdesurr.checkpoints.files import (
    CheckpointError,
    load_training_state,
    recover,
    save_checkpoint,
)
from pdesurr.checkpoints.readers import read_config
from pdesurr.checkpoints.surrogate import Surrogate
from pdesurr.data import channel_map
from pdesurr.data.pairs import PairDataset, pairs_of
from pdesurr.data.prefetch import PrefetchedBatches
from pdesurr.data.store import open_store
from pdesurr.data.windows import WindowDataset
from pdesurr.models import MODELS
from pdesurr.training import objectives
from pdesurr.training.distributed import DistContext
from pdesurr.training.metrics_log import MetricsLog
from pdesurr.training.progress import Progress
from pdesurr.training.recipe import SCHEMA as RECIPE_SCHEMA
from pdesurr.training.recipe import Recipe
from pdesurr.training.resume import check_resume, schema_defaults
from pdesurr.training.sampler import StepSampler

SINGLE = DistContext()
IN_MEMORY_LIMIT = 4 << 30  # bytes: smaller training splits are read once into memory
PREFETCH_PROCESSES = 1  # reader processes for larger splits (0: reader threads)
# a recipe key a checkpoint predates counts as its default when a run resumes
RESUME_DEFAULTS = schema_defaults(RECIPE_SCHEMA)


class Objective(nn.Module):
    """The loss as a module, so DDP sees one forward per step."""

    def __init__(self, surrogate: Surrogate, recipe: Recipe, channel_map=None):
        super().__init__()
        self.surrogate = surrogate
        self.kind, self.options = recipe.objective["kind"], recipe.objective
        self.history, self.seed = recipe.data["history"], recipe.train["seed"]
        self.channel_map = channel_map  # store fields -> model channels (data.channel_map)
        if channel_map is not None:
            self.options = mapped_objective(recipe.objective, channel_map)

    def forward(self, frames, cond, step: int):
        s = self.surrogate
        if self.channel_map is not None:
            frames = self.channel_map(frames)
        shape = (1, 1, -1) + (1,) * (frames.ndim - 3)
        frames = (frames - s.mean.reshape(shape)) / s.std.reshape(shape)
        return objectives.loss(
            self.kind, s, frames, cond, self.history, self.options, step, self.seed
        )


class OfflineBatches:
    """Batches of a store's windows: the stateless sampler makes step ``s`` reproducible."""

    kind = "offline"

    def __init__(self, source, batch_size: int, seed: int, ctx: DistContext):
        self.source = source
        self.sampler = StepSampler(len(source), batch_size, seed, ctx.rank, ctx.world)
        self.seed = seed

    def next(self, step: int):
        return self.source.batch(self.sampler.batch(step))

    def metrics(self) -> dict:
        return {}

    def state_dict(self) -> dict:
        return {"kind": "offline", "sampler_seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        pass


class NonFiniteLoss(RuntimeError):
    """Training produced a non-finite loss, gradient or weight; the message names the step
    and the last good checkpoint (never overwritten by the bad state)."""


@dataclass
class FitResult:
    step: int
    history: list = field(default_factory=list)
    checkpoint: Path | None = None
    notes: list = field(default_factory=list)  # what the caller should tell the user
    nothing_to_do: bool = False
    exit_code: int = 0  # non-zero: the job must end with it (online MPI: a dead producer)


def mapped_objective(options: dict, channel_map) -> dict:
    """Objective options on mapped channels: the map's masked channels (Poseidon's
    ``pixel_mask``) and Poseidon's channel groups rho | u, v | p unless the recipe sets them."""
    return {
        **options,
        "masked_channels": options["masked_channels"] or list(channel_map.masked),
        "channel_slices": options["channel_slices"] or [0, 1, 3, 4],
    }


def lr_factor(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to ``min_ratio``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def build(recipe: Recipe, device="cpu"):
    """Datasets, statistics and the (untrained) surrogate of a recipe."""
    d = recipe.data
    kwargs = dict(history=d["history"], stride=d["stride"], conditioning=tuple(d["conditioning"]))

    def windows(split, horizon):
        if d["pairs"]:  # Poseidon's (input, target, lead time) pairs; lead time = cond[:, 0]
            cond = kwargs["conditioning"]
            return PairDataset(d["store"], split, conditioning=cond, **pairs_of(d))
        return WindowDataset(d["store"], split, horizon=horizon, **kwargs)

    train = windows(d["train_split"], recipe.horizon)
    store = open_store(d["store"])
    if not getattr(store, "periodic", True):  # a Well / PDEBench file with walls or open sides
        warnings.warn(
            f"{d['store']}: boundaries {store.spec.get('boundary_conditions')} are not all "
            "periodic; Fourier-based models (FNO) and the spectral metrics assume they are",
            stacklevel=2,
        )
    valid = None
    if d["valid_split"] in store.splits:
        valid = windows(d["valid_split"], 1)
    channels = train.channels
    mean = std = None
    if d["normalize"]:
        stats = store.statistics(d["train_split"])
        mean = torch.tensor(np.concatenate([stats[f["name"]]["mean"] for f in train.fields]))
        std = torch.tensor(np.concatenate([stats[f["name"]]["std"] for f in train.fields]))
        std = torch.where(std > 0, std, torch.ones_like(std))
    provenance = {
        "store": str(d["store"]),
        "fingerprint": store.attrs["fingerprint"],
        "dataset": json.loads(store.attrs["spec"]),
        "pdesurr_version": __version__,
    }
    cmap = channel_map.for_store(d["channel_map"], store, recipe.source)
    if hasattr(store, "close"):
        store.close()
    if cmap is not None:  # the model sees the mapped channels, standardised as pretrained
        channels = cmap.channels
        if d["normalize"]:
            mean, std = torch.tensor(channel_map.MEAN), torch.tensor(channel_map.STD)
    ndim = train.spatial_ndim(train._handle())
    options = {k: v for k, v in recipe.model.items() if k != "kind"}
    args = dict(
        in_channels=d["history"] * channels,
        out_channels=channels,
        ndim=ndim,
        cond_dim=len(d["conditioning"]) + (1 if d["pairs"] else 0),
        **options,
    )
    torch.manual_seed(recipe.train["seed"])
    if "pretrained" in options:  # a Poseidon checkpoint: pdesurr.models.scot.finetune
        from pdesurr.models.scot.finetune import load_pretrained

        model, args = load_pretrained(
            options, args["in_channels"], args["out_channels"], ndim, args["cond_dim"]
        )
    else:
        model = MODELS[recipe.model["kind"]](**args)
    surrogate = Surrogate(
        model,
        d["history"],
        channels,
        mean.float() if mean is not None else None,
        std.float() if std is not None else None,
        d["predict"],
    ).to(device)
    config = {
        "model": {"kind": recipe.model["kind"], "args": args},
        "data": {
            "history": d["history"],
            "channels": channels,
            "ndim": ndim,
            "conditioning": d["conditioning"],
            "predict": d["predict"],
            "stride": d["stride"],
            "pairs": None if not d["pairs"] else {**pairs_of(d), "time_scale": train.time_scale},
            "channel_map": None if cmap is None else cmap.describe(),
            "mean": None if mean is None else mean.tolist(),
            "std": None if std is None else std.tolist(),
            "fields": train.fields,
        },
        "recipe": recipe.resolved(),
        "provenance": provenance,
    }
    return train, valid, surrogate, config


@torch.no_grad()
def validate(surrogate: Surrogate, valid: WindowDataset, n: int, device, cmap=None) -> dict:
    """One-step loss (standardised MSE) and relative L2 (physical) on up to ``n`` windows.

    With a channel map ``cmap`` the loss is on the mapped channels less the masked ones,
    the relative L2 on the store's field (the prediction mapped back)."""
    surrogate.eval()
    idx = np.linspace(0, len(valid) - 1, min(n, len(valid))).round().astype(int)
    mse = rel = 0.0
    for chunk in np.array_split(idx, max(1, len(idx) // 64)):
        frames, cond = valid.batch(chunk)
        frames, cond = frames.to(device), cond.to(device)
        raw = frames[:, surrogate.history]
        frames = frames if cmap is None else cmap(frames)
        window, target = frames[:, : surrogate.history], frames[:, surrogate.history]
        pred = surrogate(window, cond if cond.shape[1] else None)
        shape = (1, -1) + (1,) * (target.ndim - 2)
        z = (pred - target) / surrogate.std.reshape(shape)
        if cmap is not None:
            keep = [c for c in range(z.shape[1]) if c not in cmap.masked]
            z, pred, target = z[:, keep], cmap.inverse(pred), raw
        mse += float((z**2).mean()) * len(chunk)
        num = (pred - target).flatten(1).norm(dim=1)
        rel += float((num / target.flatten(1).norm(dim=1).clamp_min(1e-12)).sum())
    surrogate.train()
    return {"valid_loss": mse / len(idx), "valid_rel_l2": rel / len(idx)}


def fit(
    recipe: Recipe,
    ctx: DistContext = SINGLE,
    progress: bool | str | None = True,
    stop_after: int | None = None,
    resume: bool = True,
    batches=None,
) -> FitResult:
    """Train ``recipe``; ``stop_after`` ends early (as a job's wall-time would).
    ``progress``: ``"bar"`` (or True), ``"lines"`` (one plain line per log interval, for a
    log file) or None (see :mod:`pdesurr.training.progress`).

    ``batches`` supplies the training data (``next(step) -> (frames, cond)`` or None when
    the stream is exhausted, ``state_dict``, ``load_state_dict``, ``metrics``): by default
    the store's windows (:class:`OfflineBatches`); the online trainer passes its buffer.
    """
    t, opt_cfg = recipe.train, recipe.optim
    device = torch.device(t["device"])
    out = Path(t["out"])
    ckpt_dir = out / "checkpoint"
    train, valid, surrogate, config = build(recipe, device)
    read_ahead = False
    if batches is None:
        source = train.to_memory() if train.nbytes() <= IN_MEMORY_LIMIT else train
        batches = OfflineBatches(source, opt_cfg["batch_size"], t["seed"], ctx)
        read_ahead = source is train  # per-batch reads from the store: prefetched below

    params = surrogate.parameters()
    if opt_cfg["lr_embedding"] is not None or opt_cfg["lr_time"] is not None:
        from pdesurr.models.scot.finetune import parameter_groups

        params = parameter_groups(
            surrogate, opt_cfg["lr"], opt_cfg["weight_decay"], opt_cfg["lr_embedding"],
            opt_cfg["lr_time"])  # fmt: skip
    optimizer = torch.optim.AdamW(params, lr=opt_cfg["lr"], weight_decay=opt_cfg["weight_decay"])
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: lr_factor(s, opt_cfg["warmup"], opt_cfg["steps"], opt_cfg["min_lr_ratio"]),
    )
    ema = None
    if opt_cfg["ema"] > 0:
        ema = AveragedModel(surrogate, multi_avg_fn=get_ema_multi_avg_fn(opt_cfg["ema"]))
    start = 0
    if resume and ctx.is_main:
        recover(ckpt_dir)  # a crash between the renames of a save left .tmp / .old
    if ctx.active:
        torch.distributed.barrier()
    notes = []
    if resume and ckpt_dir.exists():
        saved = read_config(ckpt_dir)
        if saved["model"] != json.loads(json.dumps(config["model"])):
            raise CheckpointError(
                f"{ckpt_dir} holds a different model ({saved['model']['kind']}, "
                f"{saved['model']['args']}); use another train.out or --restart"
            )
        notes = check_resume(ckpt_dir, saved, config, RESUME_DEFAULTS)
        state = load_training_state(ckpt_dir)
        try:
            surrogate.load_state_dict(state["surrogate"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            if ema is not None:
                ema.load_state_dict(state["ema"])
        except (RuntimeError, ValueError, KeyError) as e:
            raise CheckpointError(
                f"{ckpt_dir}/training_state.pt does not fit this run: {str(e).splitlines()[0]}"
            ) from None
        torch.set_rng_state(state["rng"])
        batches.load_state_dict(state["ledger"])
        start = int(state["step"])
    end = opt_cfg["steps"] if stop_after is None else min(opt_cfg["steps"], stop_after)
    if start >= end:  # never relabel a checkpoint backwards: leave it untouched
        return FitResult(
            step=start,
            checkpoint=ckpt_dir,
            notes=[*notes, f"checkpoint already at step {start} \u2265 {end}: nothing to do"],
            nothing_to_do=True,
        )
    cmap = channel_map.from_config(config["data"]["channel_map"])
    objective = Objective(surrogate, recipe, cmap)
    runner = DistributedDataParallel(objective) if ctx.active else objective
    amp = opt_cfg["amp"] and device.type == "cuda"

    if ctx.is_main:
        out.mkdir(parents=True, exist_ok=True)
    log_file = MetricsLog(out) if ctx.is_main else None
    bar = Progress(progress if ctx.is_main else None, opt_cfg["steps"], start)
    history = []
    t_last, samples = time.perf_counter(), 0

    def checkpoint(step, data_state):
        weights = (ema.module if ema is not None else surrogate).model.state_dict()
        bad = [k for k, v in weights.items() if v.is_floating_point() and not v.isfinite().all()]
        if bad:
            stop(step, f"non-finite weights ({bad[:3]})")
        state = {
            "surrogate": surrogate.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": torch.get_rng_state(),
            "step": step,
            "ledger": data_state,
        }
        if ema is not None:
            state["ema"] = ema.state_dict()
        metrics = {k: v for r in history for k, v in r.items()}  # latest value of each
        return save_checkpoint(
            ckpt_dir, weights, {**config, "step": step, "metrics": metrics}, state
        )

    def validation() -> dict:
        """Validation metrics of the model being saved (the EMA weights when EMA is on)."""
        return validate(
            ema.module if ema is not None else surrogate, valid, t["eval_windows"], device, cmap
        )

    def stop(step, what):
        """End the run at the first non-finite value, keeping the last good checkpoint."""
        bar.close()
        if log_file:
            log_file.write({"step": step, "error": what})
            log_file.close()
        kept = read_config(ckpt_dir).get("step") if (ckpt_dir / "config.json").is_file() else None
        saved = (
            f"the last good checkpoint ({ckpt_dir}, step {kept}) is kept"
            if kept is not None
            else "no checkpoint was written"
        )
        raise NonFiniteLoss(
            f"training diverged at step {step}: {what}; {saved}; try a smaller optim.lr, "
            "a tighter optim.grad_clip or a longer optim.warmup"
        )

    if read_ahead:  # after any resume: it reads ahead from the start step
        batches = PrefetchedBatches(
            batches, pin=device.type == "cuda", processes=PREFETCH_PROCESSES
        )
    try:
        step = start
        for step in range(start, end):
            got = batches.next(step)
            if got is None:  # the stream is exhausted: stop here, with a checkpoint
                end = step
                break
            frames, cond = got  # (b, W, C, *S), (b, n_cond)
            frames, cond = frames.to(device), cond.to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                loss = runner(frames, cond if cond.shape[1] else None, step)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(surrogate.parameters(), opt_cfg["grad_clip"])
            finite = torch.stack([loss.detach().float(), grad_norm.float()]).isfinite().all()
            if ctx.active:  # every rank stops at the same step
                flag = finite.to(torch.int32)
                torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MIN)
                finite = flag.bool()
            if not finite:  # before optimizer.step: the weights stay the last good ones
                stop(
                    step + 1,
                    f"non-finite loss ({float(loss.detach()):.3g}) or gradient norm "
                    f"({float(grad_norm):.3g})",
                )
            optimizer.step()
            scheduler.step()
            if ema is not None:
                ema.update_parameters(surrogate)
            samples += len(frames)

            record = None
            if (step + 1) % t["log_every"] == 0 or step + 1 == end:
                value = loss.detach()
                if ctx.active:
                    torch.distributed.all_reduce(value)
                    value = value / ctx.world
                now = time.perf_counter()
                record = {
                    "step": step + 1,
                    "loss": float(value),
                    "lr": scheduler.get_last_lr()[0],
                    "grad_norm": float(grad_norm),
                    "samples_per_s": samples * ctx.world / (now - t_last),
                    **batches.metrics(),
                }
                t_last, samples = now, 0
            if (
                ((step + 1) % t["eval_every"] == 0 or step + 1 == end)
                and valid is not None
                and ctx.is_main
            ):
                record = record or {"step": step + 1}
                record.update(validation())
            if record is not None:
                history.append(record)
                if log_file:
                    log_file.write(record)
                bar.record(record)
            bar.update(1)
            ckpt_every = t["checkpoint_every"]
            if ckpt_every and (step + 1) % ckpt_every == 0 and step + 1 != end:
                data_state = batches.state_dict()  # on every rank: online trainers gather theirs
                if ctx.is_main:
                    checkpoint(step + 1, data_state)
        if (
            end > start
            and ctx.is_main
            and (not history or "valid_loss" not in history[-1] or history[-1]["step"] != end)
        ):
            # stopped early (the stream ran dry): the final state gets its validation too
            record = history.pop() if history and history[-1]["step"] == end else {"step": end}
            record.update(batches.metrics() if len(record) == 1 else {})
            if valid is not None:
                record.update(validation())
            history.append(record)
            if log_file:
                log_file.write(record)
        data_state = batches.state_dict()
        path = checkpoint(end, data_state) if ctx.is_main else None
        if ctx.active:
            torch.distributed.barrier()
        bar.close()
        if log_file:
            log_file.close()
    finally:  # the reader worker ends with the run, also when it stops on an error
        if isinstance(batches, PrefetchedBatches):
            batches.close()
    return FitResult(step=end, history=history, checkpoint=path, notes=notes)
