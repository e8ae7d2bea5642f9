"""The demo's model-family stages (``pdesurr demo``, steps 5-7), each through the same
commands a user runs, on small budgets:

5. PDE-Refiner (``train/ks_refiner.toml``: the CPU U-Net backbone, K = 1) trained offline
   on the demo's KS dataset; its stochastic rollouts (K + 1 calls per step) join the
   benchmark table next to the online FNO;
6. foundation models: a small scOT pretrained from scratch on decaying turbulence with
   Poseidon's all2all pairs (``train/decaying_scot.toml``), saved in the published Hugging
   Face layout (what a downloaded Poseidon checkpoint looks like: ``pdesurr info`` reads
   it), then fine-tuned on Kolmogorov flow from that directory
   (``train/kolmogorov_poseidon.toml``, ``model.pretrained``) and evaluated;
7. a Lagrangian PINN on the convection failure mode (u_t + 50 u_x = 0), scored against
   pdesurr's exact reference solution.

Budgets are far below the recipes' own (the demo shows the path, not the accuracy); the
README gives the figures of full runs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from pdesurr.data.generate import generate
from pdesurr.data.spec import DatasetSpec

# (normal, --fast) budgets
REFINER_STEPS = (300, 4)
PRETRAIN_STEPS = (150, 4)
FINETUNE_STEPS = (100, 4)
PINN_STEPS = ((300, 100), (10, 0))  # (Adam steps, L-BFGS steps)
# the short demo runs warm up for a quarter of their steps (at most 10) and log five times
WARMUP_MAX, WARMUP_SHARE, LOGS_PER_RUN = 10, 4, 5
SMALL_2D = ["splits.valid=1", "splits.test=2"]  # Kolmogorov / decaying datasets of the demo
FAST_2D = ["splits.train=2", "splits.valid=1", "splits.test=1"]


def _cli(*argv: str) -> None:
    """Run one ``pdesurr`` command in this process (one thread, as the demo); stop the demo
    with its one-line error when it fails."""
    from pdesurr.cli import main

    code = main(["--threads", "1", *argv])
    if code != 0:
        raise SystemExit(code)


def _fresh(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)  # the demo owns its outputs
    return path


def _quoted(path: Path) -> str:
    return json.dumps(str(path))  # a TOML string literal for --set


def _train(recipe: str, out: Path, steps: int, *sets: str, quiet: bool) -> Path:
    run = _fresh(out)
    _cli(
        "train",
        recipe,
        "--set",
        f"train.out={_quoted(run)}",
        "--set",
        f"optim.steps={steps}",
        "--set",
        f"optim.warmup={min(WARMUP_MAX, steps // WARMUP_SHARE)}",
        "--set",
        f"train.eval_every={steps}",
        "--set",
        f"train.log_every={max(1, steps // LOGS_PER_RUN)}",
        *[a for s in sets for a in ("--set", s)],
        *(["--quiet"] if quiet else []),
    )
    return run / "checkpoint"


def refiner_stage(store: Path, out: Path, fast: bool) -> Path:
    """Train PDE-Refiner on the demo's KS store; returns its checkpoint."""
    steps = REFINER_STEPS[fast]
    from pdesurr.training.recipe import Recipe

    k = Recipe.load("ks_refiner").model.get("refinement_steps")
    print(f"PDE-Refiner: the CPU U-Net backbone with K = {k} refinement steps, {steps} steps")
    return _train(
        "ks_refiner", out / "ks_refiner", steps, f"data.store={_quoted(store)}", quiet=fast
    )


def foundation_stage(out: Path, fast: bool) -> None:
    """Pretrain a small scOT, save it in Poseidon's layout, fine-tune it and evaluate it."""
    sets = FAST_2D if fast else SMALL_2D
    pre = _fresh(out / "decaying_small_dataset.zarr")
    task = _fresh(out / "kolmogorov_small_dataset.zarr")
    generate(DatasetSpec.load("decaying_turbulence/small", sets), pre, progress=False)
    generate(DatasetSpec.load("kolmogorov/small", sets), task, progress=False)
    steps = PRETRAIN_STEPS[fast]
    print(f"scOT: pretraining on decaying turbulence (all2all pairs), {steps} steps")
    ckpt = _train(
        "decaying_scot", out / "decaying_scot", steps, f"data.store={_quoted(pre)}", quiet=fast
    )
    from pdesurr.checkpoints.readers import load_surrogate

    published = _fresh(out / "scot-pretrained")
    load_surrogate(ckpt)[0].model.save_pretrained(published)  # Poseidon's published layout
    _cli("info", str(published))
    steps = FINETUNE_STEPS[fast]
    print(f"scOT: fine-tuning {published} on Kolmogorov flow, {steps} steps")
    tuned = _train(
        "kolmogorov_poseidon",
        out / "kolmogorov_poseidon",
        steps,
        f"data.store={_quoted(task)}",
        f"model.pretrained={_quoted(published)}",
        "model.replace_channels=false",  # the same single vorticity channel
        "optim.batch_size=16",
        quiet=fast,
    )
    report = out / "kolmogorov_poseidon" / "eval"
    _cli("evaluate", str(tuned), "--data", str(task), "--out", str(report))


def pinn_stage(out: Path, fast: bool) -> None:
    """A Lagrangian PINN on u_t + 50 u_x = 0, scored on its exact reference."""
    adam, lbfgs = PINN_STEPS[fast]
    print(f"Lagrangian PINN: u_t + 50 u_x = 0, {adam} Adam + {lbfgs} L-BFGS steps")
    run = _fresh(out / "pinn_convection_lagrangian")
    sets = [
        f"train.out={_quoted(run)}",
        f"optim.steps={adam}",
        f"optim.lbfgs_steps={lbfgs}",
        f"physics.store_dir={_quoted(out / 'reference')}",
    ]
    _cli("train", "pinn_convection_lagrangian", *[a for s in sets for a in ("--set", s)], "--quiet")
    plots = ["--no-plots"] if fast else []
    _cli("evaluate", str(run / "checkpoint"), "--out", str(run / "eval"), *plots)
