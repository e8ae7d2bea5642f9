"""``pdesurr demo``: the most complete end-to-end path that exists, on embedded defaults.

1. simulate Kuramoto-Sivashinsky (4 domain lengths in one batch) and Kolmogorov flow,
   with plots;
2. generate the small KS dataset (the ``mpiexec`` generation path, on one process): its
   valid split is the held-out set, its test split the evaluation set;
3. train an FNO online from streaming KS solvers (producers in this process, reservoir
   buffer, no disk in between), with the ``ks_online_fno`` recipe;
4. roll the trained model out on the test trajectories and write the evaluation report
   (metrics, spectra, invariants, plots) next to the persistence and coarse-solver rows;
5-7. the other model families, briefly (:mod:`pdesurr.cli.demo_families`): PDE-Refiner
   joins the table; a small scOT is pretrained, saved in Poseidon's published layout and
   fine-tuned on Kolmogorov flow; a Lagrangian PINN solves the convection failure mode.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import torch

from pdesurr.cli.demo_families import foundation_stage, pinn_stage, refiner_stage
from pdesurr.cli.info import describe_dataset
from pdesurr.cli.options import check_output, progress_mode
from pdesurr.cli.simulate import load_config, run_to_store
from pdesurr.data.generate import generate
from pdesurr.data.spec import DatasetSpec
from pdesurr.data.windows import WindowDataset
from pdesurr.evaluation.suite import Suite, markdown_table, run_suite
from pdesurr.training.online import run_online
from pdesurr.training.recipe import Recipe

DEMO_RUNS = (  # (output name, preset, overrides)
    ("ks", "ks_refiner", ["pde.length=[57.6, 60.8, 67.2, 70.4]", "run.batch=4", "run.t_end=50.0"]),
    (
        "kolmogorov",
        "ns2d_kolmogorov",
        ["pde.resolution=128", "integrator.dt=0.0035", "run.t_end=5.0"],
    ),
)
DEMO_DATASET = "ks_refiner/small"
# ``--fast``: every stage above on toy sizes (seconds; the tests run it), same code path
FAST = {
    "ks": ["run.t_end=5.0"],
    "kolmogorov": ["pde.resolution=32", "run.t_end=0.2"],
    "dataset": ["splits.train=2", "splits.valid=1", "splits.test=2"],
    "recipe": [
        "online.trajectories=6",
        "online.capacity=64",
        "online.watermark=16",
        "optim.steps=12",
        "optim.warmup=2",
        "train.eval_every=6",
        "train.log_every=6",
    ],
}


def cmd_demo(args: argparse.Namespace) -> int:
    if args.threads is None:  # small problems, and producers share the cores with training
        torch.set_num_threads(1)
    out = Path(args.out)
    check_output(out, "--out")  # before minutes of work
    start = time.perf_counter()
    fast = FAST if args.fast else {}
    for name, preset, overrides in DEMO_RUNS:
        config = load_config(preset, [*overrides, *fast.get(name, [])])
        run_to_store(
            config, out / f"{name}.zarr", plot=out / f"{name}.png", overwrite=True, label=preset
        )
    store = out / "ks_small_dataset.zarr"
    if store.exists():
        shutil.rmtree(
            store
        )  # the demo owns its outputs; a dataset store is never replaced silently elsewhere
    report = generate(
        DatasetSpec.load(DEMO_DATASET, fast.get("dataset", [])), store, progress=False
    )
    print(
        f"{DEMO_DATASET}: {report.trajectories} trajectories in "
        f"{report.wall_seconds:.1f} s -> {store}"
    )
    print(describe_dataset(store))
    windows = WindowDataset(
        store, "train", history=2, horizon=1, normalize=True, conditioning=("dt", "length")
    )
    sample = windows[0]
    print(
        f"training windows: {len(windows)}; a sample: input {tuple(sample['input'].shape)}, "
        f"target {tuple(sample['target'].shape)}, cond (dt, length) {sample['cond'].tolist()}"
    )
    run = out / "ks_online_fno"
    if run.exists():
        shutil.rmtree(run)
    recipe = Recipe.load(
        "ks_online_fno",
        [
            f"data.store={json.dumps(str(store))}",
            f"train.out={json.dumps(str(run))}",
            *fast.get("recipe", []),
        ],
    )
    print(
        f"online training: {recipe.online.trajectories} fresh KS trajectories streamed into "
        f"a {recipe.online.buffer} buffer, {recipe.optim.steps} steps"
    )
    result, ledger = run_online(recipe, progress=progress_mode(quiet=args.fast))
    last = {k: v for r in result.history for k, v in r.items()}
    print(
        f"  trained to step {result.step}: valid rel L2 {last['valid_rel_l2']:.4f}; received "
        f"{sum(ledger.received.values())} windows from {len(ledger.done)} trajectories"
    )
    refiner = refiner_stage(store, out, args.fast)
    # the suite schema's defaults, with the demo's store and output (as a suite file would)
    section = {"data": str(store), "out": str(out / "benchmark")}
    suite = Suite.from_dict(
        {
            "suite": section,
            "models": [
                {"name": "fno (online)", "checkpoint": str(result.checkpoint)},
                {"name": "pde-refiner", "checkpoint": str(refiner)},
            ],
            "references": {"persistence": True, "solver": True, "solver_substeps": [1]},
        },
        "demo",
    )
    rows = run_suite(suite)
    table = markdown_table(rows, suite.suite.lead_times)
    (out / "benchmark" / "table.md").write_text(table + "\n")
    print(table)
    foundation_stage(out, args.fast)
    pinn_stage(out, args.fast)
    print(
        f"demo done in {time.perf_counter() - start:.1f} s. "
        f"Reports and plots: {out / 'benchmark'}\n"
        f"Open a store with xarray:\n"
        f"  python -c \"import xarray as xr; print(xr.open_zarr('{out / 'ks.zarr'}'))\"\n"
        f"  python -c \"import xarray as xr; print(xr.open_zarr('{store}', group='train'))\"\n"
        f"or summarise one: pdesurr info {out / 'kolmogorov.zarr'}"
    )
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="simulate KS and Kolmogorov flow with plots, generate a small dataset "
        "(replaces the demo's own outputs in DIR)",
    )
    p.add_argument("--out", default="pdesurr-demo", metavar="DIR")
    p.add_argument(
        "--fast", action="store_true", help="every stage on toy sizes (seconds), for a smoke test"
    )
    p.set_defaults(func=cmd_demo)
