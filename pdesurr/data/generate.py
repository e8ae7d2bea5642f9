"""Generate a dataset store from a spec, on one process or over MPI ranks.

Work is cut into the spec's fixed batches (:meth:`DatasetSpec.chunks`); the batches that
still have an incomplete trajectory are dealt round-robin to the ranks, in rounds. With
zarr each rank writes its own trajectories (one chunk file per trajectory and frame
block, so writes never collide); with HDF5, which has no safe concurrent writers without
parallel HDF5, the other ranks send their arrays to rank 0 as MPI buffers each round.
Completion flags are written after the data, so a run stopped at any moment is resumed
by running the same command: only incomplete trajectories are simulated again, and since
a batch is a pure function of (seed, split, indices), the bytes are the same.

A trajectory that diverges is masked inside its batch (the others go on), recorded with
its step and time, and never written as data.
"""

from __future__ import annotations

import errno
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from pdesurr.data.parameters import trajectory_seed
from pdesurr.data.spec import DatasetSpec
from pdesurr.data.store import HEADROOM, StoreError, create_store, detect_format, open_store


@dataclass
class GenerationReport:
    trajectories: int = 0
    diverged: int = 0
    solve_seconds: float = 0.0
    write_seconds: float = 0.0
    wall_seconds: float = 0.0
    ranks: int = 1
    skipped: int = 0
    divergences: list = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return self.trajectories / self.wall_seconds if self.wall_seconds else 0.0

    def as_dict(self) -> dict:
        return {
            "trajectories": self.trajectories,
            "diverged": self.diverged,
            "skipped": self.skipped,
            "ranks": self.ranks,
            "wall_seconds": self.wall_seconds,
            "solve_seconds": self.solve_seconds,
            "write_seconds": self.write_seconds,
            "trajectories_per_second": self.throughput,
            "divergences": [
                {"split": s, "trajectory": i, "step": st, "time": t}
                for s, i, st, t in self.divergences
            ],
        }


def simulate_batch(spec: DatasetSpec, split: str, start: int, stop: int, device="cpu"):
    """Simulate trajectories ``start..stop-1``: ``(fields, params, seeds, divergence)``."""
    pde, stepper, u0, params = spec.build_batch(split, start, stop)
    diverged: dict[int, tuple[int, float]] = {}
    frames = spec.stored_frames(stepper, u0, diverged, device, split)
    data = torch.stack(list(frames), 1)  # (B, T, C, *S)
    divergence = {m: (int(s), float(t)) for m, (s, t) in diverged.items()}
    finite = torch.isfinite(data).flatten(1).all(1)
    for m in (~finite).nonzero().flatten().tolist():  # overflow when cast to the stored dtype
        last = spec.spinup_steps + (spec.frames_of(split) - 1) * spec.save_every
        divergence.setdefault(m, (last, -1.0))
    fields, c = {}, 0
    for f in pde.fields:
        block = data[:, :, c : c + f.channels]
        fields[f.name] = (block[:, :, 0] if f.channels == 1 else block).numpy()
        c += f.channels
    seeds = [trajectory_seed(spec.seed, split, i) for i in range(start, stop)]
    return fields, params, seeds, divergence


def _prepare_store(spec: DatasetSpec, out: Path, fmt: str):
    """Create the store atomically, or check that an existing one is this spec's."""
    if out.exists():
        if detect_format(out) != fmt:
            raise StoreError(f"{out} exists in another format than {fmt!r}")
        store = open_store(out, "r")
        theirs = store.attrs.get("fingerprint")
        if fmt == "h5":
            store.close()
        if theirs != spec.fingerprint():
            raise StoreError(
                f"{out} was generated from a different spec (fingerprint {theirs}, this spec "
                f"{spec.fingerprint()}); choose another --out or delete it"
            )
        return
    tmp = out.with_name(out.name + ".creating")
    if tmp.exists():
        shutil.rmtree(tmp) if tmp.is_dir() else tmp.unlink()
    free = shutil.disk_usage(out.parent if out.parent.exists() else ".").free
    if free < HEADROOM:  # even the skeleton would fail half-way
        raise OSError(errno.ENOSPC, f"no space left on device while creating {out}", str(out))
    pde = spec.build_batch(next(iter(spec.splits)), 0, 1)[0]
    try:
        store = create_store(tmp, spec, pde, fmt)
        if fmt == "h5":
            store.close()
    except BaseException:  # nothing half-written: no skeleton left to block the next run
        shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
        raise
    tmp.rename(out)


def _pending(store, spec: DatasetSpec):
    pending = []
    flags = {s: np.asarray(store.read(s, "complete")) for s in spec.splits}
    for split, a, b in spec.chunks():
        if not flags[split][a:b].all():
            pending.append((split, a, b))
    return pending


