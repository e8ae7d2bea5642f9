"""Poseidon's training pieces: all2all pairs, the relative-L1 loss with pixel_mask, the
median relative-L1 metric."""

import numpy as np
import pytest
import torch

from pdesurr.data.generate import generate
from pdesurr.data.pairs import PairDataset, pair_offsets
from pdesurr.data.spec import DatasetSpec
from pdesurr.evaluation import metrics as M
from pdesurr.models.scot.loss import poseidon_loss
from pdesurr.sections import check_section


@pytest.mark.parametrize("k", [1, 3, 7])
def test_all2all_counts(k):
    pairs = pair_offsets("all2all", k, step=2)
    assert len(pairs) == (k + 1) * (k + 2) // 2  # Poseidon: 36 for K = 7
    assert len(set(pairs)) == len(pairs)
    assert all(0 <= a <= b <= 2 * k and a % 2 == 0 and b % 2 == 0 for a, b in pairs)
    assert sum(a == b for a, b in pairs) == k + 1  # identity pairs included
    assert pair_offsets("next", k, step=2) == [(2 * i, 2 * i + 2) for i in range(k)]
    with pytest.raises(ValueError, match="pairs"):
        pair_offsets("some", k)


@pytest.fixture(scope="module")
def kolmogorov(tmp_path_factory):
    path = tmp_path_factory.mktemp("pairs") / "kf.zarr"
    spec = DatasetSpec.load(
        "kolmogorov/small", ["splits.train=2", "splits.valid=0", "splits.test=0", "time.frames=9"]
    )
    generate(spec, path, progress=False)
    return path


def test_pair_dataset_reads_the_right_frames(kolmogorov):
    data = PairDataset(kolmogorov, "train", "all2all", max_steps=4, step=2)
    assert len(data) == 2 * 15
    pos, t1, t2 = data.locate(15 + 7)  # second trajectory, 8th pair of (0..4)x(0..4), i<=j
    assert (pos, t1, t2) == (1, 2, 6)
    frames, cond = data.batch([22, 0])
    whole = data.frames.window  # one frame per window at stride 1
    per = data.frames.per_trajectory
    assert torch.equal(frames[0, 0], whole(per + 2)[0]) and torch.equal(
        frames[0, 1], whole(per + 6)[0]
    )
    # lead time (t2 - t1) / (snapshots - 1): 4 / 8; identity pair 0
    assert cond[:, 0].tolist() == [0.5, 0.0]
    # every pair, the last snapshot included, reads the frames the in-memory copy holds
    # (reading snapshot 8 through the window index once returned the next trajectory's)
    everything = list(range(len(data)))
    memory = data.to_memory().batch(everything)
    assert data.locate(14)[2] == 8
    assert torch.equal(data.batch(everything)[0], memory[0])
    assert torch.equal(data.batch(everything)[1], memory[1])
    with pytest.raises(ValueError, match="needs 11 snapshots"):
        PairDataset(kolmogorov, "train", max_steps=5, step=2)


def test_loss_is_relative_l1_per_group():
    gen = torch.Generator().manual_seed(0)
    y = torch.randn(2, 4, 8, 8, generator=gen, dtype=torch.float64)
    pred = y + 0.1 * torch.randn(2, 4, 8, 8, generator=gen, dtype=torch.float64)
    loss, out = poseidon_loss(pred, y, [0, 1, 3, 4])
    groups = [(0, 1), (1, 3), (3, 4)]
    want = sum((pred[:, a:b] - y[:, a:b]).abs().mean() / y[:, a:b].abs().mean() for a, b in groups)
    # the 1e-10 regulariser is ~1e-10 relative to O(1) means
    assert loss.item() == pytest.approx(want.item() / 3, rel=1e-9)
    assert torch.equal(out, pred)
    plain, _ = poseidon_loss(pred, y, None, p=2)
    assert plain.item() == pytest.approx(((pred - y) ** 2).mean().item(), rel=1e-12)


