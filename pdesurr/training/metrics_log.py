"""The training log: JSON lines always, TensorBoard scalars when tensorboard is installed.

``runs/<name>/metrics.jsonl`` holds one record per logged step (append mode, so a resumed
run continues the file); with the ``tensorboard`` package present, the same numbers go to
``runs/<name>/tensorboard/`` (``tensorboard --logdir runs``).

Every line is strict JSON (RFC 8259 has no NaN or Infinity): a non-finite number is
written as ``null``, so any JSON reader parses the file.
"""

from __future__ import annotations

import json
import math
from pathlib import Path


def json_safe(value):
    """``value`` with every non-finite float replaced by None (JSON ``null``)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


class MetricsLog:
    def __init__(self, out: Path, tensorboard: bool = True):
        self.path = out / "metrics.jsonl"
        self.file = self.path.open("a")
        self.writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is optional
                SummaryWriter = None
            if SummaryWriter is not None:
                self.writer = SummaryWriter(str(out / "tensorboard"))

    def write(self, record: dict) -> None:
        try:
            self.file.write(json.dumps(json_safe(record), allow_nan=False) + "\n")
            self.file.flush()
        except OSError as e:  # name the file: a bare flush error does not
            raise OSError(
                e.errno, f"{e.strerror} while writing {self.path}", str(self.path)
            ) from None
        if self.writer is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, int | float):
                    self.writer.add_scalar(key, value, record["step"])

    def close(self) -> None:
        self.file.close()
        if self.writer is not None:
            self.writer.close()
