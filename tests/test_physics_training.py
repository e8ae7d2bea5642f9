"""Physics-informed trainers: causal weights, eps schedule, loss falls, checkpoints."""

import math

import pytest
import torch
from torch import nn

from pdesurr.config import ConfigError
from pdesurr.physics.lagrangian import eulerian
from pdesurr.training.causal import EpsSchedule, causal_weights
from pdesurr.training.physics import train_physics
from pdesurr.training.physics_checkpoint import is_pinn_checkpoint, load_pinn
from pdesurr.training.physics_recipe import PhysicsRecipe


def test_causal_weights_follow_the_formula_without_gradient():
    losses = torch.tensor([0.5, 0.2, 1.0, 0.1], requires_grad=True)
    w = causal_weights(losses, eps=2.0)
    # w_i = exp(-eps * sum_{k<i} L_k): sums 0, 0.5, 0.7, 1.7
    expected = torch.tensor([1.0, math.exp(-1.0), math.exp(-1.4), math.exp(-3.4)])
    assert torch.allclose(w, expected, rtol=1e-6)  # float32 exp
    assert not w.requires_grad


def test_eps_schedule_advances_only_when_every_weight_exceeds_delta():
    s = EpsSchedule([0.1, 1.0, 10.0], delta=0.99)
    assert not s.update(torch.tensor([1.0, 0.995, 0.98]))  # one chunk still closed
    assert s.eps == 0.1
    assert s.update(torch.tensor([1.0, 0.995, 0.991]))
    assert s.eps == 1.0
    assert s.update(torch.tensor([1.0, 1.0]))
    assert s.eps == 10.0 and s.converged
    assert not s.update(torch.tensor([1.0, 1.0]))  # the last rung stays
    restored = EpsSchedule([0.1, 1.0, 10.0])
    restored.load_state_dict(s.state_dict())
    assert restored.eps == 10.0
    with pytest.raises(ValueError, match="must increase"):
        EpsSchedule([1.0, 0.5])


def recipe(tmp_path, method="plain", **extra):
    raw = {
        "physics": {
            "reference": "convection_pinn",
            "store_dir": str(tmp_path / "ref"),
            "method": method,
            "points_x": 32,
            "points_t": 8,
            "ic_weight": 10.0,
            "causal": {"chunks": 4, "eps": [0.1, 1.0]},
        },
        "pde": {"velocity": 1.0, "resolution": 32},
        "network": {"kind": "mlp", "width": 16, "depth": 2},
        "optim": {"lr": 1e-2, "steps": 40},
        "train": {"out": str(tmp_path / "run"), "log_every": 5, "eval_every": 20},
    }
    for key, value in extra.items():
        section, name = key.split("__")
        raw[section][name] = value
    return PhysicsRecipe.from_dict(raw, "<test>")


@pytest.mark.parametrize("method", ["plain", "causal", "lagrangian"])
def test_tiny_pinn_loss_falls(tmp_path, method):
    result = train_physics(recipe(tmp_path, method), progress=False)
    losses = [r["loss"] for r in result.history if "loss" in r]
    # 40 Adam steps on a c = 1 problem: the loss drops well below its start
    assert losses[-1] < 0.3 * losses[0], losses
    assert result.rel_l2 is not None and result.rel_l2 < 1.0
    if method == "causal":
        assert all("min_w" in r for r in result.history if "loss_r" in r)


def test_checkpoint_round_trip_and_resume(tmp_path):
    full = train_physics(recipe(tmp_path / "a"), progress=False)
    assert is_pinn_checkpoint(full.checkpoint)
    sol = load_pinn(full.checkpoint)
    err = float((sol.predict() - sol.reference.u).norm() / sol.reference.u.norm())
    # the saved weights give the training run's last error (same float32 computation)
    assert err == pytest.approx(full.rel_l2, rel=1e-6)
    # stopped at step 15 and resumed: same losses as the uninterrupted run
    r = recipe(tmp_path / "b")
    train_physics(r, progress=False, stop_after=15)
    resumed = train_physics(r, progress=False)
    a = [h["loss"] for h in full.history if "loss" in h]
    b = [h["loss"] for h in resumed.history if "loss" in h]
    assert len(a) == len(b) and a[-1] == pytest.approx(b[-1], rel=1e-5)  # CPU-deterministic


def test_time_marching_uses_one_network_per_window(tmp_path):
    result = train_physics(recipe(tmp_path, "causal", physics__windows=2), progress=False)
    sol = load_pinn(result.checkpoint)
    assert len(sol.networks) == 2 and sol.edges == [(0.0, 0.5), (0.5, 1.0)]
    late = torch.tensor([0.9])
    direct = sol.networks[1](torch.stack([sol.reference.x, late.expand(32)], 1).float())
    assert torch.allclose(sol.predict(late)[0].float(), direct[:, 0])


