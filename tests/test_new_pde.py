"""Adding a PDE touches only ``solvers/`` and a preset: a throw-away PDE, registered for
one test, runs through generation, the store's reference solver, the evaluation and the
report figures, with no line of pdesurr knowing its name."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pdesurr.data.generate import generate
from pdesurr.data.spec import DatasetSpec
from pdesurr.data.store import open_store
from pdesurr.evaluation.evaluate import evaluate
from pdesurr.evaluation.plot_common import time_axis
from pdesurr.evaluation.reference import solver_step, store_pde
from pdesurr.evaluation.report_plots import plot_report
from pdesurr.evaluation.rollout import persistence
from pdesurr.solvers import PDES
from pdesurr.solvers.pde import PDE, per_sample, real_dtype
from pdesurr.solvers.system import Field, SpectralSystem
from pdesurr.spectral import Grid, energy_spectrum


class RectangularHeat(PDE):
    """``u_t = nu (u_xx + u_yy)`` on a periodic ``ny x nx`` grid, time in seconds: what a
    new PDE declares (its own resolution keys, units and spectrum axis) and nothing more."""

    name = "heat_test"
    spatial_dims = 2
    time_units = "s"
    wavenumber_label = "wavenumber k [rad/cm]"

    def __init__(self, ny: int = 8, nx: int = 12, viscosity=0.1):
        self.ny, self.nx = ny, nx
        self.viscosity = per_sample(viscosity, "viscosity", positive=True)
        self.grid = Grid((ny, nx), (2 * math.pi, 3 * math.pi))
        self.fields = (Field("u", units="K"),)

    @classmethod
    def resolution_arguments(cls, shape):
        return {"ny": int(shape[-2]), "nx": int(shape[-1])}

    def parameters(self) -> dict:
        return {"ny": self.ny, "nx": self.nx, "viscosity": self.viscosity}

    def system(self, device, dtype, batch: int) -> SpectralSystem:
        ky, kx = self.grid.wavenumbers(real_dtype(dtype), device)
        nu = self.viscosity
        nu = nu.to(device, real_dtype(dtype)).view(-1, 1, 1, 1) if torch.is_tensor(nu) else nu
        linear = -nu * (kx * kx + ky * ky)
        return SpectralSystem(linear=linear * torch.ones(1, 1, 1, 1), nonlinear=torch.zeros_like)

    def initial_conditions(self):
        return {"noise": self._noise}

    def _noise(self, batch, generator):
        return torch.randn(batch, 1, self.ny, self.nx, generator=generator, dtype=torch.float64)

    def invariants(self, u):
        return {"mean": u.mean((1, 2, 3))}

    def energy_spectrum(self, u):
        k, e = energy_spectrum(u, self.grid)
        return k, e, ["energy"]


SPEC = """
[dataset]
batch = 2
[splits]
train = 2
valid = 0
test = 2
[solver]
preset = "{preset}"
[parameters]
viscosity = {{ choice = [0.05, 0.2] }}
[initial]
kind = "noise"
[time]
save_interval = 0.5
frames = 5
"""
PRESET = """
[pde]
kind = "heat_test"
ny = 8
nx = 12
[integrator]
kind = "etdrk4"
dt = 0.25
[initial]
kind = "noise"
[run]
t_end = 1.0
"""


@pytest.fixture
def heat_store(tmp_path, monkeypatch):
    monkeypatch.setitem(PDES, "heat_test", RectangularHeat)
    (tmp_path / "heat.toml").write_text(PRESET)
    (tmp_path / "spec.toml").write_text(SPEC.format(preset=tmp_path / "heat.toml"))
    store = tmp_path / "heat.zarr"
    generate(DatasetSpec.load(tmp_path / "spec.toml"), store, progress=False)
    return store


def test_the_reference_solver_of_a_new_pde_reproduces_its_store(heat_store):
    store = open_store(heat_store)  # zarr: nothing held open
    pde = store_pde(store, "test", [0, 1])
    assert isinstance(pde, RectangularHeat) and (pde.ny, pde.nx) == (8, 12)
    step = solver_step(store, "test", [0, 1])
    u = torch.as_tensor(np.asarray(store.read("test", "u")))  # (B, T, ny, nx)
    nxt = step(u[:, :1, None].double())  # (B, 1, ny, nx): frame 1 from frame 0
    # the same linear ETDRK solve as the generation, stored in float32: agree to its rounding
    torch.testing.assert_close(nxt[:, 0], u[:, 1].double(), rtol=1e-5, atol=1e-6)


def test_evaluation_and_figures_ask_the_new_pde(heat_store, tmp_path):
    ds, pred, true = evaluate(persistence, heat_store, "test", history=1)
    assert ds.attrs["pde"] == "heat_test"
    assert time_axis(ds)[2] == "lead time [s]"  # its time_units, not a list of names
    paths = plot_report(ds, pred, true, tmp_path / "plots", label="persistence")
    assert all(p.stat().st_size > 10_000 for p in paths)  # five real PNG figures


@pytest.mark.parametrize("kind", sorted(PDES))
def test_every_pde_declares_what_the_evaluation_asks(kind):
    cls = PDES[kind]
    pde = cls()
    assert pde.grid.ndim == cls.spatial_dims
    # resolution_arguments rebuilds the grid from a stored shape (B, T, *S)
    shape = (2, 3, *pde.grid.shape)
    rebuilt = cls(**{**pde.parameters(), **cls.resolution_arguments(shape)})
    assert rebuilt.grid.shape == pde.grid.shape
    assert cls.time_units in ("", "s") and cls.wavenumber_label.startswith("wavenumber")
