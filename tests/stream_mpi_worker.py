"""Under ``mpiexec -n 3``: rank 0 trains (a consumer checking every sample), ranks 1-2
produce known samples through the real ``run_producer`` / ``MPIReceiver``.

    python stream_mpi_worker.py OUT.json SHARED(0|1) STOP_EARLY(0|1) HOLD

Each producer sends ``TRAJ`` trajectories of ``STEPS`` samples of ``FLOATS`` frame floats;
sample (t, i) of producer p is filled with ``1000 p + 100 t + i`` (its conditioning with
``t`` and ``i``), so the consumer checks content and origin without any shared state. The
consumer keeps the last ``HOLD`` samples it drew, all of them if ``HOLD`` < 0 (pinning
their bundles: once ``lend_limit`` of a producer's slots are pinned, the receiver must copy
out); with STOP_EARLY it stops after a third of the stream, holding samples, and every
rank must still end (a producer with every slot pinned sends its last bundles as messages).
Rank 0 writes what it saw to OUT.json.
"""

import json
import sys
import time

import torch
from mpi4py import MPI

import pdesurr.stream.mpi as transport
from pdesurr.data.windows import WindowSpec
from pdesurr.stream.buffer import Sample
from pdesurr.stream.buffers import FIFOBuffer
from pdesurr.stream.ledger import Ledger

TRAJ, STEPS, FLOATS, CREDITS, CAPACITY = 6, 20, 2048, 32, 16
SHAPE = (1, 2, FLOATS // 2)  # (W, C, *S): 8 KiB, lent in place when shared


def value(p: int, t: int, i: int) -> float:
    return 1000.0 * p + 100.0 * t + i


def main() -> None:
    out, shared, stop_early = sys.argv[1], sys.argv[2] == "1", sys.argv[3] == "1"
    hold = int(sys.argv[4])
    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    window = WindowSpec(conditioning=("dt", "length"))
    if rank > 0:

        def produce(*_args, **_kwargs):
            for t in range(TRAJ):
                traj = 10 * rank + t
                for i in range(STEPS):
                    if i % 4 == 0:
                        yield ("alive",)
                    frames = torch.full(SHAPE, value(rank, t, i))
                    yield ("sample", Sample(frames, torch.tensor([float(t), float(i)]), traj, i))
                yield ("done", traj)

        transport.produce = produce
        transport.run_producer(comm, 0, None, "train", [], window, SHAPE, CREDITS)
        return
    buffer, ledger = FIFOBuffer(CAPACITY), Ledger()
    rx = transport.MPIReceiver(
        comm, [1, 2], buffer, ledger, SHAPE, 2, CREDITS, 60.0, shared_memory=shared
    ).start()
    seen, held, bad = [], [], []
    limit = (2 * TRAJ * STEPS) // 3 if stop_early else None
    t0 = time.monotonic()
    while time.monotonic() - t0 < 60:
        rx.poll()  # closes the buffer once both producers said bye
        try:  # short waits: the stream may end between a poll and a full batch
            batch = buffer.get_batch(4, timeout=0.2)
        except TimeoutError:
            continue
        if not batch:
            break
        for s in batch:
            p, t = s.trajectory // 10, s.trajectory % 10
            want = value(p, t, s.time_index)
            if not (torch.all(s.frames == want) and s.cond.tolist() == [t, s.time_index]):
                bad.append([s.trajectory, s.time_index])
            seen.append([s.trajectory, s.time_index])
        held += batch  # pins their bundles
        if hold >= 0:
            del held[: max(0, len(held) - hold)]
        if limit is not None and len(seen) >= limit:
            break
    dead = rx.stop()
    copied = {p: v.copied for p, v in rx.shared.items()}
    with open(out, "w") as f:
        json.dump({"seen": seen, "bad": bad, "paths": rx.paths, "dead": dead, "copied": copied}, f)
    del held


if __name__ == "__main__":
    main()
