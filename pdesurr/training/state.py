"""The optimiser side of a run: AdamW with warm-up + cosine schedule, the EMA of the weights,
and how they are saved in and restored from a checkpoint's ``training_state.pt``.

Learning rate at step ``s`` (``w`` warm-up steps, ``T`` steps, ``r = min_lr_ratio``)::

    lr(s) = lr * (s + 1) / w                                        s < w
    lr(s) = lr * (r + (1 - r) (1 + cos(pi min(1, (s - w) / (T - w)))) / 2)   otherwise

EMA (``optim.ema = beta > 0``): ``theta_ema <- beta theta_ema + (1 - beta) theta`` after
every step; the EMA weights are what is validated and saved.
"""

from __future__ import annotations

import math

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from pdesurr.checkpoints.files import CheckpointError
from pdesurr.checkpoints.surrogate import Surrogate
from pdesurr.training.recipe import OptimSection


def lr_factor(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to ``min_ratio``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


class TrainingState:
    """The surrogate's optimizer, scheduler and EMA."""

    def __init__(self, surrogate: Surrogate, opt: OptimSection):
        self.surrogate = surrogate
        params = surrogate.parameters()
        if opt.lr_embedding is not None or opt.lr_time is not None:
            from pdesurr.models.scot.finetune import parameter_groups

            params = parameter_groups(
                surrogate, opt.lr, opt.weight_decay, opt.lr_embedding, opt.lr_time
            )
        self.optimizer = torch.optim.AdamW(params, lr=opt.lr, weight_decay=opt.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_factor(s, opt.warmup, opt.steps, opt.min_lr_ratio)
        )
        self.ema = None
        if opt.ema > 0:
            self.ema = AveragedModel(surrogate, multi_avg_fn=get_ema_multi_avg_fn(opt.ema))

    @property
    def saved_model(self) -> Surrogate:
        """The model validated and saved: the EMA weights when EMA is on."""
        return self.ema.module if self.ema is not None else self.surrogate

    def step(self) -> None:
        self.optimizer.step()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update_parameters(self.surrogate)

    def state_dict(self, step: int, data_state: dict) -> dict:
        state = {
            "surrogate": self.surrogate.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": torch.get_rng_state(),
            "step": step,
            "ledger": data_state,
        }
        if self.ema is not None:
            state["ema"] = self.ema.state_dict()
        return state

    def load_state_dict(self, state: dict, ckpt_dir) -> None:
        try:
            self.surrogate.load_state_dict(state["surrogate"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            if self.ema is not None:
                self.ema.load_state_dict(state["ema"])
        except (RuntimeError, ValueError, KeyError) as e:
            raise CheckpointError(
                f"{ckpt_dir}/training_state.pt does not fit this run: {str(e).splitlines()[0]}"
            ) from None
        torch.set_rng_state(state["rng"])
