"""Message-passing neural PDE solver (MP-PDE: Brandstetter, Worrall & Welling, "Message
Passing Neural PDE Solvers", ICLR 2022, arXiv:2202.03376) on torch_geometric.

Nodes carry the input history ``u_i`` (``in_channels`` values), their position ``x_i`` in
units of the domain (``[0, 1)`` per axis) and the per-sample parameters ``θ`` (``cond``):

    f_i^0     = ε([u_i, θ])                                     encoder (+ x_i, see below)
    m_ij      = φ([f_i^m, f_j^m, u_i - u_j, x_i - x_j, θ])      message from j to i
    f_i^{m+1} = Norm(f_i^m + ψ([f_i^m, mean_{j∈N(i)} m_ij, θ]))  update, m = 0..layers-1
    y_i       = δ(f_i^M)                                         decoder

``ε, φ, ψ`` are two-layer MLPs with Swish (SiLU) after each layer, as in the paper, and
``Norm`` is instance norm over each graph's nodes (``norm="graph"``: GraphNorm).
``x_i - x_j`` is the minimum image on the unit box, so periodic wraps are seen correctly.

Simplified relative to the paper:

* the decoder ``δ`` is a two-layer MLP giving ``out_channels`` per node, not the paper's
  1D CNN over the time axis with ``u^{k+l} = u^k + (t_{k+l} - t_k) d^l``: in pdesurr history
  frames and fields share the channel axis, so the residual-in-time form belongs to the
  caller (e.g. predicting the change of the last frame);
* the encoder sees ``x_i`` only with ``encode_position=True``. The default leaves it out:
  positions then enter only as differences and the model is exactly equivariant to
  translations of the periodic grid (rolling the input rolls the output);
* time ``t_k`` is not a separate input; pass it (or ``Δt``) through ``cond`` with ``θ``.

Grid path: ``forward(x)`` turns ``(B, C, *S)`` into one graph per sample (nodes = grid
points, edges = a stencil repeated at every node, see :func:`periodic_grid_graph`), calls
:meth:`GNN.forward_graph` and reshapes back. ``forward_graph`` also takes irregular point
sets (``Data``/``Batch``); build their edges with :func:`radius_graph_periodic` or
:func:`knn_graph_periodic`. Non-periodic point sets work too when every edge is shorter
than half the box per axis, where the minimum image is the identity.

Resolution: relative positions are in domain units (``-offset / n`` on an ``n``-point
axis), so each message knows the physical distance it spans and a trained model runs on
any grid (``resolution_invariant = True``). The stencil counts grid spacings, so the
receptive field (``layers`` × stencil reach) shrinks physically on finer grids and the
edge features take values not seen in training: accuracy at a new resolution is not
guaranteed (the paper trains on several resolutions for that).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch_geometric.data import Batch, Data
from torch_geometric.nn import GraphNorm, InstanceNorm, MessagePassing

from pdesurr.models.base import check_call, check_cond, record_sizes


def minimum_image(d: torch.Tensor, box: float | torch.Tensor = 1.0) -> torch.Tensor:
    """Displacements ``d`` (..., ndim) wrapped into ``[-box/2, box/2]`` per axis."""
    return d - box * torch.round(d / box)


def grid_stencil(ndim: int, neighbours: int = 8, radius: float | None = None) -> torch.Tensor:
    """Integer offsets ``(K, ndim)`` of a node's neighbours, in grid spacings.

    With ``radius``: every offset with ``0 < |o| <= radius``. Otherwise the ``neighbours``
    nearest offsets, keeping all ties at the last distance so the stencil stays symmetric
    (2D ``neighbours=6`` gives the 8 offsets with ``|o| <= √2``). Sorted by distance.
    """
    if radius is not None:
        reach, cut2 = int(math.floor(radius)), radius * radius
    else:
        if neighbours < 1:
            raise ValueError(f"neighbours must be >= 1, got {neighbours}")
        reach = neighbours
    # a small integer table: always built on the CPU (callers move what they need)
    axes = [torch.arange(-reach, reach + 1, device="cpu")] * ndim
    offsets = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, ndim)
    d2 = offsets.square().sum(-1)
    d2, order = torch.sort(d2, stable=True)
    offsets, d2 = offsets[order][1:], d2[1:]  # drop the zero offset
    if radius is None:
        cut2 = float(d2[neighbours - 1])
    keep = d2 <= cut2 + 1e-9
    if not keep.any():
        raise ValueError(f"radius {radius} grid spacings holds no neighbour")
    return offsets[keep]


def periodic_grid_graph(
    shape: tuple[int, ...],
    neighbours: int = 8,
    radius: float | None = None,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Edges and positions of one periodic grid: ``edge_index (2, N K)``, ``pos (N, ndim)``.

    Node ``p`` (row-major index of the grid point) receives from ``p + o`` (mod ``shape``)
    for each stencil offset ``o``; ``edge_index[0]`` is the source, ``[1]`` the target
    (torch_geometric's ``source_to_target``). ``pos = index / shape`` in float64.
    """
    shape = tuple(int(n) for n in shape)
    ndim = len(shape)
    stencil = grid_stencil(ndim, neighbours, radius).to(device)  # (K, ndim)
    reach = stencil.abs().amax(0).tolist()
    for n, r in zip(shape, reach, strict=True):
        if 2 * r >= n:
            raise ValueError(
                f"a stencil reaching {r} grid spacings needs more than {2 * r} points per "
                f"axis for a unique minimum image; grid shape is {shape}"
            )
    size = torch.tensor(shape, device=device)
    index = torch.stack(
        torch.meshgrid(*[torch.arange(n, device=device) for n in shape], indexing="ij"), -1
    ).reshape(-1, ndim)  # (N, ndim)
    source = (index[:, None, :] + stencil[None]) % size  # (N, K, ndim)
    strides = torch.tensor([math.prod(shape[a + 1 :]) for a in range(ndim)], device=device)
    source = (source * strides).sum(-1).reshape(-1)
    target = torch.arange(index.shape[0], device=device).repeat_interleave(len(stencil))
    return torch.stack([source, target]), index.double() / size


