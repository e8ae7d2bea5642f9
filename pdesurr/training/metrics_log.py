"""The training log: JSON lines always, TensorBoard scalars when tensorboard is installed.

``runs/<name>/metrics.jsonl`` holds one record per logged step (append mode, so a resumed
run continues the file); with the ``tensorboard`` package present, the same numbers go to
``runs/<name>/tensorboard/`` (``tensorboard --logdir runs``).

Every line is strict JSON (:mod:`pdesurr.strict_json`: a non-finite number is written as
the string ``"nan"``/``"inf"``, never a bare ``NaN``), so any JSON reader parses the file.
"""

from __future__ import annotations

from pathlib import Path

from pdesurr import strict_json


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
            self.file.write(strict_json.dumps(record) + "\n")
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
