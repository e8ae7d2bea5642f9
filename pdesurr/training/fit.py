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

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from pdesurr.allocator import prime_allocator
from pdesurr.checkpoints.files import (
    CheckpointError,
    load_training_state,
    recover,
    save_checkpoint,
)
from pdesurr.checkpoints.readers import read_config
from pdesurr.checkpoints.surrogate import Surrogate
from pdesurr.data import channel_map
from pdesurr.data.prefetch import PrefetchedBatches
from pdesurr.data.standardize import standardize
from pdesurr.training import objectives
from pdesurr.training.build import build
from pdesurr.training.distributed import SINGLE, DistContext
from pdesurr.training.recipe import SCHEMA as RECIPE_SCHEMA
from pdesurr.training.recipe import Recipe
from pdesurr.training.resume import check_resume, schema_defaults
from pdesurr.training.run_log import RunLog
from pdesurr.training.sampler import OfflineBatches
from pdesurr.training.state import TrainingState
from pdesurr.training.validate import validate

IN_MEMORY_LIMIT = 4 << 30  # bytes: smaller training splits are read once into memory
PREFETCH_PROCESSES = 1  # reader processes for larger splits (0: reader threads)
# a recipe key a checkpoint predates counts as its default when a run resumes
RESUME_DEFAULTS = schema_defaults(RECIPE_SCHEMA)


class Objective(nn.Module):
    """The loss as a module, so DDP sees one forward per step."""

    def __init__(self, surrogate: Surrogate, recipe: Recipe, channel_map=None):
        super().__init__()
        self.surrogate = surrogate
        self.kind, self.options = recipe.objective.kind, recipe.objective
        self.history, self.seed = recipe.data.history, recipe.train.seed
        self.channel_map = channel_map  # store fields -> model channels (data.channel_map)
        if channel_map is not None:
            self.options = mapped_objective(recipe.objective, channel_map)

    def forward(self, frames, cond, step: int):
        s = self.surrogate
        if self.channel_map is not None:
            frames = self.channel_map(frames)
        frames = standardize(frames, s.mean, s.std, frames.ndim - 3)  # (b, W, C, *S)
        return objectives.loss(
            self.kind, s, frames, cond, self.history, self.options, step, self.seed
        )


def mapped_objective(options, channel_map):
    """Objective options on mapped channels: the map's masked channels (Poseidon's
    ``pixel_mask``) and Poseidon's channel groups rho | u, v | p unless the recipe sets them."""
    return dataclasses.replace(
        options,
        masked_channels=options.masked_channels or list(channel_map.masked),
        channel_slices=options.channel_slices or [0, 1, 3, 4],
    )


@dataclass
class FitResult:
    step: int
    history: list = field(default_factory=list)
    checkpoint: Path | None = None
    notes: list = field(default_factory=list)  # what the caller should tell the user
    nothing_to_do: bool = False
    exit_code: int = 0  # non-zero: the job must end with it (online MPI: a dead producer)


def write_checkpoint(ckpt_dir: Path, config: dict, state: TrainingState, step: int, data_state,
                     log: RunLog) -> Path:  # fmt: skip
    """Save the run at ``step``; non-finite weights end it instead (the last good checkpoint
    is never overwritten by a bad state)."""
    weights = state.saved_model.model.state_dict()
    bad = [k for k, v in weights.items() if v.is_floating_point() and not v.isfinite().all()]
    if bad:
        log.diverged(step, f"non-finite weights ({bad[:3]})", ckpt_dir)
    meta = {**config, "step": step, "metrics": log.latest()}
    return save_checkpoint(ckpt_dir, weights, meta, state.state_dict(step, data_state))


def resume_from(ckpt_dir: Path, config: dict, state: TrainingState, batches) -> tuple[int, list]:
    """Restore the run saved in ``ckpt_dir``: ``(step to continue from, notes)``."""
    saved = read_config(ckpt_dir)
    if saved["model"] != json.loads(json.dumps(config["model"])):
        raise CheckpointError(
            f"{ckpt_dir} holds a different model ({saved['model']['kind']}, "
            f"{saved['model']['args']}); use another train.out or --restart"
        )
    notes = check_resume(ckpt_dir, saved, config, RESUME_DEFAULTS)
    training = load_training_state(ckpt_dir)
    state.load_state_dict(training, ckpt_dir)
    batches.load_state_dict(training["ledger"])
    return int(training["step"]), notes


def all_finite(ctx: DistContext, *values: torch.Tensor) -> bool:
    """Are all ``values`` finite on every rank (so that every rank stops at the same step)."""
    finite = torch.stack([v.detach().float() for v in values]).isfinite().all()
    if ctx.active:
        flag = finite.to(torch.int32)
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MIN)
        finite = flag.bool()
    return bool(finite)


