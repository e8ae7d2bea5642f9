"""Online training: solver producers stream windows into a bounded buffer the trainer
samples from (Melissa: Meyer et al., ICML 2023), with no disk in between.

A recipe with an ``[online]`` table trains online::

    [online]   trajectories (streamed from the spec's ``split``), producers, buffer
               ("reservoir" | "firo" | "fifo"), capacity, watermark, split, device,
               producer_timeout (s of silence before a producer is declared dead),
               when_done, max_reuse (a stream that ends early: pdesurr.stream.ending),
               fault (testing aid: "kill:P:N" kills producer P after N samples)

``data.spec`` names the dataset spec the producers sample (same initial-condition and
parameter distributions as ``pdesurr generate``, same seeds: trajectory ``i`` is the
store's trajectory ``i``); ``data.store`` is a small held-out store (the spec's ``valid``
split, generated once) for validation and normalisation statistics, so online and offline
runs are scored alike. With ``data.pairs`` the producers emit Poseidon's pairs instead of
windows (:mod:`pdesurr.stream.pairs`). Without ``mpiexec`` producers are threads of this process
(:class:`~pdesurr.stream.local.ThreadTransport`); under ``mpiexec`` they are MPI ranks
(:mod:`pdesurr.stream.mpi`). Checkpoints record the ledger (trajectories and windows
received) and the buffer, so a resumed run neither repeats nor skips any.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import sys
import time
from pathlib import Path

import torch

from pdesurr.checkpoints.files import load_training_state
from pdesurr.config import ConfigError
from pdesurr.data.spec import DatasetSpec
from pdesurr.data.windows import WindowSpec
from pdesurr.stream.buffer import collate
from pdesurr.stream.buffers import make_buffer
from pdesurr.stream.ending import StreamEnd
from pdesurr.stream.ledger import Ledger
from pdesurr.stream.local import ThreadTransport
from pdesurr.stream.pairs import PairSpec, stream_window
from pdesurr.stream.producer import chunks_for
from pdesurr.training.distributed import DistContext
from pdesurr.training.fit import SINGLE, fit
from pdesurr.training.recipe import OnlineSection, Recipe

EXIT_PRODUCER_DIED = 4  # the job ends (MPI_Abort) after a producer rank was declared dead
CREDIT_SHARE = 4  # a producer's credits: its share of the buffer / CREDIT_SHARE


def online_config(recipe: Recipe) -> OnlineSection:
    """The recipe's ``[online]`` section (checked with the recipe), ``when_done`` resolved."""
    if recipe.online is None:
        raise ConfigError(f"{recipe.source}: [online]: an online run needs the table")
    return dataclasses.replace(recipe.online, when_done=recipe.online.end_policy)


def parse_fault(text: str | None) -> dict[int, int]:
    if not text:
        return {}
    kind, p, n = text.split(":")
    if kind != "kill":
        raise ConfigError(f"online.fault: only 'kill:PRODUCER:SAMPLES' is supported, got {text!r}")
    return {int(p): int(n)}


class OnlineBatches:
    """Batches from the buffer, plus the stream's monitoring figures."""

    kind = "online"

    def __init__(
        self,
        buffer,
        ledger: Ledger,
        transport,
        batch_size: int,
        ctx: DistContext = SINGLE,
        end: StreamEnd | None = None,
    ):
        self.end = end
        self.ctx = ctx
        self.buffer, self.ledger, self.transport, self.batch_size = (
            buffer,
            ledger,
            transport,
            batch_size,
        )
        self.t0 = self.t_last = time.perf_counter()
        self.wait_last = 0.0
        self.received_last = 0
        self.trained = 0

    def next(self, step: int):
        while True:  # poll while waiting: the transport closes the buffer when producers end
            self.transport.poll()
            try:
                samples = self.buffer.get_batch(self.batch_size, timeout=0.25)
                break
            except TimeoutError:
                continue
        if self.end is not None:
            self.end.check(self.buffer, step, len(samples))
        if self.ctx.active:  # trainers stop together when any of them has run dry
            import torch.distributed as dist

            flag = torch.tensor(1 if samples else 0)
            dist.all_reduce(flag, op=dist.ReduceOp.MIN)
            if int(flag) == 0:
                return None
        if not samples:
            return None
        self.trained += len(samples)
        frames, cond, _, _ = collate(samples)
        return frames, cond

    def metrics(self) -> dict:
        now = time.perf_counter()
        with self.ledger.lock:
            received = sum(self.ledger.received.values())
            out = {
                "received": received,
                "received_per_s": (received - self.received_last) / (now - self.t_last),
                "buffer_fill": self.buffer.fill,
                "reuse_mean": self.buffer.reuse["mean"],
                "reuse_max": self.buffer.reuse["max"],
                "idle_fraction": (self.buffer.wait_time - self.wait_last) / (now - self.t_last),
                "trajectories_done": len(self.ledger.done),
                "diverged": len(self.ledger.diverged),
                "producers_dead": len(self.ledger.dead),
            }
        self.t_last, self.wait_last, self.received_last = now, self.buffer.wait_time, received
        return out

    def state_dict(self) -> dict:
        """This trainer's ledger and buffer; with several trainer ranks (a collective: every
        trainer calls it) the list of all of them, in trainer order."""
        with self.ledger.lock:  # a consistent snapshot: producers pause while it is taken
            mine = {"ledger": self.ledger.state_dict(), "buffer": self.buffer.state_dict()}
        if not self.ctx.active:
            return {"kind": "online", "trainers": [mine]}
        import torch.distributed as dist

        everyone = [None] * self.ctx.world
        dist.all_gather_object(everyone, mine)
        return {"kind": "online", "trainers": everyone}

    def load_state_dict(self, state: dict) -> None:
        pass  # restored by run_online before the producers start (they need the ledger)


