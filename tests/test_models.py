"""The contract battery, run over every registered model (a new model is tested the moment
it is registered in pdesurr.models.MODELS), and over PDE-Refiner wrapping each of the other
models (``refiner+fno`` etc.: the refiner preset with that model's small preset as backbone)."""

import tomllib
from pathlib import Path

import pytest
import torch

from pdesurr.checkpoints.files import load_weights, save_checkpoint
from pdesurr.checkpoints.readers import build_model
from pdesurr.models import MODELS
from pdesurr.spectral import spectral_resample

ROOT = Path(__file__).resolve().parent.parent


def registered(kind: str) -> str:
    """The registry name of a battery kind: ``refiner+B`` is a ``refiner``."""
    return kind.split("+")[0]


def innermost(kind: str) -> str:
    """The model whose limits a battery kind has: ``refiner+B`` has its backbone ``B``'s."""
    return kind.split("+")[-1]


def small_options(kind):
    if "+" in kind:  # the refiner preset over backbone B's small preset
        options = small_options("refiner")
        backbone = innermost(kind)
        return {**options, "backbone": backbone, "backbone_options": small_options(backbone)}
    path = ROOT / "models" / kind / "small.toml"
    assert path.is_file(), f"models/{kind}/small.toml is missing"
    with open(path, "rb") as f:
        options = tomllib.load(f)["model"]
    assert options.pop("kind") == kind
    return options


def make(kind, ndim, cond_dim=0, in_channels=3, out_channels=2, seed=0):
    torch.manual_seed(seed)
    args = dict(in_channels=in_channels, out_channels=out_channels, ndim=ndim, cond_dim=cond_dim)
    return MODELS[registered(kind)](**args, **small_options(kind)), args


def inputs(ndim, batch=3, channels=3, size=32, cond_dim=0, seed=1):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, channels, *([size] * ndim), generator=gen)
    cond = torch.rand(batch, cond_dim, generator=gen) if cond_dim else None
    return x, cond


# the refiner's own preset wraps the U-Net; each other model as its backbone is a kind here
WRAPPED = [f"refiner+{b}" for b in sorted(MODELS) if b not in ("refiner", "unet")]
KINDS = sorted(MODELS) + WRAPPED


def ndims(kind):
    return getattr(MODELS[innermost(kind)], "supported_ndims", (1, 2))


CASES = [(k, n) for k in KINDS for n in ndims(k)]


