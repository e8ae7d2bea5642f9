"""Per-trajectory draws of a dataset spec: the seed of each trajectory, and the
distributions of its ``[parameters]`` table.

Each key names an argument of the spec's PDE and one distribution of its value::

    length = { uniform = [a, b] }      a + (b - a) u,                     u ~ U[0, 1)
    nu     = { loguniform = [a, b] }   exp(log a + (log b - log a) u),    0 < a <= b
    kind   = { choice = [v0, v1, ...] } v_k with k = floor(u K),           K = len(values)

A value is drawn from one ``torch.Generator`` (float64 ``u``), so a trajectory's parameters are
a pure function of its generator's seed (:func:`trajectory_seed`).
"""

from __future__ import annotations

import hashlib
import inspect
import math
import typing

import torch

from pdesurr.config import ConfigError, SolverConfig
from pdesurr.sections import suggest, type_ok
from pdesurr.solvers import PDES, ParameterError

DISTRIBUTIONS = ("uniform", "loguniform", "choice")


def trajectory_seed(seed: int, split: str, index: int) -> int:
    """The seed of trajectory ``index`` of ``split``: a hash, so neighbours are unrelated."""
    digest = hashlib.sha256(f"pdesurr/{seed}/{split}/{index}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def sample(dist: dict, generator: torch.Generator) -> float:
    """One draw of ``dist`` (``{kind: args}``, checked by :func:`check_distribution`)."""
    ((kind, args),) = dist.items()
    u = float(torch.rand((), generator=generator, dtype=torch.float64))
    if kind == "uniform":
        return args[0] + (args[1] - args[0]) * u
    if kind == "loguniform":
        return math.exp(math.log(args[0]) + (math.log(args[1]) - math.log(args[0])) * u)
    return args[min(int(u * len(args)), len(args) - 1)]


def check_distribution(key: str, dist, pde_cls, pde_kind: str, source: str) -> None:
    """``parameters.KEY`` is one well-formed distribution of an argument ``pde_cls`` may vary
    per trajectory (its type hint admits a list); ``pde_cls`` None skips the argument check
    (the solver preset's own check names the unknown PDE)."""

    def err(msg: str) -> ConfigError:
        return ConfigError(f"{source}: parameters.{key}: {msg}")

    if not (isinstance(dist, dict) and len(dist) == 1 and next(iter(dist)) in DISTRIBUTIONS):
        raise err(f"must be one of {{uniform|loguniform|choice = [...]}}, got {dist!r}")
    ((kind, args),) = dist.items()
    if kind in ("uniform", "loguniform") and not (
        isinstance(args, list)
        and len(args) == 2
        and all(isinstance(a, int | float) and math.isfinite(a) for a in args)
        and args[0] <= args[1]
        and (kind == "uniform" or args[0] > 0)
    ):
        raise err(f"{kind} needs [low, high] with low <= high (> 0 for loguniform)")
    if kind == "choice" and not (isinstance(args, list) and args):
        raise err("choice needs a non-empty list")
    if pde_cls is None:
        return
    sig = inspect.signature(pde_cls.__init__).parameters
    if key not in sig:
        raise err(f"not an argument of {pde_kind}" + suggest(key, list(sig)[1:]))
    hint = typing.get_type_hints(pde_cls.__init__).get(key)
    if not type_ok([1.0, 2.0], hint):
        raise err(f"{pde_kind} cannot vary {key} per trajectory")


def check_support(solver: SolverConfig, params: dict, source: str) -> None:
    """Every value a distribution can draw is one the PDE accepts: the bounds of
    ``uniform``/``loguniform`` (the PDEs' constraints are intervals) and every ``choice``;
    checked before any store exists, so a bad bound never leaves a half-made store."""
    kwargs = {k: v for k, v in solver.pde.items() if k != "kind"}
    pde_cls = PDES[solver.pde["kind"]]
    for key, dist in params.items():
        ((kind, args),) = dist.items()
        for value in args:
            try:
                pde_cls(**{**kwargs, key: value})
            except ParameterError as e:
                raise ConfigError(
                    f"{source}: parameters.{key}: {kind} {args} can draw {value!r}, which "
                    f"{solver.pde['kind']} refuses ({str(e).split(': ', 1)[-1]})"
                ) from None
