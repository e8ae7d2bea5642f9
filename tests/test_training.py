"""The offline trainer: recipes, resume equivalence, checkpoints, DDP."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pdesurr.checkpoints.files import CheckpointError, load_training_state
from pdesurr.checkpoints.readers import load_surrogate
from pdesurr.config import ConfigError
from pdesurr.data.generate import generate
from pdesurr.data.spec import DatasetSpec
from pdesurr.training.build import build
from pdesurr.training.fit import fit
from pdesurr.training.recipe import Recipe
from pdesurr.training.sampler import StepSampler
from pdesurr.training.state import lr_factor


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "ks.zarr"
    spec = DatasetSpec.load(
        "ks_refiner/small", ["splits.train=6", "splits.valid=2", "splits.test=0"]
    )
    generate(spec, path, progress=False)
    return path


def recipe(store, out, **sets):
    raw = {
        "data": {"store": str(store), "history": 2, "conditioning": ["dt", "length"]},
        "model": {"kind": "fno", "modes": 8, "width": 12, "layers": 2},
        "objective": {"kind": "pushforward", "unroll": 2},
        "optim": {"lr": 3e-3, "batch_size": 8, "steps": 30, "warmup": 3, "ema": 0.9},
        "train": {"out": str(out), "eval_every": 10, "log_every": 5, "seed": 1},
    }
    for key, value in sets.items():
        section, name = key.split("__")
        raw[section][name] = value
    return Recipe.from_dict(raw, "test-recipe.toml")


def test_loss_falls(store, tmp_path):
    result = fit(
        recipe(
            store,
            tmp_path / "run",
            optim__steps=80,
            objective__kind="one_step",
            data__predict="state",
        ),
        progress=False,
    )
    losses = [r["loss"] for r in result.history if "loss" in r]
    assert losses[-1] < 0.5 * losses[0]
    assert (tmp_path / "run" / "metrics.jsonl").read_text().count("\n") == len(result.history)


@pytest.mark.parametrize("objective", ["pushforward", "unrolled"])
def test_resume_gives_the_same_losses(store, tmp_path, objective):
    full = fit(recipe(store, tmp_path / "full", objective__kind=objective), progress=False)
    r = recipe(store, tmp_path / "split", objective__kind=objective)
    first = fit(r, progress=False, stop_after=15)
    assert first.step == 15 and (tmp_path / "split" / "checkpoint").exists()
    second = fit(r, progress=False)
    resumed = first.history + second.history
    assert [h["step"] for h in resumed] == [h["step"] for h in full.history]
    for a, b in zip(full.history, resumed, strict=True):
        # same batches, same pushforward draws, same optimizer state: bit-identical on CPU
        assert a["loss"] == b["loss"], (a, b)
    wa = load_surrogate(tmp_path / "full" / "checkpoint")[0].state_dict()
    wb = load_surrogate(tmp_path / "split" / "checkpoint")[0].state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_checkpoint_contents_and_inference(store, tmp_path):
    r = recipe(store, tmp_path / "run")
    result = fit(r, progress=False)
    ckpt = result.checkpoint
    config = json.loads((ckpt / "config.json").read_text())
    assert config["format"] == "pdesurr.checkpoint" and config["model"]["kind"] == "fno"
    assert config["model"]["args"]["in_channels"] == 2 and config["model"]["args"]["cond_dim"] == 2
    assert config["provenance"]["dataset"]["name"] == "ks_refiner/small"
    assert len(config["data"]["mean"]) == 1
    state = load_training_state(ckpt)  # weights_only=True inside
    assert state["step"] == 30 and "optimizer" in state and "ema" in state
    surrogate, _ = load_surrogate(ckpt)
    train, valid, _, _ = build(r)
    frames, cond = valid.batch([0, 1])
    out = surrogate(frames[:, :2], cond)
    assert out.shape == frames[:, 2].shape and torch.isfinite(out).all()


def test_bad_checkpoints_are_refused(store, tmp_path):
    ckpt = fit(recipe(store, tmp_path / "run", optim__steps=5), progress=False).checkpoint
    broken = tmp_path / "broken"
    shutil.copytree(ckpt, broken)
    (broken / "model.safetensors").write_bytes((ckpt / "model.safetensors").read_bytes()[:100])
    with pytest.raises(CheckpointError, match="unreadable weights"):
        load_surrogate(broken)
    other = tmp_path / "other"
    shutil.copytree(ckpt, other)
    config = json.loads((other / "config.json").read_text())
    config["model"]["args"]["width"] = 16  # a different model shape than the weights
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="does not match"):
        load_surrogate(other)
    config["model"]["kind"] = "transformer_xl"
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="unknown model"):
        load_surrogate(other)
    (broken / "training_state.pt").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="training_state"):
        load_training_state(broken)
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        load_surrogate(tmp_path)
    # resuming into a run directory of another model is refused
    with pytest.raises(ValueError, match="different model"):
        fit(recipe(store, tmp_path / "run", model__width=16), progress=False)


def test_sampler_is_stateless_and_shards_cover_the_batch():
    s = StepSampler(50, 8, seed=3)
    assert s.batch(17) == StepSampler(50, 8, seed=3).batch(17)
    shards = [StepSampler(50, 8, seed=3, rank=r, world=2).batch(17) for r in range(2)]
    assert sorted(shards[0] + shards[1]) == sorted(s.batch(17))
    assert len(set(sum((s.batch(i) for i in range(6)), []))) == 48  # an epoch has no repeats


def test_lr_schedule():
    assert lr_factor(0, 10, 100, 0.0) == pytest.approx(0.1)
    assert lr_factor(9, 10, 100, 0.0) == pytest.approx(1.0)
    assert lr_factor(100, 10, 100, 0.1) == pytest.approx(0.1)


@pytest.mark.parametrize(
    "sets,key",
    [
        ({"objective__kind": "teacher"}, "objective.kind"),
        ({"optim__lr": -1.0}, "optim.lr"),
        ({"model__modez": 3}, "model.modez"),
        ({"data__predict": "delta"}, "data.predict"),
        ({"optim__ema": 1.0}, "optim.ema"),
    ],
)
def test_bad_recipes_name_the_key(store, tmp_path, sets, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        recipe(store, tmp_path, **sets)


def test_catalogue_recipes_and_suites_load():
    from pdesurr.evaluation.suite import load_suite
    from pdesurr.training.physics_recipe import PhysicsRecipe, is_physics_recipe

    for path in (Path(__file__).parent.parent / "train").glob("*.toml"):
        if path.stem.startswith("bench_"):
            assert load_suite(path)["models"]
        elif is_physics_recipe(path):  # PINN recipes: a [physics] table, their own schema
            PhysicsRecipe.load(path)
        else:
            Recipe.load(path)


@pytest.mark.mpi
def test_ddp_two_ranks_matches_one_process(store, tmp_path):
    single = fit(
        recipe(
            store, tmp_path / "one", optim__steps=10, objective__kind="one_step", optim__ema=0.0
        ),
        progress=False,
    )
    rfile = tmp_path / "r.toml"
    rfile.write_text(f"""
