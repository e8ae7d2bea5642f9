"""``pdesurr train pinn_*`` and ``pdesurr evaluate`` on a PINN checkpoint, end to end."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def pdesurr(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "pdesurr", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("recipe", ["pinn_convection_causal", "pinn_convection_lagrangian"])
def test_train_then_evaluate(tmp_path, recipe):
    small = [
        "physics.points_x=32",
        "physics.points_t=8",
        "optim.steps=10",
        "network.width=8",
        "pde.resolution=32",
        f"physics.store_dir={tmp_path}/ref",
        f"train.out={tmp_path}/run",
    ]
    if recipe.endswith("causal"):
        small.append("physics.causal.chunks=4")
    sets = [a for s in small for a in ("--set", s)]
    r = pdesurr("train", recipe, *sets, "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "PINN to step 10" in r.stdout
    r = pdesurr("evaluate", str(tmp_path / "run" / "checkpoint"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "run" / "eval"
    summary = json.loads((out / "summary.json").read_text())
    assert (
        0 < summary["rel_l2"] < 10 and len(summary["rel_l2_per_time"]) == 101
    )  # the preset saves 101 frames
    assert (out / "maps.png").is_file() and (out / "rel_l2_time.png").is_file()
    assert (out / "causal_weights.png").is_file() == recipe.endswith("causal")


def test_bad_physics_key_is_a_one_line_error(tmp_path):
    r = pdesurr("train", "pinn_allen_cahn_plain", "--set", "physics.metod=causal", cwd=tmp_path)
    assert r.returncode != 0
    assert "pdesurr: error:" in r.stderr and "physics.metod" in r.stderr
