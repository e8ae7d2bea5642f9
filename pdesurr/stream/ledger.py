"""What the trainer has received: the stream's ledger, saved in every checkpoint.

Per trajectory: how many windows arrived, whether it is complete (``done``) or diverged.
On resume, producers skip complete and diverged trajectories and, for a trajectory that
was in flight, re-simulate it but send only the windows not yet received, so a resumed
run neither repeats nor skips a trajectory's windows. Thread-safe.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import torch


class Ledger:
    def __init__(self):
        self.lock = threading.RLock()
        self.received: dict[int, int] = {}
        self.done: set[int] = set()
        self.diverged: dict[int, tuple[int, float]] = {}
        self.heard: dict[int, float] = {}  # producer -> last time heard
        self.finished: set[int] = set()  # producers that said goodbye
        self.dead: dict[int, str] = {}  # producer -> why

    def sample(self, trajectory: int) -> None:
        with self.lock:
            self.received[trajectory] = self.received.get(trajectory, 0) + 1

    def samples(self, trajectories) -> None:
        """Count one window for each entry of ``trajectories`` (a bundle's, in one go)."""
        with self.lock:
            for t, k in Counter(trajectories).items():
                self.received[t] = self.received.get(t, 0) + k

    def event(self, producer: int, event: tuple) -> None:
        with self.lock:
            self.heard[producer] = time.monotonic()
            kind = event[0]
            if kind == "done":
                self.done.add(int(event[1]))
            elif kind == "diverged":
                self.diverged[int(event[1])] = (int(event[2]), float(event[3]))

    def close_when_over(self, n_producers: int, buffer) -> None:
        """Close ``buffer`` once every producer has finished or died (end of the stream)."""
        with self.lock:
            over = len(self.finished) + len(self.dead) >= n_producers
        if over and not buffer.closed:
            buffer.close()

    def in_flight(self) -> dict[int, int]:
        with self.lock:
            return {
                t: n
                for t, n in self.received.items()
                if t not in self.done and t not in self.diverged
            }

    def state_dict(self) -> dict:
        with self.lock:
            ids = sorted(self.received)
            div = sorted(self.diverged)
            return {
                "received_ids": torch.tensor(ids, dtype=torch.int64),
                "received_counts": torch.tensor([self.received[i] for i in ids], dtype=torch.int64),
                "done": torch.tensor(sorted(self.done), dtype=torch.int64),
                "diverged_ids": torch.tensor(div, dtype=torch.int64),
                "diverged_step": torch.tensor(
                    [self.diverged[i][0] for i in div], dtype=torch.int64
                ),
                "diverged_time": torch.tensor(
                    [self.diverged[i][1] for i in div], dtype=torch.float64
                ),
            }

    def load_state_dict(self, state: dict) -> None:
        with self.lock:
            self.received = dict(
                zip(state["received_ids"].tolist(), state["received_counts"].tolist(), strict=True)
            )
            self.done = set(state["done"].tolist())
            self.diverged = {
                i: (s, t)
                for i, s, t in zip(
                    state["diverged_ids"].tolist(),
                    state["diverged_step"].tolist(),
                    state["diverged_time"].tolist(),
                    strict=True,
                )
            }

    def merge(self, other: Ledger) -> None:
        with self.lock:
            for t, n in other.received.items():
                self.received[t] = self.received.get(t, 0) + n
            self.done |= other.done
            self.diverged.update(other.diverged)
