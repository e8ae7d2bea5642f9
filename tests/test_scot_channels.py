"""Channel mapping of Navier-Stokes vorticity onto Poseidon's (rho, u, v, p): the analytic
Taylor-Green velocity, the masked pressure, and a fine-tune of a 4-channel checkpoint."""

import math

import pytest
import torch

from pdesurr.config import ConfigError
from pdesurr.data.channel_map import MappedStep, VorticityToRhoUVP
from pdesurr.data.generate import generate
from pdesurr.data.spec import DatasetSpec
from pdesurr.training.recipe import Recipe


def taylor_green(n, length, m, dtype=torch.float64):
    """Vorticity and velocity of the Taylor-Green vortex of mode ``m`` on a box of ``length``:
    psi = sin(kx) sin(ky) / k, u = d psi/dy, v = -d psi/dx, omega = dv/dx - du/dy."""
    k = 2 * math.pi * m / length
    x = torch.arange(n, dtype=dtype) * length / n
    y, x = torch.meshgrid(x, x, indexing="ij")
    omega = 2 * k * torch.sin(k * x) * torch.sin(k * y)
    u = torch.sin(k * x) * torch.cos(k * y)
    v = -torch.cos(k * x) * torch.sin(k * y)
    return omega, u, v


@pytest.mark.parametrize("length,m", [(2 * math.pi, 1), (1.0, 3)])
def test_mapped_velocity_of_taylor_green_is_the_analytic_one(length, m):
    omega, u, v = taylor_green(32, length, m)
    cmap = VorticityToRhoUVP(length)
    mapped = cmap(omega.expand(2, 3, 1, 32, 32))  # any leading dims
    assert mapped.shape == (2, 3, 4, 32, 32)
    # a resolved Fourier mode: exact up to FFT round-off in float64
    torch.testing.assert_close(mapped[1, 2, 1], u, rtol=0, atol=1e-12)
    torch.testing.assert_close(mapped[1, 2, 2], v, rtol=0, atol=1e-12)
    assert torch.equal(mapped[..., 0, :, :], torch.ones_like(u).expand(2, 3, 32, 32))
    assert torch.equal(mapped[..., 3, :, :], torch.zeros_like(u).expand(2, 3, 32, 32))
    # and back: dv/dx - du/dy of the analytic velocity is the vorticity (round-off again)
    back = cmap.inverse(torch.stack([torch.ones_like(u), u, v, torch.zeros_like(u)])[None])
    torch.testing.assert_close(back[0, 0], omega, rtol=0, atol=1e-11)
    # float32 in, float32 out (dtype follows the input)
    assert cmap(omega[None, None].float()).dtype == torch.float32


class PressureOffset(torch.nn.Module):
    """A 4 -> 4 'model' whose p output is shifted by ``offset`` (and otherwise 0.9 x)."""

    def __init__(self, offset):
        super().__init__()
        self.offset = offset

    def forward(self, x, cond=None):
        out = 0.9 * x
        out[:, 3] += self.offset
        return out


def test_the_pressure_is_masked_out_of_loss_and_metric():
    from pdesurr.checkpoints.surrogate import Surrogate
    from pdesurr.training.fit import Objective

    omega, _, _ = taylor_green(16, 2 * math.pi, 2, torch.float32)
    frames = torch.stack([omega, 0.8 * omega])[None, :, None].repeat(3, 1, 1, 1, 1)  # (3,2,1,..)
    cmap = VorticityToRhoUVP()
    raw = {
        "data": {"store": "unused.zarr", "pairs": "next", "channel_map": "rho_u_v_p",
                 "predict": "state"},
        "model": {"kind": "fno", "modes": 4, "width": 4, "layers": 1},
        "objective": {"kind": "poseidon"},
    }  # fmt: skip
    recipe = Recipe.from_dict(raw)
    losses, steps = [], []
    for offset in (0.0, 7.0):
        surrogate = Surrogate(PressureOffset(offset), 1, 4, predict="state")
        losses.append(Objective(surrogate, recipe, cmap)(frames, None, 0))
        steps.append(MappedStep(surrogate, cmap)(frames[:, :1], None))
    assert losses[0] > 0 and torch.equal(losses[0], losses[1])  # p left out of the loss
    assert torch.equal(steps[0], steps[1])  # nor does it reach the predicted vorticity
    # the step maps back: 0.9 x the velocity of omega has vorticity 0.9 omega
    torch.testing.assert_close(steps[0][:, 0], 0.9 * frames[:, 0, 0], rtol=0, atol=1e-4)
    # without the mask a wrong p does cost: the test can tell the difference
    unmasked = {**raw, "objective": {"kind": "poseidon", "masked_channels": [], "p": 1}}
    r = Recipe.from_dict(unmasked)
    a = Objective(Surrogate(PressureOffset(0.0), 1, 4), r)(cmap(frames), None, 0)
    b = Objective(Surrogate(PressureOffset(7.0), 1, 4), r)(cmap(frames), None, 0)
    assert b > a


