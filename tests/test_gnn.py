"""MP-PDE graph network: grid contract, periodic graphs, point-set path, presets, fitting."""

import itertools
import tomllib
from pathlib import Path

import pytest
import torch
from torch_geometric.data import Batch, Data

from pdesurr.config import check_kwargs
from pdesurr.models.gnn import (
    GNN,
    grid_stencil,
    knn_graph_periodic,
    minimum_image,
    periodic_grid_graph,
    radius_graph_periodic,
)

PRESETS = sorted((Path(__file__).resolve().parent.parent / "models" / "gnn").glob("*.toml"))
GRIDS = {1: (24,), 2: (10, 12)}
TINY = dict(hidden=16, layers=2)


def n_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("ndim", [1, 2])
@pytest.mark.parametrize("cond_dim", [0, 3])
def test_shapes(ndim, cond_dim, gen):
    model = GNN(4, 2, ndim, cond_dim=cond_dim, **TINY)
    x = torch.randn(3, 4, *GRIDS[ndim], generator=gen)
    cond = torch.randn(3, cond_dim, generator=gen) if cond_dim else None
    y = model(x, cond=cond)
    assert y.shape == (3, 2, *GRIDS[ndim]) and y.dtype == torch.float32
    with pytest.raises(ValueError, match="cond"):
        model(x, cond=None if cond_dim else torch.randn(3, 2))
    with pytest.raises(ValueError, match="expected input"):
        model(x[:, :3])


def test_float64_and_other_resolution(gen):
    model = GNN(2, 1, 2, cond_dim=1, **TINY).double()
    for shape in [(10, 12), (20, 8)]:  # resolution_invariant: any grid the stencil fits
        y = model(torch.randn(2, 2, *shape, generator=gen).double(), cond=torch.ones(2, 1))
        assert y.dtype == torch.float64 and y.shape == (2, 1, *shape) and y.isfinite().all()


