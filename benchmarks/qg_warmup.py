"""Does a fresh process step QG at its steady rate from the first step?

    python benchmarks/qg_warmup.py                                  # this tree, 64² and 128²
    python benchmarks/qg_warmup.py --compare OTHER_TREE --repeats 5  # interleaved with another

Each measurement is a fresh Python process pinned to one core (``taskset -c CORE``, one
torch thread) that runs pyqg's scheme (AB3, Euler start-up, dt = 7200 s) from
``pyqg_default`` through ``Stepper.trajectory`` with a save every 1000 steps, and reports
the CPU time (``time.process_time``: user + system, so page faults count, while time
spent waiting for the core on a busy machine does not) of steps 1-1000 (a fresh process:
allocator and FFT plans cold) and of steps 5001-6000 (steady), and the minor page
faults per step. Allocation churn shows as page faults and ``first / steady > 1``: a step
whose temporaries exceed glibc's mmap / trim thresholds gets fresh pages from the kernel
until the thresholds adapt (see ``pdesurr/allocator.py``). ``--compare``
alternates processes of this tree and another source tree (e.g. ``git archive`` of an
older commit) so both see the same machine load.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def child(nx: int, blocks: int, block: int) -> None:
    import resource

    import torch

    from pdesurr.solvers import QuasiGeostrophic, Stepper

    torch.set_num_threads(1)
    pde = QuasiGeostrophic(nx=nx)
    stepper = Stepper(pde, "ab3", dt=7200.0, startup="euler")
    u0 = pde.initial_condition("pyqg_default", 1, torch.Generator().manual_seed(0))
    times, faults = [], []
    it = stepper.trajectory(u0, n_saves=blocks, save_every=block)
    next(it)  # u0 itself: the integrator and its coefficients are built here
    for _ in range(blocks):
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        t0 = time.process_time()
        next(it)
        times.append((time.process_time() - t0) / block)
        faults.append((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / block)
    print(json.dumps([times, faults]))


def measure(tree: Path, nx: int, core: str, blocks: int, block: int) -> list[list[float]]:
    env = dict(os.environ, PYTHONPATH=str(tree), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.pop("MALLOC_MMAP_THRESHOLD_", None)  # the point is the default allocator
    cmd = ["taskset", "-c", core, sys.executable, __file__, "--child", str(nx)]
    cmd += ["--blocks", str(blocks), "--block", str(block)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--child", type=int, help=argparse.SUPPRESS)
    p.add_argument("--sizes", default="64,128")
    p.add_argument("--compare", type=Path, help="another source tree (its pdesurr/ inside)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--core", default=str(min(os.sched_getaffinity(0))))
    p.add_argument("--blocks", type=int, default=6)
    p.add_argument("--block", type=int, default=1000)
    args = p.parse_args(argv)
    if args.child:
        child(args.child, args.blocks, args.block)
        return 0
    trees = {"this": Path(__file__).resolve().parents[1]}
    if args.compare:
        trees["other"] = args.compare.resolve()
    last = f"{(args.blocks - 1) * args.block + 1}-{args.blocks * args.block}"
    print(
        f"# QG warm-up, core {args.core}, {time.strftime('%Y-%m-%d %H:%M')}, "
        f"load {os.getloadavg()[0]:.2f}, medians of {args.repeats} fresh processes"
    )
    print(
        f"| tree | grid | CPU ms/step, steps 1-{args.block} | CPU ms/step, steps {last} "
        "| first/steady "
        f"| page faults/step, 1-{args.block} | page faults/step, {last} |"
    )
    print("|---|---|---|---|---|---|---|")
    for nx in map(int, args.sizes.split(",")):
        res = {name: [] for name in trees}
        for r in range(args.repeats):
            order = list(trees.items())
            for name, tree in order if r % 2 == 0 else order[::-1]:
                res[name].append(measure(tree, nx, args.core, args.blocks, args.block))
        for name, runs in res.items():
            first = statistics.median(t[0] for t, _ in runs) * 1e3
            steady = statistics.median(t[-1] for t, _ in runs) * 1e3
            pf_first = statistics.median(f[0] for _, f in runs)
            pf_steady = statistics.median(f[-1] for _, f in runs)
            print(
                f"| {name} | {nx}² | {first:.3f} | {steady:.3f} | {first / steady:.2f} "
                f"| {pf_first:.1f} | {pf_steady:.1f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
