"""Training objectives, a registry: one function per objective, on standardised windows.

Every objective receives the standardised frames ``(B, history + horizon, C, *S)`` split
into ``window = frames[:, :history]`` and ``targets = frames[:, history:]`` and returns a
scalar loss. It declares

* ``horizon(options)``: how many target frames a window must hold (``options`` is the
  recipe's ``[objective]`` table), which is what the data layer and the stream cut;
* ``needs``: the capabilities it relies on, checked by the recipe before any data is
  read: ``"unroll"`` (it reads ``objective.unroll``), ``"denoiser"`` (the model offers
  ``denoising_loss``, e.g. :class:`pdesurr.models.refiner.Refiner`).

Objectives:

* ``one_step``: MSE of the prediction of frame ``history`` from the frames before it.
* ``pushforward`` (Brandstetter, Worrall & Welling 2022, arXiv:2202.03376): draw
  ``k`` uniformly in ``[0, unroll - 1]``, roll the model ``k`` steps *without* gradient,
  then train the next step on the model's own output: the model learns to correct the
  distribution shift of its rollouts at the cost of one backward pass. The default.
* ``unrolled``: roll ``unroll`` steps with gradients through all of them and average the
  per-step MSE (backpropagation through time).
* ``refiner`` (PDE-Refiner, Lippe et al. 2023, arXiv:2308.05732): a refinement level
  ``k ~ U{0..K}`` per sample, the target noised to ``y_k = sqrt(abar_k) y +
  sqrt(1 - abar_k) eps``, MSE of the predicted velocity against ``v = sqrt(abar_k) eps -
  sqrt(1 - abar_k) y`` (the model's :meth:`~pdesurr.models.refiner.Refiner.denoising_loss`);
  options ``one_step_prob`` (draw the one-step level ``k = K`` with this probability, the
  refinement levels sharing the rest; unset: uniform, as released) and ``one_step_weight``
  (its loss weight; 1 as released): the loss is ``mean_b w_b |v_hat_b - v_b|^2``.
* ``poseidon`` (Herde et al. 2024, arXiv:2405.19101): the one-step prediction scored by
  Poseidon's relative L^p per channel group, ``masked_channels`` left out (its
  ``pixel_mask``); options ``channel_slices``, ``p``, ``masked_channels``.

Random draws (``k``, the noise) come from a generator seeded by ``(seed, step)``, so a
resumed run draws the same ones. Adding an objective is one decorated function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from pdesurr.checkpoints.surrogate import Surrogate
from pdesurr.data.windows import shift_window
from pdesurr.models.scot.loss import poseidon_loss

STEP_SEED_STRIDE = 7_919  # a prime: seeds (seed, step) and (seed + 1, step') rarely collide


@dataclass(frozen=True)
class Draws:
    """Where an objective's random draws come from: the run's seed and the step."""

    seed: int
    step: int

    def generator(self) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed * STEP_SEED_STRIDE + self.step)


LossFn = Callable[
    [Surrogate, torch.Tensor, torch.Tensor, torch.Tensor | None, dict, Draws], torch.Tensor
]


@dataclass(frozen=True)
class Objective:
    name: str
    loss: LossFn  # (surrogate, window, targets, cond, options, draws) -> scalar
    horizon: Callable[[dict], int]
    needs: frozenset[str]


OBJECTIVES: dict[str, Objective] = {}


def register(name: str, horizon: Callable[[dict], int], needs: tuple[str, ...] = ()):
    def add(fn: LossFn) -> LossFn:
        OBJECTIVES[name] = Objective(name, fn, horizon, frozenset(needs))
        return fn

    return add


@register("one_step", horizon=lambda o: 1)
def one_step(surrogate, window, targets, cond, options, draws):
    return torch.mean((surrogate.step_normalized(window, cond) - targets[:, 0]) ** 2)


@register("pushforward", horizon=lambda o: o["unroll"], needs=("unroll",))
def pushforward(surrogate, window, targets, cond, options, draws):
    k = int(torch.randint(0, options["unroll"], (), generator=draws.generator()))
    with torch.no_grad():
        for _ in range(k):
            window = shift_window(window, surrogate.step_normalized(window, cond))
    return torch.mean((surrogate.step_normalized(window, cond) - targets[:, k]) ** 2)


@register("unrolled", horizon=lambda o: o["unroll"], needs=("unroll",))
def unrolled(surrogate, window, targets, cond, options, draws):
    total = 0.0
    for i in range(options["unroll"]):
        nxt = surrogate.step_normalized(window, cond)
        total = total + torch.mean((nxt - targets[:, i]) ** 2)
        window = shift_window(window, nxt)
    return total / options["unroll"]


def level_probabilities(levels: int, one_step_prob: float | None) -> torch.Tensor:
    """Probabilities of the levels ``t = 0..K`` (``levels = K + 1``): uniform (the released
    code) for ``None``, else ``one_step_prob`` at the pure-noise level ``t = K`` and the
    rest shared equally by the ``K`` refinement levels."""
    if one_step_prob is None:
        return torch.full((levels,), 1.0 / levels, dtype=torch.float64)
    probs = torch.full((levels,), (1.0 - one_step_prob) / (levels - 1), dtype=torch.float64)
    probs[-1] = one_step_prob
    return probs


def draw_levels(levels: int, n: int, one_step_prob: float | None, gen: torch.Generator):
    """``n`` levels ``(n,)`` drawn with :func:`level_probabilities`."""
    if one_step_prob is None:  # the released code's uniform draw, stream kept as it was
        return torch.randint(0, levels, (n,), generator=gen)
    return torch.multinomial(level_probabilities(levels, one_step_prob), n, True, generator=gen)


@register("refiner", horizon=lambda o: 1, needs=("denoiser",))
def refiner(surrogate, window, targets, cond, options, draws):
    """Options: ``one_step_prob`` (probability of the one-step level ``t = K``; unset:
    uniform over the K + 1 levels, as released) and ``one_step_weight`` (its loss weight
    against 1 for the refinement levels; 1: the released loss)."""
    model = surrogate.model
    target = surrogate.model_target(window, targets[:, 0])  # (B, C, *S)
    gen = draws.generator()
    t = draw_levels(model.levels, len(target), options.get("one_step_prob"), gen)
    eps = torch.randn(target.shape, generator=gen, dtype=target.dtype).to(target.device)
    w = options.get("one_step_weight", 1.0)
    weight = None if w == 1.0 else torch.where(t == model.levels - 1, w, 1.0)
    return model.denoising_loss(window.flatten(1, 2), target, cond, t, eps, weight)


@register("poseidon", horizon=lambda o: 1)
def poseidon(surrogate, window, targets, cond, options, draws):
    """Poseidon's loss (:mod:`pdesurr.models.scot.loss`): the relative L^p error of the
    one-step prediction per channel group (``channel_slices``, Poseidon's
    ``channel_slice_list_normalized_loss``; empty: one plain L^p), with the channels in
    ``masked_channels`` (e.g. the pressure of incompressible data) contributing nothing."""
    pred, target = surrogate.step_normalized(window, cond), targets[:, 0]
    mask = None
    if options.get("masked_channels"):
        mask = torch.zeros(pred.shape[:2], dtype=torch.bool, device=pred.device)
        mask[:, list(options["masked_channels"])] = True
    slices = options.get("channel_slices") or None
    return poseidon_loss(pred, target, slices, options.get("p", 1), mask)[0]


def loss(
    kind: str,
    surrogate: Surrogate,
    frames: torch.Tensor,
    cond: torch.Tensor | None,
    history: int,
    options: dict,
    step: int,
    seed: int,
) -> torch.Tensor:
    """The loss of objective ``kind`` on standardised ``frames (B, history + horizon, C, *S)``."""
    if kind not in OBJECTIVES:
        raise ValueError(f"unknown objective {kind!r}; choose from {sorted(OBJECTIVES)}")
    window, targets = frames[:, :history], frames[:, history:]
    return OBJECTIVES[kind].loss(surrogate, window, targets, cond, options, Draws(seed, step))
