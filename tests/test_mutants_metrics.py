"""Metrics and objectives checks that mutation testing asked for (see the README's
mutation table): expected values from the definitions, written out here."""

import math

import numpy as np
import pytest
import torch

from pdesurr.evaluation import metrics as M
from pdesurr.training import objectives


def test_poseidon_groups_are_scored_separately_then_averaged():
    # channels 0 | 1, 2 | 3 on a 2x2 grid (fewer points than channels); each group's
    # relative L1 from its own sums
    gen = torch.Generator().manual_seed(0)
    true = torch.rand(3, 1, 4, 2, 2, generator=gen, dtype=torch.float64) + 0.5
    pred = true * torch.tensor([1.1, 1.0, 1.3, 2.0], dtype=torch.float64).reshape(1, 1, 4, 1, 1)
    t, p = true.numpy(), pred.numpy()

    def group(lo, hi):  # (B,) percent
        return (
            100
            * np.abs(p[:, 0, lo:hi] - t[:, 0, lo:hi]).sum((1, 2, 3))
            / np.abs(t[:, 0, lo:hi]).sum((1, 2, 3))
        )

    per_group = np.stack([group(0, 1), group(1, 3), group(3, 4)], -1)  # (B, 3)
    got = M.rel_l1_poseidon(pred, true, [0, 1, 3, 4])[:, 0].numpy()
    np.testing.assert_allclose(got, per_group.mean(-1), rtol=1e-12)  # float64 sums
    median = M.rel_l1_poseidon_median(pred, true, [0, 1, 3, 4])[0].item()
    assert median == pytest.approx(np.median(per_group, 0).mean(), rel=1e-12)
    whole = M.rel_l1_poseidon(pred, true)[:, 0].numpy()  # one group of all channels
    np.testing.assert_allclose(whole, group(0, 4), rtol=1e-12)
    assert np.abs(whole - got).min() > 1.0  # the groups matter (percent points)


def test_correlation_of_an_identical_constant_sample_is_one_beside_others():
    true = torch.zeros(2, 1, 1, 8, dtype=torch.float64)
    true[1, 0, 0] = torch.arange(8.0)
    pred = true.clone()
    pred[1, 0, 0] = torch.arange(8.0) ** 2  # not identical: an ordinary Pearson value
    got = M.correlation(pred, true)[:, 0]
    x, y = np.arange(8.0), np.arange(8.0) ** 2
    assert got[0].item() == 1.0  # constant and identical: one, not 0/0
    assert got[1].item() == pytest.approx(np.corrcoef(x, y)[0, 1], rel=1e-12)


def test_correlation_time_counts_a_value_at_the_threshold_as_still_correlated():
    # "falls below the threshold": a correlation equal to it has not fallen yet
    corr = torch.tensor([1.0, 0.8, 0.5], dtype=torch.float64)
    lead = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    assert M.correlation_time(corr, lead, 0.8) == 3.0
    assert M.correlation_time(torch.tensor([0.9, float("nan")]), lead[:2], 0.8) == 2.0
    assert M.correlation_time(torch.tensor([0.9, 0.85]), lead[:2], 0.8) == math.inf


def test_an_unknown_objective_names_itself_and_the_choices():
    with pytest.raises(ValueError, match=r"unknown objective 'nope'; choose from \['") as e:
        objectives.loss("nope", None, torch.zeros(1, 2, 1, 4), None, 1, {}, 0, 0)
    assert all(name in str(e.value) for name in objectives.OBJECTIVES)


def test_register_adds_an_objective_under_its_name(monkeypatch):
    # called here, not at import: mutmut switches mutants at call time, so the registry's
    # import-time decorations alone never exercise a mutated ``register``
    monkeypatch.setattr(objectives, "OBJECTIVES", dict(objectives.OBJECTIVES))

    def toy(surrogate, window, targets, cond, options, draws):
        return torch.zeros(())

    def horizon(options):
        return 3

    assert objectives.register("toy_objective", horizon, needs=("stats",))(toy) is toy
    entry = objectives.OBJECTIVES["toy_objective"]
    assert entry == objectives.Objective("toy_objective", toy, horizon, frozenset({"stats"}))
    assert objectives.register("plain", horizon)(toy) is toy
    assert objectives.OBJECTIVES["plain"].needs == frozenset()