def _masked_sq_distances(pos, box, batch, periodic, loop, chunk):
    """Yield ``(first_target, d2)`` with ``d2 (c, N)``; pairs across graphs or self are inf."""
    box = torch.as_tensor(box, dtype=pos.dtype, device=pos.device)
    for start in range(0, pos.shape[0], chunk):
        rows = torch.arange(start, min(start + chunk, pos.shape[0]), device=pos.device)
        d = pos[rows, None, :] - pos[None, :, :]  # (c, N, ndim)
        d2 = (minimum_image(d, box) if periodic else d).square().sum(-1)
        if batch is not None:
            d2 = d2.masked_fill(batch[rows, None] != batch[None, :], math.inf)
        if not loop:
            d2[torch.arange(len(rows), device=pos.device), rows] = math.inf
        yield start, d2


def radius_graph_periodic(
    pos: torch.Tensor,
    r: float,
    box: float | list[float] = 1.0,
    *,
    batch: torch.Tensor | None = None,
    periodic: bool = True,
    loop: bool = False,
    chunk: int = 1024,
) -> torch.Tensor:
    """``edge_index (2, E)`` linking every pair closer than ``r`` (minimum image on ``box``
    when ``periodic``), within each graph of ``batch``. Dense per chunk of ``chunk`` target
    rows: O(N²) work, meant for point sets up to some 10⁴ nodes."""
    edges = []
    for start, d2 in _masked_sq_distances(pos, box, batch, periodic, loop, chunk):
        target, source = torch.nonzero(d2 <= r * r, as_tuple=True)
        edges.append(torch.stack([source, target + start]))
    return torch.cat(edges, 1)


def knn_graph_periodic(
    pos: torch.Tensor,
    k: int,
    box: float | list[float] = 1.0,
    *,
    batch: torch.Tensor | None = None,
    periodic: bool = True,
    loop: bool = False,
    chunk: int = 1024,
) -> torch.Tensor:
    """``edge_index (2, E)`` from each node's ``k`` nearest nodes of its graph (fewer when
    the graph is smaller); ties are broken by ``torch.topk``. Same cost as the radius one."""
    edges = []
    for start, d2 in _masked_sq_distances(pos, box, batch, periodic, loop, chunk):
        d2, source = torch.topk(d2, min(k, d2.shape[1]), dim=1, largest=False)
        target = torch.arange(start, start + d2.shape[0], device=pos.device)
        target = target[:, None].expand_as(source)
        found = torch.isfinite(d2)
        edges.append(torch.stack([source[found], target[found]]))
    return torch.cat(edges, 1)


def _mlp(n_in: int, hidden: int, n_out: int, last_act: bool = True) -> nn.Sequential:
    tail = [nn.SiLU()] if last_act else []
    return nn.Sequential(nn.Linear(n_in, hidden), nn.SiLU(), nn.Linear(hidden, n_out), *tail)


class _NoNorm(nn.Module):
    def forward(self, h, batch=None, batch_size=None):
        return h


class MPLayer(MessagePassing):
    """One processor layer: mean of messages φ, residual update ψ, per-graph norm."""

    def __init__(self, hidden: int, edge_dim: int, cond_dim: int, norm: str):
        super().__init__(aggr="mean")
        self.message_net = _mlp(2 * hidden + edge_dim + cond_dim, hidden, hidden)
        self.update_net = _mlp(2 * hidden + cond_dim, hidden, hidden)
        norms = {"instance": InstanceNorm, "graph": GraphNorm}
        self.norm = norms[norm](hidden) if norm in norms else _NoNorm()

    def forward(self, h, edge_index, edge_attr, theta, batch, num_graphs):
        agg = self.propagate(edge_index, h=h, edge_attr=edge_attr, theta=theta)  # (N, hidden)
        h = h + self.update_net(torch.cat([h, agg, theta], -1))
        return self.norm(h, batch, num_graphs)

    def message(self, h_i, h_j, edge_attr, theta_i):
        return self.message_net(torch.cat([h_i, h_j, edge_attr, theta_i], -1))