@pytest.mark.parametrize("ndim", [1, 2])
def test_batch_independence(ndim, gen):
    model = GNN(3, 2, ndim, cond_dim=2, **TINY).double()
    x = torch.randn(4, 3, *GRIDS[ndim], generator=gen, dtype=torch.float64)
    cond = torch.randn(4, 2, generator=gen, dtype=torch.float64)
    y = model(x, cond=cond)
    x2, cond2 = x.clone(), cond.clone()
    x2[1:] = torch.randn(x2[1:].shape, generator=gen, dtype=torch.float64)
    cond2[1:] = 7.0
    # per-graph instance norm and per-graph edges: sample 0 must not see the others
    torch.testing.assert_close(model(x2, cond=cond2)[0], y[0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(model(x[2:3], cond=cond[2:3])[0], y[2], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("norm", ["instance", "graph", "none"])
def test_gradients_reach_every_parameter(norm, gen):
    model = GNN(3, 2, 2, cond_dim=2, norm=norm, encode_position=True, **TINY)
    x = torch.randn(2, 3, 8, 8, generator=gen)
    model(x, cond=torch.randn(2, 2, generator=gen)).square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("ndim", [1, 2])
def test_translation_equivariance(ndim, gen):
    model = GNN(3, 2, ndim, cond_dim=1, hidden=16, layers=3).double()
    x = torch.randn(2, 3, *GRIDS[ndim], generator=gen, dtype=torch.float64)
    cond = torch.randn(2, 1, generator=gen, dtype=torch.float64)
    shifts, dims = (5, -3)[:ndim], tuple(range(2, 2 + ndim))
    y = model(x, cond=cond)
    y_rolled = model(torch.roll(x, shifts, dims), cond=cond)
    # positions enter only as differences: exact up to the round-off of x_i - x_j
    torch.testing.assert_close(y_rolled, torch.roll(y, shifts, dims), rtol=1e-11, atol=1e-11)


def test_grid_stencil():
    assert grid_stencil(1, 4).flatten().tolist() == [-1, 1, -2, 2]
    assert len(grid_stencil(2, 4)) == 4 and len(grid_stencil(2, 6)) == 8  # ties kept
    assert len(grid_stencil(2, radius=2.0)) == 12
    with pytest.raises(ValueError, match="holds no neighbour"):
        grid_stencil(1, radius=0.5)


@pytest.mark.parametrize("shape", [(9,), (7, 10)])
def test_periodic_grid_graph(shape):
    r = 2.0
    edge_index, pos = periodic_grid_graph(shape, radius=r)
    n = pos.shape[0]
    source, target = edge_index
    k = len(grid_stencil(len(shape), radius=r))
    assert torch.bincount(target, minlength=n).eq(k).all()  # same degree everywhere
    assert torch.bincount(source, minlength=n).eq(k).all()
    assert not (source == target).any()
    assert len({(int(s), int(t)) for s, t in edge_index.T}) == edge_index.shape[1]
    rel = minimum_image(pos[target] - pos[source]) * torch.tensor(shape)  # in grid spacings
    assert rel.norm(dim=-1).max() <= r + 1e-12
    assert torch.allclose(rel, rel.round(), atol=1e-12)
    with pytest.raises(ValueError, match="points per axis"):
        periodic_grid_graph((4,), neighbours=4)  # reach 2 needs more than 4 points


def test_radius_graph_matches_grid_and_brute_force(gen):
    shape = (8, 8)  # square, so grid spacings and domain units differ by one factor
    grid_edges, pos = periodic_grid_graph(shape, radius=2.5)
    edges = radius_graph_periodic(pos, 2.5 / 8 + 1e-9)
    assert set(map(tuple, edges.T.tolist())) == set(map(tuple, grid_edges.T.tolist()))

    pos = torch.rand(40, 2, generator=gen, dtype=torch.float64)
    edges = radius_graph_periodic(pos, 0.2, chunk=7)  # chunking must not change the answer
    images = torch.tensor(list(itertools.product([-1, 0, 1], repeat=2)), dtype=pos.dtype)
    brute = {
        (j, i)
        for i in range(40)
        for j in range(40)
        if i != j and (pos[i] - pos[j] + images).norm(dim=-1).min() <= 0.2
    }
    assert set(map(tuple, edges.T.tolist())) == brute
    d = minimum_image(pos[edges[1]] - pos[edges[0]])
    assert d.norm(dim=-1).max() <= 0.2


def test_knn_graph_periodic(gen):
    pos = torch.rand(30, 2, generator=gen, dtype=torch.float64)
    batch = torch.tensor([0] * 12 + [1] * 18)
    edges = knn_graph_periodic(pos, 5, batch=batch)
    source, target = edges
    assert torch.bincount(target, minlength=30).eq(5).all()
    assert (batch[source] == batch[target]).all() and not (source == target).any()
    d = minimum_image(pos[:, None] - pos[None]).norm(dim=-1)
    d = d.masked_fill(batch[:, None] != batch[None], torch.inf).fill_diagonal_(torch.inf)
    kth = d.sort(dim=1).values[:, 4]
    assert (d[target, source] <= kth[target] + 1e-12).all()  # each is among the 5 nearest


def test_point_set_batch(gen):
    model = GNN(2, 3, 2, cond_dim=1, **TINY).double()
    graphs = []
    for n in (15, 22):
        pos = torch.rand(n, 2, generator=gen, dtype=torch.float64)
        graphs.append(
            Data(
                x=torch.randn(n, 2, generator=gen, dtype=torch.float64),
                pos=pos,
                edge_index=radius_graph_periodic(pos, 0.35),
                cond=torch.randn(1, 1, generator=gen, dtype=torch.float64),
            )
        )
    batch = Batch.from_data_list(graphs)
    y = model.forward_graph(batch)
    assert y.shape == (37, 3) and y.isfinite().all()
    alone = model.forward_graph(Batch.from_data_list(graphs[1:]))
    torch.testing.assert_close(y[15:], alone, rtol=1e-12, atol=1e-12)
    plain = Data(**{k: batch[k] for k in ("x", "pos", "edge_index", "batch", "cond")})
    torch.testing.assert_close(model.forward_graph(plain), y, rtol=0, atol=0)


@pytest.mark.parametrize("ndim", [1, 2])
def test_point_set_path_agrees_with_grid(ndim, gen):
    model = GNN(2, 1, ndim, cond_dim=1, **TINY).double()
    shape = GRIDS[ndim]
    x = torch.randn(1, 2, *shape, generator=gen, dtype=torch.float64)
    cond = torch.randn(1, 1, generator=gen, dtype=torch.float64)
    edge_index, pos = periodic_grid_graph(shape, model.neighbours)
    data = Data(x=x.flatten(2)[0].T, pos=pos, edge_index=edge_index, cond=cond)
    y = model.forward_graph(data).T.reshape(1, 1, *shape)
    torch.testing.assert_close(y, model(x, cond=cond), rtol=1e-12, atol=1e-12)
    # a point permutation of the same graph gives the permuted answer
    perm = torch.randperm(pos.shape[0], generator=gen)
    inv = torch.argsort(perm)
    permuted = Data(x=data.x[perm], pos=pos[perm], edge_index=inv[edge_index], cond=cond)
    torch.testing.assert_close(
        model.forward_graph(permuted), model.forward_graph(data)[perm], rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
def test_presets_build(preset):
    options = tomllib.loads(preset.read_text())["model"]
    assert options.pop("kind") == "gnn"
    assert not {"in_channels", "out_channels", "ndim", "cond_dim"} & set(options)
    check_kwargs(GNN, options, "model", str(preset), skip=3)
    for ndim in (1, 2):
        model = GNN(2, 1, ndim, **options)
        assert model(torch.zeros(1, 2, *(16,) * ndim)).shape == (1, 1, *(16,) * ndim)
    if preset.stem == "small":
        assert n_params(model) < 100_000
