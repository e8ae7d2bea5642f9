"""Write a solver run to a zarr store that ``xarray.open_zarr(path)`` reads without pdesurr.

Layout of a trajectory store (``attrs["pdesurr_kind"] == "trajectory"``)::

    <field>      (trajectory, time, [field dims], y, x)  one data variable per Field, in the
                 run's dtype, with attrs ``units`` and ``long_name``; 1D: ``x`` only
    time         (time,) float64 physical time ``t = step * dt``
    step         (time,) int64 solver steps since the initial state
    x, y         grid coordinates (``Grid.coords``)
    layer        ``1 .. channels`` for a field with a channel-like dim (QG's two layers)
    trajectory   ``0 .. B-1``
    <parameter>  (trajectory,) each per-trajectory parameter of the PDE (KS ``length``)
    attrs        pdesurr_kind, pdesurr_version, pde (registry name), config (the resolved
                 configuration as a JSON string), integrator, dt, save_every

Choice: a single trajectory (``B = 1``) drops the ``trajectory`` dim, giving
``(time, [field dims], y, x)``, and its per-trajectory parameters become scalars; the
one-run case then indexes plainly (``ds.vorticity.isel(time=-1)``). Code reading both uses
``ds.expand_dims("trajectory") if "trajectory" not in ds.dims else ds``.

KS with one domain length per trajectory: the grid is in units of the domain (``x`` in
``[0, 1)``, attr ``units = "L"``) and the ``length`` variable holds each trajectory's L.
A per-trajectory ``dt`` leaves no common physical time: ``time`` then counts steps (attr
``units = "steps"``) and ``dt`` is a variable on ``trajectory``.

Atomic: the store is built at ``<out>.tmp-<pid>`` and renamed onto ``<out>`` only after the
last snapshot; an existing ``<out>`` is replaced only then, and only with ``overwrite=True``.
Any exception (a solver's ``DivergenceError`` included) removes the temporary store and
propagates. Snapshots stream in blocks appended along ``time`` (one zarr chunk per block), so
memory holds one block, not the run. Zarr format 2 with consolidated metadata: readable by
zarr-python 2 and 3, and free of format 3's non-standard consolidated-metadata warning.
"""

from __future__ import annotations

import json
import os
import shutil
import time as timer
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from pdesurr import __version__
from pdesurr.config import DTYPES, SolverConfig
from pdesurr.solvers import DEFAULT_INTEGRATOR, PDES
from pdesurr.solvers.pde import PDE
from pdesurr.solvers.system import Field

STORE_KIND = "trajectory"
BLOCK_BYTES = 32 * 2**20  # target size of one streamed block
MAX_BLOCK = 256


def field_dims(field: Field) -> tuple[str, ...]:
    """Channel-like dims of a field in the store: none for one channel, else ``field.dims``."""
    if field.channels == 1:
        return ()
    if len(field.dims) == 1:
        return field.dims
    if not field.dims:
        return (f"{field.name}_component",)
    raise ValueError(f"field {field.name!r}: {len(field.dims)} channel dims are not supported")


