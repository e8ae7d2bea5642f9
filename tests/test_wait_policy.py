"""The pdesurr command chooses how idle OpenMP threads wait (OMP_WAIT_POLICY) before torch
loads: sleep when other processes load the cores, the runtime's default when they are free."""

import os
import subprocess
import sys
import time

import pytest

from pdesurr import cores
from pdesurr.cores import BUSY_LOAD, choose_wait_policy

# records the variable at the moment torch starts loading (OpenMP reads it then, once)
PROBE = """
import importlib.abc, os, sys
seen = []
class Spy(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" and not seen:
            seen.append(os.environ.get("OMP_WAIT_POLICY"))
        return None
sys.meta_path.insert(0, Spy())
import pdesurr.cli
print(seen[0] if seen else "no-torch")
"""


def policy_when_torch_loads(env_extra):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env.update(env_extra)
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def _busy_now():
    cores._measured = None  # measure afresh in this process
    return cores.busy_cores()


def test_cli_sets_the_policy_before_torch_loads_from_the_load_it_sees():
    before = _busy_now()
    seen = policy_when_torch_loads({})
    after = _busy_now()
    # the machine's load may cross the threshold between the readings: when the readings
    # before and after agree, the command (measuring in between) must agree with them
    if (before >= BUSY_LOAD) == (after >= BUSY_LOAD):
        assert seen == ("PASSIVE" if before >= BUSY_LOAD else "None")
    else:
        assert seen in ("PASSIVE", "None")


STAT = """cpu  {all}
cpu0 {c0}
cpu1 {c1}
intr 1 2 3
"""


def _stat(c0, c1):
    """/proc/stat text; c0, c1: (user, nice, system, idle, iowait, irq, softirq, steal)."""
    fmt = " ".join
    total = [a + b for a, b in zip(c0, c1, strict=True)]
    return STAT.format(
        all=fmt(map(str, [*total, 0, 0])),
        c0=fmt(map(str, [*c0, 0, 0])),
        c1=fmt(map(str, [*c1, 0, 0])),
    )


def test_cpu_ticks_count_busy_and_all_ticks_of_the_chosen_cpus():
    text = _stat((10, 1, 2, 50, 3, 1, 1, 2), (5, 0, 5, 100, 0, 0, 0, 0))
    assert cores.cpu_ticks(text, [0]) == (10 + 1 + 2 + 1 + 1 + 2, 70)
    assert cores.cpu_ticks(text, [1]) == (10, 110)
    assert cores.cpu_ticks(text, [0, 1]) == (17 + 10, 180)
    assert cores.cpu_ticks(text, [5]) == (0, 0)  # a CPU /proc/stat does not list


def test_busy_between_two_readings_is_other_processes_cores_worth():
    # 10 ticks elapse on each of 2 CPUs: core 0 busy for 8 of them, core 1 for 2
    a = _stat((100, 0, 0, 100, 0, 0, 0, 0), (100, 0, 0, 100, 0, 0, 0, 0))
    b = _stat((106, 0, 2, 102, 0, 0, 0, 0), (101, 0, 0, 108, 0, 0, 1, 0))
    before, after = cores.cpu_ticks(a, [0, 1]), cores.cpu_ticks(b, [0, 1])
    assert cores.busy_between(before, after, 2, own=0.0) == pytest.approx(1.0)
    # this process's own 0.3 of a core is not someone else's load
    assert cores.busy_between(before, after, 2, own=0.3) == pytest.approx(0.7)
    assert cores.busy_between(before, after, 2, own=2.0) == 0.0
    assert cores.busy_between(before, before, 2, own=0.0) == 0.0  # no tick: idle
    assert cores.busy_between((0, 0), (1, 1), 1, own=0.0) == 1.0  # one busy tick of one
    # only core 0 usable: 0.8 of it busy
    b0, a0 = cores.cpu_ticks(a, [0]), cores.cpu_ticks(b, [0])
    assert cores.busy_between(b0, a0, 1, own=0.0) == pytest.approx(0.8)


def test_busy_cores_sees_a_spinning_process():
    """A process spinning on one of this process's cores counts as about one busy core."""
    spin = subprocess.Popen(
        [sys.executable, "-c", "import time\nt = time.time()\nwhile time.time() - t < 5: pass"]
    )
    try:
        time.sleep(0.3)  # let it start
        busy = [_busy_now() for _ in range(3)]
    finally:
        spin.kill()
        spin.wait()
    assert max(busy) >= 0.6, busy  # at least most of a core, on a machine shared with CI


def test_choose_wait_policy():
    assert choose_wait_policy({}, busy=0.0) is None  # free cores: let the threads spin
    assert choose_wait_policy({}, busy=0.49) is None
    assert choose_wait_policy({}, busy=BUSY_LOAD) == "PASSIVE"
    assert choose_wait_policy({}, busy=3.0) == "PASSIVE"
    assert choose_wait_policy({"OMP_WAIT_POLICY": "ACTIVE"}, busy=3.0) is None
    assert choose_wait_policy({"OMP_WAIT_POLICY": "PASSIVE"}, busy=0.0) is None


def test_cli_keeps_the_users_wait_policy():
    assert policy_when_torch_loads({"OMP_WAIT_POLICY": "ACTIVE"}) == "ACTIVE"