def restore(out: Path, ledger: Ledger, buffer, trainer: int = 0, trainers: int = 1):
    """Load trainer ``trainer``'s buffer and ledger; returns the merged ledger of all
    trainers (what the producers must skip), or None without a checkpoint."""
    ckpt = out / "checkpoint"
    if not ckpt.exists():
        return None
    state = load_training_state(ckpt)["ledger"]
    if state.get("kind") != "online":
        raise ConfigError(f"{ckpt} was written by an offline run; use another train.out")
    if len(state["trainers"]) != trainers:
        raise ConfigError(
            f"{ckpt} has {len(state['trainers'])} trainer ranks; this run has {trainers}: "
            "resume with the same online.trainers"
        )
    merged = Ledger()
    for i, part in enumerate(state["trainers"]):
        one = Ledger()
        one.load_state_dict(part["ledger"])
        merged.merge(one)
        if i == trainer:
            ledger.load_state_dict(part["ledger"])
            buffer.load_state_dict(part["buffer"])
    return merged


def run_online(
    recipe: Recipe,
    ctx: DistContext = SINGLE,
    progress=True,
    stop_after=None,
    resume=True,
    log=print,
    comm=None,
):
    """Train online: producers are threads, or, with ``comm`` (several MPI ranks), rank 0
    trains and the other ranks produce."""
    cfg = online_config(recipe)
    spec = DatasetSpec.load(recipe.data.spec)
    # the held-out store gives the shapes and statistics: its valid split stands for train
    held_out = recipe.with_data(train_split=recipe.data.valid_split)
    window = stream_window(recipe.data, recipe.horizon, spec)  # windows, or pairs
    if comm is not None and comm.Get_size() > 1:
        return _run_online_mpi(held_out, cfg, spec, window, comm, progress, stop_after, resume, log)
    buffer = make_buffer(**cfg.buffer_config(), seed=recipe.train.seed)
    end = StreamEnd(cfg.when_done, cfg.max_reuse, log)
    end.configure(buffer)
    ledger = Ledger()
    resumed = resume and restore(Path(recipe.train.out), ledger, buffer) is not None
    exclude = frozenset(ledger.done | set(ledger.diverged))
    chunks = chunks_for(spec, cfg.split, cfg.trajectories)
    assignments = [chunks[p :: cfg.producers] for p in range(cfg.producers)]
    transport = ThreadTransport(
        spec,
        cfg.split,
        assignments,
        window,
        buffer,
        ledger,
        skip=ledger.in_flight(),
        exclude=exclude,
        device=cfg.device,
        fail_after=parse_fault(cfg.fault),
    )
    if resumed:
        log(
            f"resuming: {len(ledger.done)} trajectories complete, {len(ledger.in_flight())} in "
            f"flight, {len(buffer)} samples in the buffer"
        )
    transport.start()
    batches = OnlineBatches(buffer, ledger, transport, recipe.optim.batch_size, end=end)
    try:
        result = fit(held_out, ctx, progress, stop_after, resume, batches=batches)
    finally:
        transport.stop()
    for p, why in ledger.dead.items():
        log(f"producer {p} died: {why}; training went on with the others")
    for traj, (step, t) in sorted(ledger.diverged.items()):
        log(f"trajectory {traj} diverged at step {step} (t = {t:.6g}); its producer moved on")
    return result, ledger


def _run_online_mpi(
    recipe: Recipe,
    cfg: OnlineSection,
    spec: DatasetSpec,
    window: WindowSpec | PairSpec,
    comm,
    progress,
    stop_after,
    resume,
    log,
):
    """Ranks ``0 .. T-1`` train (DDP among them when ``T > 1``), the others produce;
    producer ``p`` feeds trainer ``p mod T``."""
    from pdesurr.stream.mpi import MPIReceiver, run_producer
    from pdesurr.training.distributed import init_from_mpi, shutdown

    rank, size = comm.Get_rank(), comm.Get_size()
    n_trainers = cfg.trainers
    if not 1 <= n_trainers < size:
        raise ConfigError(f"online.trainers = {n_trainers} leaves no producer among {size} ranks")
    n_producers = size - n_trainers
    # each producer may have a quarter of its share of the trainer's buffer in flight
    credits = max(1, cfg.capacity // max(1, -(-n_producers // n_trainers)) // CREDIT_SHARE)
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
    fault = parse_fault(cfg.fault)
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
    ).start()
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