@pytest.mark.parametrize("kind,ndim", CASES)
@pytest.mark.parametrize("cond_dim", [0, 2])
def test_shape_and_dtype(kind, ndim, cond_dim):
    model, _ = make(kind, ndim, cond_dim)
    x, cond = inputs(ndim, cond_dim=cond_dim)
    y = model(x, cond=cond)
    assert y.shape == (3, 2, *x.shape[2:]) and y.dtype == x.dtype
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("kind,ndim", CASES)
def test_batch_independence(kind, ndim):
    model, _ = make(kind, ndim, cond_dim=1)
    model.eval()
    x, cond = inputs(ndim, batch=4, cond_dim=1)
    full = model(x, cond=cond)
    one = model(x[2:3], cond=cond[2:3])
    # float32 kernels may differ in summation order with the batch size: tolerance ~1e-5
    assert torch.allclose(full[2:3], one, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("kind,ndim", CASES)
def test_gradients_reach_every_parameter(kind, ndim):
    model, _ = make(kind, ndim, cond_dim=1)
    x, cond = inputs(ndim, cond_dim=1)
    model(x, cond=cond).square().mean().backward()
    dead = [
        n
        for n, p in model.named_parameters()
        if p.requires_grad and (p.grad is None or not p.grad.abs().sum() > 0)
    ]
    assert not dead, f"no gradient reaches {dead}"


@pytest.mark.parametrize("kind,ndim", CASES)
def test_deterministic_with_seed(kind, ndim):
    x, _ = inputs(ndim)
    a, _ = make(kind, ndim, seed=5)
    b, _ = make(kind, ndim, seed=5)
    assert torch.equal(a(x), b(x))


@pytest.mark.parametrize("kind,ndim", CASES)
def test_conditioning_matters(kind, ndim):
    model, _ = make(kind, ndim, cond_dim=1)
    x, _ = inputs(ndim, cond_dim=0)
    a = model(x, cond=torch.zeros(3, 1))
    b = model(x, cond=torch.ones(3, 1))
    assert not torch.allclose(a, b)


@pytest.mark.parametrize("kind,ndim", CASES)
def test_bad_inputs_raise(kind, ndim):
    model, _ = make(kind, ndim, cond_dim=1)
    x, cond = inputs(ndim, cond_dim=1)
    with pytest.raises(ValueError):
        model(x[:, :2], cond=cond)  # wrong channel count
    with pytest.raises(ValueError):
        model(x, cond=None)  # missing conditioning


@pytest.mark.parametrize("kind", KINDS)
def test_resolution_change_where_claimed(kind):
    # a smooth field (modes < 4) on 32^2 and the same field on 64^2 (spectral interpolation,
    # so the 64^2 grid's even points are the 32^2 grid's points)
    model, _ = make(kind, 2)
    model.eval()
    gen = torch.Generator().manual_seed(1)
    x = spectral_resample(torch.randn(2, 3, 8, 8, generator=gen, dtype=torch.float64), (32, 32))
    fine = spectral_resample(x, (64, 64)).float()
    with torch.no_grad():
        coarse_out, fine_out = model(x.float()), model(fine)
    assert fine_out.shape == (2, 2, 64, 64) and torch.isfinite(fine_out).all()
    rel = float((fine_out[..., ::2, ::2] - coarse_out).norm() / coarse_out.norm())
    if model.resolution_invariant:
        # claimed: the operator is defined in domain units, so on the finer grid it computes
        # the same function at the shared points; only the aliasing of the nonlinearities'
        # harmonics on the coarse grid differs (measured 3e-4 FNO, 6e-4 GNN), while an
        # operator in grid units (U-Net: 0.6) or a resolution-dependent FFT norm is O(1)
        assert rel < 1e-2, rel
        # and any size runs, not only multiples of a patch or stride
        assert model(spectral_resample(x, (34, 34)).float()).shape == (2, 2, 34, 34)
    else:
        # claimed: kernels in grid points, so other sizes run when they are whole multiples
        # of the coarsest stride or patch (32 and 64 are), and other sizes are refused
        with pytest.raises(ValueError, match="divisible"):
            model(spectral_resample(x, (34, 34)).float())


@pytest.mark.parametrize("kind,ndim", CASES)
def test_save_load_round_trip(kind, ndim, tmp_path):
    model, args = make(kind, ndim, cond_dim=1)
    model.eval()
    options = {**args, **small_options(kind)}
    config = {"model": {"kind": registered(kind), "args": options}}
    save_checkpoint(tmp_path / "ckpt", model.state_dict(), config)
    again = build_model(config)
    load_weights(tmp_path / "ckpt", again)
    again.eval()
    x, cond = inputs(ndim, cond_dim=1)
    assert torch.equal(model(x, cond=cond), again(x, cond=cond))


@pytest.mark.parametrize("kind,ndim", CASES)
def test_overfits_one_batch(kind, ndim):
    model, _ = make(kind, ndim)
    x, _ = inputs(ndim, batch=4, size=16)
    target = torch.roll(x[:, :2], 3, -1)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(200):
        loss = (model(x) - target).square().mean()
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1 * first


# neuraloperator's complex spectral weights are not converted by Module.double()
NO_FLOAT64 = {"fno"}


@pytest.mark.parametrize("kind,ndim", CASES)
def test_float64(kind, ndim):
    if innermost(kind) in NO_FLOAT64:
        pytest.skip(f"{kind}: float64 is not supported by its backend")
    model, _ = make(kind, ndim, cond_dim=1)
    x, cond = inputs(ndim, cond_dim=1)
    y = model.double()(x.double(), cond=cond.double())
    assert y.dtype == torch.float64 and torch.isfinite(y).all()


@pytest.mark.parametrize("kind,ndim", CASES)
def test_device_follows_input(kind, ndim):
    """No tensor is made on a fixed device: the whole pass runs on the meta device."""
    if innermost(kind) == "gnn":
        pytest.skip("gnn builds its graph from index data, which the meta device does not hold")
    with torch.device("meta"):
        model, _ = make(kind, ndim, cond_dim=1)
    x = torch.empty(2, 3, *[32] * ndim, device="meta")
    y = model(x, cond=torch.empty(2, 1, device="meta"))
    assert y.device.type == "meta" and y.shape == (2, 2, *[32] * ndim)
