"""The PDE and the solver behind a dataset store, at the store's resolution.

A store's attributes hold its resolved spec (solver preset, overrides, sampled parameter
distributions); together with the per-trajectory parameters stored beside the data this
rebuilds the exact PDE of each trajectory at the stored resolution. That gives the
evaluation its invariants and spectra, and the benchmark its "coarse solver" reference
row: the numerical solver run at the surrogate's resolution.
"""

from __future__ import annotations

import numpy as np

from pdesurr.evaluation.rollout import SolverStep
from pdesurr.solvers import PDES, Stepper
from pdesurr.solvers.integrators import DEFAULT_INTEGRATOR


def store_pde(store, split: str, indices) -> object:
    """The PDE of trajectories ``indices`` of ``split`` at the stored resolution."""
    if "solver" not in store.spec:  # a foreign file (The Well, PDEBench): grid diagnostics
        from pdesurr.evaluation.grid_fields import GridFields

        return GridFields.from_store(store, split)
    solver = store.spec["solver"]
    kind = solver["pde"]["kind"]
    kwargs = {k: v for k, v in solver["pde"].items() if k != "kind"}
    field = store.fields[0]["name"]
    pde_class = PDES[kind]
    shape = store.array(split, field).shape[-pde_class.spatial_dims :]  # *S
    kwargs.update(pde_class.resolution_arguments(shape))
    sampled = store.spec["spec"].get("parameters", {})
    for name in sampled:
        values = np.asarray(store.read(split, name))[np.asarray(indices)]
        kwargs[name] = [float(v) for v in values]
    return pde_class(**kwargs)


def solver_step(store, split: str, indices, substeps: int | None = None) -> SolverStep:
    """The store's solver at the stored resolution, advancing one frame per call.

    ``substeps`` defaults to the steps per frame of the generation (same ``dt``). AB3 is
    replaced by RK4: a multistep method would restart from Euler at every frame.
    """
    if "solver" not in store.spec:
        from pdesurr.config import ConfigError

        raise ConfigError(
            f"{store.path} is a {store.spec.get('format')} file with no pdesurr solver: "
            "set references.solver = false"
        )
    solver = store.spec["solver"]
    pde = store_pde(store, split, indices)
    times = np.asarray(store.read(split, "time"))
    frame_dt = float(times[1] - times[0])
    integ = dict(solver["integrator"])
    kind = integ.pop("kind", DEFAULT_INTEGRATOR)
    dt = float(integ.pop("dt"))
    if substeps is None:
        substeps = max(1, round(frame_dt / dt))
    if kind == "ab3":
        kind, integ = "rk4", {}
    stepper = Stepper(pde, kind, frame_dt / substeps, **integ)
    return SolverStep(stepper, substeps)