def test_pixel_mask_removes_a_channel_from_the_loss():
    gen = torch.Generator().manual_seed(1)
    y = torch.randn(3, 4, 8, 8, generator=gen)
    pred = y.clone()
    pred[:, 3] += 5.0  # wrong only in the masked (pressure) channel
    mask = torch.zeros(3, 4, dtype=torch.bool)
    mask[:, 3] = True
    loss, out = poseidon_loss(pred, y, [0, 1, 3, 4], pixel_mask=mask)
    assert loss.item() == 0.0 and torch.equal(out[:, 3], y[:, 3])
    unmasked, _ = poseidon_loss(pred, y, [0, 1, 3, 4])
    assert unmasked.item() > 1.0


def test_poseidon_metric_median_over_samples_mean_over_groups():
    true = torch.ones(3, 1, 2, 2, 2, dtype=torch.float64)
    pred = true.clone()
    # sample errors, channel 0: 10 %, 20 %, 90 %; channel 1: 0 %, 40 %, 40 %
    for b, (e0, e1) in enumerate([(0.1, 0.0), (0.2, 0.4), (0.9, 0.4)]):
        pred[b, 0, 0] += e0
        pred[b, 0, 1] += e1
    per = M.rel_l1_poseidon(pred, true, [0, 1, 2])
    assert per[:, 0].tolist() == pytest.approx([5.0, 30.0, 65.0])  # mean over groups
    # median per group: 20 % and 40 % -> mean 30 %
    assert M.rel_l1_poseidon_median(pred, true, [0, 1, 2]).tolist() == pytest.approx([30.0])
    # one group of all channels: 100 * sum |e| / sum |y| = 100 * (4 e0 + 4 e1) / 8
    assert M.rel_l1_poseidon(pred, true)[:, 0].tolist() == pytest.approx([5.0, 30.0, 65.0])


def test_parameter_groups_follow_the_published_recipe():
    from pdesurr.models.scot import ScOT
    from pdesurr.models.scot.finetune import parameter_groups

    model = ScOT(4, 4, image_size=32, patch_size=4, embed_dim=16, depths=[2, 2], num_heads=[2, 2],
                 skip_connections=[1, 0], window_size=4)  # fmt: skip
    groups = parameter_groups(model, 5e-5, 1e-6, lr_embedding=5e-4, lr_time=5e-4)
    names = {id(p): n for n, p in model.named_parameters()}
    by = [{names[id(p)] for p in g["params"]} for g in groups]
    decay, no_decay, embedding, time = by
    assert [(g["lr"], g["weight_decay"]) for g in groups] == [
        (5e-5, 1e-6), (5e-5, 0.0), (5e-4, 1e-6), (5e-4, 0.0)]  # fmt: skip
    assert set().union(*by) == set(names.values()) and sum(map(len, by)) == len(names)
    assert all(n.startswith(("embeddings.", "patch_recovery.")) for n in embedding)
    assert "embeddings.norm.weight.weight" in embedding  # the reference groups it by name
    assert all(".norm" in n or "layernorm" in n for n in time)
    assert "encoder.layers.0.blocks.0.layernorm_after.bias.bias" in time
    assert "encoder.layers.0.blocks.0.attention.self.logit_scale" in decay
    assert "residual_blocks.0.0.weight" in decay  # the layer scale decays, as published
    # the reference excludes every name containing "bias" from decay, which also catches the
    # position-bias MLP's weights
    assert (
        "encoder.layers.0.blocks.0.attention.self.continuous_position_bias_mlp.0.weight" in no_decay
    )
    assert no_decay == {n for n in names.values() if "bias" in n} - embedding - time


