"""The thread policy of the CLI: how many CPU threads torch (and its OpenMP pool) gets.

Oversubscription is the costliest mistake on a CPU node: with 2 OpenMP threads on 2
cores while another process holds one of them, a 256² Navier-Stokes step was measured
at 140-220 ms instead of 4.5 ms, because each parallel region waits for its slowest
thread. The policy, applied once at start-up (only the CLI reads the environment):

* ``--threads N`` (or ``OMP_NUM_THREADS=N`` in the environment): N threads, as asked,
  with a warning if N exceeds the cores this process may run on, or this rank's share
  of them under MPI;
* under ``mpiexec``: the cores this process may run on divided by the ranks on the node;
* otherwise: the cores that are actually free, i.e. the usable cores minus the cores'
  worth of work other processes do on them (:func:`pdesurr.cores.busy_cores`: measured
  over 0.1 s from ``/proc/stat``; the 1-minute load average where that is unavailable),
  rounded, at least 1.

``threads = cores - busy`` is a snapshot: a process that starts after it is not seen, and
it errs towards fewer threads when the cores are half busy, which costs at most a factor
``cores / threads`` while oversubscription costs far more.
"""

from __future__ import annotations

import os
import sys

import torch

from pdesurr.cores import busy_cores, usable_cores


def choose_threads(
    requested: int | None, ranks_on_node: int, cores: int, busy: float
) -> tuple[int, str | None]:
    """The thread count and, when the run is oversubscribed, the warning to print."""
    share = max(1, cores // max(1, ranks_on_node))
    if requested is not None:
        threads = max(1, requested)
        if threads > share:
            where = f"{cores} usable cores" + (
                f" shared by {ranks_on_node} ranks" if ranks_on_node > 1 else ""
            )
            return threads, (
                f"--threads {threads} oversubscribes {where} ({share} per process): "
                "OpenMP threads will wait on each other and can run many times slower"
            )
        return threads, None
    if ranks_on_node > 1:
        return share, None
    free = int(cores - busy + 0.5)  # other processes' load, rounded to whole cores
    return max(1, min(cores, free)), None


def apply_thread_policy(requested: int | None, ranks_on_node: int = 1, environ=os.environ) -> int:
    if requested is None and environ.get("OMP_NUM_THREADS", "").isdigit():
        requested = int(environ["OMP_NUM_THREADS"])
    threads, warning = choose_threads(requested, ranks_on_node, usable_cores(), busy_cores())
    torch.set_num_threads(threads)
    if warning:
        print(f"pdesurr: warning: {warning}", file=sys.stderr)
    return threads
