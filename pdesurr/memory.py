"""How much memory a solver run needs, checked against the machine before it starts.

A pseudo-spectral run holds arrays of the grid's size: shared ones (wavenumbers, the linear
operator, the ETDRK coefficients ``exp(hL)`` and ``phi_k(hL)``, which the contour integral
computes over many points at once) and per-trajectory ones (the state, its transform, the
integrator's stages, the streamed output block)::

    bytes ~ (SHARED * 8 + batch * PER_TRAJECTORY * C * itemsize) * N^d

with ``N^d`` the grid points (``pde.resolution`` per side, ``d`` the PDE's dimension), ``C``
its channels and ``itemsize`` the run's dtype (the coefficients are float64 whatever the
run's dtype). Measured (peak RSS above the ~430 MB of the imported libraries,
``/usr/bin/time -f %M pdesurr simulate ns2d_kolmogorov --set pde.resolution=512 --steps 4
--batch B``): 452 MB at B = 1 (226 float64 grid arrays), +20 MB (10 arrays) per extra
trajectory; KS at 2^21 points gives the same ~210 arrays. The factors below round these up:
the check refuses runs that cannot fit (``resolution = 10^9`` asks for terabytes) with a
message naming the keys, instead of an OOM kill or an allocator traceback; it does not try
to pack memory tightly.

Available memory: on CUDA ``torch.cuda.mem_get_info``; on the CPU ``MemAvailable`` of
``/proc/meminfo``, capped by the cgroup limit (Slurm, containers) when there is one.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from pdesurr.solvers import ParameterError

PER_TRAJECTORY = 16  # grid-sized arrays per trajectory and channel (10 measured)
SHARED = 256  # grid-sized float64 arrays shared by the batch (226 measured)
PROBE = 64  # resolution of the small instance that tells the PDE's dimension and channels
ITEMSIZE = {"float32": 4, "float64": 8}
CGROUP_FILES = (  # (limit, usage) for cgroup v2 and v1
    ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
    ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
)


def available_bytes(device: torch.device) -> int | None:
    """Free memory on ``device`` in bytes, or None when it cannot be told."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    if device.type != "cpu":
        return None
    free = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                free = int(line.split()[1]) * 1024
    except OSError:
        pass
    if free is None and hasattr(os, "sysconf"):
        try:
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError):
            return None
    for limit_file, used_file in CGROUP_FILES:  # a cgroup limit (Slurm, containers) kills first
        try:
            limit = Path(limit_file).read_text().strip()
            used = int(Path(used_file).read_text())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 1 << 60:  # v1 writes "no limit" as a huge number
            free = min(free, int(limit) - used) if free is not None else int(limit) - used
    return free


def estimate_bytes(pde_cls, kwargs: dict, batch: int, dtype: str) -> tuple[int, int] | None:
    """``(bytes, grid points)`` a run of ``batch`` trajectories needs, or None when the
    PDE has no ``resolution`` (or the probe instance cannot be built)."""
    resolution = kwargs.get("resolution")
    if not isinstance(resolution, int) or resolution < 8:
        return None
    try:  # dimension and channels from a small instance (cheap at PROBE points per side)
        probe = pde_cls(**{**kwargs, "resolution": min(resolution, PROBE)})
    except (ParameterError, TypeError, ValueError):
        return None
    points = resolution ** len(probe.grid.shape)
    per_point = SHARED * 8 + batch * PER_TRAJECTORY * probe.channels * ITEMSIZE.get(dtype, 8)
    return per_point * points, points


def check_memory(pde_cls, kwargs: dict, run: dict, section: str, batch_key: str, source: str):
    """ConfigError naming ``{section}.resolution`` and ``batch_key`` when the run cannot
    fit in the memory of ``run["device"]``."""
    from pdesurr.config import ConfigError

    got = estimate_bytes(pde_cls, kwargs, run["batch"], run["dtype"])
    if got is None:
        return
    need, points = got
    try:
        device = torch.device(run["device"])
        free = available_bytes(device)
    except Exception:  # an unusable device is reported by check_device, with its own code
        return
    if free is not None and need > free:
        raise ConfigError(
            f"{source}: {section}.resolution = {kwargs['resolution']} with {batch_key} = "
            f"{run['batch']} needs about {need / 2**30:.3g} GiB ({points:.3g} grid points, "
            f"{run['dtype']}), more than the {free / 2**30:.3g} GiB available on {device}; "
            f"lower {section}.resolution or {batch_key}"
        )
