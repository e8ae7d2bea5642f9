"""Set ``OMP_WAIT_POLICY`` for the ``pdesurr`` command before torch loads its OpenMP runtime
(the runtime reads it once, when it loads): ``PASSIVE`` when other processes already load
the cores, the runtime's default otherwise; the measurements and the rule are in
:mod:`pdesurr.cores`. Imported first by :mod:`pdesurr.cli`.
"""

import os

from pdesurr.cores import busy_cores, choose_wait_policy

_policy = choose_wait_policy(os.environ, busy_cores())
if _policy is not None:
    os.environ["OMP_WAIT_POLICY"] = _policy
