"""Training progress for a person at a terminal, or for a log file.

``mode`` is chosen by the caller (the CLI, which alone looks at the terminal):

* ``"bar"``: a tqdm bar whose postfix shows the key figures of the last record;
* ``"lines"``: one plain line per logged record and nothing else (no carriage returns,
  no redraws), for Slurm logs and ``make demo > log``::

      step 120/600 loss 0.0123 valid_loss 0.0201 valid_rel_l2 0.31 samples/s 412 ...

* ``None`` / ``False``: silent. ``True`` means ``"bar"``.

The key figures are the loss, the validation figures, the rate and the stream's
(``received/s``, buffer fill, idle fraction, dead producers); everything else stays in
``metrics.jsonl``.
"""

from __future__ import annotations

import math
import sys

KEY_FIGURES = {  # record key -> label
    "loss": "loss",
    "valid_loss": "valid_loss",
    "valid_rel_l2": "valid_rel_l2",
    "samples_per_s": "samples/s",
    "received_per_s": "received/s",
    "buffer_fill": "buffer",
    "idle_fraction": "idle",
    "producers_dead": "dead_producers",
}


def key_figures(record: dict) -> dict[str, str]:
    out = {}
    for key, label in KEY_FIGURES.items():
        value = record.get(key)
        if isinstance(value, int | float) and not (key == "producers_dead" and value == 0):
            out[label] = f"{value:.4g}" if math.isfinite(value) else str(value)
    return out


class Progress:
    def __init__(self, mode, total: int, initial: int = 0, desc: str = "train", file=None):
        self.mode = "bar" if mode is True else (mode or None)
        if self.mode not in (None, "bar", "lines"):
            raise ValueError(f"progress must be 'bar', 'lines' or None, got {mode!r}")
        self.total, self.desc = total, desc
        self.file = file or sys.stdout
        self.bar = None
        if self.mode == "bar":
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=initial, unit="step", desc=desc)

    def record(self, record: dict) -> None:
        figures = key_figures(record)
        if self.bar is not None:
            self.bar.set_postfix(figures)
        elif self.mode == "lines":
            text = " ".join(f"{k} {v}" for k, v in figures.items())
            print(
                f"{self.desc} step {record['step']}/{self.total} {text}".rstrip(),
                file=self.file,
                flush=True,
            )

    def update(self, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
