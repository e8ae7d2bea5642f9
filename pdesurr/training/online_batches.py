"""The online trainer's side of the stream: batches drawn from the buffer, and the
restore of a checkpointed buffer and ledger before the producers start.

:class:`OnlineBatches` is the ``batches`` object :func:`pdesurr.training.fit.fit` draws
from: ``next(step)`` polls the transport, takes ``batch_size`` samples from the buffer and
collates them to ``(frames (B, W, C, *S), cond (B, n_cond))``, or None once the stream is
exhausted (on any trainer rank, with several). Its ``state_dict`` is what a checkpoint
records of the stream (Melissa: Meyer et al., ICML 2023, arXiv:2306.16133).
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from pdesurr.checkpoints.files import load_training_state
from pdesurr.config import ConfigError
from pdesurr.stream.buffer import collate_inputs
from pdesurr.stream.ending import StreamEnd
from pdesurr.stream.ledger import Ledger
from pdesurr.training.distributed import SINGLE, DistContext

POLL_SECONDS = 0.25  # longest wait for a batch before the transport is polled again


class OnlineBatches:
    """Batches from the buffer, plus the stream's monitoring figures."""

    kind = "online"

    def __init__(
        self,
        buffer,
        ledger: Ledger,
        transport,
        batch_size: int,
        ctx: DistContext = SINGLE,
        end: StreamEnd | None = None,
    ):
        self.end = end
        self.ctx = ctx
        self.buffer, self.ledger, self.transport, self.batch_size = (
            buffer,
            ledger,
            transport,
            batch_size,
        )
        self.t0 = self.t_last = time.perf_counter()
        self.wait_last = 0.0
        self.received_last = 0
        self.trained = 0

    def next(self, step: int):
        while True:  # poll while waiting: the transport closes the buffer when producers end
            self.transport.poll()
            try:
                samples = self.buffer.get_batch(self.batch_size, timeout=POLL_SECONDS)
                break
            except TimeoutError:
                continue
        if self.end is not None:
            self.end.check(self.buffer, step, len(samples))
        if self.ctx.active:  # trainers stop together when any of them has run dry
            import torch.distributed as dist

            flag = torch.tensor(1 if samples else 0)
            dist.all_reduce(flag, op=dist.ReduceOp.MIN)
            if int(flag) == 0:
                return None
        if not samples:
            return None
        self.trained += len(samples)
        return collate_inputs(samples)

    def metrics(self) -> dict:
        now = time.perf_counter()
        with self.ledger.lock:
            received = sum(self.ledger.received.values())
            out = {
                "received": received,
                "received_per_s": (received - self.received_last) / (now - self.t_last),
                "buffer_fill": self.buffer.fill,
                "reuse_mean": self.buffer.reuse["mean"],
                "reuse_max": self.buffer.reuse["max"],
                "idle_fraction": (self.buffer.wait_time - self.wait_last) / (now - self.t_last),
                "trajectories_done": len(self.ledger.done),
                "diverged": len(self.ledger.diverged),
                "producers_dead": len(self.ledger.dead),
            }
        self.t_last, self.wait_last, self.received_last = now, self.buffer.wait_time, received
        return out

    def state_dict(self) -> dict:
        """This trainer's ledger and buffer; with several trainer ranks (a collective: every
        trainer calls it) the list of all of them, in trainer order."""
        with self.ledger.lock:  # a consistent snapshot: producers pause while it is taken
            mine = {"ledger": self.ledger.state_dict(), "buffer": self.buffer.state_dict()}
        if not self.ctx.active:
            return {"kind": "online", "trainers": [mine]}
        import torch.distributed as dist

        everyone = [None] * self.ctx.world
        dist.all_gather_object(everyone, mine)
        return {"kind": "online", "trainers": everyone}

    def load_state_dict(self, state: dict) -> None:
        pass  # restored by run_online before the producers start (they need the ledger)


def restore(out: Path, ledger: Ledger, buffer, trainer: int = 0, trainers: int = 1, device=None):
    """Load trainer ``trainer``'s buffer (its samples onto ``device``, the producers'; default
    the CPU) and ledger; returns the merged ledger of all trainers (what the producers must
    skip), or None without a checkpoint."""
    ckpt = out / "checkpoint"
    if not ckpt.exists():
        return None
    state = load_training_state(ckpt)["ledger"]
    if state.get("kind") != "online":
        raise ConfigError(f"{ckpt} was written by an offline run; use another train.out")
    if len(state["trainers"]) != trainers:
        raise ConfigError(
            f"{ckpt} has {len(state['trainers'])} trainer ranks; this run has {trainers}: "
            "resume with the same online.trainers"
        )
    merged = Ledger()
    for i, part in enumerate(state["trainers"]):
        one = Ledger()
        one.load_state_dict(part["ledger"])
        merged.merge(one)
        if i == trainer:
            ledger.load_state_dict(part["ledger"])
            buffer.load_state_dict(part["buffer"], device)
    return merged
