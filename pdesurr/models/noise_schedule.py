"""PDE-Refiner's noise schedule: K + 1 levels of a DDPM with v-prediction.

Levels ``t = 0..K`` (diffusion time; ``t = K`` is the pure-noise level, where the model
makes its ordinary one-step prediction, and ``t = K - 1, ..., 0`` are the refinement
steps ``1..K`` of the paper). Each level has a signal and a noise scale::

    y_t = sqrt(abar_t) y + sqrt(1 - abar_t) eps,        eps ~ N(0, I)

Two readings of the paper's sigma_min^(k/K) (Lippe et al. 2023, arXiv:2308.05732):

* ``"ddpm_variance"`` (default; the released pdearena code, which produced the published
  results): betas ``beta_j = sigma_min^((K - j)/K)``, ``j = 0..K`` (so ``beta = [sigma_min,
  ..., 1]``) and ``abar_t = prod_{j <= t} (1 - beta_j)``: sigma_min^(k/K) acts as a
  *variance*. For K = 3, sigma_min = 4e-7 the noise std per level t = 3..0 is 1, 0.0862,
  7.40e-3, 6.32e-4.
* ``"paper_std"`` (the paper's text): the noise *std* of level ``t < K`` is
  ``sigma_min^((K - t)/K)``, ``abar_t = 1 - std_t^2``; for the same K, sigma_min: 1,
  7.4e-3, 5.4e-5, 4e-7. In float32 the last levels are below the resolution of O(1)
  states, which is presumably why the code reads it as a variance.

Sampling is DDPM's posterior with the "fixed_small" variance (what ``diffusers``'
``DDPMScheduler`` does for the released code), from ``t = K`` down to ``t = 0``::

    y0_hat    = sqrt(abar_t) y_t - sqrt(1 - abar_t) v_hat
    y_{t-1}   = c0_t y0_hat + ct_t y_t + s_t z,            z ~ N(0, I), none at t = 0
    c0_t  = sqrt(abar_{t-1}) beta'_t / (1 - abar_t)
    ct_t  = sqrt(alpha'_t) (1 - abar_{t-1}) / (1 - abar_t)
    s_t^2 = (1 - abar_{t-1}) / (1 - abar_t) beta'_t,  alpha'_t = abar_t / abar_{t-1} = 1 - beta'_t

with ``abar_{-1} = 1``. All coefficients are computed in float64 from ``var_t = 1 - abar_t``
(never as ``1 - abar``, which loses the small levels) and cast to the state's dtype and
device when used.
"""

from __future__ import annotations

import torch

SCHEDULES = ("ddpm_variance", "paper_std")


class NoiseSchedule:
    """Per-level ``signal = sqrt(abar)``, ``noise = sqrt(1 - abar)`` and the posterior
    coefficients of a K-step refiner; float64 CPU tensors of length ``K + 1``."""

    def __init__(self, steps: int, min_noise: float, kind: str = "ddpm_variance"):
        if steps < 1:
            raise ValueError(f"refinement steps K must be >= 1, got {steps}")
        if not 0 < min_noise < 1:
            raise ValueError(f"min_noise must be in (0, 1), got {min_noise}")
        if kind not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {kind!r}")
        self.steps, self.min_noise, self.kind = steps, min_noise, kind
        t = torch.arange(steps + 1, dtype=torch.float64, device="cpu")
        power = torch.tensor(min_noise, dtype=torch.float64, device="cpu") ** ((steps - t) / steps)
        if kind == "ddpm_variance":
            beta = power  # beta_K = 1: pure noise at t = K
            var = -torch.expm1(torch.cumsum(torch.log1p(-beta), 0))  # 1 - prod(1 - beta)
        else:
            var = power**2
        var[steps] = 1.0
        self.var = var  # 1 - abar_t
        self.abar = 1.0 - var
        self.signal, self.noise = self.abar.sqrt(), var.sqrt()
        var_prev = torch.cat([torch.zeros(1, dtype=torch.float64, device="cpu"), var[:-1]])
        abar_prev = 1.0 - var_prev
        beta_t = (var - var_prev) / abar_prev  # 1 - abar_t / abar_{t-1}
        alpha_t = self.abar / abar_prev
        self.c0 = abar_prev.sqrt() * beta_t / var
        self.ct = alpha_t.sqrt() * var_prev / var
        self.posterior_std = (var_prev / var * beta_t).clamp_min(1e-20).sqrt()
        self.posterior_std[0] = 0.0  # the last step adds no noise

    def at(self, name: str, t: torch.Tensor | int, like: torch.Tensor) -> torch.Tensor:
        """Coefficient ``name`` at levels ``t`` (int or ``(B,)``), shaped to broadcast
        against ``like`` ``(B, C, *S)``, in its dtype and device."""
        values = getattr(self, name)[torch.as_tensor(t, device="cpu")]
        shape = (-1,) + (1,) * (like.ndim - 1) if values.ndim else ()
        return values.reshape(shape).to(device=like.device, dtype=like.dtype)

    def add_noise(self, y: torch.Tensor, eps: torch.Tensor, t) -> torch.Tensor:
        """``y_t = sqrt(abar_t) y + sqrt(1 - abar_t) eps``."""
        return self.at("signal", t, y) * y + self.at("noise", t, y) * eps

    def velocity(self, y: torch.Tensor, eps: torch.Tensor, t) -> torch.Tensor:
        """The v-prediction target ``v = sqrt(abar_t) eps - sqrt(1 - abar_t) y``."""
        return self.at("signal", t, y) * eps - self.at("noise", t, y) * y

    def clean(self, y_t: torch.Tensor, v: torch.Tensor, t) -> torch.Tensor:
        """``y0_hat = sqrt(abar_t) y_t - sqrt(1 - abar_t) v``."""
        return self.at("signal", t, y_t) * y_t - self.at("noise", t, y_t) * v

    def posterior(self, y_t: torch.Tensor, v: torch.Tensor, t: int, z: torch.Tensor | None):
        """One DDPM step ``t -> t - 1`` (``t = 0`` returns ``y0_hat``); ``z`` the fresh noise."""
        y0 = self.clean(y_t, v, t)
        out = self.at("c0", t, y_t) * y0 + self.at("ct", t, y_t) * y_t
        if t > 0 and z is not None:
            out = out + self.at("posterior_std", t, y_t) * z
        return out
