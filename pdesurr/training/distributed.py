"""Trainer ranks as a ``torch.distributed`` group, rendezvous through MPI.

No environment variables to set and no home-made cluster layer: rank 0 picks a free TCP
port, MPI broadcasts its host and port, and every trainer rank joins
``init_process_group`` (gloo on CPU, NCCL on CUDA). The communicator is passed in.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


SINGLE = DistContext()  # one process, no process group


def init_from_mpi(comm, device: str = "cpu") -> DistContext:
    """Join all ranks of ``comm`` into the default process group."""
    rank, world = comm.Get_rank(), comm.Get_size()
    if world == 1:
        return DistContext()
    address = None
    if rank == 0:
        with socket.socket() as s:
            s.bind(("", 0))
            port = s.getsockname()[1]
        address = (socket.gethostname(), port)
    host, port = comm.bcast(address, root=0)
    backend = "nccl" if device.startswith("cuda") else "gloo"
    dist.init_process_group(
        backend, init_method=f"tcp://{host}:{port}", rank=rank, world_size=world
    )
    return DistContext(rank, world)


def shutdown(ctx: DistContext) -> None:
    if ctx.active and dist.is_initialized():
        dist.destroy_process_group()
