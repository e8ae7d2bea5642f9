"""``pdesurr evaluate CHECKPOINT --data STORE`` and ``pdesurr benchmark SUITE``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pdesurr.cli.options import add_set_option, progress_mode
from pdesurr.config import CATALOGUE_ROOT, ConfigError


def check_store_fits(config: dict, store, split: str, checkpoint, path) -> None:
    """The checkpoint's fields, spatial dimension and conditioning are the store's."""
    from pdesurr.data.channels import spatial_ndim
    from pdesurr.data.store import StoreError

    if split not in store.splits:
        raise StoreError(f"--split {split!r}: {path} has splits {store.splits}")
    data = config["data"]
    theirs = [(f["name"], f["channels"]) for f in data.get("fields", [])]
    ours = [(f["name"], f["channels"]) for f in store.fields]
    ndim = spatial_ndim(store, split)
    if (theirs and theirs != ours) or data.get("ndim", ndim) != ndim:
        raise StoreError(
            f"{checkpoint} was trained on fields {theirs} in {data.get('ndim')}D; {path} holds "
            f"{ours} in {ndim}D: evaluate it on a store of the same PDE"
        )
    for name in data.get("conditioning", []):
        if name != "dt" and (not store.has(split, name) or name in store.field_names):
            raise StoreError(
                f"{checkpoint} is conditioned on {name!r}, which {path} (split {split!r}) "
                "does not record per trajectory"
            )


def cmd_evaluate(args: argparse.Namespace) -> int:
    from pdesurr.checkpoints.readers import GRID, load_surrogate, reader_of
    from pdesurr.cli.options import check_output
    from pdesurr.cli.simulate import InputError
    from pdesurr.data.store import open_store
    from pdesurr.devices import check_device
    from pdesurr.evaluation.evaluate import evaluate
    from pdesurr.evaluation.report import write_report
    from pdesurr.evaluation.suite import LEAD_TIMES

    family = reader_of(args.checkpoint).family
    if family != GRID:
        return EVALUATORS[family](args)
    if args.data is None:
        raise ConfigError("evaluate: --data STORE is required for a grid surrogate checkpoint")
    # everything checked before the rollout: arguments, device, output, checkpoint, store
    if args.steps is not None and args.steps < 1:
        raise InputError(f"--steps {args.steps}: must be >= 1 (the rollout length)")
    if args.context is not None and args.context < 0:
        raise InputError(f"--context {args.context}: must be >= 0")
    check_device(args.device, "--device")
    out = Path(args.out or Path(args.checkpoint).parent / f"eval_{args.split}")
    check_output(out, "--out")
    surrogate, config = load_surrogate(args.checkpoint, args.device)
    data = config["data"]
    if args.context is not None and args.context < data["history"]:
        raise InputError(
            f"--context {args.context}: must be >= the checkpoint's history ({data['history']})"
        )
    store = open_store(args.data)
    try:
        check_store_fits(config, store, args.split, args.checkpoint, args.data)
    finally:
        store.close()
    from pdesurr.data.pairs import rollout_step

    step_fn, stride = rollout_step(surrogate, data)  # pair-trained: `step` frames per call
    ds, pred, true = evaluate(
        step_fn,
        args.data,
        args.split,
        history=data["history"],
        steps=args.steps,
        stride=stride,
        cond_names=data["conditioning"],
        device=args.device,
        context=args.context,
        samples=args.samples,
    )
    info = write_report(
        ds,
        pred,
        true,
        out,
        Path(args.checkpoint).parent.name,
        list(LEAD_TIMES) if args.lead_times is None else args.lead_times,
        fmt=args.format,
        plots=not args.no_plots,
    )
    if not args.no_plots:  # which modes the model resolves (PDE-Refiner's diagnostic)
        from pdesurr.evaluation.plot_refinement_spectra import write_refinement_spectra

        spectra = dict(history=data["history"], stride=stride, device=args.device)
        write_refinement_spectra(
            step_fn,
            out,
            Path(args.checkpoint).parent.name,
            store_path=args.data,
            split=args.split,
            cond_names=data["conditioning"],
            **spectra,
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
                    "ensemble_decorrelation_time",
                )
                if k in info
            },
            indent=1,
        )
    )
    print(f"report -> {out} (metrics: {info['metrics_file']})")
    return 0


def _evaluate_physics(args: argparse.Namespace) -> int:
    from pdesurr.cli import physics

    return physics.evaluate(args)  # scored on its own reference, no --data


# a checkpoint family that is not rolled out on a store -> how `evaluate` scores it
EVALUATORS = {"physics": _evaluate_physics}


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
    s = suite.suite
    if not Path(s.data).exists() and s.spec:
        generate(DatasetSpec.load(s.spec), s.data, progress=False)

    def train(recipe):
        fit(Recipe.load(recipe), progress=progress_mode(args.quiet))

    rows = run_suite(suite, args.device, plots=not args.no_plots, train_missing=train)
    table = markdown_table(rows, s.lead_times)
    Path(s.out).mkdir(parents=True, exist_ok=True)
    (Path(s.out) / "table.md").write_text(table + "\n")
    print(table)
    print(f"\nreports and table -> {s.out}")
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("evaluate", help="roll a checkpoint out on a store and score it")
    p.add_argument("checkpoint")
    p.add_argument("--data", help="dataset store (not for PINN checkpoints)")
    p.add_argument("--split", default="test")
    p.add_argument("--steps", type=int, help="rollout length (default: all frames)")
    p.add_argument("--context", type=int, help="frames never scored (default: the history)")
    p.add_argument("--lead-times", type=int, nargs="*", help="default: 1 5 10")
    p.add_argument(
        "--samples", type=int, default=1, help="ensemble members of a stochastic model (refiner)"
    )
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
