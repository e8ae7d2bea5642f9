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

    def refuse(constant):  # strict JSON: a correlation time that never falls is "inf"
        raise AssertionError(f"summary.json holds the bare constant {constant}")

    summary = json.loads((out / "summary.json").read_text(), parse_constant=refuse)
    assert 0 < summary["rel_l2"] < 10
    assert len(summary["rel_l2_per_time"]) == 101  # the preset saves 101 frames
    assert len(summary["correlation_per_time"]) == 101 and "corr_time_0.8" in summary
    assert (out / "maps.png").is_file() and (out / "rel_l2_time.png").is_file()
    assert (out / "causal_weights.png").is_file() == recipe.endswith("causal")


def test_bad_physics_key_is_a_one_line_error(capsys):
    assert main(["train", "pinn_allen_cahn_plain", "--set", "physics.metod=causal"]) == 2
    err = capsys.readouterr().err
    assert "pdesurr: error:" in err and "physics.metod" in err


def test_scores_give_the_correlation_time():
    import torch

    from pdesurr.evaluation.physics import scores

    t = torch.arange(6, dtype=torch.float64) * 0.5 + 1.0  # the reference starts at t = 1
    x = torch.linspace(0, 6, 16, dtype=torch.float64)
    true = torch.sin(x)[None] * (1 + t[:, None])
    pred = true.clone()
    pred[3:] = torch.cos(x)[None]  # from the 4th time on, uncorrelated with the truth
    out = scores(pred, true, t)
    corr = torch.tensor(out["correlation_per_time"], dtype=torch.float64)
    assert torch.allclose(corr[:3], torch.ones(3, dtype=torch.float64))
    # Pearson correlation of sin and cos on the grid, written out
    s, c = torch.sin(x) - torch.sin(x).mean(), torch.cos(x) - torch.cos(x).mean()
    assert float(corr[3]) == pytest.approx(float((s * c).sum() / (s.norm() * c.norm())))
    assert out["corr_time_0.8"] == 1.5 and out["corr_time_0.9"] == 1.5  # lead time of t = 2.5
    assert scores(true, true, t)["corr_time_0.8"] == float("inf")
