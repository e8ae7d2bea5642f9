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


@pytest.mark.parametrize("conditioned", [True, False])
def test_a_poseidon_config_reads_as_pdesurr_fields(tmp_path, conditioned):
    """The config the Poseidon reader gives, field by field, from the published config.json
    written beside it (the reference's names: num_channels, num_out_channels,
    use_conditioning) and the optional "pdesurr" entry."""
    import json

    model = tiny_scot(cond_dim=1 if conditioned else 0)
    extra = {"mean": [0.5, -1.0], "std": [2.0, 0.25], "conditioning": ["nu"]}
    model.save_pretrained(tmp_path / "p", extra=extra if conditioned else None)
    raw = json.loads((tmp_path / "p" / "config.json").read_text())
    if not conditioned:  # as downloaded from the Hub: no "pdesurr" entry at all
        del raw["pdesurr"]
        (tmp_path / "p" / "config.json").write_text(json.dumps(raw))
    config = read_config(tmp_path / "p")
    args = config["model"]["args"]
    assert config["model"]["kind"] == "scot"
    assert (args["in_channels"], args["out_channels"]) == (raw["num_channels"], 2)
    assert (args["ndim"], args["cond_dim"]) == (2, 1 if raw["use_conditioning"] else 0)
    assert "num_channels" not in args and args["embed_dim"] == raw["embed_dim"]
    assert args["depths"] == raw["depths"] and args["window_size"] == raw["window_size"]
    # the args rebuild the very model: same parameter names and shapes
    rebuilt = ScOT(**args)
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {
        k: v.shape for k, v in model.state_dict().items()
    }
    want = {"history": 1, "channels": 2, "ndim": 2, "stride": 1, "predict": "state"}
    want |= {"conditioning": ["nu"], "mean": extra["mean"], "std": extra["std"]}
    if not conditioned:  # no "pdesurr" entry: no statistics, no named conditioning
        want |= {"conditioning": [], "mean": None, "std": None}
    assert config["data"] == want
    assert READERS[config["format"]] is READERS["poseidon"]
    if not conditioned:  # unnormalised: the surrogate steps the bare model
        surrogate, _ = load_surrogate(tmp_path / "p")
        assert surrogate.mean is None or bool((surrogate.mean == 0).all())
        x = torch.randn(2, 1, 2, model.config["image_size"], model.config["image_size"])
        with torch.no_grad():
            torch.testing.assert_close(surrogate(x, None), model(x[:, 0]))


def test_reader_of_names_the_format_of_each_directory(tmp_path):
    from pdesurr.checkpoints.readers import reader_of

    tiny_scot(cond_dim=1).save_pretrained(tmp_path / "p")
    assert reader_of(tmp_path / "p") is READERS["poseidon"]
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "config.json").write_text('{"format": "nonsense"}')
    with pytest.raises(CheckpointError, match="nonsense"):
        reader_of(tmp_path / "x")
