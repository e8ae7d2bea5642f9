"""Small files in The Well's and PDEBench's layouts, written from their published specs
(The Well: ``docs/data_format.md``; PDEBench: the files its ``FNODataset`` reads), so the
readers are tested without downloading anything. Each writer returns the raw arrays."""

from __future__ import annotations

import h5py
import numpy as np


def write_well_file(
    path, *, n=2, steps=8, nx=16, ny=8, seed=0, bc="periodic", name="toy", reynolds=1e4
):
    rng = np.random.default_rng(seed)
    raw = {
        "density": rng.standard_normal((n, steps, nx, ny)).astype(np.float32),
        "velocity": rng.standard_normal((n, steps, nx, ny, 2)).astype(np.float32),
        "stress": rng.standard_normal((n, steps, nx, ny, 2, 2)).astype(np.float32),
        "profile": rng.standard_normal((n, steps, nx)).astype(np.float32),  # constant along y
        "mask": rng.standard_normal((nx, ny)).astype(np.float32),  # constant field
        "forcing": rng.uniform(0.5, 1.5, n),  # per trajectory
        "injected": rng.standard_normal(steps),  # time-varying scalar
        "time": np.arange(steps, dtype=np.float32) * 0.25,
        "x": np.arange(nx, dtype=np.float32) / nx,
        "y": np.arange(ny, dtype=np.float32) * 2 / ny,
    }
    with h5py.File(path, "w") as f:
        f.attrs.update(
            dataset_name=name,
            grid_type="cartesian",
            n_spatial_dims=2,
            n_trajectories=n,
            simulation_parameters=["Reynolds"],
            Reynolds=reynolds,
        )
        dims = f.create_group("dimensions")
        dims.attrs["spatial_dims"] = ["x", "y"]
        for k in ("time", "x", "y"):
            dims.create_dataset(k, data=raw[k]).attrs["sample_varying"] = False
        bcs = f.create_group("boundary_conditions")
        for d, kind in (("x", "periodic"), ("y", bc)):
            g = bcs.create_group(f"{d}_{kind}")
            g.attrs.update(
                associated_dims=[d],
                associated_fields=[],
                bc_type=kind,
                sample_varying=False,
                time_varying=False,
            )
            mask = np.zeros(nx if d == "x" else ny, bool)
            mask[[0, -1]] = True
            g.create_dataset("mask", data=mask)
            g.create_dataset("values", data=np.zeros(2, np.float32))
        sc = f.create_group("scalars")
        sc.attrs["field_names"] = ["Reynolds", "forcing", "injected"]
        for k, v, sv, tv in (
            ("Reynolds", np.array(reynolds), False, False),
            ("forcing", raw["forcing"], True, False),
            ("injected", raw["injected"], False, True),
        ):
            sc.create_dataset(k, data=v).attrs.update(sample_varying=sv, time_varying=tv)
        groups = {i: f.create_group(f"t{i}_fields") for i in range(3)}
        groups[0].attrs["field_names"] = ["density", "profile", "mask"]
        groups[1].attrs["field_names"] = ["velocity"]
        groups[2].attrs["field_names"] = ["stress"]
        for order, k, dv, sv, tv in (
            (0, "density", [True, True], True, True),
            (0, "profile", [True, False], True, True),
            (0, "mask", [True, True], False, False),
            (1, "velocity", [True, True], True, True),
            (2, "stress", [True, True], True, True),
        ):
            ds = groups[order].create_dataset(k, data=raw[k])
            ds.attrs.update(dim_varying=dv, sample_varying=sv, time_varying=tv)
            if order == 2:
                ds.attrs.update(symmetric=False, antisymmetric=False)
    return raw


def write_well_dir(root, splits=(("train", 2), ("valid", 1), ("test", 1)), **kw):
    """A Well dataset tree ``root/data/<split>/*.hdf5``; two files in train."""
    out = {}
    for i, (split, files) in enumerate(splits):
        folder = root / "data" / split
        folder.mkdir(parents=True)
        out[split] = [
            write_well_file(folder / f"toy_{j}.hdf5", seed=10 * i + j, **kw) for j in range(files)
        ]
    return out


def write_pdebench_1d(path, n=10, steps=6, nx=32, seed=0):
    rng = np.random.default_rng(seed)
    raw = {
        "tensor": rng.standard_normal((n, steps, nx)).astype(np.float32),
        "x-coordinate": (np.arange(nx) + 0.5) / nx,
        "t-coordinate": np.arange(steps + 1) * 0.05,
    }  # PDEBench stores the end time too
    with h5py.File(path, "w") as f:
        for k, v in raw.items():
            f.create_dataset(k, data=v)
    return raw


def write_pdebench_ns(path, n=3, steps=5, nx=16, ny=8, seed=0):
    rng = np.random.default_rng(seed)
    raw = {
        "velocity": rng.standard_normal((n, steps, nx, ny, 2)).astype(np.float32),
        "particles": rng.standard_normal((n, steps, nx, ny, 1)).astype(np.float32),
        "force": rng.standard_normal((n, nx, ny, 2)).astype(np.float32),
        "t": np.tile(np.arange(steps) * 0.1, (n, 1)),
    }
    with h5py.File(path, "w") as f:
        for k, v in raw.items():
            f.create_dataset(k, data=v)
    return raw


def write_pdebench_cfd(path, n=4, steps=5, nx=8, ny=16, seed=0):
    rng = np.random.default_rng(seed)
    raw = {
        k: rng.standard_normal((n, steps, nx, ny)).astype(np.float32)
        for k in ("density", "pressure", "Vx", "Vy")
    }
    raw.update(
        {
            "x-coordinate": np.arange(nx) / nx,
            "y-coordinate": np.arange(ny) / ny,
            "t-coordinate": np.arange(steps + 1) * 0.1,
        }
    )
    with h5py.File(path, "w") as f:
        for k, v in raw.items():
            f.create_dataset(k, data=v)
    return raw


def write_pdebench_seeds(path, n=3, steps=5, nx=8, ny=16, channels=2, seed=0):
    rng = np.random.default_rng(seed)
    raw = rng.standard_normal((n, steps, nx, ny, channels)).astype(np.float32)
    with h5py.File(path, "w") as f:
        for i in range(n):
            g = f.create_group(f"{i:04d}")
            g.create_dataset("data", data=raw[i])
            g.create_dataset("grid/x", data=np.arange(nx) / nx)
            g.create_dataset("grid/y", data=np.arange(ny) / ny)
            g.create_dataset("grid/t", data=np.arange(steps) * 0.1)
    return raw
