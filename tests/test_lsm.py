"""Latent Spectral Model: shape contract, batch independence, gradients, conditioning,
periodic translation equivariance without the grid embedding, presets, overfitting."""

import tomllib
from pathlib import Path

import pytest
import torch

from pdesurr.models.lsm import LSM, NeuralSpectralBlock

PRESETS = sorted((Path(__file__).resolve().parent.parent / "models" / "lsm").glob("*.toml"))
# 2 levels with 4-point patches: sizes divisible by 8.
TINY = dict(
    hidden=8, levels=2, num_token=2, num_basis=4, patch_size=4, heads=2, projection_hidden=16
)


def make(ndim, cond_dim=0, **options):
    torch.manual_seed(0)
    return LSM(2, 3, ndim, cond_dim=cond_dim, **{**TINY, **options})


def inputs(ndim, cond_dim, batch=2, size=16, dtype=torch.float32, gen=None):
    x = torch.randn(batch, 2, *[size] * ndim, generator=gen, dtype=dtype)
    cond = torch.rand(batch, cond_dim, generator=gen, dtype=dtype) if cond_dim else None
    return x, cond


@pytest.mark.parametrize("ndim", [1, 2])
@pytest.mark.parametrize("cond_dim", [0, 2])
@pytest.mark.parametrize("positional_embedding", ["grid", "none"])
def test_shapes(ndim, cond_dim, positional_embedding, gen):
    model = make(ndim, cond_dim, positional_embedding=positional_embedding)
    x, cond = inputs(ndim, cond_dim, gen=gen)
    y = model(x, cond=cond)
    assert y.shape == (2, 3, *x.shape[2:]) and y.dtype == x.dtype
    assert LSM.resolution_invariant is False


@pytest.mark.parametrize("ndim", [1, 2])
def test_spectral_block_keeps_shape_and_patches_apart(ndim, gen):
    """Each patch is projected on its own tokens: changing one patch leaves the others."""
    block = NeuralSpectralBlock(8, ndim, num_token=3, num_basis=5, patch=4, heads=2).double()
    x = torch.randn(2, 8, *[8] * ndim, generator=gen, dtype=torch.float64)
    y = block(x)
    assert y.shape == x.shape
    x2 = x.clone()
    x2[(..., *[slice(4, 8)] * ndim)] += 1.0  # the last patch only
    changed = (block(x2) - y).abs() > 0
    assert changed[(..., *[slice(4, 8)] * ndim)].all()
    assert changed.sum() == changed[(..., *[slice(4, 8)] * ndim)].numel()


@pytest.mark.parametrize("ndim", [1, 2])
def test_translation_equivariance_without_grid(ndim, gen):
    """Circular convolutions, periodic up-sampling and per-patch blocks: with no grid
    embedding a shift by a multiple of 2**(levels-1) * patch_size (8) shifts the output."""
    model = make(ndim, cond_dim=1, positional_embedding="none").double().eval()
    x, cond = inputs(ndim, 1, size=24, dtype=torch.float64, gen=gen)
    dims = tuple(range(2, 2 + ndim))
    y = model(x, cond=cond)
    for shift in [(8,) * ndim, (-16,) + (8,) * (ndim - 1)]:
        shifted = model(torch.roll(x, shift, dims), cond=cond)
        # Same operations on permuted data: equal up to float64 summation order.
        torch.testing.assert_close(shifted, torch.roll(y, shift, dims), rtol=0, atol=1e-10)
    off_grid = model(torch.roll(x, (4,) * ndim, dims), cond=cond)  # moves patch borders
    assert (off_grid - torch.roll(y, (4,) * ndim, dims)).abs().max() > 1e-6


def test_bad_shapes_raise():
    model = make(2, cond_dim=1)
    cond = torch.zeros(2, 1)
    with pytest.raises(ValueError, match="expected input"):
        model(torch.zeros(2, 3, 16, 16), cond=cond)
    with pytest.raises(ValueError, match="expected input"):
        model(torch.zeros(2, 2, 16, 16, 16), cond=cond)
    with pytest.raises(ValueError, match="divisible by 8"):
        model(torch.zeros(2, 2, 16, 12), cond=cond)
    with pytest.raises(ValueError, match="cond"):
        model(torch.zeros(2, 2, 16, 16))
    with pytest.raises(ValueError, match="cond_dim=0"):
        make(2)(torch.zeros(2, 2, 16, 16), cond=cond)
    with pytest.raises(ValueError, match="ndim"):
        LSM(2, 3, 3)
    with pytest.raises(ValueError, match="heads"):
        LSM(2, 3, 2, hidden=12, heads=8)
    with pytest.raises(ValueError, match="positional_embedding"):
        LSM(2, 3, 2, positional_embedding="sincos")


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
def test_preset_builds(preset):
    options = tomllib.loads(preset.read_text())["model"]
    assert options.pop("kind") == "lsm"
    assert not {"in_channels", "out_channels", "ndim"} & set(options)
    counts = {}
    for ndim in (1, 2):
        with torch.device("meta"):  # no memory for the paper-sized weights
            model = LSM(1, 1, ndim, **options)
        counts[ndim] = sum(p.numel() for p in model.parameters())
    print(f"{preset.stem}: {counts[1]:,} parameters in 1D, {counts[2]:,} in 2D (1 in, 1 out)")
    if preset.stem == "small":
        assert counts[2] < 200_000
        model = LSM(1, 1, 2, cond_dim=1, **options)
        assert model(torch.randn(2, 1, 32, 32), cond=torch.ones(2, 1)).shape == (2, 1, 32, 32)
