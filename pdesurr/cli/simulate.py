"""``pdesurr simulate`` and ``pdesurr presets``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from pdesurr.config import CATALOGUE_ROOT, SolverConfig
from pdesurr.data.trajectory_writer import RunSummary, check_destination, write_run

EXIT_INPUT, EXIT_DIVERGED = 2, 3


class InputError(ValueError):
    """A user-supplied file or path that cannot be used; the message names it."""


# --- simulate ----------------------------------------------------------------------
def load_config(preset: str, overrides: Sequence[str]) -> SolverConfig:
    """Load a preset with ``--set`` overrides (see :meth:`SolverConfig.load`)."""
    return SolverConfig.load(preset, list(overrides))


def load_initial(path: str | Path, config: SolverConfig) -> torch.Tensor:
    """A user initial state from ``.npy``: ``(C, *S)`` (copied to every trajectory) or
    ``(B, C, *S)``; returned as float64 ``(B, C, *S)``."""
    pde = config.build_pde()
    batch = pde.batch_size or config.resolved_run()["batch"]
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise InputError(f"--initial {path}: cannot read a .npy array ({e})") from None
    if not isinstance(arr, np.ndarray):  # an .npz archive holds several arrays
        arr.close()
        raise InputError(
            f"--initial {path}: an .npz archive, not one .npy array; save the state with numpy.save"
        )
    one = (pde.channels, *pde.grid.shape)
    if arr.shape == one:
        arr = np.broadcast_to(arr, (batch, *one))
    elif arr.shape != (batch, *one):
        raise InputError(
            f"--initial {path}: shape {arr.shape} does not fit {pde.name}: expected {one} or "
            f"{(batch, *one)} (channels {pde.channels}, grid {pde.grid.shape}, batch {batch})"
        )
    if not np.issubdtype(arr.dtype, np.floating) or not np.isfinite(arr).all():
        raise InputError(f"--initial {path}: need finite floating-point values, got {arr.dtype}")
    return torch.from_numpy(np.array(arr, dtype=np.float64))


def run_to_store(
    config: SolverConfig,
    out: Path,
    *,
    plot: Path | None,
    overwrite: bool,
    initial: torch.Tensor | None = None,
    initial_source: str | None = None,
    label: str = "",
) -> RunSummary:
    from pdesurr.cli.options import PLOT_SUFFIXES, check_output

    check_destination(out, overwrite)
    check_output(out, "--out")
    if plot is not None:
        check_destination(plot, overwrite)
        check_output(plot, "--plot", PLOT_SUFFIXES)
    run = config.resolved_run()
    total = config.n_steps() // run["save_every"] * run["save_every"]
    with tqdm(total=total, unit="step", desc=label or None, disable=None, leave=False) as bar:
        summary = write_run(
            config,
            out,
            initial=initial,
            initial_source=initial_source,
            overwrite=overwrite,
            on_steps=bar.update,
        )
    print(
        f"{label + ': ' if label else ''}{summary.steps} steps to t = {summary.t_end:.6g} "
        f"({summary.saves + 1} snapshots) in {summary.wall_s:.2f} s "
        f"({summary.steps_per_s:.1f} steps/s) -> {out}"
    )
    if summary.steps != config.n_steps():
        asked = f"run.t_end = {run['t_end']:g}" if run["t_end"] is not None else "run.steps"
        print(
            f"  note: {asked} asks for {config.n_steps()} steps; rounded down to the last "
            f"save (save_every = {run['save_every']}) at step {summary.steps}"
        )
    if plot is not None:
        from pdesurr.evaluation.plots import plot_simulation

        print(f"  plot -> {plot_simulation(out, config.build_pde(), plot)}")
    return summary


def cmd_simulate(args: argparse.Namespace) -> int:
    shorthands = {
        "steps": args.steps,
        "t_end": args.t_end,
        "save_every": args.save_every,
        "batch": args.batch,
        "device": args.device,
        "dtype": args.dtype,
    }
    overrides = list(args.set) + [
        f"run.{k}={json.dumps(v)}" for k, v in shorthands.items() if v is not None
    ]
    config = load_config(args.preset, overrides)
    initial = load_initial(args.initial, config) if args.initial else None
    run_to_store(
        config,
        Path(args.out),
        plot=args.plot and Path(args.plot),
        overwrite=args.overwrite,
        initial=initial,
        initial_source=args.initial,
    )
    return 0


# --- presets, demo -----------------------------------------------------------------
def cmd_presets(args: argparse.Namespace) -> int:
    for path in sorted((CATALOGUE_ROOT / "solvers").glob("*.toml")):
        comments = [ln for ln in path.read_text().splitlines() if ln.startswith("#")]
        print(f"{path.stem:<22} {comments[0].lstrip('# ').strip() if comments else ''}")
    return 0