class GNN(nn.Module):
    """MP-PDE with ``layers`` message-passing layers of width ``hidden``; grid edges from
    the ``neighbours`` nearest grid points, or all within ``radius`` grid spacings."""

    resolution_invariant = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        ndim: int,
        cond_dim: int = 0,
        hidden: int = 128,
        layers: int = 6,
        neighbours: int = 8,
        radius: float | None = None,
        norm: str = "instance",
        encode_position: bool = False,
    ):
        super().__init__()
        record_sizes(self, in_channels, out_channels, ndim, cond_dim)
        if norm not in ("instance", "graph", "none"):
            raise ValueError(f"GNN: norm must be 'instance', 'graph' or 'none', got {norm!r}")
        grid_stencil(ndim, neighbours, radius)  # fail at construction, not at first call
        self.neighbours, self.radius, self.encode_position = neighbours, radius, encode_position
        n_enc = in_channels + cond_dim + (ndim if encode_position else 0)
        self.encoder = _mlp(n_enc, hidden, hidden)
        self.processor = nn.ModuleList(
            MPLayer(hidden, in_channels + ndim, cond_dim, norm) for _ in range(layers)
        )
        self.decoder = _mlp(hidden, hidden, out_channels, last_act=False)
        self._graphs: dict = {}  # (shape, device) -> (edge_index, pos); not state

    def forward_graph(self, data: Data | Batch) -> torch.Tensor:
        """``data.x (N, in_channels)``, ``data.pos (N, ndim)`` in ``[0, 1)``,
        ``data.edge_index (2, E)``, optional ``data.batch`` and ``data.cond
        (num_graphs, cond_dim)`` (store ``(1, cond_dim)`` per ``Data`` before batching).
        Returns ``(N, out_channels)``."""
        u, pos, edge_index = data.x, data.pos, data.edge_index
        if u is None or u.ndim != 2 or u.shape[1] != self.in_channels:
            got = None if u is None else tuple(u.shape)
            raise ValueError(f"GNN: expected data.x of shape (N, {self.in_channels}), got {got}")
        if pos is None or tuple(pos.shape) != (u.shape[0], self.ndim):
            got = None if pos is None else tuple(pos.shape)
            raise ValueError(f"GNN: expected data.pos ({u.shape[0]}, {self.ndim}), got {got}")
        batch = getattr(data, "batch", None)
        if isinstance(data, Batch):
            num_graphs = data.num_graphs
        elif batch is not None:  # a hand-made Data with a batch vector
            num_graphs = int(batch.max()) + 1
        else:
            batch, num_graphs = torch.zeros(u.shape[0], dtype=torch.long, device=u.device), 1
        cond = getattr(data, "cond", None)
        check_cond(cond, self.cond_dim, num_graphs, "GNN")
        theta = u.new_zeros(u.shape[0], 0) if self.cond_dim == 0 else cond.to(u.dtype)[batch]

        pos = pos.to(u.dtype)
        source, target = edge_index
        rel = minimum_image(pos[target] - pos[source])  # x_i - x_j, (E, ndim)
        edge_attr = torch.cat([u[target] - u[source], rel], -1)  # (E, in_channels + ndim)

        feats = [u, theta, pos] if self.encode_position else [u, theta]
        h = self.encoder(torch.cat(feats, -1))  # (N, hidden)
        for layer in self.processor:
            h = layer(h, edge_index, edge_attr, theta, batch, num_graphs)
        return self.decoder(h)

    def grid_graph(self, shape: tuple[int, ...], device: torch.device):
        """Cached :func:`periodic_grid_graph` of this model's stencil."""
        key = (tuple(shape), str(device))
        if key not in self._graphs:
            self._graphs[key] = periodic_grid_graph(shape, self.neighbours, self.radius, device)
        return self._graphs[key]

    def forward(self, x: torch.Tensor, *, cond: torch.Tensor | None = None) -> torch.Tensor:
        check_call(self, x, cond)
        b, spatial = x.shape[0], tuple(x.shape[2:])
        edge_index, pos = self.grid_graph(spatial, x.device)
        n = pos.shape[0]
        shift = torch.arange(b, device=x.device)[:, None, None] * n
        data = Batch(
            x=x.flatten(2).transpose(1, 2).reshape(b * n, -1),  # (B N, C), row-major points
            pos=pos.to(x.dtype).repeat(b, 1),
            edge_index=(edge_index[None] + shift).transpose(0, 1).reshape(2, -1),
            batch=torch.arange(b, device=x.device).repeat_interleave(n),
            ptr=torch.arange(b + 1, device=x.device) * n,
            cond=cond,
        )
        y = self.forward_graph(data)  # (B N, out_channels)
        return y.reshape(b, *spatial, self.out_channels).movedim(-1, 1)
