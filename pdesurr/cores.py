"""The cores a process may use and how busy they are, and how idle OpenMP threads should
wait given that: torch-free, so that :mod:`pdesurr.cli.wait_policy` can decide before
torch loads (and ``benchmarks/peers.py`` can decide the same for its workers).

GNU OpenMP (torch's CPU wheels) lets idle pool threads spin for a while between parallel
regions before they sleep. Spinning is what a free core wants and what a shared one
cannot afford, both measured on the 2-core machine (``benchmarks/peers.py --threads all``,
2026-12-01, 2 threads):

* cores busy with other processes: the spinners take the core from the thread that still
  has work and every region waits for it: a 128² Navier-Stokes step took 436 ms instead of
  1.9 ms with ``OMP_WAIT_POLICY=PASSIVE`` (idle threads sleep at once);
* quiet machine: sleeping threads must be woken for every region, and PASSIVE made the
  same step 2.9 ms against 1.2 ms spinning (1.1 ms on one thread), the 256² step 6.8 ms
  against 3.2 ms.

So :func:`choose_wait_policy` (unless the user set the variable) picks ``PASSIVE`` when
other processes already load the cores (1-minute load average of at least
``BUSY_LOAD``), and leaves the runtime's default otherwise, when the thread policy
(:mod:`pdesurr.cli.threads`) gives the run every core. The runtime reads the variable
once, when it loads, so the choice cannot follow load that arrives later. Library users
who start their own processes set ``OMP_WAIT_POLICY`` in its environment.
"""

import os

BUSY_LOAD = 0.5  # load average from which other processes are taken to hold a core


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask, e.g. under ``taskset``)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def busy_cores() -> float:
    """Cores other processes keep busy now: the 1-minute load average (this process has
    not started its work yet), clipped to [0, cores]."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0
    return min(max(load, 0.0), float(os.cpu_count() or 1))


def choose_wait_policy(environ, busy: float) -> str | None:
    """``"PASSIVE"`` to set, or None to leave the environment as it is."""
    if "OMP_WAIT_POLICY" in environ:
        return None  # the user's choice
    return "PASSIVE" if busy >= BUSY_LOAD else None
