"""PDE-Refiner's training options: the one-step level's draw probability and loss weight
(objective ``refiner``) and the zero estimate input of the paper's pseudocode
(``one_step_input = "zeros"``)."""

import pytest
import torch

from pdesurr.checkpoints.surrogate import Surrogate
from pdesurr.config import ConfigError
from pdesurr.models.refiner import Refiner, StepNoise
from pdesurr.training.objectives import OBJECTIVES, Draws, draw_levels, level_probabilities
from pdesurr.training.recipe import Recipe

TINY_UNET = dict(
    hidden=8, channel_mults=[1, 2], blocks_per_level=1, norm_groups=2, cond_embedding_dim=16
)


def refiner(**kw) -> Refiner:
    torch.manual_seed(0)
    return Refiner(2, 1, 1, 1, backbone="unet", backbone_options=TINY_UNET, **kw)


def batch(seed: int, n: int = 6):
    g = torch.Generator().manual_seed(seed)
    x, out = torch.randn(n, 2, 16, generator=g), torch.randn(n, 1, 16, generator=g)
    return x, out, torch.randn(n, 1, 16, generator=g), torch.rand(n, 1, generator=g)


def test_level_probabilities():
    assert level_probabilities(4, None).tolist() == pytest.approx([0.25] * 4, abs=1e-15)
    # p at t = K, the K = 3 refinement levels share 1 - p equally
    assert level_probabilities(4, 0.4).tolist() == pytest.approx([0.2, 0.2, 0.2, 0.4], abs=1e-15)
    assert level_probabilities(2, 0.7).tolist() == pytest.approx([0.3, 0.7], abs=1e-15)


def test_drawn_levels_have_the_stated_frequencies():
    n = 40_000
    t = draw_levels(4, n, 0.5, torch.Generator().manual_seed(0))
    freq = torch.bincount(t, minlength=4).double() / n
    # binomial std sqrt(p (1 - p) / n) <= 2.5e-3: 1e-2 is 4 sigma
    assert freq.tolist() == pytest.approx([1 / 6, 1 / 6, 1 / 6, 1 / 2], abs=1e-2)


def test_unset_probability_keeps_the_released_uniform_draw():
    a = draw_levels(4, 64, None, torch.Generator().manual_seed(3))
    b = torch.randint(0, 4, (64,), generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)  # same stream: runs recorded before the option are unchanged


def test_weighted_loss_is_the_weighted_mean_of_per_sample_losses():
    model = refiner()
    x, out, eps, cond = batch(1)
    t = torch.tensor([3, 0, 1, 3, 2, 3])
    plain = model.denoising_loss(x, out, cond, t, eps)
    assert torch.allclose(model.denoising_loss(x, out, cond, t, eps, torch.ones(6)), plain)
    per = torch.stack(
        [
            model.denoising_loss(
                x[i : i + 1], out[i : i + 1], cond[i : i + 1], t[i : i + 1], eps[i : i + 1]
            )
            for i in range(6)
        ]
    )
    w = torch.where(t == 3, 7.0, 1.0)
    # float32 sums in another order: ~1e-6 relative
    assert torch.allclose(
        model.denoising_loss(x, out, cond, t, eps, w), (w * per).mean(), rtol=1e-5
    )
    assert torch.allclose(plain, per.mean(), rtol=1e-5)


def objective_loss(model, options, step=5):
    x, out, _, cond = batch(2, n=8)
    surrogate = Surrogate(model, history=2, channels=1)
    window, targets = x[:, :, None], out[:, None]  # (B, 2, 1, S), (B, 1, 1, S)
    return OBJECTIVES["refiner"].loss(surrogate, window, targets, cond, options, Draws(1, step))


def test_objective_defaults_are_the_released_loss():
    model = refiner()
    released = objective_loss(model, {})
    assert torch.equal(objective_loss(model, {"one_step_weight": 1.0}), released)
    assert torch.equal(objective_loss(model, {"one_step_prob": None}), released)
    assert not torch.allclose(objective_loss(model, {"one_step_weight": 50.0}), released)


def test_zero_input_at_the_one_step_level():
    model, noisy = refiner(one_step_input="zeros"), refiner()
    x, out, eps, cond = batch(3, n=4)
    k = torch.full((4,), 3)
    # the paper's k = 0: the network sees a zero estimate, the loss is the one-step MSE
    expected = torch.mean((-model.velocity(x, torch.zeros_like(out), 3, cond) - out) ** 2)
    assert torch.allclose(model.denoising_loss(x, out, cond, k, eps), expected, rtol=1e-6)
    assert torch.equal(
        model.denoising_loss(x, out, cond, k, eps), model.denoising_loss(x, out, cond, k, 5 * eps)
    )  # no noise enters at t = K
    t = torch.tensor([0, 1, 2, 2])  # the refinement levels are noised as released
    assert torch.equal(
        model.denoising_loss(x, out, cond, t, eps), noisy.denoising_loss(x, out, cond, t, eps)
    )
    estimates = []
    with torch.no_grad():
        model.sample(x, cond, StepNoise(0, range(4), 0), estimates)
        # the first estimate is the deterministic forward(), whatever the noise seed
        assert torch.allclose(estimates[0], model(x, cond=cond), atol=1e-6)
        other = []
        model.sample(x, cond, StepNoise(9, range(4), 0), other)
    assert torch.equal(estimates[0], other[0]) and not torch.equal(estimates[-1], other[-1])
    with pytest.raises(ValueError, match="one_step_input"):
        refiner(one_step_input="zero")


@pytest.mark.parametrize(
    "key, value", [("one_step_prob", 1.0), ("one_step_prob", 0.0), ("one_step_weight", 0.0)]
)
def test_recipe_refuses_bad_options(key, value):
    with pytest.raises(ConfigError, match=f"objective.{key}"):
        Recipe.load("ks_refiner", [f"objective.{key}={value}"])