def check_destination(out: str | Path, overwrite: bool) -> Path:
    """``out`` as a Path; raises FileExistsError naming it if it exists and not ``overwrite``."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(
            f"{out} already exists; pass overwrite=True (--overwrite) to replace it"
        )
    return out


class TrajectoryWriter:
    """Stream snapshots ``(B, C, *S)`` of one run into a new store at ``out`` (see module doc).

    A context manager: ``append(u, time, step)`` per snapshot; a clean exit commits (rename
    onto ``out``), an exception aborts (temporary store removed, exception propagates).

    Args:
        out: destination directory (conventionally ``*.zarr``).
        pde: the PDE (fields, grid, per-trajectory parameters).
        attrs: extra JSON-able global attributes (e.g. ``config``).
        trajectory_vars: extra per-trajectory arrays of shape ``(B,)`` (e.g. ``dt``).
        time_attrs: attributes of the ``time`` coordinate.
        overwrite: replace an existing ``out`` (at commit time only).
        block_size: snapshots per streamed block; default: ~32 MiB per block.
    """

    def __init__(
        self,
        out: str | Path,
        pde: PDE,
        *,
        attrs: Mapping | None = None,
        trajectory_vars: Mapping[str, np.ndarray] | None = None,
        time_attrs: Mapping | None = None,
        overwrite: bool = False,
        block_size: int | None = None,
    ):
        self.out = check_destination(out, overwrite)
        self.overwrite = overwrite
        self.tmp = self.out.with_name(f"{self.out.name}.tmp-{os.getpid()}")
        self.pde = pde
        self.attrs = {
            "pdesurr_kind": STORE_KIND,
            "pdesurr_version": __version__,
            "pde": pde.name,
            **(attrs or {}),
        }
        self.trajectory_vars = dict(trajectory_vars or {})
        self.time_attrs = dict(time_attrs or {"long_name": "time"})
        self.block_size = block_size
        self._buffer: list[np.ndarray] = []
        self._times: list[float] = []
        self._steps: list[int] = []
        self._written = 0
        self._shape: tuple[int, ...] | None = None

    def __enter__(self) -> TrajectoryWriter:
        if self.tmp.exists():
            shutil.rmtree(self.tmp)
        self.tmp.parent.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self.commit()
        else:
            self.abort()
        return False

    def append(self, u: torch.Tensor, time: float, step: int) -> None:
        """Add one snapshot ``u`` of shape ``(B, C, *S)`` taken at ``time`` after ``step`` steps."""
        arr = u.detach().cpu().numpy()
        if self._shape is None:
            self.pde.check_state(u)
            self._shape, self._dtype = arr.shape, arr.dtype
            if self.block_size is None:
                self.block_size = max(1, min(MAX_BLOCK, BLOCK_BYTES // max(arr.nbytes, 1)))
        elif arr.shape != self._shape or arr.dtype != self._dtype:
            raise ValueError(
                f"snapshot {arr.shape} {arr.dtype} differs from the first "
                f"{self._shape} {self._dtype}"
            )
        self._buffer.append(arr)
        self._times.append(float(time))
        self._steps.append(int(step))
        if len(self._buffer) >= self.block_size:
            self.flush()

    @property
    def squeeze(self) -> bool:
        return self._shape[0] == 1

    def _block(self, states: np.ndarray, first: bool) -> xr.Dataset:
        """The dataset of one block ``states`` ``(B, T, C, *S)``; static parts only if first."""
        grid, lead = self.pde.grid, () if self.squeeze else ("trajectory",)
        data_vars, c0 = {}, 0
        for f in self.pde.fields:
            part = states[:, :, c0 : c0 + f.channels]  # (B, T, c, *S)
            c0 += f.channels
            if f.channels == 1:
                part = part[:, :, 0]
            if self.squeeze:
                part = part[0]
            attrs = {"units": f.units, "long_name": f.long_name or f.name} if first else {}
            data_vars[f.name] = ((*lead, "time", *field_dims(f), *grid.dims), part, attrs)
        coords = {
            "time": ("time", np.asarray(self._times, np.float64), self.time_attrs if first else {}),
            "step": ("time", np.asarray(self._steps, np.int64), {"long_name": "solver steps"}),
        }
        if not first:
            return xr.Dataset(data_vars, coords=coords)
        per_sample = self.pde.per_sample_length
        for name, values in zip(grid.dims, grid.coords(), strict=True):
            attrs = (
                {"long_name": f"{name} / L", "units": "L"} if per_sample else {"long_name": name}
            )
            coords[name] = (name, values.numpy(), attrs)
        for f in self.pde.fields:
            for d in field_dims(f):
                coords[d] = (d, np.arange(1, f.channels + 1))
        if not self.squeeze:
            coords["trajectory"] = ("trajectory", np.arange(states.shape[0]))
        params = {k: v for k, v in self.pde.parameters().items() if isinstance(v, torch.Tensor)}
        extra = {k: np.asarray(v, np.float64) for k, v in self.trajectory_vars.items()}
        for name, values in {**{k: v.numpy() for k, v in params.items()}, **extra}.items():
            values = values.reshape(-1)
            data_vars[name] = ((), values[0]) if self.squeeze else (("trajectory",), values)
        return xr.Dataset(data_vars, coords=coords, attrs=self.attrs)

    def flush(self) -> None:
        """Write the buffered snapshots as one block (the first block creates the store)."""
        if not self._buffer:
            return
        states = np.stack(self._buffer, axis=1)  # (B, T, C, *S)
        first = self._written == 0
        ds = self._block(states, first)
        if first:
            encoding = {}
            for f in self.pde.fields:
                var = ds[f.name]
                chunks = {"trajectory": 1, "time": self.block_size}
                encoding[f.name] = {"chunks": tuple(chunks.get(d, n) for d, n in var.sizes.items())}
            ds.to_zarr(self.tmp, mode="w-", zarr_format=2, consolidated=True, encoding=encoding)
        else:
            # the root attrs are rewritten by every append: pass them again
            ds.attrs = self.attrs
            ds.to_zarr(self.tmp, append_dim="time", zarr_format=2, consolidated=True)
        self._written += states.shape[1]
        self._buffer, self._times, self._steps = [], [], []

    def commit(self) -> Path:
        """Flush and move the store onto ``out`` (replacing it only if ``overwrite``)."""
        try:
            self.flush()
            if self._written == 0:
                raise ValueError(f"{self.out}: no snapshots were written")
            check_destination(self.out, self.overwrite)
        except BaseException:
            self.abort()
            raise
        old = self.out.with_name(f"{self.out.name}.old-{os.getpid()}")
        if self.out.exists():
            os.replace(self.out, old)
        os.replace(self.tmp, self.out)
        if old.is_dir():
            shutil.rmtree(old)
        elif old.exists():
            old.unlink()
        return self.out

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


@dataclass(frozen=True)
class RunSummary:
    out: Path
    steps: int
    saves: int
    t_end: float
    wall_s: float

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.wall_s if self.wall_s > 0 else float("inf")


def write_run(
    config: SolverConfig,
    out: str | Path,
    *,
    initial: torch.Tensor | None = None,
    initial_source: str | None = None,
    overwrite: bool = False,
    block_size: int | None = None,
    on_steps: Callable[[int], None] | None = None,
) -> RunSummary:
    """Run ``config`` and stream its trajectory into a store at ``out``.

    Runs ``n_steps() // save_every`` saves of ``save_every`` steps (the end time is rounded
    down to a save; ``RunSummary.t_end`` reports the one reached). ``initial`` ``(B, C, *S)``
    replaces the preset's initial condition (``initial_source`` names it in the saved
    config). ``on_steps(n)`` is called after every ``n`` steps (progress bars). Raises
    ConfigError (device), ValueError (initial shape), FileExistsError, DivergenceError;
    nothing is left at ``out`` on error.
    """
    run = config.resolved_run()
    device = torch.device(run["device"])  # checked on this machine by SolverConfig.validate
    pde, stepper = config.build_pde(), config.build_stepper()
    u0 = config.initial_state() if initial is None else initial
    u0 = u0.to(device=device, dtype=DTYPES[run["dtype"]])
    pde.check_state(u0)
    save_every = run["save_every"]
    n_saves = config.n_steps() // save_every
    dt = config.integrator["dt"]
    resolved = config.resolved()
    if initial_source is not None:
        resolved["initial"] = {"kind": "file", "path": initial_source}
    attrs = {
        "config": json.dumps(resolved, default=str),
        "integrator": config.integrator.get("kind", DEFAULT_INTEGRATOR),
        "dt": dt,
        "save_every": save_every,
    }
    per_sample_dt = isinstance(dt, list)
    dt_time = 1.0 if per_sample_dt else float(dt)
    t0 = timer.perf_counter()
    with TrajectoryWriter(
        out,
        pde,
        attrs=attrs,
        trajectory_vars={"dt": np.asarray(dt)} if per_sample_dt else None,
        time_attrs={"long_name": "step", "units": "steps"} if per_sample_dt else None,
        overwrite=overwrite,
        block_size=block_size,
    ) as writer:
        for i, u in enumerate(stepper.trajectory(u0, n_saves, save_every)):
            step = i * save_every
            writer.append(u, step * dt_time, step)
            if i and on_steps is not None:
                on_steps(save_every)
    steps = n_saves * save_every
    t_end = steps * (max(dt) if per_sample_dt else dt)
    return RunSummary(Path(out), steps, n_saves, t_end, timer.perf_counter() - t0)


def pde_from_attrs(attrs: Mapping) -> PDE:
    """Rebuild the PDE of a store from its ``config`` attribute (no other side knowledge)."""
    params = dict(json.loads(attrs["config"])["pde"])
    return PDES[params.pop("kind")](**params)