def generate(
    spec: DatasetSpec, out: str | Path, fmt: str = "zarr", comm=None, device="cpu", progress=True
) -> GenerationReport:
    """Fill the store at ``out`` with every trajectory of ``spec`` (resuming if present).
    ``progress``: ``"bar"`` (or True), ``"lines"`` (a plain line per round) or None."""
    t_start = time.perf_counter()
    out = Path(out)
    rank, size = (comm.Get_rank(), comm.Get_size()) if comm is not None else (0, 1)
    error = None
    if rank == 0:
        try:
            _prepare_store(spec, out, fmt)
        except (StoreError, OSError) as e:
            error = e
    if comm is not None:
        error = comm.bcast(error, root=0)
    if error is not None:
        raise error

    writer = rank == 0 or fmt == "zarr"
    store = open_store(out, "r+") if writer else None
    pending = _pending(store, spec) if rank == 0 else None
    if comm is not None:
        pending = comm.bcast(pending, root=0)
    report = GenerationReport(ranks=size)
    report.skipped = sum(spec.splits.values()) - sum(b - a for _, a, b in pending)
    bar, total, finished = None, sum(b - a for _, a, b in pending), 0
    if progress in (True, "bar") and rank == 0:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="traj", desc=f"generate {spec.name}")

    try:
        for r in range(math.ceil(len(pending) / size)):
            mine = pending[r * size + rank] if r * size + rank < len(pending) else None
            done = 0
            if mine is not None:
                split, a, b = mine
                t0 = time.perf_counter()
                result = simulate_batch(spec, split, a, b, device)
                report.solve_seconds += time.perf_counter() - t0
                done = b - a
                report.trajectories += done
                report.diverged += len(result[3])
                report.divergences += [(split, a + m, s, t) for m, (s, t) in result[3].items()]
                t0 = time.perf_counter()
                if writer:
                    store.write_batch(split, list(range(a, b)), *result)
                else:
                    _send_batch(comm, mine, result)
                report.write_seconds += time.perf_counter() - t0
            if fmt == "h5" and comm is not None and rank == 0:
                t0 = time.perf_counter()
                for src in range(1, size):
                    if r * size + src < len(pending):
                        theirs = pending[r * size + src]
                        store.write_batch(
                            theirs[0], list(range(theirs[1], theirs[2])), *_recv_batch(comm, src)
                        )
                report.write_seconds += time.perf_counter() - t0
            if comm is not None:
                done = comm.allreduce(done)
            if bar is not None:
                bar.update(done)
            finished += done
            if progress == "lines" and rank == 0 and done:  # a log file: plain lines
                print(f"generate {spec.name}: {finished}/{total} trajectories", flush=True)
        if bar is not None:
            bar.close()
    except BaseException:
        # a full disk, Ctrl-C, a dead rank: leave the store consistent for resuming (HDF5
        # keeps only what it flushed; the batch being written is simulated again)
        if bar is not None:
            bar.close()
        if store is not None and fmt == "h5":
            store.close()
        raise

    if comm is not None:
        comm.Barrier()
        report.trajectories = comm.allreduce(report.trajectories)
        report.diverged = comm.allreduce(report.diverged)
        report.solve_seconds = comm.allreduce(report.solve_seconds)  # rank-seconds
        report.write_seconds = comm.allreduce(report.write_seconds)
        report.divergences = sum(comm.allgather(report.divergences), [])
    if rank == 0:
        for split in spec.splits:
            store.set_statistics(split, compute_statistics(store, split))
        store.finalize()
    if fmt == "h5" and store is not None:
        store.close()
    if comm is not None:
        comm.Barrier()
    report.wall_seconds = time.perf_counter() - t_start
    return report


def compute_statistics(store, split: str) -> dict:
    """Per field and channel: mean, std, min, max over complete, finite trajectories."""
    stats = {}
    usable = store.usable(split)
    for f in store.fields:
        name, channel_axis = f["name"], f["channels"] > 1
        arr = store.array(split, name)
        acc = None
        for i in usable:
            x = np.asarray(arr[int(i)], dtype=np.float64)  # (T, [C], *S)
            x = np.moveaxis(x, 1, 0).reshape(x.shape[1], -1) if channel_axis else x.reshape(1, -1)
            part = np.stack(
                [np.full(x.shape[0], x.shape[1]), x.sum(1), (x * x).sum(1), x.min(1), x.max(1)]
            )
            if acc is None:
                acc = part
            else:
                acc[:3] += part[:3]
                acc[3] = np.minimum(acc[3], part[3])
                acc[4] = np.maximum(acc[4], part[4])
        if acc is None:
            continue
        mean = acc[1] / acc[0]
        std = np.sqrt(np.maximum(acc[2] / acc[0] - mean**2, 0.0))
        stats[name] = {
            "mean": mean.tolist(),
            "std": std.tolist(),
            "min": acc[3].tolist(),
            "max": acc[4].tolist(),
        }
    return stats


_TAG = 11


def _send_batch(comm, chunk, result):
    fields, params, seeds, divergence = result
    header = {
        "fields": {k: (v.shape, v.dtype.str) for k, v in fields.items()},
        "params": params,
        "seeds": seeds,
        "divergence": divergence,
    }
    comm.send(header, dest=0, tag=_TAG)  # small metadata; the arrays go as raw buffers
    for value in fields.values():
        comm.Send(np.ascontiguousarray(value), dest=0, tag=_TAG)


def _recv_batch(comm, src):
    header = comm.recv(source=src, tag=_TAG)
    fields = {}
    for name, (shape, dtype) in header["fields"].items():
        buf = np.empty(shape, dtype=np.dtype(dtype))
        comm.Recv(buf, source=src, tag=_TAG)
        fields[name] = buf
    return fields, header["params"], header["seeds"], header["divergence"]
