"""``pdesurr evaluate CHECKPOINT --data STORE`` and ``pdesurr benchmark SUITE``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pdesurr.cli.options import add_set_option
from pdesurr.config import CATALOGUE_ROOT, ConfigError


def cmd_evaluate(args: argparse.Namespace) -> int:
    from pdesurr.evaluation.evaluate import evaluate
    from pdesurr.evaluation.report import write_report
    from pdesurr.training.checkpoint import load_surrogate
    from pdesurr.training.physics_checkpoint import is_pinn_checkpoint

    if is_pinn_checkpoint(args.checkpoint):  # scored on its reference: pdesurr/cli/physics.py
        from pdesurr.cli import physics

        return physics.evaluate(args)
    if args.data is None:
        raise ConfigError("evaluate: --data STORE is required for a grid surrogate checkpoint")
    surrogate, config = load_surrogate(args.checkpoint, args.device)
    data = config["data"]
    ds, pred, true = evaluate(
        surrogate,
        args.data,
        args.split,
        history=data["history"],
        steps=args.steps,
        stride=data["stride"],
        cond_names=data["conditioning"],
        device=args.device,
        context=args.context,
    )
    out = Path(args.out or Path(args.checkpoint).parent / f"eval_{args.split}")
    info = write_report(
        ds,
        pred,
        true,
        out,
        Path(args.checkpoint).parent.name,
        args.lead_times,
        fmt=args.format,
        plots=not args.no_plots,
    )
    print(
        json.dumps(
            {
                k: info[k]
                for k in (
                    "one_step",
                    "final",
                    "correlation_time",
                    "spectral_error_final",
                    "rollout_steps_per_second",
                )
            },
            indent=1,
        )
    )
    print(f"report -> {out} (metrics: {info['metrics_file']})")
    return 0


def find_suite(name: str) -> Path:
    path = Path(name)
    if path.is_file():
        return path
    for root in (Path.cwd(), CATALOGUE_ROOT):
        for folder in ("train", "datasets"):
            candidate = root / folder / f"{path.stem}.toml"
            if candidate.is_file():
                return candidate
    raise ConfigError(f"no benchmark suite {name!r}: not a file, nor train/{path.stem}.toml")


def cmd_benchmark(args: argparse.Namespace) -> int:
    from pdesurr.data.generate import generate
    from pdesurr.data.spec import DatasetSpec
    from pdesurr.evaluation.suite import load_suite, markdown_table, run_suite
    from pdesurr.training.fit import fit
    from pdesurr.training.recipe import Recipe

    suite = load_suite(find_suite(args.suite), args.set)
    s = suite["suite"]
    if not Path(s["data"]).exists() and s["spec"]:
        generate(DatasetSpec.load(s["spec"]), s["data"], progress=False)

    def train(recipe):
        fit(Recipe.load(recipe), progress=not args.quiet)

    rows = run_suite(suite, args.device, plots=not args.no_plots, train_missing=train)
    table = markdown_table(rows, s["lead_times"])
    Path(s["out"]).mkdir(parents=True, exist_ok=True)
    (Path(s["out"]) / "table.md").write_text(table + "\n")
    print(table)
    print(f"\nreports and table -> {s['out']}")
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("evaluate", help="roll a checkpoint out on a store and score it")
    p.add_argument("checkpoint")
    p.add_argument("--data", help="dataset store (not for PINN checkpoints)")
    p.add_argument("--split", default="test")
    p.add_argument("--steps", type=int, help="rollout length (default: all frames)")
    p.add_argument("--context", type=int, help="frames never scored (default: the history)")
    p.add_argument("--lead-times", type=int, nargs="*", default=[1, 5, 10])
    p.add_argument("--out", help="report directory (default: next to the checkpoint)")
    p.add_argument("--format", choices=["netcdf", "zarr"], default="netcdf")
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-plots", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("benchmark", help="evaluate a suite of checkpoints plus reference rows")
    p.add_argument("suite", help="suite name in train/ or a path to a .toml")
    add_set_option(p, "suite")
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_benchmark)
