r"""Partial derivatives of a network's fields at collocation points, two ways.

A *field function* maps coordinates ``(P, D)`` (one row per point, columns named by
``coords``, e.g. ``("x", "t")``) to fields ``(P, F)`` (columns named by ``fields``). A
residual asks for derivatives by name: ``"u"``, ``"u_t"``, ``"u_xx"``, ``"v_xy"`` (field,
underscore, one letter per differentiation, in any order since the field is smooth).

* :func:`derivatives_autograd`: nested ``torch.autograd.grad`` on the batch (reverse mode,
  ``create_graph=True``). Each gradient call returns all ``D`` partials of one quantity,
  so a derivative ``u_xxt`` costs one call per distinct prefix (``u``, ``u_x``, ``u_xx``),
  shared between the names that use it.
* :func:`derivatives_func`: ``torch.func``: per point, nested ``jacfwd`` (forward mode over
  the ``D`` coordinates, ``D`` is 2 or 3) yields every partial up to the highest order
  asked for, and ``vmap`` maps that over the points. Lower orders come out as auxiliary
  outputs of the nest, so the network is evaluated once per point.

Both return ``{name: (P,)}`` and support a backward pass to the network's parameters
(the training loss). Which is faster depends on the order and on ``D``:
``benchmarks/pinn_residuals.py`` measures it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch.func import jacfwd, vmap

FieldFn = Callable[[torch.Tensor], torch.Tensor]
ENGINES = ("autograd", "func")


def parse(name: str, fields: Sequence[str], coords: Sequence[str]) -> tuple[int, tuple[int, ...]]:
    """``"u_xt"`` -> ``(field index, (axis of x, axis of t))``, axes sorted."""
    field, _, axes = name.partition("_")
    if field not in fields:
        raise ValueError(f"derivative {name!r}: unknown field {field!r}; fields are {fields}")
    out = []
    for a in axes:
        if a not in coords:
            raise ValueError(f"derivative {name!r}: unknown coordinate {a!r}; coords are {coords}")
        out.append(list(coords).index(a))
    return list(fields).index(field), tuple(sorted(out))


def derivatives_autograd(
    fn: FieldFn, points: torch.Tensor, needs: Sequence[str], fields, coords
) -> dict[str, torch.Tensor]:
    """Derivatives by nested reverse-mode autograd; ``points`` is ``(P, D)``."""
    points = points if points.requires_grad else points.detach().requires_grad_(True)
    out = fn(points)  # (P, F)
    cache: dict[tuple[int, tuple[int, ...]], torch.Tensor] = {}

    def value(f: int, axes: tuple[int, ...]) -> torch.Tensor:
        if not axes:
            return out[:, f]
        key = (f, axes[:-1])
        if key not in cache:
            inner = value(f, axes[:-1])
            if inner.requires_grad:
                (cache[key],) = torch.autograd.grad(
                    inner.sum(),
                    points,
                    create_graph=True,
                    allow_unused=True,
                    materialize_grads=True,
                )
            else:  # a derivative that no longer depends on the points (e.g. of a constant)
                cache[key] = torch.zeros_like(points)
        return cache[key][:, axes[-1]]

    return {n: value(*parse(n, fields, coords)) for n in needs}


def _nest(fn: Callable, order: int) -> Callable:
    """``c (D,) -> (d^order f, (d^{order-1} f, ..., f))`` by ``order`` nested ``jacfwd``;
    ``d^k f`` has shape ``(F, D, ..., D)`` with ``k`` trailing ``D``."""

    def base(c):
        y = fn(c)
        return y, (y,)

    step = base
    for _ in range(order):

        def step(c, inner=step):
            jac, lower = jacfwd(inner, has_aux=True)(c)
            return jac, (jac, *lower)

    return lambda c: step(c)[1]


def derivatives_func(
    fn: FieldFn, points: torch.Tensor, needs: Sequence[str], fields, coords
) -> dict[str, torch.Tensor]:
    """Derivatives by ``vmap`` over points of nested forward-mode ``jacfwd``."""
    parsed = {n: parse(n, fields, coords) for n in needs}
    order = max((len(a) for _, a in parsed.values()), default=0)
    per_point = _nest(lambda c: fn(c[None])[0], order)
    stacks = vmap(per_point)(points)  # (d^order f, ..., f), each (P, F, D, ...)
    by_order = stacks[::-1]  # index k -> k-th derivatives
    return {n: by_order[len(a)][(slice(None), f, *a)] for n, (f, a) in parsed.items()}


def derivatives(engine: str, fn: FieldFn, points, needs, fields, coords):
    if engine == "autograd":
        return derivatives_autograd(fn, points, needs, fields, coords)
    if engine == "func":
        return derivatives_func(fn, points, needs, fields, coords)
    raise ValueError(f"unknown derivative engine {engine!r}; choose from {ENGINES}")
