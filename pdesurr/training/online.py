"""Online training: solver producers stream windows into a bounded buffer the trainer
samples from (Melissa: Meyer et al., ICML 2023), with no disk in between.

A recipe with an ``[online]`` table trains online::

    [online]   trajectories (streamed from the spec's ``split``), producers, buffer
               ("reservoir" | "firo" | "fifo"), capacity, watermark, split, device,
               producer_timeout (s of silence before a producer is declared dead),
               when_done, max_reuse (a stream that ends early: pdesurr.stream.ending),
               shared_memory (MPI: bundles of producers on the trainer's node through
               memory both map, pdesurr.stream.shared; default true),
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
from pathlib import Path

from pdesurr.config import ConfigError
from pdesurr.data.spec import DatasetSpec
from pdesurr.stream.buffers import make_buffer
from pdesurr.stream.ending import StreamEnd
from pdesurr.stream.ledger import Ledger
from pdesurr.stream.local import ThreadTransport
from pdesurr.stream.pairs import stream_window
from pdesurr.stream.producer import chunks_for
from pdesurr.training.distributed import SINGLE, DistContext
from pdesurr.training.fit import fit
from pdesurr.training.online_batches import OnlineBatches, restore
from pdesurr.training.online_mpi import run_online_mpi
from pdesurr.training.recipe import OnlineSection, Recipe


def online_config(recipe: Recipe) -> OnlineSection:
    """The recipe's ``[online]`` section (checked with the recipe), ``when_done`` resolved."""
    if recipe.online is None:
        raise ConfigError(f"{recipe.source}: [online]: an online run needs the table")
    return dataclasses.replace(recipe.online, when_done=recipe.online.end_policy)


def parse_fault(text: str | None) -> dict[int, int]:
    """``online.fault`` (``"kill:P:N"``) as ``{producer P: samples before it is killed}``."""
    if not text:
        return {}
    kind, p, n = text.split(":")
    if kind != "kill":
        raise ConfigError(f"online.fault: only 'kill:PRODUCER:SAMPLES' is supported, got {text!r}")
    return {int(p): int(n)}


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
        fault = parse_fault(cfg.fault)
        return run_online_mpi(
            held_out, cfg, spec, window, comm, fault, progress, stop_after, resume, log
        )
    buffer = make_buffer(**cfg.buffer_config(), seed=recipe.train.seed)
    end = StreamEnd(cfg.when_done, cfg.max_reuse, log)
    end.configure(buffer)
    ledger = Ledger()
    out = Path(recipe.train.out)
    resumed = resume and restore(out, ledger, buffer, device=cfg.device) is not None
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
