"""Modern U-Net (PDEArena): shape contract, batch independence, gradients, conditioning,
periodic translation equivariance, presets, overfitting one batch."""

import tomllib
from pathlib import Path

import pytest
import torch

from pdesurr.models.unet import UNet

PRESETS = sorted((Path(__file__).resolve().parent.parent / "models" / "unet").glob("*.toml"))
# 3 levels: coarsest stride 4; small enough for a few ms per forward pass.
TINY = dict(
    hidden=8, channel_mults=[1, 2, 1], blocks_per_level=1, norm_groups=2, cond_embedding_dim=16
)


def make(ndim, cond_dim=0, **options):
    torch.manual_seed(0)
    return UNet(2, 3, ndim, cond_dim=cond_dim, **{**TINY, **options})


def inputs(ndim, cond_dim, batch=2, size=16, dtype=torch.float32, gen=None):
    x = torch.randn(batch, 2, *[size] * ndim, generator=gen, dtype=dtype)
    cond = torch.rand(batch, cond_dim, generator=gen, dtype=dtype) * 10 if cond_dim else None
    return x, cond


@pytest.mark.parametrize("ndim", [1, 2])
@pytest.mark.parametrize("cond_dim", [0, 2])
@pytest.mark.parametrize("mid_attention", [False, True])
def test_shapes(ndim, cond_dim, mid_attention, gen):
    model = make(ndim, cond_dim, mid_attention=mid_attention)
    x, cond = inputs(ndim, cond_dim, gen=gen)
    y = model(x, cond=cond)
    assert y.shape == (2, 3, *x.shape[2:]) and y.dtype == x.dtype
    assert UNet.resolution_invariant is False


@pytest.mark.parametrize("ndim", [1, 2])
def test_translation_equivariance(ndim, gen):
    """Circular padding everywhere: a circular shift by a multiple of the coarsest stride
    (4 with 3 levels) shifts the output; a shift by 1 does not (strided convolutions)."""
    model = make(ndim, cond_dim=1, mid_attention=True).double().eval()
    x, cond = inputs(ndim, 1, dtype=torch.float64, gen=gen)
    dims = tuple(range(2, 2 + ndim))
    y = model(x, cond=cond)
    for shift in [(4,) * ndim, (8,) + (4,) * (ndim - 1), (-12,) * ndim]:
        shifted = model(torch.roll(x, shift, dims), cond=cond)
        # Same operations on permuted data: equal up to float64 summation order.
        torch.testing.assert_close(shifted, torch.roll(y, shift, dims), rtol=0, atol=1e-10)
    off_grid = model(torch.roll(x, (1,) * ndim, dims), cond=cond)
    assert (off_grid - torch.roll(y, (1,) * ndim, dims)).abs().max() > 1e-6


def test_bad_shapes_raise():
    model = make(2, cond_dim=1)
    cond = torch.zeros(2, 1)
    with pytest.raises(ValueError, match="expected input"):
        model(torch.zeros(2, 3, 16, 16), cond=cond)  # wrong channels
    with pytest.raises(ValueError, match="expected input"):
        model(torch.zeros(2, 2, 16), cond=cond)  # 1D input to a 2D model
    with pytest.raises(ValueError, match="divisible by 4"):
        model(torch.zeros(2, 2, 16, 18), cond=cond)
    with pytest.raises(ValueError, match="cond"):
        model(torch.zeros(2, 2, 16, 16))
    with pytest.raises(ValueError, match="cond"):
        model(torch.zeros(2, 2, 16, 16), cond=torch.zeros(3, 1))
    with pytest.raises(ValueError, match="cond_dim=0"):
        make(2)(torch.zeros(2, 2, 16, 16), cond=cond)
    with pytest.raises(ValueError, match="ndim"):
        UNet(2, 3, 3)
    with pytest.raises(ValueError, match="norm_groups"):
        UNet(2, 3, 2, hidden=8, norm_groups=3)


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
def test_preset_builds(preset):
    options = tomllib.loads(preset.read_text())["model"]
    assert options.pop("kind") == "unet"
    assert not {"in_channels", "out_channels", "ndim"} & set(options)
    counts = {}
    for ndim in (1, 2):
        with torch.device("meta"):  # no memory for the paper-sized weights
            model = UNet(1, 1, ndim, **options)
        counts[ndim] = sum(p.numel() for p in model.parameters())
    print(f"{preset.stem}: {counts[1]:,} parameters in 1D, {counts[2]:,} in 2D (1 in, 1 out)")
    if preset.stem == "small":
        assert counts[2] < 200_000
        model = UNet(1, 1, 2, cond_dim=1, **options)
        assert model(torch.randn(1, 1, 32, 32), cond=torch.ones(1, 1)).shape == (1, 1, 32, 32)
