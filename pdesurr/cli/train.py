"""``pdesurr train RECIPE``: offline training; under ``mpiexec`` every rank trains (DDP).

When the recipe's ``data.store`` does not exist and ``data.spec`` names a dataset spec,
the store is generated first (by all ranks), so a recipe runs on a fresh machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

from pdesurr.cli.generate import world_comm
from pdesurr.cli.options import add_set_option, check_output, progress_mode
from pdesurr.data.generate import generate
from pdesurr.data.spec import DatasetSpec
from pdesurr.training.distributed import DistContext, init_from_mpi, shutdown
from pdesurr.training.fit import fit
from pdesurr.training.recipe import Recipe

ABORT_GRACE = 2.0  # s for mpiexec to forward the last lines before the job is aborted


def cmd_train(args: argparse.Namespace) -> int:
    from pdesurr.training.physics_recipe import is_physics_recipe

    if is_physics_recipe(args.recipe, list(args.set)):  # PINN recipes: pdesurr/cli/physics.py
        from pdesurr.cli import physics

        return physics.train(args)
    comm = world_comm()
    recipe = Recipe.load(args.recipe, list(args.set))
    check_output(recipe.train.out, "train.out")  # before any work: the run can be saved
    store = Path(recipe.data.store)
    if not store.exists() and recipe.data.spec:
        check_output(store, "data.store")
    if not store.exists() and recipe.data.spec:
        # online runs stream their training data: only the held-out split is stored
        sets = ["splits.train=0", "splits.test=0"] if recipe.online is not None else []
        generate(
            DatasetSpec.load(recipe.data.spec, sets),
            store,
            comm=comm,
            progress=progress_mode(args.quiet),
        )
    if recipe.online is not None:
        return _train_online(recipe, comm, args)
    ctx = init_from_mpi(comm, recipe.train.device) if comm is not None else DistContext()
    try:
        result = fit(
            recipe,
            ctx,
            progress=progress_mode(args.quiet),
            stop_after=args.stop_after,
            resume=not args.restart,
        )
    finally:
        shutdown(ctx)
    if ctx.is_main and (shown := last_metrics(result)) is not None:
        print(
            f"trained to step {result.step} on {ctx.world} rank(s): {shown} -> {result.checkpoint}"
        )
    return 0


def last_metrics(result) -> str | None:
    """Print a finished run's resume notes; return its last logged losses as text, or None
    when the run had nothing to do."""
    for note in result.notes:
        print(note if "nothing to do" in note else f"resume: {note}")
    if result.nothing_to_do:
        return None
    last = {k: v for r in result.history for k, v in r.items()}
    return ", ".join(
        f"{k} {last[k]:.4g}" for k in ("loss", "valid_loss", "valid_rel_l2") if k in last
    )


def share_cores(args, producers: int) -> None:
    """In-process producers and the trainer share the cores: unless ``--threads`` says
    otherwise, give torch's pool its share (oversubscribed pools slow down many-fold)."""
    if args.threads is None:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // (1 + producers)))


def _train_online(recipe, comm, args) -> int:
    from pdesurr.training.online import run_online

    if comm is None:
        share_cores(args, recipe.online.producers)

    result, ledger = run_online(
        recipe,
        progress=progress_mode(args.quiet),
        stop_after=args.stop_after,
        resume=not args.restart,
        comm=comm,
    )
    if result is None:  # a producer rank
        return 0
    shown = last_metrics(result)
    if shown is None:
        return 0
    print(
        f"trained online to step {result.step}: {shown}; received {sum(ledger.received.values())} "
        f"samples from {len(ledger.done)} complete trajectories ({len(ledger.diverged)} diverged) "
        f"-> {result.checkpoint}"
    )
    if result.exit_code:  # a producer rank hung: it never reaches MPI_Finalize, end the job
        failed = ", ".join(f"rank {p} ({why})" for p, why in sorted(ledger.dead.items()))
        print(
            f"producer {failed} failed; checkpoint written to {result.checkpoint} (step "
            f"{result.step}, every window received is in it); ending the job with exit code "
            f"{result.exit_code}: run the same command to resume",
            flush=True,
        )
        sys.stderr.flush()
        if comm is not None:
            time.sleep(ABORT_GRACE)  # MPI_Abort kills mpiexec's I/O proxies at once
            comm.Abort(result.exit_code)
        return result.exit_code
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a surrogate from a recipe in train/ (MPI-aware: DDP)")
    p.add_argument("recipe", help="recipe name in train/ or a path to a .toml")
    add_set_option(p, "recipe")
    p.add_argument(
        "--stop-after",
        type=int,
        metavar="STEP",
        help="stop (with a checkpoint) at this step, as a job's wall-time would",
    )
    p.add_argument(
        "--restart", action="store_true", help="ignore an existing checkpoint in train.out"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)
