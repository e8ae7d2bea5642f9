"""Online streaming: trainer throughput, MPI message throughput, online vs offline accuracy.

    OMP_NUM_THREADS=1 python benchmarks/stream.py [--quick] [--parts throughput mpi accuracy]

1. Trainer throughput: training samples per second consumed by ``fit`` for the same model
   (``fno/small``), objective (pushforward, unroll 2) and batch size (16), with the
   batches coming (a) online from solver producers streaming into the buffer (threads of
   this process, :func:`~pdesurr.training.online.run_online`; and, unless
   ``--no-mpi-online``, a producer MPI rank under ``mpiexec -n 2``, which drains the
   producer after training: see :func:`mpi_online_worker`), (b) offline from a zarr
   store read per batch (``pdesurr.training.fit.IN_MEMORY_LIMIT = 0``), (c) offline from
   memory (default ``fit``). Reported: steady-state samples/s (log intervals after the
   first, so start-up and the buffer's watermark fill are left out), the ratios
   online/memory and store/memory, and the online run's ``idle_fraction``. Target of
   the issue: online keeps the trainer at least 90% as busy as from memory (ratio >= 0.9,
   idle <= 0.1). On the KS small spec (cheap solver: producers outpace the trainer) and
   Kolmogorov small (2D: the solver is the bottleneck on a small machine).
2. Message throughput under ``mpiexec -n 2``: pdesurr's MPI transport (the real
   :func:`~pdesurr.stream.mpi.run_producer` and :class:`~pdesurr.stream.mpi.MPIReceiver`,
   with the solver replaced by pre-made samples: header + payload ``Send`` per sample,
   the receiver's ``Iprobe``/``Recv``, one credit back per sample) against raw mpi4py
   ``Send``/``Recv`` of a float32 buffer of the same size. The script launches itself
   under ``mpiexec`` with ``--mpi-worker messages``.
3. Accuracy (Melissa's claim at CPU scale): the same FNO trained offline on a store of N
   trajectories and online on freshly streamed ones (reservoir buffer), at equal
   optimizer steps, both validated on the same held-out store (the spec's valid split).
   A finite stream (``--online-trajectories``, 64) can run dry before the last step (the
   reservoir then drains and training stops), so a stream that outlasts the run is also
   reported. A small-scale indication, not the paper's experiment.

``--device cuda`` runs part 1 with the trainer and the producers' solvers on the GPU
(``online.device``): an in-process producer's windows stay on the device, in a
GPU-resident buffer, and the ratio compares with training from memory on the same GPU.

Default mode takes about 4-7 minutes on 2 shared cores; ``--quick`` under a minute.

Markdown tables go to stdout, progress notes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

BATCH = 16
N_COND = 2  # conditioning scalars per sample (dt and one PDE parameter), as the recipes use
CAPACITY, WATERMARK = 2000, 200  # the online recipe's defaults
DEVICE = "cpu"  # --device: the trainer's and the in-process producers' device
SPECS = {
    "ks": ("ks_refiner/small", ["dt", "length"]),
    "kolmogorov": ("kolmogorov/small", ["dt", "forcing_amplitude"]),
}
UNBOUNDED = 100_000  # "trajectories" of a stream that outlasts the run
DRAINED = 99  # MPI tag: the producer rank has returned (see mpi_online_worker)


def note(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def mpiexec() -> str:
    return shutil.which("mpiexec") or str(Path(sys.executable).parent / "mpiexec")


def recipe_dict(
    key: str,
    store: Path,
    out: Path,
    steps: int,
    log_every: int,
    eval_every: int | None = None,
    online: dict | None = None,
) -> dict:
    spec, cond = SPECS[key]
    d = {
        "data": {"store": str(store), "history": 2, "conditioning": cond, "predict": "residual"},
        "model": {"preset": "fno/small"},
        "objective": {"kind": "pushforward", "unroll": 2},
        "optim": {"lr": 3e-3, "batch_size": BATCH, "steps": steps, "warmup": 20, "ema": 0.99},
        "train": {
            "out": str(out),
            "eval_every": eval_every or steps,
            "log_every": log_every,
            "eval_windows": 256,
            "checkpoint_every": 0,
            "device": DEVICE,
        },
    }
    if online is not None:
        d["data"]["spec"] = spec
        d["online"] = {
            "producers": 1,
            "buffer": "reservoir",
            "capacity": CAPACITY,
            "watermark": WATERMARK,
            "device": DEVICE,  # producers' solver: windows stay on the device, buffer too
            **online,
        }
    return d


def make_recipe(d: dict):
    from pdesurr.training.recipe import Recipe

    return Recipe.from_dict(d, "benchmarks/stream.py")


# --- 1. trainer throughput ------------------------------------------------------------------


def steady(history: list[dict], log_every: int) -> dict:
    """Samples/s over the log intervals after the first (total samples / total time), and
    the time-weighted idle fraction over those intervals and over all of them."""
    recs = [h for h in history if "samples_per_s" in h]
    n = log_every * BATCH
    times = [n / r["samples_per_s"] for r in recs]
    rest, t_rest = recs[1:], times[1:]
    out = {"samples_per_s": n * len(rest) / sum(t_rest), "intervals": len(rest)}
    if "idle_fraction" in recs[0]:

        def weighted(key, rs, ts):
            return sum(r[key] * t for r, t in zip(rs, ts, strict=True)) / sum(ts)

        out["idle_steady"] = weighted("idle_fraction", rest, t_rest)
        out["idle_all"] = weighted("idle_fraction", recs, times)
        out["received_per_s"] = weighted("received_per_s", rest, t_rest)
        out["reuse_mean"] = recs[-1]["reuse_mean"]
    return out


def run_memory(d: dict) -> dict:
    from pdesurr.training.fit import fit

    t = time.perf_counter()
    result = fit(make_recipe(d), progress=False, resume=False)
    return {"history": result.history, "step": result.step, "wall": time.perf_counter() - t}


def run_store(d: dict) -> dict:
    import pdesurr.training.fit as fitmod

    saved = fitmod.IN_MEMORY_LIMIT
    fitmod.IN_MEMORY_LIMIT = 0  # force the per-batch reads from disk
    try:
        return run_memory(d)
    finally:
        fitmod.IN_MEMORY_LIMIT = saved


def run_threads(d: dict) -> dict:
    from pdesurr.training.online import run_online

    messages: list[str] = []
    t = time.perf_counter()
    result, ledger = run_online(make_recipe(d), progress=False, resume=False, log=messages.append)
    for m in messages:
        note(f"    online: {m}")
    return {
        "history": result.history,
        "step": result.step,
        "wall": time.perf_counter() - t,
        "received": sum(ledger.received.values()),
        "trajectories": len(ledger.received),
        "done": len(ledger.done),
        "finished": len(ledger.finished),
        "checkpoint": str(result.checkpoint),
    }


def run_mpiexec(cmd: list[str], timeout: float) -> subprocess.CompletedProcess | None:
    """Run ``cmd`` (an mpiexec line) in its own process group; on timeout end that group
    (mpiexec and its ranks, nothing else) and return None."""
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    p = subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                break
            try:
                p.communicate(timeout=10)
                break
            except subprocess.TimeoutExpired:
                continue
        return None
    return subprocess.CompletedProcess(cmd, p.returncode, out, err)


def run_mpi_online(d: dict, work: Path, timeout: float, pin: str = "") -> dict | None:
    """The same online run with the producer as MPI rank 1 (``mpiexec -n 2``); None if it
    did not finish within ``timeout`` seconds."""
    rfile, result = work / f"recipe-{time.monotonic_ns()}.json", work / "mpi-online-result.json"
    rfile.write_text(json.dumps(d))
    if result.exists():
        result.unlink()
    cmd = [mpiexec(), "-n", "2", *shlex.split(pin), sys.executable, os.path.abspath(__file__)]
    cmd += ["--mpi-worker", "online", "--recipe-json", str(rfile), "--result-json", str(result)]
    p = run_mpiexec(cmd, timeout)
    if p is None:
        note(f"    timed out after {timeout:.0f} s (killed its process group)")
        return None
    if p.returncode != 0 or not result.exists():
        raise RuntimeError(f"mpiexec online run failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return json.loads(result.read_text())


def cell(row: dict, key: str, fmt: str) -> str:
    return fmt.format(row[key]) if key in row else "–"


def throughput(args, stores: dict, work: Path) -> None:
    configs = {
        "ks": (args.ks_steps, args.ks_log, args.repeats),
        "kolmogorov": (args.k2d_steps, args.k2d_log, args.repeats_2d),
    }
    sources = [
        ("memory", "offline, from memory (default `fit`)"),
        ("store", "offline, zarr store read per batch"),
        ("reservoir", "online, 1 producer thread, reservoir"),
        ("firo", "online, 1 producer thread, FIRO (each sample once)"),
    ]
    if args.mpi_online:
        sources.append(("mpi", "online, 1 producer MPI rank, reservoir (mpiexec -n 2)"))
    if args.sources:  # a subset (memory is always kept: the ratios' reference)
        sources = [s for s in sources if s[0] in {"memory", *args.sources}]
    results: dict = {}
    for key, (steps, log_every, repeats) in configs.items():
        for rep in range(repeats):
            order = sources if rep % 2 == 0 else sources[::-1]  # alternate, to spread drift
            for name, _ in order:
                out = work / f"tp-{key}-{name}-{rep}"
                if name in ("memory", "store"):
                    d = recipe_dict(key, stores[key], out, steps, log_every)
                else:
                    buffer = "firo" if name == "firo" else "reservoir"
                    online = {"trajectories": UNBOUNDED, "buffer": buffer}
                    d = recipe_dict(key, stores[key], out, steps, log_every, online=online)
                note(f"  throughput {key}: {name} (run {rep + 1}/{repeats}, {steps} steps)")
                if name == "memory":
                    r = run_memory(d)
                elif name == "store":
                    r = run_store(d)
                elif name == "mpi":
                    r = run_mpi_online(d, work, timeout=args.mpi_timeout, pin=args.pin)
                    if r is None:
                        results.setdefault((key, name), [])
                        continue
                    note(
                        f"    trainer rank CPU {r['cpu_process']:.2f} s in {r['wall']:.2f} s, "
                        f"of which the training thread {r['cpu_main_thread']:.2f} s"
                    )
                    if r["drained"]:
                        note(f"    {r['drained']} producer messages were still in flight at stop")
                else:
                    r = run_threads(d)
                r["load"] = os.getloadavg()[0]
                note(f"    {r['wall']:.1f} s, load average {r['load']:.2f}")
                if r["step"] != steps:
                    note(f"    warning: stopped at step {r['step']} of {steps}")
                r.update(steady(r["history"], log_every))
                results.setdefault((key, name), []).append(r)
                shutil.rmtree(out, ignore_errors=True)

    cores = os.cpu_count()
    print("## 1. Trainer throughput: online vs offline (same model, objective and batch)\n")
    print(
        f"Device `{DEVICE}`"
        + (f" ({torch.cuda.get_device_name()})" if DEVICE == "cuda" else "")
        + f". `fno/small`, pushforward (unroll 2), batch {BATCH}, history 2. Samples/s are steady "
        "state: the log intervals after the first (start-up and the watermark fill left out); "
        f"best of {args.repeats} run(s) for KS, {args.repeats_2d} for Kolmogorov, every source "
        "alike (all runs in the last column). Online: stream of fresh trajectories that "
        f"outlasts the run, buffer capacity {CAPACITY}, watermark {WATERMARK}. `idle` is the "
        "trainer's `idle_fraction` (time blocked waiting for a batch), time-weighted; `idle (all)` "
        "includes the first interval (watermark fill). `load`: the 1-minute load average "
        "after the best run (this benchmark alone accounts for about 1-2).\n"
    )
    print(
        f"**Caveat:** this machine has {cores} cores (load average at start "
        f"{args.load[0]:.2f}, shared with other jobs) and runs with OMP_NUM_THREADS="
        f"{os.environ.get('OMP_NUM_THREADS', 'unset')}; producers and the trainer compete for "
        "the CPU (and, as threads, for the GIL), so an online trainer is slowed down even "
        "when it never waits for data: `idle_fraction` does not see that loss.\n"
    )
    print(
        "| data | source | steps | samples/s | ratio vs memory | idle | idle (all) "
        "| received/s | reuse (end) | load | all runs (samples/s) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    summary = {}
    for key, (steps, _, _) in configs.items():
        runs = {name: results[(key, name)] for name, _ in sources}
        best = {n: max(rs, key=lambda r: r["samples_per_s"]) for n, rs in runs.items() if rs}
        mem = best["memory"]["samples_per_s"]
        for name, label in sources:
            if name not in best:
                print(
                    f"| {SPECS[key][0]} | {label} | timed out ({args.mpi_timeout:.0f} s) |"
                    + 7 * " – |"
                )
                continue
            b = best[name]
            ratio = b["samples_per_s"] / mem
            step = f"{b['step']}" if b["step"] == steps else f"{b['step']} (of {steps})"
            all_runs = ", ".join(f"{r['samples_per_s']:.0f}" for r in runs[name])
            print(
                f"| {SPECS[key][0]} | {label} | {step} | {b['samples_per_s']:.0f} | {ratio:.2f} "
                f"| {cell(b, 'idle_steady', '{:.3f}')} | {cell(b, 'idle_all', '{:.3f}')} "
                f"| {cell(b, 'received_per_s', '{:.0f}')} | {cell(b, 'reuse_mean', '{:.2f}')} "
                f"| {b['load']:.1f} | {all_runs} |"
            )
            summary[(key, name)] = (ratio, b.get("idle_steady"))
    print("\nTarget (online reservoir with threads, the default `run_online`):\n")
    print("| data | online/memory | store/memory | online idle | ratio >= 0.9 | idle <= 0.1 |")
    print("|---|---|---|---|---|---|")
    for key in configs:
        if (key, "reservoir") not in summary or (key, "store") not in summary:
            continue
        ratio, idle = summary[(key, "reservoir")]
        store_ratio = summary[(key, "store")][0]
        print(
            f"| {SPECS[key][0]} | {ratio:.2f} | {store_ratio:.2f} | {idle:.3f} "
            f"| {'yes' if ratio >= 0.9 else 'no'} | {'yes' if idle <= 0.1 else 'no'} |"
        )
    print()


# --- 2. MPI message throughput --------------------------------------------------------------


class Sink:
    """A buffer stand-in for the receiver: accepts every sample, counts them."""

    closed = False

    def __init__(self):
        self.count, self.t_last = 0, None

    def put(self, sample, block=True, timeout=None) -> bool:
        self.count += 1
        self.t_last = time.perf_counter()
        return True

    def put_many(self, samples) -> int:
        self.count += len(samples)
        self.t_last = time.perf_counter()
        return len(samples)

    def close(self) -> None:
        self.closed = True


def _raw(comm, floats: int, seconds: float) -> dict | None:
    """Back-to-back blocking ``Send``/``Recv`` of one float32 buffer of ``floats``."""
    from mpi4py import MPI

    buf = np.zeros(floats, np.float32)
    comm.Barrier()
    if comm.Get_rank() == 1:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            for _ in range(8):
                comm.Send(buf, dest=0, tag=1)
        comm.Send(np.zeros(0, np.float32), dest=0, tag=2)
        return None
    status, count = MPI.Status(), 0
    t0 = t_last = time.perf_counter()
    while True:
        comm.Recv(buf, source=1, tag=MPI.ANY_TAG, status=status)
        if status.tag == 2:
            break
        count += 1
        t_last = time.perf_counter()
    return {"messages": count, "seconds": t_last - t0}


def _pdesurr(comm, floats: int, seconds: float, credits: int, producers=(1,),
             shared: bool = True) -> dict | None:  # fmt: skip
    """The transport's own code; the solver is replaced by pre-made samples (replayed)."""
    import pdesurr.stream.mpi as transport
    from pdesurr.data.windows import WindowSpec
    from pdesurr.stream.buffer import Sample
    from pdesurr.stream.ledger import Ledger

    shape = (1, 1, floats)  # (W, C, *S): the transport only sees the element count
    window = WindowSpec(conditioning=("dt", "length")[:N_COND])
    if comm.Get_rank() in producers:
        frames, cond = torch.randn(shape), torch.tensor([0.5, 32.0])

        def fake_produce(*_args, **_kwargs):
            # like a producer of batch 4: an "alive" per frame (4 samples), a "done" per
            # trajectory (17 windows); run_producer Iprobes for credits before each event
            end, i = time.perf_counter() + seconds, 0
            while time.perf_counter() < end:
                if i % 4 == 0:
                    yield ("alive",)
                yield ("sample", Sample(frames, cond, i // 17, i % 17))
                if i % 17 == 16:
                    yield ("done", i // 17)
                i += 1

        transport.produce = fake_produce
        comm.Barrier()
        cpu0 = time.thread_time()
        transport.run_producer(comm, 0, None, "train", [], window, shape, credits)
        comm.Send(np.array([time.thread_time() - cpu0]), dest=0, tag=77)  # its CPU seconds
        return None
    if comm.Get_rank() != 0:
        comm.Barrier()
        return None
    sink, ledger = Sink(), Ledger()
    comm.Barrier()
    t0 = time.perf_counter()
    receiver = transport.MPIReceiver(
        comm, list(producers), sink, ledger, shape, N_COND, credits, 600.0, shared_memory=shared
    )
    receiver.start()
    cpu_clock = time.pthread_getcpuclockid(receiver.thread.ident)
    cpu0 = time.clock_gettime(cpu_clock)
    while not all(p in ledger.finished for p in producers):
        time.sleep(0.002)
    cpu = time.clock_gettime(cpu_clock) - cpu0
    receiver.stop()
    producer_cpu = np.zeros(1)
    for p in producers:
        comm.Recv(producer_cpu, source=p, tag=77)
    return {
        "producer_cpu": float(producer_cpu[0]),  # of the last producer
        "messages": sink.count,
        "seconds": sink.t_last - t0,
        "bundles": receiver.bundles,
        "work": receiver.work_time,
        "cpu": cpu,
    }


def mpi_messages_worker(sizes: list[int], seconds: float, reps: int) -> None:
    from mpi4py import MPI

    from pdesurr.stream.bundle import bundle_samples
    from pdesurr.training.online_mpi import producer_credits

    world = MPI.COMM_WORLD
    if world.Get_size() != 2:
        raise SystemExit("--mpi-worker messages needs exactly 2 ranks")
    credits = producer_credits(CAPACITY, 1, 1)  # as run_online_mpi computes it
    rows = []
    for n in sizes:
        floats = N_COND + n  # the payload of a sample of n floats: cond + frames
        per = bundle_samples(floats, credits)
        _raw(world.Dup(), floats, min(0.2, seconds))  # warm-up
        runs = []
        for rep in range(reps):  # interleaved, order alternating: the machine's load drifts
            order = ["raw", "raw_bundle", "pdesurr", "messages"]
            out = {}
            for name in order if rep % 2 == 0 else order[::-1]:
                if name == "raw":
                    out[name] = _raw(world.Dup(), floats, seconds)
                elif name == "raw_bundle":
                    out[name] = _raw(world.Dup(), floats * per, seconds)
                else:  # the default path (shared memory on one node), and messages only
                    shared = name == "pdesurr"
                    out[name] = _pdesurr(world.Dup(), n, seconds, credits, shared=shared)
            runs.append(out)
        if world.Get_rank() == 0:
            rows.append({"floats": n, "payload_bytes": 4 * floats, "per_bundle": per, "runs": runs})
    if world.Get_rank() == 0:
        print("RESULT " + json.dumps({"rows": rows, "credits": credits}), flush=True)


def mpi_online_worker(recipe_json: Path, result_json: Path) -> None:
    """``run_online`` under ``mpiexec -n 2``, then a drain so that the job can end.

    Work-around: ``MPIReceiver.stop()`` stops receiving before it sends the stop, so a
    producer with samples in flight can stay blocked in ``Send`` forever (the job hangs at
    the end). Here rank 0, after training, receives and discards what the producer still
    sends until the producer, past its stop, says it has returned (tag ``DRAINED``).
    """
    from mpi4py import MPI

    from pdesurr.training.online import run_online

    comm = MPI.COMM_WORLD
    d = json.loads(recipe_json.read_text())
    t, cpu0, main0 = time.perf_counter(), time.process_time(), time.thread_time()
    result, ledger = run_online(make_recipe(d), progress=False, resume=False, comm=comm)
    wall = time.perf_counter() - t
    cpu, main = time.process_time() - cpu0, time.thread_time() - main0
    drained = 0
    if comm.Get_rank() != 0:
        comm.Send(np.zeros(0, np.uint8), dest=0, tag=DRAINED)
        return
    status = MPI.Status()
    while True:
        comm.Probe(source=MPI.ANY_SOURCE, tag=MPI.ANY_TAG, status=status)
        buf = np.empty(status.Get_count(MPI.BYTE), np.uint8)
        comm.Recv(buf, source=status.source, tag=status.tag)
        if status.tag == DRAINED:
            break
        drained += 1
    result_json.write_text(
        json.dumps(
            {
                "history": result.history,
                "step": result.step,
                "wall": wall,
                "received": sum(ledger.received.values()),
                "trajectories": len(ledger.received),
                "done": len(ledger.done),
                "drained": drained,
                "cpu_process": cpu,
                "cpu_main_thread": main,
            }
        )
    )


def messages(args) -> None:
    cmd = [mpiexec(), "-n", "2", *shlex.split(args.pin), sys.executable, os.path.abspath(__file__)]
    cmd += ["--mpi-worker", "messages", "--seconds", str(args.mpi_seconds)]
    cmd += ["--reps", str(args.mpi_reps), "--sizes", *map(str, args.sizes)]
    note(f"  mpi: {' '.join(cmd[:3])} ... --mpi-worker messages")
    p = run_mpiexec(cmd, args.mpi_timeout)
    if p is None:
        print(f"## 2. MPI message throughput: timed out after {args.mpi_timeout:.0f} s\n")
        return
    line = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
    if p.returncode != 0 or not line:
        raise RuntimeError(f"mpiexec failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    data = json.loads(line[-1][len("RESULT ") :])
    from mpi4py import MPI

    print("## 2. MPI message throughput (mpiexec -n 2, one producer rank -> trainer rank)\n")
    print(
        f"{MPI.Get_library_version().splitlines()[0].strip()}, mpi4py. Payload per sample: "
        f"{N_COND} conditioning + n frame floats (float32); MB/s counts payload bytes only. "
        f"pdesurr: the real `run_producer`/`MPIReceiver` (bundles of many samples, one "
        f"credit message per bundle; solver replaced by pre-made samples, an `alive` event "
        f"per 4 samples and a `done` per 17 as a batch-4 producer emits; {data['credits']} "
        f"credits as `run_online` gives one producer; the receiver puts the samples into a "
        f"counting sink), by its default path: samples of >= 4 KiB from a producer on the "
        f"trainer's node are packed into a segment the trainer maps and lent in place "
        f"(`pdesurr.stream.shared`: a 16-byte reference per bundle), smaller ones and other "
        f"nodes' go as messages; `messages`: `online.shared_memory = false`, every bundle a "
        f"message (`Isend` from a ring, `Irecv` posted ahead, large samples lent from the "
        f"receive buffer, small ones copied out). "
        f"raw: back-to-back blocking `Send`/`Recv` of one float32 buffer, no flow control: "
        f"`raw 1` one sample per message (the same bytes as pdesurr's per-sample payload), "
        f"`raw B` one message of a bundle's payload (B samples). {args.mpi_reps} interleaved "
        f"repeats of ~{args.mpi_seconds:g} s each (order alternating); figures are medians, "
        f"ratios the median of the per-repeat ratios. `recv µs/sample`: the trainer's "
        f"receive thread handling a bundle (unpack, views or copy, put, credit) per sample; `cpu "
        f"µs/sample`: that thread's CPU time per sample, polling included; `producer cpu`: the "
        f"producer rank's CPU time per sample (packing, sends, the replayed events). Both "
        f"ranks share "
        f"the {os.cpu_count()} cores{' (mpiexec ' + args.pin + ')' if args.pin else ''}"
        f", load average {os.getloadavg()[0]:.1f}.\n"
    )
    print(
        "| n floats | payload | B | raw 1 samples/s | raw 1 MB/s | raw B MB/s "
        "| pdesurr samples/s | pdesurr MB/s | pdesurr/raw 1 | pdesurr/raw B "
        "| recv µs/sample | cpu µs/sample | producer cpu µs/sample | messages/raw 1 "
        "| messages recv µs/sample |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    med = lambda xs: float(np.median(xs))  # noqa: E731
    for row in data["rows"]:
        per = row["per_bundle"]
        raw1 = [r["raw"]["messages"] / r["raw"]["seconds"] for r in row["runs"]]
        rawb = [per * r["raw_bundle"]["messages"] / r["raw_bundle"]["seconds"] for r in row["runs"]]
        ours = [r["pdesurr"]["messages"] / r["pdesurr"]["seconds"] for r in row["runs"]]
        work = [1e6 * r["pdesurr"]["work"] / r["pdesurr"]["messages"] for r in row["runs"]]
        cpu = [1e6 * r["pdesurr"]["cpu"] / r["pdesurr"]["messages"] for r in row["runs"]]
        pcpu = [1e6 * r["pdesurr"]["producer_cpu"] / r["pdesurr"]["messages"] for r in row["runs"]]
        mb = row["payload_bytes"] / 1e6
        size = row["payload_bytes"]
        size = f"{size / 1024:.1f} KiB" if size >= 1024 else f"{size} B"
        msgs = [r["messages"]["messages"] / r["messages"]["seconds"] for r in row["runs"]]
        mwork = [1e6 * r["messages"]["work"] / r["messages"]["messages"] for r in row["runs"]]
        m1 = med([o / r for o, r in zip(msgs, raw1, strict=True)])
        r1 = med([o / r for o, r in zip(ours, raw1, strict=True)])
        rb = med([o / r for o, r in zip(ours, rawb, strict=True)])
        print(
            f"| {row['floats']} | {size} | {per} | {med(raw1):,.0f} | {med(raw1) * mb:,.1f} "
            f"| {med(rawb) * mb:,.1f} | {med(ours):,.0f} | {med(ours) * mb:,.1f} | {r1:.2f} "
            f"| {rb:.2f} | {med(work):.2f} | {med(cpu):.2f} | {med(pcpu):.2f} | {m1:.2f} "
            f"| {med(mwork):.2f} |"
        )
    print()


def mpi_capacity_worker(sizes: list[int], seconds: float) -> None:
    """One trainer rank (0) and ``size - 1`` producer ranks replaying pre-made samples."""
    from mpi4py import MPI

    from pdesurr.training.online_mpi import producer_credits

    world = MPI.COMM_WORLD
    n_prod = world.Get_size() - 1
    credits = producer_credits(CAPACITY, n_prod, 1)  # as run_online_mpi computes it
    rows = []
    for n in sizes:
        r = _pdesurr(world.Dup(), n, seconds, credits, producers=tuple(range(1, n_prod + 1)))
        if world.Get_rank() == 0:
            rows.append({"floats": n, "payload_bytes": 4 * (N_COND + n), **r})
    if world.Get_rank() == 0:
        print("RESULT " + json.dumps({"rows": rows, "credits": credits}), flush=True)


def capacity(args) -> None:
    """Samples/s one trainer rank absorbs from 1, 2, 4... producer ranks (oversubscribed)."""
    print("## Capacity: producer ranks replaying pre-made samples into one trainer rank\n")
    print(
        f"`mpiexec -n 1+P`, each producer the real `run_producer` with the solver replaced by "
        f"pre-made samples (as in part 2), the trainer rank the real `MPIReceiver` into a "
        f"counting sink; credits per producer as `run_online` gives them (capacity "
        f"{CAPACITY} / P / 4). {os.cpu_count()} cores for 1+P ranks: beyond 1 producer the "
        f"ranks are oversubscribed, so the figures show the trainer's receive cost, not a "
        f"network's. Load average {os.getloadavg()[0]:.1f}.\n"
    )
    print("| producers | n floats | payload | samples/s | MB/s | recv µs/sample | cpu µs/sample |")
    print("|---|---|---|---|---|---|---|")
    for n_prod in args.producers:
        cmd = [mpiexec(), "-n", str(1 + n_prod), *shlex.split(args.pin), sys.executable]
        cmd += [os.path.abspath(__file__), "--mpi-worker", "capacity"]
        cmd += ["--seconds", str(args.mpi_seconds), "--sizes", *map(str, args.sizes)]
        note(f"  capacity: {n_prod} producer rank(s)")
        p = run_mpiexec(cmd, args.mpi_timeout)
        line = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")] if p else []
        if not line:
            print(f"| {n_prod} | failed or timed out |" + 5 * " – |")
            continue
        for row in json.loads(line[-1][len("RESULT ") :])["rows"]:
            rate = row["messages"] / row["seconds"]
            size = row["payload_bytes"]
            label = f"{size / 1024:.1f} KiB" if size >= 1024 else f"{size} B"
            print(
                f"| {n_prod} | {row['floats']} | {label} | {rate:,.0f} "
                f"| {rate * size / 1e6:,.1f} | {1e6 * row['work'] / row['messages']:.2f} "
                f"| {1e6 * row['cpu'] / row['messages']:.2f} |"
            )
    print()


# --- 3. accuracy ----------------------------------------------------------------------------


def persistence(store: Path) -> float:
    """Mean relative L2 of "next frame = last frame" over the valid windows."""
    from pdesurr.data.windows import WindowDataset

    valid = WindowDataset(store, "valid", history=2, horizon=1)
    frames, _ = valid.batch(np.arange(len(valid)))
    num = (frames[:, 1] - frames[:, 2]).flatten(1).norm(dim=1)
    return float((num / frames[:, 2].flatten(1).norm(dim=1)).mean())


def validate_checkpoint(checkpoint: str, store: Path) -> dict:
    """``fit``'s final validation, from a checkpoint (the weights are the EMA ones)."""
    from pdesurr.checkpoints.readers import load_surrogate
    from pdesurr.data.windows import WindowDataset
    from pdesurr.training.validate import validate

    surrogate, config = load_surrogate(checkpoint)
    cond = tuple(config["data"]["conditioning"])
    valid = WindowDataset(store, "valid", history=2, horizon=1, conditioning=cond)
    return validate(surrogate, valid, 256, torch.device("cpu"))


def accuracy(args, store: Path, work: Path) -> None:
    steps, log_every = args.acc_steps, max(1, args.acc_steps // 10)
    rows = []
    n_off = args.offline_trajectories
    note(f"  accuracy: offline, {n_off} stored trajectories, {steps} steps")
    r = run_memory(recipe_dict("kolmogorov", store, work / "acc-offline", steps, log_every))
    last = {k: v for h in r["history"] for k, v in h.items()}
    per = args.frames - 3  # windows per trajectory (history 2 + horizon 2 = 4 frames)
    rows.append(
        (
            f"offline, store of {n_off} trajectories",
            r["step"],
            f"{n_off}",
            f"{n_off * per}",
            f"{r['step'] * BATCH / (n_off * per):.1f}",
            last,
            r["wall"],
        )
    )
    streams = [(args.online_trajectories, f"{args.online_trajectories} trajectories")]
    if args.unbounded:
        streams.append((UNBOUNDED, "unbounded (outlasts the run)"))
    for n_on, label in streams:
        note(f"  accuracy: online, stream of {label}, {steps} steps")
        online = {"trajectories": n_on, "buffer": "reservoir"}
        d = recipe_dict(
            "kolmogorov", store, work / f"acc-online-{n_on}", steps, log_every, None, online
        )
        r = run_threads(d)
        last = {k: v for h in r["history"] for k, v in h.items()}
        validated = [h["step"] for h in r["history"] if "valid_loss" in h]
        if not validated or validated[-1] != r["step"]:
            last.update(validate_checkpoint(r["checkpoint"], store))
            last["from_checkpoint"] = True
        step = f"{r['step']}" if r["step"] == steps else f"**{r['step']}** (stream ended)"
        seen = f"{r['trajectories']} ({r['done']} complete)"
        rows.append(
            (
                f"online, stream of {label}, reservoir",
                step,
                seen,
                f"{r['received']}",
                f"{last.get('reuse_mean', float('nan')):.1f}",
                last,
                r["wall"],
            )
        )
    print("## 3. Accuracy: online vs offline at equal optimizer steps (Kolmogorov small, 2D)\n")
    print(
        f"`fno/small` on `kolmogorov/small` (64^2 solver, stored 32^2), pushforward (unroll 2), "
        f"batch {BATCH}, lr 3e-3 cosine, EMA 0.99, seed 0, {steps} steps requested for both. "
        f"Offline: the store's train split (trajectories 0..{n_off - 1}). Online: fresh "
        f"trajectories of the same spec's train split streamed by 1 producer thread into a "
        f"reservoir (capacity {CAPACITY}, watermark {WATERMARK}); trajectories 0..{n_off - 1} "
        f"are the offline ones. Both validated on the same held-out store: the spec's valid "
        f"split, {args.valid_trajectories} trajectories, one-step windows. `valid_loss` is the "
        f"standardised MSE with each run's own normalisation (offline: train-split statistics; "
        f"online: valid-split statistics, as `run_online` does), so compare `valid_rel_l2` "
        f"(physical units). One seed, CPU scale: a small-scale indication, not the paper's "
        f"result.\n"
    )
    print(
        "| training | steps | trajectories seen | windows stored / received | mean uses per window "
        "| final valid_loss | final valid_rel_l2 | wall s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print(f"| persistence (next = last frame) | – | – | – | – | – | {persistence(store):.4f} | – |")
    footnote = False
    for label, step, seen, windows, reuse, last, wall in rows:
        mark = " †" if last.get("from_checkpoint") else ""
        footnote |= bool(mark)
        print(
            f"| {label} | {step} | {seen} | {windows} | {reuse} | {last['valid_loss']:.4g}{mark} "
            f"| {last['valid_rel_l2']:.4f}{mark} | {wall:.0f} |"
        )
    if footnote:
        print(
            "\n† `fit` logged no validation at the final step (the stream ran dry right after a "
            "log step, so its end-of-stream record was skipped); validated here from the final "
            "checkpoint (EMA weights) on the same windows, as `fit` would."
        )
    print()


# --- main -----------------------------------------------------------------------------------


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a short smoke run (about a minute)")
    p.add_argument(
        "--parts",
        nargs="+",
        default=["throughput", "mpi", "accuracy"],
        choices=["throughput", "mpi", "capacity", "accuracy"],
    )
    p.add_argument(
        "--sources",
        nargs="+",
        choices=["store", "reservoir", "firo", "mpi"],
        help="throughput: only these sources (and memory)",
    )
    p.add_argument(
        "--device",
        choices=["cpu", "cuda"],
        default="cpu",
        help="throughput: trainer and producers' solvers on this device (cuda: an in-process "
        "producer's windows go straight into a GPU-resident buffer; an MPI producer rank's "
        "travel through host memory)",
    )
    p.add_argument("--ks-steps", type=int, default=300)
    p.add_argument("--k2d-steps", type=int, default=60)
    p.add_argument("--repeats", type=int, default=2, help="throughput runs per KS source")
    p.add_argument("--repeats-2d", type=int, default=2, help="per Kolmogorov source")
    p.add_argument(
        "--no-mpi-online",
        dest="mpi_online",
        action="store_false",
        help="skip the throughput row with an MPI producer rank",
    )
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 64 * 64, 128 * 128])
    p.add_argument("--mpi-seconds", type=float, default=1.5)
    p.add_argument("--mpi-reps", type=int, default=3, help="interleaved repeats per size")
    p.add_argument(
        "--pin",
        default="",
        help='mpiexec options placing the ranks, e.g. --pin="-bind-to core"',
    )
    p.add_argument("--reps", type=int, default=3, help=argparse.SUPPRESS)
    p.add_argument(
        "--mpi-timeout", type=float, default=150, help="s before an mpiexec run is ended"
    )
    p.add_argument("--acc-steps", type=int, default=300)
    p.add_argument("--offline-trajectories", type=int, default=8)
    p.add_argument("--online-trajectories", type=int, default=64)
    p.add_argument(
        "--no-unbounded",
        dest="unbounded",
        action="store_false",
        help="skip the accuracy row with a stream that outlasts the run",
    )
    p.add_argument("--valid-trajectories", type=int, default=8)
    p.add_argument("--keep", action="store_true", help="keep the temporary stores and runs")
    p.add_argument(
        "--mpi-worker", choices=["messages", "online", "capacity"], help=argparse.SUPPRESS
    )
    p.add_argument("--producers", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--seconds", type=float, default=1.0, help=argparse.SUPPRESS)
    p.add_argument("--recipe-json", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--result-json", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.mpi_worker == "messages":
        return mpi_messages_worker(args.sizes, args.seconds, args.reps)
    if args.mpi_worker == "online":
        return mpi_online_worker(args.recipe_json, args.result_json)
    if args.mpi_worker == "capacity":
        return mpi_capacity_worker(args.sizes, args.seconds)

    if args.quick:
        args.ks_steps, args.k2d_steps, args.repeats, args.repeats_2d = 60, 30, 1, 1
        args.mpi_seconds, args.acc_steps = 0.3, 40
        args.offline_trajectories, args.online_trajectories = 4, 8
        args.valid_trajectories, args.mpi_online, args.unbounded = 2, False, False
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: CUDA is not available")
    global DEVICE
    DEVICE = args.device
    args.ks_log = max(1, args.ks_steps // 10)
    args.k2d_log = max(1, args.k2d_steps // 6)
    args.load = os.getloadavg()
    t_start = time.perf_counter()

    from pdesurr.data.generate import generate
    from pdesurr.data.spec import DatasetSpec

    work = Path(tempfile.mkdtemp(prefix="pdesurr-stream-"))
    try:
        # one store per spec: train split for the offline runs, valid split for validation
        # and the online runs' statistics (trajectory i is the same in store and stream)
        stores = {}
        n_train = {"ks": 8, "kolmogorov": args.offline_trajectories}
        n_valid = {"ks": 2, "kolmogorov": args.valid_trajectories}
        for key, (spec, _) in SPECS.items():
            if "throughput" not in args.parts and "accuracy" not in args.parts:
                continue  # the message parts need no store
            if key == "ks" and "throughput" not in args.parts:
                continue
            sets = [f"splits.train={n_train[key]}", f"splits.valid={n_valid[key]}", "splits.test=0"]
            stores[key] = work / f"{key}.zarr"
            t = time.perf_counter()
            generate(DatasetSpec.load(spec, sets), stores[key], progress=False)
            note(f"  generated {spec} ({', '.join(sets)}) in {time.perf_counter() - t:.1f} s")
        args.frames = DatasetSpec.load(SPECS["kolmogorov"][0]).frames

        print(
            f"# Streaming benchmarks{' (--quick)' if args.quick else ''}\n\n"
            f"torch {torch.__version__}, {torch.get_num_threads()} intra-op thread(s), "
            f"{os.cpu_count()} cores, load average at start {args.load[0]:.2f}\n"
        )
        for part, run in (
            ("throughput", lambda: throughput(args, stores, work)),
            ("mpi", lambda: messages(args)),
            ("capacity", lambda: capacity(args)),
            ("accuracy", lambda: accuracy(args, stores["kolmogorov"], work)),
        ):
            if part in args.parts:
                t = time.perf_counter()
                run()
                sys.stdout.flush()
                note(f"  {part}: {time.perf_counter() - t:.0f} s")
        print(f"_Total wall time {time.perf_counter() - t_start:.0f} s._")
    finally:
        if args.keep:
            note(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