def test_fine_tune_from_a_saved_checkpoint_lowers_the_loss(kolmogorov, tmp_path):
    from pdesurr.checkpoints.readers import load_surrogate
    from pdesurr.models.scot import ScOT
    from pdesurr.training.fit import fit
    from pdesurr.training.recipe import Recipe

    torch.manual_seed(0)
    ScOT(4, 4, image_size=32, patch_size=4, embed_dim=16, depths=[2, 2], num_heads=[2, 2],
         skip_connections=[1, 0], window_size=4).save_pretrained(tmp_path / "poseidon")  # fmt: skip
    raw = {
        "data": {"store": str(kolmogorov), "pairs": "all2all", "max_steps": 4, "step": 2,
                 "predict": "state", "valid_split": "none"},
        "model": {"kind": "scot", "pretrained": str(tmp_path / "poseidon"),
                  "replace_channels": True},
        "objective": {"kind": "one_step"},
        "optim": {"lr": 3e-3, "lr_embedding": 1e-2, "lr_time": 1e-2, "batch_size": 8,
                  "steps": 60, "grad_clip": 5.0},
        "train": {"out": str(tmp_path / "run"), "log_every": 10, "eval_every": 1000},
    }  # fmt: skip
    result = fit(Recipe.from_dict(raw), progress=False)
    losses = [r["loss"] for r in result.history if "loss" in r]
    assert losses[-1] < 0.5 * losses[0]
    surrogate, config = load_surrogate(tmp_path / "run" / "checkpoint")
    assert (
        config["model"]["args"]["embed_dim"] == 16 and config["data"]["pairs"]["pairs"] == "all2all"
    )
    # the fine-tuned model saves back into the published layout
    surrogate.model.save_pretrained(tmp_path / "back")
    again = ScOT.from_pretrained(tmp_path / "back")
    x, t = torch.randn(2, 1, 32, 32), torch.rand(2, 1)
    assert torch.equal(again(x, cond=t), surrogate.model.eval()(x, cond=t))
    # rollouts step by `step` frames with the lead time step / time_scale prepended
    from pdesurr.cli import main

    out = tmp_path / "eval"
    args = ["evaluate", str(tmp_path / "run" / "checkpoint"), "--data", str(kolmogorov)]
    assert main([*args, "--split", "train", "--out", str(out), "--no-plots"]) == 0
    import xarray as xr

    ds = xr.open_dataset(next(out.glob("*.nc")))
    assert ds.attrs["stride"] == 2 and ds.sizes["lead"] == 4  # 9 frames: 1 context + 4 steps
    assert bool(ds["rel_l1_poseidon"].notnull().all())
    # the benchmark suite rolls it out the same way (pdesurr.data.pairs.rollout_step)
    from pdesurr.evaluation.suite import SCHEMA, run_suite

    section = {"data": str(kolmogorov), "split": "train", "lead_times": [1, 4], "context": 1}
    rows = run_suite(
        {
            "suite": check_section(
                {**section, "out": str(tmp_path / "bench")}, "suite", SCHEMA["suite"], "t"
            ),
            "models": [{"name": "scot", "checkpoint": str(tmp_path / "run" / "checkpoint")}],
            "references": {"persistence": False, "solver": False, "solver_substeps": []},
        },
        plots=True,
    )
    bench = xr.open_dataset(next((tmp_path / "bench" / "scot").glob("*.nc")))
    assert rows[0]["name"] == "scot" and bench.sizes["lead"] == 4
    # the same rollout as `pdesurr evaluate`: identical errors at every lead time
    np.testing.assert_array_equal(bench["rel_l2"].values, ds["rel_l2"].values)


def test_poseidon_objective_is_the_relative_l1_per_group_of_the_one_step_prediction():
    # hand computation on a fixed linear "model": groups [0, 1) and [1, 3), channel 2 masked
    from pdesurr.checkpoints.surrogate import Surrogate
    from pdesurr.training import objectives

    class Scale(torch.nn.Module):
        def forward(self, x, cond=None):
            return 0.5 * x

    gen = torch.Generator().manual_seed(0)
    frames = torch.randn(4, 2, 3, 8, 8, generator=gen, dtype=torch.float64)  # history 1
    surrogate = Surrogate(Scale(), 1, 3, predict="state")
    options = {"channel_slices": [0, 1, 3], "p": 1, "masked_channels": [2]}
    got = objectives.loss("poseidon", surrogate, frames, None, 1, options, 0, 0)
    pred, y = 0.5 * frames[:, 0], frames[:, 1]
    pred[:, 2] = y[:, 2]  # masked: replaced by the label, no contribution
    g0 = (pred[:, :1] - y[:, :1]).abs().mean() / (y[:, :1].abs().mean() + 1e-10)
    g1 = (pred[:, 1:] - y[:, 1:]).abs().mean() / (y[:, 1:].abs().mean() + 1e-10)
    assert float(got) == pytest.approx(float((g0 + g1) / 2), rel=1e-12)  # same sums, f64
    plain = objectives.loss("poseidon", surrogate, frames, None, 1, {"p": 2}, 0, 0)
    assert float(plain) == pytest.approx(float(((0.5 * frames[:, 0] - y) ** 2).mean()), rel=1e-12)
