"""The pdesurr command chooses how idle OpenMP threads wait (OMP_WAIT_POLICY) before torch
loads: sleep when other processes load the cores, the runtime's default when they are free."""

import os
import subprocess
import sys

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


def test_cli_sets_the_policy_before_torch_loads_from_the_load_it_sees():
    expected = "PASSIVE" if os.getloadavg()[0] >= BUSY_LOAD else "None"
    seen = policy_when_torch_loads({})
    # the load average may cross the threshold between the two readings: accept the
    # other answer only then
    assert seen == expected or abs(os.getloadavg()[0] - BUSY_LOAD) < 0.3


def test_choose_wait_policy():
    assert choose_wait_policy({}, busy=0.0) is None  # free cores: let the threads spin
    assert choose_wait_policy({}, busy=0.49) is None
    assert choose_wait_policy({}, busy=BUSY_LOAD) == "PASSIVE"
    assert choose_wait_policy({}, busy=3.0) == "PASSIVE"
    assert choose_wait_policy({"OMP_WAIT_POLICY": "ACTIVE"}, busy=3.0) is None
    assert choose_wait_policy({"OMP_WAIT_POLICY": "PASSIVE"}, busy=0.0) is None


def test_cli_keeps_the_users_wait_policy():
    assert policy_when_torch_loads({"OMP_WAIT_POLICY": "ACTIVE"}) == "ACTIVE"
