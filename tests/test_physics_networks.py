"""Coordinate networks: shapes, exact periodicity, Glorot scale, gradients, dtype."""

import math

import pytest
import torch

from pdesurr.physics import NETWORKS


@pytest.mark.parametrize("kind", sorted(NETWORKS))
def test_exactly_periodic_in_x_and_shapes(kind, gen):
    net = NETWORKS[kind](
        ["x", "t"],
        ["u", "v"],
        width=16,
        depth=2,
        periodic={"x": 2.0},
        bounds={"t": [0, 1]},
        harmonics=3,
        fourier_features=4,
    ).double()
    p = torch.rand(20, 2, generator=gen, dtype=torch.float64)
    out = net(p)
    assert out.shape == (20, 2) and out.dtype == torch.float64
    shifted = net(p + torch.tensor([2.0 * 3, 0.0], dtype=torch.float64))
    # period 2 in x: equal up to the round-off of cos/sin at arguments ~ 6 pi * 3
    assert torch.allclose(out, shifted, atol=1e-12)
    assert not torch.allclose(out, net(p + torch.tensor([0.5, 0.0], dtype=torch.float64)))
    out.sum().backward()
    for name, prm in net.named_parameters():
        assert prm.grad is not None and prm.grad.abs().sum() > 0, name


def test_embedding_width_and_features():
    net = NETWORKS["mlp"](
        ["x", "t"],
        ["u"],
        width=8,
        depth=1,
        periodic={"x": 2 * math.pi},
        harmonics=2,
        fourier_features=3,
    )
    e = net.embed(torch.tensor([[0.3, 0.0]]))
    # [1, cos x, cos 2x, sin x, sin 2x, t', cos(b t'), sin(b t')] with t' = -1 (bounds -1..1
    # by default, t = 0 maps to the middle 0)
    assert e.shape == (1, 1 + 4 + 1 + 6)
    assert torch.allclose(
        e[0, :5], torch.tensor([1, math.cos(0.3), math.cos(0.6), math.sin(0.3), math.sin(0.6)])
    )


def test_glorot_normal_scale():
    net = NETWORKS["mlp"](["x", "t"], ["u"], width=400, depth=2, seed=3)
    w = net.hidden[1].weight
    # Glorot normal: std sqrt(2 / (fan_in + fan_out)) = 0.05; 160k samples -> ~0.5 % noise
    assert abs(float(w.std()) / math.sqrt(2 / 800) - 1) < 0.02
    assert float(net.hidden[1].bias.abs().max()) == 0.0


def test_seed_reproducible_and_rebuildable_from_args():
    args = dict(coords=["x", "t"], fields=["u"], width=8, depth=2, fourier_features=2, seed=5)
    a, b = NETWORKS["modified_mlp"](**args), NETWORKS["modified_mlp"](**args)
    p = torch.rand(4, 2)
    assert torch.equal(a(p), b(p))
    c = NETWORKS["modified_mlp"](**{**args, "seed": 6})
    assert not torch.equal(a(p), c(p))


def test_unknown_periodic_coordinate_raises():
    with pytest.raises(ValueError, match="'y' is not a coordinate"):
        NETWORKS["mlp"](["x", "t"], ["u"], periodic={"y": 1.0})