[data]
store = "{store}"
history = 2
conditioning = ["dt", "length"]
[model]
kind = "fno"
modes = 8
width = 12
layers = 2
[objective]
kind = "one_step"
[optim]
lr = 3e-3
batch_size = 8
steps = 10
warmup = 3
[train]
out = "{tmp_path / "two"}"
eval_every = 10
log_every = 5
seed = 1
""")
    mpiexec = shutil.which("mpiexec") or str(Path(sys.executable).parent / "mpiexec")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(
        [mpiexec, "-n", "2", sys.executable, "-m", "pdesurr", "train", str(rfile), "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert "on 2 rank(s)" in r.stdout
    lines = [json.loads(x) for x in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    for a, b in zip(single.history, lines, strict=True):
        # the mean of two half-batch gradients is the full-batch gradient (to round-off)
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)
    assert lines[-1]["valid_loss"] == pytest.approx(single.history[-1]["valid_loss"], rel=1e-3)


def test_metrics_log_writes_tensorboard_when_available(tmp_path, monkeypatch):
    import types

    from pdesurr.training.metrics_log import MetricsLog

    calls = []

    class FakeWriter:  # stands in for tensorboard's SummaryWriter (not a test dependency)
        def __init__(self, logdir):
            calls.append(("dir", logdir))

        def add_scalar(self, key, value, step):
            calls.append((key, value, step))

        def close(self):
            calls.append(("closed",))

    fake = types.ModuleType("torch.utils.tensorboard")
    fake.SummaryWriter = FakeWriter
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", fake)
    log = MetricsLog(tmp_path)
    log.write({"step": 3, "loss": 0.5, "note": "text"})
    log.close()
    assert ("loss", 0.5, 3) in calls and ("closed",) in calls
    assert json.loads((tmp_path / "metrics.jsonl").read_text()) == {
        "step": 3,
        "loss": 0.5,
        "note": "text",
    }