def test_bad_channel_map_names_the_key(tmp_path):
    raw = {
        "data": {"store": "x.zarr", "channel_map": "uvp"},
        "model": {"kind": "fno", "modes": 4, "width": 4, "layers": 1},
    }
    with pytest.raises(ConfigError, match=r"data\.channel_map: 'uvp'; choose from \['rho_u_v_p'\]"):
        Recipe.from_dict(raw)


@pytest.fixture(scope="module")
def kolmogorov(tmp_path_factory):
    path = tmp_path_factory.mktemp("cmap") / "kf.zarr"
    spec = DatasetSpec.load(
        "kolmogorov/small", ["splits.train=2", "splits.valid=1", "splits.test=0", "time.frames=7"]
    )
    generate(spec, path, progress=False)
    return path


def test_fine_tune_a_four_channel_checkpoint_on_vorticity(kolmogorov, tmp_path, caplog):
    import xarray as xr

    from pdesurr.checkpoints.readers import load_surrogate
    from pdesurr.cli import main
    from pdesurr.models.scot import ScOT
    from pdesurr.training.fit import fit

    torch.manual_seed(0)
    ckpt = ScOT(4, 4, image_size=32, patch_size=4, embed_dim=16, depths=[2, 2], num_heads=[2, 2],
                skip_connections=[1, 0], window_size=4)  # fmt: skip
    ckpt.save_pretrained(tmp_path / "poseidon")
    raw = {
        "data": {"store": str(kolmogorov), "pairs": "all2all", "max_steps": 3, "step": 2,
                 "predict": "state", "channel_map": "rho_u_v_p"},
        "model": {"kind": "scot", "pretrained": str(tmp_path / "poseidon")},  # no replacement
        "objective": {"kind": "poseidon"},
        "optim": {"lr": 1e-3, "batch_size": 4, "steps": 4},
        "train": {"out": str(tmp_path / "run"), "log_every": 2, "eval_every": 4},
    }  # fmt: skip
    with caplog.at_level("WARNING"):
        result = fit(Recipe.from_dict(raw), progress=False)
    assert "replaced" not in caplog.text  # the four embedding/recovery tensors were loaded
    assert all(math.isfinite(r["loss"]) for r in result.history if "loss" in r)
    assert math.isfinite(result.history[-1]["valid_rel_l2"])
    surrogate, config = load_surrogate(tmp_path / "run" / "checkpoint")
    assert config["data"]["channel_map"] == {"name": "rho_u_v_p", "length": 2 * math.pi,
                                             "masked": [3]}  # fmt: skip
    assert config["data"]["channels"] == 4 and config["data"]["mean"] == pytest.approx(
        [0.8, 0, 0, 0]
    )
    # the embedding started from the checkpoint's tensor: 4 steps at lr 1e-3 move it little
    w0 = ckpt.state_dict()["embeddings.patch_embeddings.projection.weight"]
    w = surrogate.model.state_dict()["embeddings.patch_embeddings.projection.weight"]
    assert w.shape == w0.shape and (w - w0).abs().max() < 0.05
    # evaluate maps the store's vorticity in and the prediction back: metrics on vorticity
    out = tmp_path / "eval"
    args = ["evaluate", str(tmp_path / "run" / "checkpoint"), "--data", str(kolmogorov)]
    assert main([*args, "--split", "train", "--out", str(out), "--no-plots"]) == 0
    ds = xr.open_dataset(next(out.glob("*.nc")))
    assert ds.sizes["lead"] == 3 and bool(ds["rel_l1_poseidon"].notnull().all())


def test_channel_map_refuses_a_store_without_vorticity(tmp_path):
    from pdesurr.training.build import build

    path = tmp_path / "ks.zarr"
    spec = DatasetSpec.load("ks_refiner/small", ["splits.train=1", "splits.valid=0",
                                                 "splits.test=0"])  # fmt: skip
    generate(spec, path, progress=False)
    raw = {
        "data": {"store": str(path), "channel_map": "rho_u_v_p", "valid_split": "none"},
        "model": {"kind": "fno", "modes": 4, "width": 4, "layers": 1},
    }
    with pytest.raises(ConfigError, match="data.channel_map = 'rho_u_v_p' maps 2D Navier"):
        build(Recipe.from_dict(raw))
