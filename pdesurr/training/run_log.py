"""Where a training run reports: its metrics history, the JSONL/TensorBoard log (main
rank) and the progress display; and how it ends at the first non-finite value.

A run that diverges (a non-finite loss, gradient or weight at step ``s``) ends with
:class:`NonFiniteLoss`, naming ``s`` and the last good checkpoint, which is never
overwritten by the bad state; the CLI prints it as a one-line error.
"""

from __future__ import annotations

from pathlib import Path

from pdesurr.checkpoints.readers import read_config
from pdesurr.training.metrics_log import MetricsLog
from pdesurr.training.progress import Progress


class NonFiniteLoss(RuntimeError):
    """Training produced a non-finite loss, gradient or weight; the message names the step
    and the last good checkpoint (never overwritten by the bad state)."""


class RunLog:
    """Where a run reports: the metrics history, the JSONL/TensorBoard log (main rank) and
    the progress display."""

    def __init__(self, out: Path | None, progress, total: int, start: int):
        self.history: list[dict] = []
        self.file = MetricsLog(out) if out is not None else None
        self.bar = Progress(progress, total, start)

    def record(self, record: dict, show: bool = True) -> None:
        self.history.append(record)
        if self.file:
            self.file.write(record)
        if show:
            self.bar.record(record)

    def latest(self) -> dict:
        """The latest value of each metric (what a checkpoint records)."""
        return {k: v for r in self.history for k, v in r.items()}

    def close(self) -> None:
        self.bar.close()
        if self.file:
            self.file.close()

    def diverged(self, step: int, what: str, ckpt_dir: Path):
        """End the run at the first non-finite value, keeping the last good checkpoint."""
        self.bar.close()
        if self.file:
            self.file.write({"step": step, "error": what})
            self.file.close()
        kept = read_config(ckpt_dir).get("step") if (ckpt_dir / "config.json").is_file() else None
        saved = (
            f"the last good checkpoint ({ckpt_dir}, step {kept}) is kept"
            if kept is not None
            else "no checkpoint was written"
        )
        raise NonFiniteLoss(
            f"training diverged at step {step}: {what}; {saved}; try a smaller optim.lr, "
            "a tighter optim.grad_clip or a longer optim.warmup"
        )
