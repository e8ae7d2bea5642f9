"""``pdesurr generate SPEC --out STORE``: one process, or every rank under ``mpiexec``."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from pdesurr.cli.options import add_set_option, check_output, progress_mode
from pdesurr.data.generate import generate
from pdesurr.data.spec import DatasetSpec
from pdesurr.devices import check_device

# variables set by MPICH/Hydra, Open MPI, PMIx and Slurm's srun for every rank
_MPI_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS")
_LOCAL_SIZE_VARS = ("MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE", "SLURM_NTASKS_PER_NODE")


def world_comm(environ=os.environ):
    """``MPI.COMM_WORLD`` when launched by ``mpiexec``/``srun`` with several ranks, else None
    (so plain ``pdesurr`` never needs MPI)."""
    sizes = [int(environ[v]) for v in _MPI_SIZE_VARS if environ.get(v, "").isdigit()]
    if not sizes or max(sizes) <= 1:
        return None
    from mpi4py import MPI

    return MPI.COMM_WORLD


def ranks_per_node(comm, environ=os.environ) -> int:
    for var in _LOCAL_SIZE_VARS:
        if environ.get(var, "").isdigit():
            return int(environ[var])
    return comm.Get_size() if comm is not None else 1


def cmd_generate(args: argparse.Namespace) -> int:
    comm = world_comm()
    rank = comm.Get_rank() if comm is not None else 0
    spec = DatasetSpec.load(args.spec, list(args.set))
    out = Path(args.out)
    fmt = args.format or ("h5" if out.suffix in (".h5", ".hdf5") else "zarr")
    # before any store exists: a device the machine has, outputs that can be written
    check_device(args.device, "--device")
    check_output(out, "--out")
    if args.report:
        check_output(args.report, "--report")
    report = generate(
        spec, out, fmt=fmt, comm=comm, device=args.device, progress=progress_mode(args.quiet)
    )
    if rank == 0:
        print(
            f"{spec.name}: {report.trajectories} trajectories simulated "
            f"({report.skipped} already complete, {report.diverged} diverged) on "
            f"{report.ranks} rank(s) in {report.wall_seconds:.1f} s "
            f"({report.throughput:.2f} traj/s; writing {report.write_seconds:.2f} s vs "
            f"solving {report.solve_seconds:.2f} s) -> {out}"
        )
        for d in report.as_dict()["divergences"]:
            print(
                f"  diverged: {d['split']}[{d['trajectory']}] at step {d['step']} "
                f"(t = {d['time']:.6g})"
            )
        if args.report:
            Path(args.report).write_text(json.dumps(report.as_dict(), indent=1))
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("generate", help="generate a dataset store from a spec (MPI-aware)")
    p.add_argument("spec", help="NAME or NAME/VARIANT in datasets/, or a path to a .toml")
    p.add_argument("--out", required=True, help="store path (.zarr directory or .h5 file)")
    p.add_argument(
        "--format", choices=["zarr", "h5"], help="default: from --out's suffix, else zarr"
    )
    add_set_option(p, "spec")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ...")
    p.add_argument("--report", metavar="FILE.json", help="write the run's figures here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_generate)
