"""PDE surrogates: simulate, generate, export, info, presets, train, evaluate, benchmark, demo.

``main(argv)`` returns the exit code: 0 success; 2 a bad configuration or input (a preset
or spec error, a bad ``--initial`` file, an existing output without ``--overwrite``, an
unusable or damaged store or checkpoint; argparse usage errors also exit 2); 3 the
simulation or the training diverged; 4 an online MPI job ended for a dead producer; 5 an
output cannot be written (read-only path, full disk, file-size limit); 6 the requested
device is not available; 130 interrupted (Ctrl-C: run the same command to resume). Errors
print one line ``pdesurr: error: <message>`` to stderr, no traceback. Only this package
reads the command line, the environment (MPI launch, threads) and the terminal; the
library functions it calls take explicit arguments.
"""

from __future__ import annotations

import argparse
import errno
import sys
from collections.abc import Sequence

# isort: off
from pdesurr.cli import wait_policy  # noqa: F401  (first: OMP_WAIT_POLICY before torch loads)

# isort: on
from pdesurr.checkpoints.files import CheckpointError
from pdesurr.cli import demo as demo_cmd
from pdesurr.cli import evaluate as evaluate_cmd
from pdesurr.cli import export as export_cmd
from pdesurr.cli import generate as generate_cmd
from pdesurr.cli import train as train_cmd
from pdesurr.cli.info import cmd_info
from pdesurr.cli.options import add_set_option
from pdesurr.cli.simulate import (
    EXIT_DIVERGED,
    EXIT_INPUT,
    InputError,
    cmd_presets,
    cmd_simulate,
)
from pdesurr.cli.threads import apply_thread_policy
from pdesurr.config import ConfigError
from pdesurr.data.store import StoreError
from pdesurr.devices import DeviceError
from pdesurr.solvers import DivergenceError, ParameterError
from pdesurr.training import physics_checkpoint  # noqa: F401  (registers the PINN reader)
from pdesurr.training.run_log import NonFiniteLoss

__all__ = ["build_parser", "main"]
EXIT_IO, EXIT_DEVICE, EXIT_INTERRUPTED = 5, 6, 130


def describe_os_error(e: OSError) -> str:
    """One line naming the file: ours already do; the system's get the file and reason."""
    name = e.filename or ""
    if e.strerror and name and name in e.strerror:
        return e.strerror
    if e.errno == errno.ENOSPC:
        return f"no space left on device while writing {name or '(unknown file)'}"
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{name}: cannot write here ({e.strerror})"
    return f"{name}: {e.strerror or e}" if name else str(e)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pdesurr", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="torch CPU threads (default: the free cores, or the node's cores divided among "
        "its MPI ranks; a warning when oversubscribed)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("simulate", help="run a solver preset and write a zarr store")
    p.add_argument("preset", help="preset name in solvers/ or a path to a .toml")
    add_set_option(p, "preset")
    p.add_argument("--initial", metavar="FILE.npy", help="initial state (C,*S) or (B,C,*S)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, help="= --set run.steps=N")
    length.add_argument("--t-end", type=float, help="= --set run.t_end=T")
    p.add_argument("--save-every", type=int, help="= --set run.save_every=K")
    p.add_argument("--batch", type=int, help="= --set run.batch=B")
    p.add_argument("--device", help="= --set run.device=DEV (cpu, cuda, cuda:1)")
    p.add_argument("--dtype", choices=["float32", "float64"], help="= --set run.dtype=...")
    p.add_argument("--out", required=True, help="output store (OUT.zarr)")
    p.add_argument("--plot", help="also write a PNG summary here")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.set_defaults(func=cmd_simulate)

    generate_cmd.add_parser(sub)
    train_cmd.add_parser(sub)
    evaluate_cmd.add_parsers(sub)
    export_cmd.add_parser(sub)

    p = sub.add_parser("info", help="describe a store written by pdesurr")
    p.add_argument("path")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("presets", help="list the solver presets in solvers/")
    p.set_defaults(func=cmd_presets)

    demo_cmd.add_parser(sub)
    return parser


def _set_threads(requested: int | None) -> None:
    comm = generate_cmd.world_comm()  # ranks sharing a node must not each take every core
    ranks = generate_cmd.ranks_per_node(comm) if comm is not None else 1
    apply_thread_policy(requested, ranks)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _set_threads(args.threads)
    try:
        return args.func(args)
    except (
        ConfigError,
        ParameterError,
        InputError,
        FileExistsError,
        StoreError,
        CheckpointError,
    ) as e:
        code, message = EXIT_INPUT, str(e)
    except DivergenceError as e:
        code, message = EXIT_DIVERGED, f"{e}; try a smaller integrator.dt"
    except NonFiniteLoss as e:
        code, message = EXIT_DIVERGED, str(e)
    except DeviceError as e:
        code, message = EXIT_DEVICE, str(e)
    except OSError as e:
        code, message = EXIT_IO, describe_os_error(e)
    except KeyboardInterrupt:
        code, message = EXIT_INTERRUPTED, "interrupted; run the same command to resume"
    print(f"pdesurr: error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
