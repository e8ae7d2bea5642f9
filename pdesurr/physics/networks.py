r"""Coordinate networks for physics-informed training: points ``(P, D)`` in, fields ``(P, F)``.

``NETWORKS`` is their registry (separate from the grid surrogates' ``MODELS``: the
contract differs). Both start with :class:`~pdesurr.physics.embedding.CoordinateEmbedding`
and use tanh with Glorot-normal weights and zero biases, as the PINN papers do.

* ``mlp``: ``H <- tanh(H W + b)``, ``depth`` hidden layers of ``width``, linear output.
* ``modified_mlp`` (Wang, Teng & Perdikaris 2021, arXiv:2001.04536, the causal PINN's
  default): two encoders ``U = tanh(X W_U + b_U)``, ``V = tanh(X W_V + b_V)`` of the
  embedded input ``X``; each layer ``Z = tanh(H W + b)``, ``H <- Z * U + (1 - Z) * V``.

``initial_modes = M > 0`` imposes the initial condition exactly (``u = g(x) + s N``,
:mod:`pdesurr.physics.initial`; the trainer fits ``g`` to the window's initial state);
``zero_output = true`` starts the output layer at zero (then ``u = g`` at the start).

The parameters' dtype is set by the caller (``.to(torch.float64)``); the network follows
its input's device. Args are plain JSON values, so a checkpoint rebuilds the network from
``NETWORKS[kind](**args)``.
"""

from __future__ import annotations

import torch
from torch import nn

from pdesurr.physics.embedding import CoordinateEmbedding
from pdesurr.physics.initial import FourierInitial


def glorot(layer: nn.Linear, generator: torch.Generator) -> nn.Linear:
    fan_in, fan_out = layer.in_features, layer.out_features
    std = (2.0 / (fan_in + fan_out)) ** 0.5
    with torch.no_grad():
        layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) * std)
        layer.bias.zero_()
    return layer


class CoordinateNetwork(nn.Module):
    """Shared front end: embedding and the output layer (subclasses define the trunk)."""

    def __init__(
        self,
        coords,
        fields,
        width,
        periodic,
        bounds,
        harmonics,
        fourier_features,
        fourier_scale,
        seed,
        initial_modes=0,
        zero_output=False,
    ):
        super().__init__()
        self.zero_output = zero_output
        if width < 1:
            raise ValueError(f"width: must be >= 1, got {width}")
        self.coords, self.fields = list(coords), list(fields)
        self._gen = torch.Generator().manual_seed(seed)  # init only, dropped after
        self.embed = CoordinateEmbedding(
            coords,
            periodic or {},
            bounds or {},
            harmonics,
            fourier_features,
            fourier_scale,
            self._gen,
        )
        self.initial = None
        if initial_modes:
            if "x" not in self.embed.periodic or "t" not in self.embed.bounds:
                raise ValueError("initial_modes: needs a periodic x and bounds for t")
            if len(self.fields) != 1:
                raise ValueError(f"initial_modes: one field only, got {self.fields}")
            self.initial = FourierInitial(initial_modes, self.embed.periodic["x"])

    def impose_initial(self, points: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """``g(x) + s N`` (:mod:`pdesurr.physics.initial`) when the IC is hard, else ``N``."""
        if self.initial is None:
            return out
        t_a, t_b = self.embed.bounds["t"]
        s = (points[:, self.coords.index("t")] - t_a) / (t_b - t_a)
        g = self.initial(points[:, self.coords.index("x")])
        return g[:, None] + s[:, None] * out

    def linear(self, n_in: int, n_out: int) -> nn.Linear:
        return glorot(nn.Linear(n_in, n_out), self._gen)

    def output_layer(self, n_in: int, n_out: int) -> nn.Linear:
        """Glorot, or zeros (``zero_output``: with a hard IC the network then starts
        as ``u = g(x)``, the initial state held constant, instead of a random change)."""
        layer = self.linear(n_in, n_out)
        if self.zero_output:
            with torch.no_grad():
                layer.weight.zero_()
        return layer


class MLP(CoordinateNetwork):
    """Plain tanh MLP on the embedded coordinates."""

    def __init__(
        self,
        coords: list[str],
        fields: list[str],
        width: int = 128,
        depth: int = 4,
        periodic: dict | None = None,
        bounds: dict | None = None,
        harmonics: int = 1,
        fourier_features: int = 0,
        fourier_scale: float = 1.0,
        seed: int = 0,
        initial_modes: int = 0,
        zero_output: bool = False,
    ):
        super().__init__(
            coords,
            fields,
            width,
            periodic,
            bounds,
            harmonics,
            fourier_features,
            fourier_scale,
            seed,
            initial_modes,
            zero_output,
        )
        sizes = [self.embed.width] + [width] * depth
        self.hidden = nn.ModuleList(
            self.linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        )
        self.out = self.output_layer(sizes[-1], len(fields))
        del self._gen

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        h = self.embed(points)
        for layer in self.hidden:
            h = torch.tanh(layer(h))
        return self.impose_initial(points, self.out(h))


class ModifiedMLP(CoordinateNetwork):
    """The modified MLP of Wang, Teng & Perdikaris (gated by two input encoders)."""

    def __init__(
        self,
        coords: list[str],
        fields: list[str],
        width: int = 128,
        depth: int = 4,
        periodic: dict | None = None,
        bounds: dict | None = None,
        harmonics: int = 1,
        fourier_features: int = 0,
        fourier_scale: float = 1.0,
        seed: int = 0,
        initial_modes: int = 0,
        zero_output: bool = False,
    ):
        super().__init__(
            coords,
            fields,
            width,
            periodic,
            bounds,
            harmonics,
            fourier_features,
            fourier_scale,
            seed,
            initial_modes,
            zero_output,
        )
        e = self.embed.width
        self.encode_u, self.encode_v = self.linear(e, width), self.linear(e, width)
        sizes = [e] + [width] * depth
        self.hidden = nn.ModuleList(
            self.linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        )
        self.out = self.output_layer(width, len(fields))
        del self._gen

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        x = self.embed(points)
        u, v = torch.tanh(self.encode_u(x)), torch.tanh(self.encode_v(x))
        h = x
        for layer in self.hidden:
            z = torch.tanh(layer(h))
            h = z * u + (1 - z) * v
        return self.impose_initial(points, self.out(h))


NETWORKS: dict[str, type[CoordinateNetwork]] = {"mlp": MLP, "modified_mlp": ModifiedMLP}
