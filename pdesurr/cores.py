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
other processes already keep at least ``BUSY_LOAD`` of a core busy, and leaves the
runtime's default otherwise, when the thread policy (:mod:`pdesurr.cli.threads`) gives the
run every core. The runtime reads the variable once, when it loads, so the choice cannot
follow load that arrives later. Library users who start their own processes set
``OMP_WAIT_POLICY`` in its environment.

How busy the cores are is measured, not guessed from the load average: the CPU time the
kernel counts on this process's cores (``/proc/stat``) over ``WINDOW`` seconds, less this
process's own. The 1-minute load average lags by about a minute: right after a job ends it
still reads ~1 on an idle machine, and a two-thread NS 128² step then ran 2.2x slower
than exponax under the ``PASSIVE`` it chose instead of 0.9x (``benchmarks/peers.py
--threads all`` started 30 s after another benchmark, 2026-12-01 20:00). The load average
remains the fallback where ``/proc/stat`` cannot be read.
"""

import os
import time

BUSY_LOAD = 0.5  # cores' worth of other processes' work from which a core counts as held
WINDOW = 0.1  # s over which busy_cores() measures (10 ticks of the kernel's 100 Hz clock)
_measured: float | None = None  # busy_cores() of this process's start, measured once


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask, e.g. under ``taskset``)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def cpu_ticks(stat: str, cpus) -> tuple[int, int]:
    """``(busy, all)`` clock ticks of the CPUs ``cpus`` (ids) in the text of ``/proc/stat``.

    Busy is user + nice + system + irq + softirq + steal (steal: the hypervisor gave the
    core to someone else); idle and iowait are not (guest time is already in user)."""
    want = {f"cpu{c}" for c in cpus}
    busy = total = 0
    for line in stat.splitlines():
        name, *fields = line.split()
        if name in want:
            user, nice, system, idle, iowait, irq, softirq, steal = map(int, fields[:8])
            b = user + nice + system + irq + softirq + steal
            busy, total = busy + b, total + b + idle + iowait
    return busy, total


def busy_between(before: tuple[int, int], after: tuple[int, int], cpus: int, own: float) -> float:
    """Cores' worth of work on ``cpus`` CPUs between two :func:`cpu_ticks` readings, less
    ``own``, this process's share of the interval (its CPU seconds over the elapsed ones),
    clipped to ``[0, cpus]``."""
    total = after[1] - before[1]
    if total <= 0:
        return 0.0
    busy = cpus * (after[0] - before[0]) / total - own
    return min(max(busy, 0.0), float(cpus))


def _load_average() -> float:
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0
    return min(max(load, 0.0), float(os.cpu_count() or 1))


def busy_cores(window: float = WINDOW) -> float:
    """Cores that other processes keep busy now, among those this process may use: measured
    over ``window`` seconds from ``/proc/stat`` (once per process; later calls return the
    first answer, what the start-up policies decide on), the 1-minute load average where
    that cannot be read."""
    global _measured
    if _measured is not None:
        return _measured
    try:
        cpus = sorted(os.sched_getaffinity(0))
        with open("/proc/stat") as f:
            before = cpu_ticks(f.read(), cpus)
        t0, c0 = time.monotonic(), time.process_time()
        time.sleep(window)
        with open("/proc/stat") as f:
            after = cpu_ticks(f.read(), cpus)
        elapsed, own = time.monotonic() - t0, time.process_time() - c0
        if after[1] - before[1] <= 0:
            raise OSError("no clock ticks counted")
        _measured = busy_between(before, after, len(cpus), own / max(elapsed, 1e-9))
    except (AttributeError, OSError, ValueError):
        _measured = _load_average()
    return _measured


def choose_wait_policy(environ, busy: float) -> str | None:
    """``"PASSIVE"`` to set, or None to leave the environment as it is."""
    if "OMP_WAIT_POLICY" in environ:
        return None  # the user's choice
    return "PASSIVE" if busy >= BUSY_LOAD else None
