"""Online training under ``mpiexec``: trainer ranks and solver-producer ranks.

Ranks ``0 .. T-1`` train (DDP among them when ``T > 1``), ranks ``T .. size-1`` produce;
producer ``p`` feeds trainer ``p mod T`` over :mod:`pdesurr.stream.mpi`. A producer may have
``credits`` samples in flight, a quarter of its share of its trainer's buffer
(:func:`producer_credits`), so the buffer's capacity bounds the trainer's memory. A producer
rank declared dead ends the job with :data:`EXIT_PRODUCER_DIED` after the last checkpoint.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

from pdesurr.config import ConfigError
from pdesurr.data.spec import DatasetSpec
from pdesurr.data.windows import WindowSpec
from pdesurr.stream.buffers import make_buffer
from pdesurr.stream.ending import StreamEnd
from pdesurr.stream.ledger import Ledger
from pdesurr.stream.mpi import MPIReceiver, run_producer
from pdesurr.stream.pairs import PairSpec
from pdesurr.stream.producer import chunks_for
from pdesurr.training.distributed import SINGLE, init_from_mpi, shutdown
from pdesurr.training.fit import fit
from pdesurr.training.online_batches import OnlineBatches, restore
from pdesurr.training.recipe import OnlineSection, Recipe

EXIT_PRODUCER_DIED = 4  # the job ends (MPI_Abort) after a producer rank was declared dead
CREDIT_SHARE = 4  # a producer's credits: its share of the buffer / CREDIT_SHARE


def producer_credits(capacity: int, n_producers: int, n_trainers: int) -> int:
    """Samples a producer may have in flight: ``capacity / ceil(P / T) / CREDIT_SHARE``,
    at least 1, so the producers of one trainer never hold more than its buffer."""
    return max(1, capacity // max(1, -(-n_producers // n_trainers)) // CREDIT_SHARE)


def run_online_mpi(
    recipe: Recipe,
    cfg: OnlineSection,
    spec: DatasetSpec,
    window: WindowSpec | PairSpec,
    comm,
    fault: dict[int, int],
    progress,
    stop_after,
    resume,
    log,
):
    """Ranks ``0 .. T-1`` train (DDP among them when ``T > 1``), the others produce;
    producer ``p`` feeds trainer ``p mod T``."""
    rank, size = comm.Get_rank(), comm.Get_size()
    n_trainers = cfg.trainers
    if not 1 <= n_trainers < size:
        raise ConfigError(f"online.trainers = {n_trainers} leaves no producer among {size} ranks")
    n_producers = size - n_trainers
    credits = producer_credits(cfg.capacity, n_producers, n_trainers)
    channels = sum(f.channels for f in spec.build_batch(cfg.split, 0, 1)[0].fields)
    # a window's frames, or a pair's two (history 1 + horizon 1)
    sample_shape = (recipe.data.history + recipe.horizon, channels, *spec.output_shape)
    is_trainer = rank < n_trainers
    # who is where: mpiexec reports a crashed process by PID and host, this maps it to a rank
    places = comm.gather((os.getpid(), socket.gethostname()), root=0)
    if rank == 0:
        every = recipe.train.checkpoint_every
        saved = f"every {every} steps" if every else "at the end only (train.checkpoint_every = 0)"
        roles = ", ".join(
            f"{r} {'trainer' if r < n_trainers else 'producer'} (pid {pid} on {host})"
            for r, (pid, host) in enumerate(places)
        )
        log(
            f"online MPI job, ranks: {roles}; checkpoints to {recipe.train.out} {saved}; "
            "if a rank crashes, mpiexec ends the job naming its pid: run the same command "
            "to resume from the last checkpoint"
        )
        sys.stdout.flush()
    sub = comm.Split(0 if is_trainer else 1, rank)
    buffer = ledger = merged = None
    if is_trainer:
        buffer = make_buffer(**cfg.buffer_config(), seed=recipe.train.seed + rank)
        StreamEnd(cfg.when_done, cfg.max_reuse).configure(buffer)
        ledger = Ledger()
        if resume:
            merged = restore(Path(recipe.train.out), ledger, buffer, rank, n_trainers)
    plan = None  # (windows received per in-flight trajectory, trajectories to leave out)
    if merged is not None:
        plan = (merged.in_flight(), sorted(merged.done | set(merged.diverged)))
        if rank == 0:
            log(f"resuming: {len(merged.done)} trajectories complete, {len(plan[0])} in flight")
    skip, exclude = comm.bcast(plan, root=0) or ({}, [])
    exclude = frozenset(exclude)
    chunks = chunks_for(spec, cfg.split, cfg.trajectories)
    if not is_trainer:
        p = rank - n_trainers
        run_producer(
            comm,
            p % n_trainers,
            spec,
            cfg.split,
            chunks[p::n_producers],
            window,
            sample_shape,
            credits,
            skip,
            exclude,
            cfg.device,
            fault.get(p),
        )
        return None, None
    mine = [n_trainers + p for p in range(n_producers) if p % n_trainers == rank]
    ctx = init_from_mpi(sub, recipe.train.device) if n_trainers > 1 else SINGLE

    def declared_dead(p, why):  # said at once, flushed: the job may end abruptly later
        log(
            f"producer rank {p} {why}: declared dead; training goes on with the other "
            "producers, then writes its checkpoint and ends the job (exit 4)"
        )
        sys.stdout.flush()

    receiver = MPIReceiver(
        comm,
        mine,
        buffer,
        ledger,
        sample_shape,
        len(window.conditioning),
        credits,
        cfg.producer_timeout,
        on_dead=declared_dead,
        shared_memory=cfg.shared_memory,
    ).start()
    ways: dict[str, list[int]] = {}
    for p, path in sorted(receiver.paths.items()):
        ways.setdefault(path, []).append(p)
    log(f"trainer rank {rank}: bundles of " + "; of ".join(
        f"producer ranks {', '.join(map(str, ps))} through {path}" for path, ps in ways.items()
    ))  # fmt: skip
    end = StreamEnd(cfg.when_done, cfg.max_reuse, log if rank == 0 else lambda m: None)
    share = recipe.optim.batch_size // ctx.world
    batches = OnlineBatches(buffer, ledger, receiver, share, ctx, end)
    try:
        result = fit(
            recipe, ctx, progress if rank == 0 else None, stop_after, resume, batches=batches
        )
    finally:
        dead = receiver.stop()
    parts = sub.gather((ledger.state_dict(), dict(ledger.dead)), root=0)
    shutdown(ctx)
    if rank != 0:
        return None, None  # rank 0 reports for all trainers
    total = Ledger()
    for state, dead_part in parts:
        one = Ledger()
        one.load_state_dict(state)
        total.merge(one)
        total.dead.update(dead_part)
    for p in sorted(total.dead):
        log(f"producer rank {p} died ({total.dead[p]}); training went on with the others")
    for traj, (step, t) in sorted(total.diverged.items()):
        log(f"trajectory {traj} diverged at step {step} (t = {t:.6g}); its producer moved on")
    if total.dead or dead:  # a hung rank never reaches MPI_Finalize: the CLI ends the job
        result.exit_code = EXIT_PRODUCER_DIED
    return result, total