def mean_over_ranks(ctx: DistContext, value: torch.Tensor) -> float:
    value = value.detach()
    if ctx.active:
        torch.distributed.all_reduce(value)
        value = value / ctx.world
    return float(value)


def due(done: int, every: int, end: int) -> bool:
    return done % every == 0 or done == end


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

    Randomness that torch draws from its global generator (dropout) comes from
    ``train.seed`` during the run; the caller's random state is restored after it.
    """
    prime_allocator()  # a fresh process trains at a warm one's speed (see pdesurr/allocator.py)
    with torch.random.fork_rng(devices=[]):
        torch.set_rng_state(torch.Generator().manual_seed(recipe.train.seed).get_state())
        return _fit(recipe, ctx, progress, stop_after, resume, batches)


def _fit(recipe: Recipe, ctx, progress, stop_after, resume, batches) -> FitResult:
    t, opt = recipe.train, recipe.optim
    device = torch.device(t.device)
    out = Path(t.out)
    ckpt_dir = out / "checkpoint"
    train, valid, surrogate, config = build(recipe, device)
    read_ahead = False
    if batches is None:
        source = train.to_memory() if train.nbytes() <= IN_MEMORY_LIMIT else train
        batches = OfflineBatches(source, opt.batch_size, t.seed, ctx)
        read_ahead = source is train  # per-batch reads from the store: prefetched below
    state = TrainingState(surrogate, opt)

    if resume and ctx.is_main:
        recover(ckpt_dir)  # a crash between the renames of a save left .tmp / .old
    if ctx.active:
        torch.distributed.barrier()
    start, notes = 0, []
    if resume and ckpt_dir.exists():
        start, notes = resume_from(ckpt_dir, config, state, batches)
    end = opt.steps if stop_after is None else min(opt.steps, stop_after)
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
    amp = opt.amp and device.type == "cuda"
    if ctx.is_main:
        out.mkdir(parents=True, exist_ok=True)
    log = RunLog(out if ctx.is_main else None, progress if ctx.is_main else None, opt.steps, start)
    t_last, samples = time.perf_counter(), 0
    if read_ahead:  # after any resume: it reads ahead from the start step
        batches = PrefetchedBatches(
            batches, pin=device.type == "cuda", processes=PREFETCH_PROCESSES
        )
    try:
        for step in range(start, end):
            got = batches.next(step)
            if got is None:  # the stream is exhausted: stop here, with a checkpoint
                end = step
                break
            frames, cond = got[0].to(device), got[1].to(device)  # (b, W, C, *S), (b, n_cond)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                loss = runner(frames, cond if cond.shape[1] else None, step)
            state.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(surrogate.parameters(), opt.grad_clip)
            if not all_finite(ctx, loss, grad_norm):  # the weights stay the last good ones
                log.diverged(
                    step + 1,
                    f"non-finite loss ({float(loss.detach()):.3g}) or gradient norm "
                    f"({float(grad_norm):.3g})",
                    ckpt_dir,
                )
            state.step()
            samples += len(frames)

            done = step + 1
            record = {}
            if due(done, t.log_every, end):
                now = time.perf_counter()
                record = {
                    "step": done,
                    "loss": mean_over_ranks(ctx, loss),
                    "lr": state.scheduler.get_last_lr()[0],
                    "grad_norm": float(grad_norm),
                    "samples_per_s": samples * ctx.world / (now - t_last),
                    **batches.metrics(),
                }
                t_last, samples = now, 0
            if due(done, t.eval_every, end) and valid is not None and ctx.is_main:
                record = {"step": done, **record}
                record.update(validate(state.saved_model, valid, t.eval_windows, device, cmap))
            if record:
                log.record(record)
            log.bar.update(1)
            if t.checkpoint_every and done % t.checkpoint_every == 0 and done != end:
                data_state = batches.state_dict()  # on every rank: online trainers gather theirs
                if ctx.is_main:
                    write_checkpoint(ckpt_dir, config, state, done, data_state, log)

        last = log.history[-1] if log.history else {}
        complete = last.get("step") == end and ("valid_loss" in last or valid is None)
        if end > start and ctx.is_main and not complete:
            # stopped early (the stream ran dry): the final state gets its validation too
            record = log.history.pop() if last.get("step") == end else {"step": end}
            record.update(batches.metrics() if len(record) == 1 else {})
            if valid is not None:
                record.update(validate(state.saved_model, valid, t.eval_windows, device, cmap))
            log.record(record, show=False)
        data_state = batches.state_dict()
        path = (
            write_checkpoint(ckpt_dir, config, state, end, data_state, log) if ctx.is_main else None
        )
        if ctx.active:
            torch.distributed.barrier()
        log.close()
    finally:  # the reader worker ends with the run, also when it stops on an error
        if isinstance(batches, PrefetchedBatches):
            batches.close()
    return FitResult(step=end, history=log.history, checkpoint=path, notes=notes)
