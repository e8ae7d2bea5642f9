"""PDE-Refiner (Lippe, Veeling, Perdikaris, Turner & Brandstetter, NeurIPS 2023,
arXiv:2308.05732) around any grid backbone of :data:`pdesurr.models.MODELS`.

The backbone ``f`` is built with ``in_channels + out_channels`` input channels (the
history ``x`` and the noised estimate ``y_t``) and ``cond_dim + 1`` conditioning scalars
(the caller's ``cond`` and the level ``t * step_scale``); it predicts the velocity
(v-prediction) of the DDPM of :mod:`pdesurr.models.noise_schedule`::

    v_hat = f(cat(x, y_t), cond = cat(cond, t * step_scale))          (B, Cout, *S)

Training (:meth:`denoising_loss`): ``t ~ U{0..K}``, ``y_t = sqrt(abar_t) z + sqrt(1 -
abar_t) eps``, loss ``|v_hat - (sqrt(abar_t) eps - sqrt(1 - abar_t) z)|^2``. At ``t = K``
``abar = 0``: the input is pure noise and the target ``-z`` is the one-step prediction.

Inference (:meth:`sample`, K + 1 backbone calls): ``y_K ~ N(0, I)``, then the DDPM posterior
step for ``t = K, ..., 0``; the noise comes from per-sample generators (:class:`StepNoise`),
so a sample's result does not depend on the batch it is in.

``z`` is what the diffusion acts on: ``predict = "state"``: ``z`` is the wrapper's output;
``predict = "scaled_difference"`` (the released code): ``z = (out - x_last) /
difference_scale`` with ``x_last`` the last ``out_channels`` input channels (the newest
history frame), so the output is ``x_last + difference_scale * z``; use it with
``data.predict = "state"`` (the recipe refuses it on top of ``"residual"``).

``one_step_input``: what the backbone sees as ``y_t`` at the pure-noise level ``t = K``, in
training and at the first sampling call: ``"noise"`` (the released code: ``y_K = eps``,
which carries no information and which the network must learn to ignore) or ``"zeros"``
(the paper's pseudocode, Appendix C: ``NN(0, u(t - dt), k = 0)``, so the first call is an
ordinary one-step model with one constant extra channel). The refinement levels are the
same either way.

Plain ``forward(x, cond=cond)`` (the model contract): the deterministic one-step
prediction at the pure-noise level with a zero noised estimate, ``-f(cat(x, 0), t = K)``,
one backbone call (exactly the first sampling call with ``one_step_input = "zeros"``; with
``"noise"`` the zero estimate is the noise's mean); it is batch-independent and needs no
generator. Rollouts and
evaluation call :meth:`sample` through :class:`pdesurr.checkpoints.surrogate.Surrogate`.

``step_scale`` (default ``cond_range / K``, with the backbone's class attribute
``cond_range``: 1000 for the U-Net's sinusoidal embedding, as released; 1 otherwise, for
backbones that take ``cond`` as constant channels). Simplified relative to the paper: the
DDPM machinery is written out (no ``diffusers``), and the level enters as one more ``cond``
scalar of the backbone rather than through a dedicated embedding.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from pdesurr.models.base import check_cond, check_input, record_sizes
from pdesurr.models.noise_schedule import SCHEDULES, NoiseSchedule

PREDICT = ("state", "scaled_difference")
ONE_STEP_INPUTS = ("noise", "zeros")


class StepNoise:
    """Per-sample generators for one time step: sample ``b``'s seed is a hash of ``(seed,
    member, trajectory_b, step)`` (``member`` indexes an ensemble), so its noise depends on
    nothing else. Draws are made on the CPU and moved, so they agree across devices."""

    def __init__(self, seed: int, trajectories: Sequence[int], step: int, member: int = 0):
        self.seeds = [
            int(np.random.SeedSequence([seed, member, int(i), step]).generate_state(1)[0])
            for i in trajectories
        ]
        self.generators = [torch.Generator().manual_seed(s) for s in self.seeds]

    def draw(self, like: torch.Tensor) -> torch.Tensor:
        """Standard normal noise shaped like ``like`` ``(B, C, *S)``, one generator per row."""
        if len(self.generators) != like.shape[0]:
            raise ValueError(f"{len(self.generators)} generators for a batch of {like.shape[0]}")
        rows = [torch.randn(like.shape[1:], generator=g, dtype=like.dtype) for g in self.generators]
        return torch.stack(rows).to(like.device)


class Refiner(nn.Module):
    """PDE-Refiner: a backbone of ``MODELS`` refined over ``refinement_steps`` noise levels."""

    stochastic = True  # rollouts pass a StepNoise (see pdesurr.evaluation.rollout)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        ndim: int,
        cond_dim: int = 0,
        backbone: str = "unet",
        backbone_options: dict | None = None,
        refinement_steps: int = 3,
        min_noise: float = 4e-7,
        schedule: str = "ddpm_variance",
        predict: str = "state",
        difference_scale: float = 0.3,
        step_scale: float | None = None,
        one_step_input: str = "noise",
    ):
        super().__init__()
        from pdesurr.models import MODELS  # the registry imports this module

        if backbone not in MODELS or backbone == "refiner":
            choices = sorted(k for k in MODELS if k != "refiner")
            raise ValueError(f"Refiner: backbone {backbone!r} is not one of {choices}")
        if schedule not in SCHEDULES:
            raise ValueError(f"Refiner: schedule must be one of {SCHEDULES}, got {schedule!r}")
        if predict not in PREDICT:
            raise ValueError(f"Refiner: predict must be one of {PREDICT}, got {predict!r}")
        if predict == "scaled_difference" and in_channels % out_channels:
            raise ValueError(
                f"Refiner: predict='scaled_difference' needs in_channels ({in_channels}) to "
                f"be history x out_channels ({out_channels})"
            )
        if one_step_input not in ONE_STEP_INPUTS:
            raise ValueError(
                f"Refiner: one_step_input must be one of {ONE_STEP_INPUTS}, got {one_step_input!r}"
            )
        if not difference_scale > 0:
            raise ValueError(f"Refiner: difference_scale must be > 0, got {difference_scale}")
        record_sizes(self, in_channels, out_channels, ndim, cond_dim)
        self.predict, self.difference_scale = predict, difference_scale
        self.one_step_input = one_step_input
        self.schedule = NoiseSchedule(refinement_steps, min_noise, schedule)
        self.steps = refinement_steps
        cls = MODELS[backbone]
        self.step_scale = (
            step_scale if step_scale is not None else getattr(cls, "cond_range", 1.0) / self.steps
        )
        self.resolution_invariant = getattr(cls, "resolution_invariant", False)
        self.backbone = cls(
            in_channels + out_channels, out_channels, ndim, cond_dim + 1, **(backbone_options or {})
        )

    @property
    def levels(self) -> int:
        """Number of noise levels ``K + 1``."""
        return self.steps + 1

    def velocity(self, x, y_t, t, cond) -> torch.Tensor:
        """``v_hat`` for levels ``t`` (int or ``(B,)``): ``(B, Cout, *S)``."""
        level = torch.as_tensor(t, dtype=x.dtype).to(x.device).expand(x.shape[0])[:, None]
        level = level * self.step_scale
        c = level if cond is None else torch.cat([cond.to(x), level], 1)
        return self.backbone(torch.cat([x, y_t], 1), cond=c)

    def to_latent(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """The diffusion variable ``z`` of an output ``out`` ``(B, Cout, *S)``."""
        if self.predict == "state":
            return out
        return (out - x[:, -self.out_channels :]) / self.difference_scale

    def from_latent(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        if self.predict == "state":
            return z
        return x[:, -self.out_channels :] + self.difference_scale * z

    def noised(self, z: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The backbone's estimate input ``y_t`` at levels ``t (B,)``: ``add_noise``, except
        at the pure-noise level with ``one_step_input = "zeros"`` (the paper's pseudocode)."""
        y_t = self.schedule.add_noise(z, eps, t)
        if self.one_step_input == "zeros":
            first = torch.as_tensor(t).to(z.device) == self.steps
            y_t = y_t.masked_fill(first.reshape(-1, *[1] * (z.ndim - 1)), 0.0)
        return y_t

    def denoising_loss(
        self, x, out, cond, t: torch.Tensor, eps: torch.Tensor, weight: torch.Tensor | None = None
    ) -> torch.Tensor:
        """MSE of the v-prediction at levels ``t (B,)`` for the target output ``out``;
        ``weight (B,)`` scales each sample's MSE (the mean of ``weight_b * mse_b``, so all
        ones give the plain MSE of the released code)."""
        check_input(x, self.in_channels, self.ndim, "Refiner")
        check_cond(cond, self.cond_dim, x.shape[0], "Refiner")
        z = self.to_latent(x, out)
        err = self.velocity(x, self.noised(z, eps, t), t, cond) - self.schedule.velocity(z, eps, t)
        if weight is None:
            return torch.mean(err**2)
        return torch.mean(weight.to(err) * (err**2).flatten(1).mean(1))

    def sample(
        self, x: torch.Tensor, cond: torch.Tensor | None, noise: StepNoise, estimates=None
    ) -> torch.Tensor:
        """The K + 1-call prediction; ``estimates`` (a list) receives the output estimate
        after each call (one-step prediction first, then each refinement)."""
        check_input(x, self.in_channels, self.ndim, "Refiner")
        check_cond(cond, self.cond_dim, x.shape[0], "Refiner")
        shape = x.new_empty(x.shape[0], self.out_channels, *x.shape[2:])
        y = noise.draw(shape)
        if self.one_step_input == "zeros":
            y = torch.zeros_like(y)  # drawn all the same: the later draws match "noise"'s
        for t in range(self.steps, -1, -1):
            v = self.velocity(x, y, t, cond)
            if estimates is not None:
                estimates.append(self.from_latent(x, self.schedule.clean(y, v, t)))
            y = self.schedule.posterior(y, v, t, noise.draw(shape) if t > 0 else None)
        return self.from_latent(x, y)

    def forward(self, x: torch.Tensor, *, cond: torch.Tensor | None = None) -> torch.Tensor:
        """Deterministic one-step prediction at the pure-noise level (see module docstring)."""
        check_input(x, self.in_channels, self.ndim, "Refiner")
        check_cond(cond, self.cond_dim, x.shape[0], "Refiner")
        zeros = x.new_zeros(x.shape[0], self.out_channels, *x.shape[2:])
        v = self.velocity(x, zeros, self.steps, cond)
        return self.from_latent(x, self.schedule.clean(zeros, v, self.steps))
