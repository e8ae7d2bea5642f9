"""The pdesurr command makes idle OpenMP threads sleep (OMP_WAIT_POLICY) before torch loads."""

import os
import subprocess
import sys

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


def test_cli_sets_passive_wait_policy_before_torch_loads():
    assert policy_when_torch_loads({}) == "PASSIVE"


def test_cli_keeps_the_users_wait_policy():
    assert policy_when_torch_loads({"OMP_WAIT_POLICY": "ACTIVE"}) == "ACTIVE"
