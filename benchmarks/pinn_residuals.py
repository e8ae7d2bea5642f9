"""Iterations per second of PINN residual + backward: ``torch.func`` vs nested autograd.

Run ``python benchmarks/pinn_residuals.py`` (``--points``, ``--width``, ``--repeats``,
``--device``, ``--dtype``, ``--quick``). For each PDE residual of ``pdesurr.physics`` it
times one training iteration's worth of work, ``loss = mean(residual^2)`` and its
``backward()`` to the network's parameters, with the residual's derivatives from
``engine = "autograd"`` (nested ``torch.autograd.grad``) and from ``engine = "func"``
(``vmap`` of nested ``jacfwd``). The two engines alternate, block by block, so both see
the same machine speed; the table gives the median iterations per second of each and
their ratio ``func / autograd`` (> 1: ``torch.func`` is faster). Network: the modified MLP
(width ``--width``, 4 layers, periodic embedding), the causal-PINN architecture.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch

from pdesurr.physics import NETWORKS, RESIDUALS

CASES = {
    "convection": ({"velocity": 50.0}, ["x", "t"], {"x": 2 * math.pi}),
    "burgers": ({"viscosity": 0.01}, ["x", "t"], {"x": 2.0}),
    "allen_cahn": ({}, ["x", "t"], {"x": 2.0}),
    "kuramoto_sivashinsky": ({}, ["x", "t"], {"x": 64.0}),
    "navier_stokes_2d": (
        {"viscosity": 1e-2},
        ["x", "y", "t"],
        {"x": 2 * math.pi, "y": 2 * math.pi},
    ),
}


def iteration(res, net, points, engine):
    net.zero_grad(set_to_none=True)
    loss = res(net, points, engine).pow(2).mean()
    loss.backward()
    return loss


def block(res, net, points, engine, n, device):
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(n):
        iteration(res, net, points, engine)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--points", type=int, default=2048)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--block", type=int, default=5, help="iterations per timed block")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--quick", action="store_true", help="smoke run: 256 points, 2 repeats")
    p.add_argument("--cases", nargs="*", default=list(CASES))
    a = p.parse_args()
    if a.quick:
        a.points, a.repeats, a.block = 256, 2, 2
    device, dtype = torch.device(a.device), getattr(torch, a.dtype)
    print(
        f"torch {torch.__version__}, {device}, {a.dtype}, threads {torch.get_num_threads()}, "
        f"{a.points} points, modified MLP width {a.width} x 4"
    )
    print("| residual | autograd it/s | torch.func it/s | func / autograd |")
    print("|---|---|---|---|")
    gen = torch.Generator().manual_seed(0)
    for name in a.cases:
        opts, coords, periodic = CASES[name]
        res = RESIDUALS[name](**opts)
        net = NETWORKS["modified_mlp"](
            coords, list(res.fields), width=a.width, depth=4, periodic=periodic
        ).to(device, dtype)
        points = torch.rand(a.points, len(coords), generator=gen).to(device, dtype)
        for engine in ("autograd", "func"):  # warm-up
            iteration(res, net, points, engine)
        rates = {"autograd": [], "func": []}
        for _ in range(a.repeats):
            for engine in ("autograd", "func"):
                rates[engine].append(block(res, net, points, engine, a.block, device))
        ag, fn = statistics.median(rates["autograd"]), statistics.median(rates["func"])
        print(f"| {name} | {ag:.2f} | {fn:.2f} | {fn / ag:.2f} |", flush=True)


if __name__ == "__main__":
    main()
