"""pdesurr's solvers against exponax and pyqg, in the same run, on the same cores.

    python benchmarks/peers.py --install .venv-peers      # once: the peers' own environment
    python benchmarks/peers.py --peers .venv-peers         # float64 and float32, 1 and all threads
    python benchmarks/peers.py --peers .venv-peers --cases ns256,qg128 --dtypes float64 --threads 1
    python benchmarks/peers.py --peers .venv-peers --threads 1 --clock cpu  # on a busy machine

Each code runs in its own worker process pinned with ``taskset`` to the same cores
(core 0 for "1 thread", every allowed core for "all threads"), with its thread pools
limited to that many threads (torch / ducc0 threads for pdesurr, XLA's Eigen pool for
exponax, FFTW threads ``ntd`` for pyqg). Workers stay alive for the whole run, so JIT
compilation and FFT plans are paid once. For each case the driver alternates blocks of
steps between the two codes (order swapped every repeat) and reports medians:

* pdesurr through ``Stepper.step(u, n)`` (ETDRK4 for NS and KS, AB3 for QG);
* exponax ETDRK4 (``order=4``) under ``jax.jit`` + ``lax.fori_loop`` (``vmap`` over the
  batch): ``NavierStokesVorticity`` (ν = 1e-3, drag 0.1, no forcing) and
  ``KuramotoSivashinskyConservative`` (L = 64, N = 256, dt = 0.05);
* pyqg 0.7.2 ``QGModel._step_forward()`` with pyFFTW (its defaults, dt = 7200 s).

Printed per case: ms/step of each code, the ratio pdesurr / peer (< 1: pdesurr faster),
and each step's time over its own library's FFT pair (a forward + inverse real FFT of
one field of the state), the bound the best codes approach.

``--clock cpu`` times each block by the worker's CPU time instead of the elapsed time:
on a machine shared with other jobs a one-thread worker then is not charged for the time
it waits for its core (with several threads CPU time sums them, so use it for 1 thread).

The peers' environment is separate because pyqg 0.7.2 needs NumPy < 2 and Cython < 3
(its sdist reports version 0.0.0, hence ``SETUPTOOLS_SCM_PRETEND_VERSION``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

CASES = {
    "ns128": ("NS 2D 128², ETDRK4", "exponax"),
    "ns256": ("NS 2D 256², ETDRK4", "exponax"),
    "ks1": ("KS N=256 batch 1, ETDRK4", "exponax"),
    "ks64": ("KS N=256 batch 64, ETDRK4", "exponax"),
    "qg64": ("QG 2-layer 64², AB3", "pyqg"),
    "qg128": ("QG 2-layer 128², AB3", "pyqg"),
}
NS_DT = {128: 0.5 * (2 * math.pi / 128) / 7.0, 256: 0.5 * (2 * math.pi / 256) / 7.0}


# --------------------------------------------------------------------------- workers
class PdesurrCase:
    def __init__(self, key: str, dtype: str, threads: int, fft: str = "auto", engine="auto"):
        import dataclasses

        import torch

        from pdesurr.solvers import KuramotoSivashinsky, NavierStokes2D, QuasiGeostrophic, Stepper

        torch.set_num_threads(threads)
        self.torch = torch
        dt = getattr(torch, dtype)
        gen = torch.Generator().manual_seed(0)
        if key.startswith("ns"):
            n = int(key[2:])
            pde = NavierStokes2D(n, viscosity=1e-3, drag=0.1)
            self.stepper = Stepper(pde, "etdrk4", dt=NS_DT[n], engine=engine)
            u = pde.initial_condition("random", 1, gen)
        elif key.startswith("ks"):
            pde = KuramotoSivashinsky(256, length=64.0)
            self.stepper = Stepper(pde, "etdrk4", dt=0.05, engine=engine)
            u = pde.initial_condition("random_sines", int(key[2:]), gen)
        else:
            pde = QuasiGeostrophic(nx=int(key[2:]))
            self.stepper = Stepper(pde, "ab3", dt=7200.0, startup="euler", engine=engine)
            u = pde.initial_condition("pyqg_default", 1, gen)
        pde.grid = dataclasses.replace(pde.grid, fft_backend=fft)
        self.u = self.stepper.step(u.to(dt), 5)
        from pdesurr.spectral.fft import resolve

        # what "auto" chose: the engine, and the FFT backend of the torch step
        self.engine = self.stepper.engine_details(self.u)
        if self.engine == "torch":
            self.engine += f" ({resolve(pde.grid.fft_backend, pde.grid.ndim)} FFT)"
        self.grid = pde.grid
        self.field = self.u[:, :1].clone()

    def steps(self, n: int) -> None:
        self.stepper.step(self.u, n)

    def fft_pair(self, n: int) -> None:
        for _ in range(n):
            self.grid.irfft(self.grid.rfft(self.field))


class ExponaxCase:
    def __init__(self, key: str, dtype: str, threads: int, fft: str = "", engine=""):
        import jax

        jax.config.update("jax_enable_x64", dtype == "float64")
        import exponax as ex
        import jax.numpy as jnp

        self.jax, self.jnp = jax, jnp
        real = jnp.float64 if dtype == "float64" else jnp.float32
        key_ = jax.random.PRNGKey(0)
        if key.startswith("ns"):
            n = int(key[2:])
            stepper = ex.stepper.NavierStokesVorticity(
                2, 2 * math.pi, n, NS_DT[n], diffusivity=1e-3, drag=-0.1, order=4
            )
            u = 3.0 * jax.random.normal(key_, (1, 1, n, n), dtype=real)
            axes = (-2, -1)
        else:
            stepper = ex.stepper.KuramotoSivashinskyConservative(1, 64.0, 256, 0.05, order=4)
            u = 0.1 * jax.random.normal(key_, (int(key[2:]), 1, 256), dtype=real)
            axes = (-1,)
        batched = jax.vmap(stepper)
        self.run = jax.jit(
            lambda v, n: jax.lax.fori_loop(0, n, lambda i, w: batched(w), v), static_argnums=1
        )
        self.u = self.run(u, 5).block_until_ready()
        field = self.u[:, :1]
        shape = field.shape[-len(axes) :]
        self.pair = jax.jit(
            lambda v, n: jax.lax.fori_loop(
                0,
                n,
                lambda i, w: jnp.fft.irfftn(jnp.fft.rfftn(w, axes=axes), s=shape, axes=axes),
                v,
            ),
            static_argnums=1,
        )
        self.field = field
        self.compiled: set[tuple[str, int]] = set()

    def _warm(self, what: str, n: int) -> None:
        if (what, n) not in self.compiled:  # a new block length is a new compilation
            (
                self.run(self.u, n) if what == "steps" else self.pair(self.field, n)
            ).block_until_ready()
            self.compiled.add((what, n))

    def steps(self, n: int) -> None:
        self.run(self.u, n).block_until_ready()

    def fft_pair(self, n: int) -> None:
        self.pair(self.field, n).block_until_ready()


class PyqgCase:
    def __init__(self, key: str, dtype: str, threads: int, fft: str = "", engine=""):
        import numpy as np
        import pyqg

        if dtype != "float64":
            raise ValueError("pyqg runs in float64 only")
        self.np = np
        n = int(key[2:])
        self.m = pyqg.QGModel(nx=n, dt=7200.0, ntd=threads, log_level=0, tmax=1e12, twrite=10**9)
        for _ in range(5):
            self.m._step_forward()
        self.field = np.ascontiguousarray(self.m.q[0])
        import pyfftw

        self.fwd = pyfftw.builders.rfft2(self.field.copy(), threads=threads)
        spec = self.fwd()
        self.inv = pyfftw.builders.irfft2(spec.copy(), s=self.field.shape, threads=threads)

    def steps(self, n: int) -> None:
        for _ in range(n):
            self.m._step_forward()

    def fft_pair(self, n: int) -> None:
        for _ in range(n):
            self.fwd()
            self.inv()


WORKERS = {"pdesurr": PdesurrCase, "exponax": ExponaxCase, "pyqg": PyqgCase}


def worker(code: str) -> None:
    """Answer JSON lines on stdin: {case, dtype, threads, what, n} -> {seconds}."""
    cases: dict = {}
    for line in sys.stdin:
        req = json.loads(line)
        ident = (req["case"], req["dtype"], req.get("fft", ""), req.get("engine", ""))
        try:
            if ident not in cases:
                fft, engine = ident[2] or "auto", ident[3] or "auto"
                cases[ident] = WORKERS[code](*ident[:2], req["threads"], fft, engine)
            case = cases[ident]
            if hasattr(case, "_warm"):
                case._warm(req["what"], req["n"])
            clock = time.process_time if req.get("clock") == "cpu" else time.perf_counter
            t0 = clock()
            getattr(case, req["what"])(req["n"])
            reply = {"seconds": clock() - t0, "engine": getattr(case, "engine", "")}
        except Exception as e:  # reported to the driver, which names the case
            reply = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(reply), flush=True)


# --------------------------------------------------------------------------- driver
def wait_policy() -> str | None:
    """The workers' ``OMP_WAIT_POLICY``: the user's, or what the pdesurr command would pick."""
    from pdesurr.cores import busy_cores, choose_wait_policy  # torch-free

    return os.environ.get("OMP_WAIT_POLICY") or choose_wait_policy(os.environ, busy_cores())


class Worker:
    def __init__(self, python: str, code: str, cores: str, threads: int, wait: str | None):
        self.engine = ""  # the engine pdesurr's worker last reported
        env = dict(os.environ)
        env.update(
            OMP_NUM_THREADS=str(threads),
            MKL_NUM_THREADS=str(threads),
            OPENBLAS_NUM_THREADS=str(threads),
            # XLA's CPU pool: one thread, or Eigen's pool over the cores taskset allows
            XLA_FLAGS=(
                "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
                if threads == 1
                else "--xla_cpu_multi_thread_eigen=true"
            ),
            JAX_PLATFORMS="cpu",
            PYTHONPATH=str(Path(__file__).resolve().parents[1]),
        )
        # as the pdesurr command chooses it (pdesurr/cli/wait_policy.py), once for all the
        # workers of a run: idle OpenMP threads sleep when other processes load the cores
        if wait is not None:
            env["OMP_WAIT_POLICY"] = wait
        cmd = ["taskset", "-c", cores, python, __file__, "--worker", code]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        self.code = code

    def ask(self, **req) -> float:
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.code} worker died (see its stderr above)")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"{self.code} on {req['case']}: {reply['error']}")
        self.engine = reply["engine"]
        return reply["seconds"]

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def block_length(w: Worker, req: dict, target_s: float) -> int:
    n = 4
    while True:
        s = w.ask(**req, n=n)
        if s >= target_s / 4 or n >= 1 << 16:
            return max(4, int(n * target_s / max(s, 1e-9)))
        n *= 2


def compare(
    ours: Worker,
    peer: Worker,
    case: str,
    dtype: str,
    threads: int,
    repeats: int,
    target_s: float,
    fft: str = "auto",
    clock: str = "wall",
    engine: str = "auto",
) -> dict:
    base = dict(case=case, dtype=dtype, threads=threads, fft=fft, clock=clock, engine=engine)
    out = {}
    for what in ("steps", "fft_pair"):
        req = dict(base, what=what)
        n = {w.code: block_length(w, req, target_s) for w in (ours, peer)}
        times = {ours.code: [], peer.code: []}
        for r in range(repeats):
            order = (ours, peer) if r % 2 == 0 else (peer, ours)
            for w in order:
                times[w.code].append(w.ask(**req, n=n[w.code]) / n[w.code])
        out[what] = {code: statistics.median(v) for code, v in times.items()}
    out["engine"] = ours.engine
    return out


def install(target: Path) -> None:
    py = target / "bin" / "python"

    def run(*args, **kw):
        subprocess.run([str(py), "-m", "pip", "install", "-q", *args], check=True, **kw)

    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(target)], check=True)
    run("numpy<2", "cython<3", "pyfftw", "setuptools", "setuptools_scm", "wheel")
    # "numpy<2" again: pyqg's extension is built against NumPy 1 (its Cython 0.29 code
    # does not compile against NumPy 2's headers), and the newest jax wants NumPy 2, so
    # pip picks the newest jax that still runs on NumPy 1
    run("jax", "exponax", "jax-cfd", "numpy<2")
    env = dict(os.environ, SETUPTOOLS_SCM_PRETEND_VERSION="0.7.2")
    run("--no-build-isolation", "pyqg==0.7.2", "numpy<2", env=env)
    print(f"peers installed in {target}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--install", type=Path, help="create the peers' environment here and exit")
    p.add_argument("--peers", type=Path, default=Path(".venv-peers"), help="peers' environment")
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--dtypes", default="float64,float32")
    p.add_argument("--threads", default="1,all", help="'1', 'all' or both")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--block-seconds", type=float, default=0.3)
    p.add_argument("--json", type=Path)
    p.add_argument(
        "--clock",
        default="wall",
        choices=("wall", "cpu"),
        help="wall: elapsed time; cpu: the worker's CPU time (user + system, all its threads), "
        "which leaves out time spent waiting for a core on a busy machine (1 thread only)",
    )
    p.add_argument(
        "--pdesurr-fft",
        default="auto",
        choices=("auto", "torch", "ducc0"),
        help="pdesurr's FFT backend (pdesurr.spectral.fft)",
    )
    p.add_argument(
        "--pdesurr-engine",
        default="auto",
        choices=("auto", "torch", "numba"),
        help="pdesurr's stepping engine (Stepper(engine=...)); the table names the one used",
    )
    args = p.parse_args(argv)
    if args.worker:
        worker(args.worker)
        return 0
    if args.install:  # before anything imports pdesurr: any Python can install the peers
        install(args.install)
        return 0
    wait = wait_policy()  # one choice for every worker of the run
    from pdesurr.cores import busy_cores  # measured once, by wait_policy

    peer_python = args.peers / "bin" / "python"
    if not peer_python.exists():
        p.error(
            f"--peers {args.peers}: no environment there; create it with --install {args.peers}"
        )
    allowed = sorted(os.sched_getaffinity(0))
    settings = []
    for t in args.threads.split(","):
        cores = [allowed[0]] if t == "1" else allowed
        settings.append((len(cores), ",".join(map(str, cores))))
    print(
        f"# pdesurr (FFT backend {args.pdesurr_fft}, engine {args.pdesurr_engine}) vs peers, "
        f"{time.strftime('%Y-%m-%d %H:%M')}, cores {allowed}, "
        f"repeats {args.repeats} (interleaved), medians, {args.clock} clock, "
        f"load average {os.getloadavg()[0]:.1f}, busy cores {busy_cores():.2f} (measured), "
        f"OMP_WAIT_POLICY {wait or 'default'}"
    )
    print(
        "| case | dtype | threads | pdesurr ms/step | pdesurr engine | peer | peer ms/step "
        "| ratio pdesurr/peer | pdesurr step ÷ FFT pair | peer step ÷ FFT pair |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for threads, cores in settings:
        workers: dict[str, Worker] = {}
        try:
            for case in args.cases.split(","):
                label, peer_code = CASES[case]
                for dtype in args.dtypes.split(","):
                    if peer_code == "pyqg" and dtype != "float64":
                        continue  # pyqg has no float32 model
                    for code, python in (
                        ("pdesurr", sys.executable),
                        (peer_code, str(peer_python)),
                    ):
                        if code not in workers:
                            workers[code] = Worker(python, code, cores, threads, wait)
                    r = compare(
                        workers["pdesurr"],
                        workers[peer_code],
                        case,
                        dtype,
                        threads,
                        args.repeats,
                        args.block_seconds,
                        args.pdesurr_fft,
                        args.clock,
                        args.pdesurr_engine,
                    )
                    ours, theirs = r["steps"]["pdesurr"], r["steps"][peer_code]
                    row = dict(
                        case=case,
                        label=label,
                        dtype=dtype,
                        threads=threads,
                        peer=peer_code,
                        engine=r["engine"],
                        pdesurr_ms=ours * 1e3,
                        peer_ms=theirs * 1e3,
                        ratio=ours / theirs,
                        pdesurr_fft=ours / r["fft_pair"]["pdesurr"],
                        peer_fft=theirs / r["fft_pair"][peer_code],
                    )
                    rows.append(row)
                    print(
                        f"| {label} | {dtype} | {threads} | {row['pdesurr_ms']:.3f} "
                        f"| {row['engine']} | {peer_code} "
                        f"| {row['peer_ms']:.3f} | **{row['ratio']:.2f}** | "
                        f"{row['pdesurr_fft']:.2f} | {row['peer_fft']:.2f} |",
                        flush=True,
                    )
        finally:
            for w in workers.values():
                w.close()
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
