"""Idle OpenMP threads sleep instead of spinning: set before torch loads its OpenMP runtime.

GNU OpenMP (torch's CPU wheels) keeps idle pool threads spinning between parallel
regions. When the cores are shared with other processes the spinners take the core from
the thread that still has work, and every region waits for it: a 128² Navier-Stokes step
with 2 threads on 2 busy cores was measured at 436 ms instead of 1.9 ms with
``OMP_WAIT_POLICY=PASSIVE`` (same machine, same minute). The runtime reads the variable
once, when it is loaded, so the ``pdesurr`` command sets it (unless the user did) on
import, before anything imports torch. Library users who start their own process set
``OMP_WAIT_POLICY=PASSIVE`` in its environment.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
