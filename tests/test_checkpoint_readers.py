"""Every checkpoint format is one entry of READERS: a Poseidon directory loads as a grid
surrogate through the same ``load_surrogate`` as pdesurr's own checkpoints."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import torch

from pdesurr.checkpoints.files import CheckpointError
from pdesurr.checkpoints.readers import READERS, load_surrogate, read_config
from pdesurr.models.scot.model import ScOT

ROOT = Path(__file__).resolve().parents[1]


def tiny_scot(cond_dim: int) -> ScOT:
    with open(ROOT / "models" / "scot" / "small.toml", "rb") as f:
        options = tomllib.load(f)["model"]
    options.pop("kind")
    torch.manual_seed(0)
    return ScOT(2, 2, 2, cond_dim, **options).eval()


def test_a_poseidon_directory_is_a_grid_surrogate(tmp_path):
    model = tiny_scot(cond_dim=1)  # the preset is time-conditioned
    mean, std = [0.5, -1.0], [2.0, 0.25]
    model.save_pretrained(tmp_path / "p", extra={"mean": mean, "std": std})
    surrogate, config = load_surrogate(tmp_path / "p")
    assert config["format"] == "poseidon" and READERS["poseidon"].family == "grid"
    assert (surrogate.history, surrogate.channels) == (1, 2)
    x = torch.randn(3, 1, 2, model.config["image_size"], model.config["image_size"])
    m, s = torch.tensor(mean).view(1, 2, 1, 1), torch.tensor(std).view(1, 2, 1, 1)
    t = torch.rand(3, 1)  # lead times
    with torch.no_grad():
        # the surrogate standardises with the recorded statistics, steps, and undoes them
        expected = model((x[:, 0] - m) / s, cond=t) * s + m
        got = surrogate(x, t)
    torch.testing.assert_close(got, expected)  # the same float32 kernels in the same order


def test_a_physics_checkpoint_is_no_grid_surrogate(tmp_path):
    import json

    from pdesurr.training import physics_checkpoint  # noqa: F401  (registers its reader)

    (tmp_path / "c").mkdir()
    raw = {"format": "pdesurr.checkpoint", "family": "physics", "model": {"kind": "mlp"}}
    (tmp_path / "c" / "config.json").write_text(json.dumps(raw))
    assert read_config(tmp_path / "c")["format"] == "pdesurr.physics"
    with pytest.raises(CheckpointError, match="physics checkpoint"):
        load_surrogate(tmp_path / "c")
