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
    assert abs(w.std().item() / math.sqrt(2 / 800) - 1) < 0.02
    assert net.hidden[1].bias.abs().max().item() == 0.0


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


def test_fourier_initial_interpolates_and_differentiates_exactly(gen):
    from pdesurr.physics.initial import FourierInitial

    n, length, origin = 32, 2.0, -1.0
    x = origin + torch.arange(n, dtype=torch.float64) * (length / n)
    values = torch.randn(n, generator=gen, dtype=torch.float64)
    g = FourierInitial(n // 2 + 1, length).double()
    g.fit(values, origin)
    # every mode kept (Nyquist halved): the interpolant passes through the grid values
    assert torch.allclose(g(x), values, atol=1e-12)
    w = 2 * math.pi / length
    band = lambda y: 0.3 + torch.sin(3 * w * y) + 0.5 * torch.cos(7 * w * (y - 0.1))  # noqa: E731
    g.fit(band(x), origin)
    y = (torch.rand(50, generator=gen, dtype=torch.float64) * 2 - 1).requires_grad_()
    gy = g(y)
    # a band-limited function below the Nyquist mode is reproduced everywhere, with its
    # second derivative (what the residual's u_xx sees), to round-off
    assert torch.allclose(gy, band(y), atol=1e-12)
    (d1,) = torch.autograd.grad(gy.sum(), y, create_graph=True)
    (d2,) = torch.autograd.grad(d1.sum(), y)
    exact = -9 * w**2 * torch.sin(3 * w * y) - 0.5 * 49 * w**2 * torch.cos(7 * w * (y - 0.1))
    assert torch.allclose(d2, exact.detach(), atol=1e-9)
    with pytest.raises(ValueError, match="grid points"):
        g.fit(values[:20], origin)


@pytest.mark.parametrize("kind", sorted(NETWORKS))
def test_hard_initial_condition_holds_for_any_weights(kind, gen):
    net = NETWORKS[kind](
        ["x", "t"], ["u"], width=8, depth=2, periodic={"x": 2.0}, bounds={"t": [0.2, 0.7]},
        initial_modes=9,
    ).double()  # fmt: skip
    x = -1 + torch.arange(16, dtype=torch.float64) / 8
    values = torch.cos(math.pi * x) ** 3
    net.initial.fit(values, -1.0)
    at_start = net(torch.stack([x, torch.full_like(x, 0.2)], 1))[:, 0]
    # u(x, t_a) = g(x) whatever the weights: cos^3 has modes 1 and 3 only, g is exact
    assert torch.allclose(at_start, values, atol=1e-12)
    later = net(torch.stack([x, torch.full_like(x, 0.7)], 1))[:, 0]
    assert not torch.allclose(later, values, atol=1e-3)  # the network moves it later on
    rebuilt = NETWORKS[kind](
        ["x", "t"], ["u"], width=8, depth=2, periodic={"x": 2.0}, bounds={"t": [0.2, 0.7]},
        initial_modes=9,
    ).double()  # fmt: skip
    rebuilt.load_state_dict(net.state_dict())  # the coefficients travel with the weights
    assert torch.allclose(rebuilt(torch.stack([x, x], 1)), net(torch.stack([x, x], 1)))
    with pytest.raises(ValueError, match="periodic x"):
        NETWORKS[kind](["x", "t"], ["u"], bounds={"t": [0, 1]}, initial_modes=3)


def test_zero_output_starts_at_the_initial_state(gen):
    net = NETWORKS["modified_mlp"](
        ["x", "t"], ["u"], width=8, depth=2, periodic={"x": 2.0}, bounds={"t": [0, 1]},
        initial_modes=3, zero_output=True,
    ).double()  # fmt: skip
    x = torch.rand(10, generator=gen, dtype=torch.float64) * 2 - 1
    net.initial.fit(torch.cos(math.pi * torch.arange(4, dtype=torch.float64) / 2), -1.0)
    p = torch.stack([x, torch.rand(10, generator=gen, dtype=torch.float64)], 1)
    # a zero output layer: u(x, t) = g(x) at every time until training moves it
    assert torch.equal(net(p)[:, 0], net.initial(x))
    assert net.out.weight.abs().sum() == 0 and net.hidden[0].weight.abs().sum() > 0
