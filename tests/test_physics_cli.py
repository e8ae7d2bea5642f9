"""``pdesurr train pinn_*`` and ``pdesurr evaluate`` on a PINN checkpoint, end to end."""

import json

import pytest

from pdesurr.cli import main


@pytest.mark.parametrize("recipe", ["pinn_convection_causal", "pinn_convection_lagrangian"])
def test_train_then_evaluate(tmp_path, recipe, capsys):
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
    assert main(["train", recipe, *sets, "--quiet"]) == 0
    assert "PINN to step 10" in capsys.readouterr().out
    assert main(["info", str(tmp_path / "run" / "checkpoint")]) == 0
    assert "physics-informed checkpoint" in capsys.readouterr().out
    assert main(["evaluate", str(tmp_path / "run" / "checkpoint")]) == 0
    out = tmp_path / "run" / "eval"
    summary = json.loads((out / "summary.json").read_text())
    assert 0 < summary["rel_l2"] < 10
    assert len(summary["rel_l2_per_time"]) == 101  # the preset saves 101 frames
    assert (out / "maps.png").is_file() and (out / "rel_l2_time.png").is_file()
    assert (out / "causal_weights.png").is_file() == recipe.endswith("causal")


def test_bad_physics_key_is_a_one_line_error(capsys):
    assert main(["train", "pinn_allen_cahn_plain", "--set", "physics.metod=causal"]) == 2
    err = capsys.readouterr().err
    assert "pdesurr: error:" in err and "physics.metod" in err
