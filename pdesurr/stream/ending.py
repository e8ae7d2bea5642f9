"""What a trainer does when the stream ends before the requested steps.

A finite stream (``online.trajectories``) can end while optimizer steps remain. The
recipe's ``[online]`` table decides::

    when_done = "continue"   keep training on the held samples up to ``optim.steps``:
                             each batch draws distinct held samples uniformly (a reservoir
                             without arrivals), a sample served ``max_reuse`` times in all
                             is retired (``0``: no bound); training stops early only once
                             every held sample is retired
    when_done = "stop"       drain: serve each held sample once more, then stop (with a
                             checkpoint), before the requested steps

The default follows the buffer's promise: ``"continue"`` for a reservoir (it exists to
re-use samples: a user asking for N steps gets N steps), ``"stop"`` for FIFO and FIRO
(each sample is trained on exactly once). The log says which happened, and when.
"""

from __future__ import annotations

WHEN_DONE = ("continue", "stop")


def default_when_done(buffer_kind: str) -> str:
    return "continue" if buffer_kind == "reservoir" else "stop"


class StreamEnd:
    """Configures a buffer for the end of the stream and logs the transitions once."""

    def __init__(self, when_done: str, max_reuse: int, log=print):
        if when_done not in WHEN_DONE:
            raise ValueError(f"when_done must be one of {WHEN_DONE}, got {when_done!r}")
        self.when_done, self.max_reuse, self.log = when_done, max_reuse, log
        self.ended_at: int | None = None  # step at which the producers were seen done
        self.exhausted_at: int | None = None

    def configure(self, buffer) -> None:
        if self.when_done == "continue":
            buffer.replay_after_close(self.max_reuse)

    def check(self, buffer, step: int, served: int) -> None:
        """Called with each batch (``served`` samples) once the buffer may be closed."""
        if not buffer.closed:
            return
        if self.ended_at is None:
            self.ended_at = step
            held = len(buffer) + served
            if self.when_done == "continue":
                bound = (
                    f"at most {self.max_reuse} uses per sample" if self.max_reuse else "no bound"
                )
                self.log(
                    f"step {step}: the stream has ended ({held} samples held); training goes "
                    f'on re-using them to the requested steps (online.when_done = "continue", '
                    f"max_reuse: {bound})"
                )
            else:
                self.log(
                    f"step {step}: the stream has ended; serving the {held} held samples once "
                    f'more, then training stops (online.when_done = "stop")'
                )
        if served == 0 and self.exhausted_at is None:
            self.exhausted_at = step
            why = (
                f"every held sample was used {self.max_reuse} times (online.max_reuse)"
                if self.when_done == "continue"
                else 'the buffer is drained (online.when_done = "stop")'
            )
            self.log(f"step {step}: {why}: training stops before the requested steps")