class ExactCharacteristics(nn.Module):
    """X = x0 + c t, u = sin(x0): the exact Lagrangian solution of u_t + c u_x = 0."""

    def __init__(self, c):
        super().__init__()
        self.c = c
        self.dummy = nn.Parameter(torch.zeros((), dtype=torch.float64))

    def forward(self, p):
        return torch.stack([self.c * p[:, 1], torch.sin(p[:, 0])], 1)


def test_eulerian_mapping_recovers_the_travelling_wave():
    c, x = 50.0, torch.arange(64, dtype=torch.float64) * (2 * math.pi / 64)
    t = torch.tensor([0.0, 0.37, 1.0], dtype=torch.float64)
    u = eulerian(ExactCharacteristics(c), x, t, 0.0, 2 * math.pi)
    exact = torch.sin(x[None] - c * t[:, None])
    # linear interpolation on a 256-point label grid: error <= h^2 / 8 = 7.5e-5
    assert float((u - exact).abs().max()) < 1e-4


def test_recipe_errors_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match="physics.method"):
        recipe(tmp_path, "magic")
    with pytest.raises(ConfigError, match="network.coords"):
        recipe(tmp_path, network__coords=["x"])
    with pytest.raises(ConfigError, match="physics.causal.chunks"):
        recipe(tmp_path, "causal", physics__causal={"chunks": 99})


class StaticMap(nn.Module):
    """X = x0 + 0.3 sin x0 (no time dependence) and u = sin(2 X)."""

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros((), dtype=torch.float64))

    def forward(self, p):
        d = 0.3 * torch.sin(p[:, 0])
        return torch.stack([d, torch.sin(2 * (p[:, 0] + d))], 1)


@pytest.mark.parametrize("engine", ["autograd", "func"])
def test_lagrangian_residuals_use_the_eulerian_second_derivative(engine, gen):
    from pdesurr.physics import RESIDUALS
    from pdesurr.physics.lagrangian import residuals

    nu, c = 0.1, 2.0
    p = torch.rand(32, 2, generator=gen, dtype=torch.float64) * 6
    r_x, r_u = residuals(StaticMap(), RESIDUALS["convection"](c, nu), p, engine)
    x = p[:, 0] + 0.3 * torch.sin(p[:, 0])
    assert torch.allclose(r_x, torch.full_like(r_x, -c))  # X_t = 0
    # u_t = 0 and d^2/dX^2 sin(2X) = -4 sin(2X): r_u = 4 nu sin(2X), to round-off
    assert torch.allclose(r_u, 4 * nu * torch.sin(2 * x), atol=1e-12)


def test_func_engine_trains_like_autograd(tmp_path):
    runs = [
        train_physics(
            recipe(tmp_path / e, physics__engine=e, optim__steps=5, train__log_every=1),
            progress=False,
        )
        for e in ("autograd", "func")
    ]
    a, b = ([r["loss"] for r in run.history if "loss" in r] for run in runs)
    # same network, points and maths: only float32 round-off in the derivatives differs
    assert a == pytest.approx(b, rel=1e-4)


def test_hard_initial_condition_trains_and_reloads(tmp_path):
    r = recipe(tmp_path, "causal", network__initial_modes=17, physics__windows=2)
    result = train_physics(r, progress=False)
    sol = load_pinn(result.checkpoint)
    pred = sol.predict()
    # window 0 starts exactly at the reference's initial state (all 17 modes of 32 points)
    assert torch.allclose(pred[0], sol.reference.u[0], atol=1e-5)  # float32 network
    # window 1 starts at window 0's end state (its interpolant at the same grid points)
    t_mid = torch.tensor([0.5])
    end0 = sol.networks[0](torch.stack([sol.reference.x, t_mid.expand(32)], 1).float())
    start1 = sol.networks[1](torch.stack([sol.reference.x, t_mid.expand(32)], 1).float())
    assert torch.allclose(start1, end0, atol=1e-5)
    with pytest.raises(ConfigError, match="network.initial_modes"):
        recipe(tmp_path, "lagrangian", network__initial_modes=17)


def test_too_many_initial_modes_name_the_key(tmp_path):
    # the reference grid has 32 points: at most 17 modes
    with pytest.raises(ConfigError, match="network.initial_modes = 18"):
        train_physics(recipe(tmp_path, network__initial_modes=18), progress=False)
