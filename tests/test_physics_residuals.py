"""PDE residuals vanish on exact solutions (float64), with both derivative engines."""

import math

import pytest
import sympy as sp
import torch

from pdesurr.physics import RESIDUALS
from pdesurr.physics.derivatives import derivatives_autograd, derivatives_func

ENGINES = ("autograd", "func")
# round-off of float64 derivatives of O(1)-O(100) quantities through a few operations
TOL = 1e-10


def points_xt(gen, n=64, length=2 * math.pi, t_end=1.0):
    x = torch.rand(n, generator=gen, dtype=torch.float64) * length
    t = torch.rand(n, generator=gen, dtype=torch.float64) * t_end
    return torch.stack([x, t], 1)


@pytest.mark.parametrize("engine", ENGINES)
def test_convection_exact_travelling_wave(engine, gen):
    c = 50.0
    res = RESIDUALS["convection"](velocity=c)
    p = points_xt(gen)
    r = res(lambda q: torch.sin(q[:, :1] - c * q[:, 1:]), p, engine)
    assert r.shape == (64, 1)
    assert r.abs().max().item() < TOL * c
    # the wrong direction sin(x + ct) leaves a residual 2c cos(x + ct): the test can fail
    wrong = res(lambda q: torch.sin(q[:, :1] + c * q[:, 1:]), p, engine)
    assert wrong.abs().max().item() > 1.0


@pytest.mark.parametrize("engine", ENGINES)
def test_convection_diffusion_decaying_wave(engine, gen):
    c, nu = 3.0, 0.2
    res = RESIDUALS["convection"](velocity=c, viscosity=nu)
    p = points_xt(gen)

    # u = exp(-nu k^2 t) sin(k (x - c t)) with k = 2
    def u(q):
        return torch.exp(-4 * nu * q[:, 1:]) * torch.sin(2 * (q[:, :1] - c * q[:, 1:]))

    r = res(u, p, engine)
    assert r.abs().max().item() < TOL


@pytest.mark.parametrize("engine", ENGINES)
def test_burgers_cole_hopf(engine, gen):
    nu = 0.1
    res = RESIDUALS["burgers"](viscosity=nu)

    def u(q):  # phi = 2 + cos(x) exp(-nu t) solves phi_t = nu phi_xx; u = -2 nu phi_x / phi
        x, t = q[:, :1], q[:, 1:]
        decay = torch.exp(-nu * t)
        return 2 * nu * torch.sin(x) * decay / (2 + torch.cos(x) * decay)

    r = res(u, points_xt(gen), engine)
    assert r.abs().max().item() < TOL
    inviscid = RESIDUALS["burgers"](viscosity=0.0)(u, points_xt(gen), engine)
    assert inviscid.abs().max().item() > 1e-3  # the viscous term is really there


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("value", [-1.0, 0.0, 1.0])
def test_allen_cahn_constant_states(engine, value, gen):
    res = RESIDUALS["allen_cahn"](diffusion=1e-4, reaction=5.0)
    p = points_xt(gen, length=2.0)
    r = res(lambda q: value + 0 * q[:, :1], p, engine)
    assert r.abs().max().item() < TOL
    # u = 1/2 is not steady: u_t = r (u - u^3) = 5 * 3/8
    r_half = res(lambda q: 0.5 + 0 * q[:, :1], p, engine)
    assert torch.allclose(r_half, torch.full_like(r_half, 5 * (0.125 - 0.5)))


@pytest.mark.parametrize("engine", ENGINES)
def test_kuramoto_sivashinsky_manufactured(engine, gen):
    k = 0.5  # length 4 pi

    def u(q):
        return torch.sin(k * q[:, :1]) * torch.cos(q[:, 1:])

    def forcing(q):  # u_t + u u_x + u_xx + u_xxxx for u = sin(kx) cos t, by hand
        s, c = torch.sin(k * q[:, 0]), torch.cos(k * q[:, 0])
        ct, st = torch.cos(q[:, 1]), torch.sin(q[:, 1])
        return -s * st + k * s * c * ct**2 - k**2 * s * ct + k**4 * s * ct

    res = RESIDUALS["kuramoto_sivashinsky"](forcing=forcing)
    r = res(u, points_xt(gen, length=4 * math.pi), engine)
    assert r.abs().max().item() < TOL
    unforced = RESIDUALS["kuramoto_sivashinsky"]()(u, points_xt(gen, length=4 * math.pi), engine)
    assert unforced.abs().max().item() > 0.1


def ns_manufactured(nu, alpha):
    """Velocity from psi = sin(x) sin(2y) cos(t) + cos(2x) e^{-t}/2 and the vorticity
    forcing that makes it exact, derived symbolically (sympy, independent of the code)."""
    x, y, t = sp.symbols("x y t")
    psi = sp.sin(x) * sp.sin(2 * y) * sp.cos(t) + sp.cos(2 * x) * sp.exp(-t) / 2
    u, v = sp.diff(psi, y), -sp.diff(psi, x)
    w = sp.diff(v, x) - sp.diff(u, y)
    f = (
        sp.diff(w, t)
        + u * sp.diff(w, x)
        + v * sp.diff(w, y)
        - nu * (sp.diff(w, x, 2) + sp.diff(w, y, 2))
        + alpha * w
    )
    mods = [{"sin": torch.sin, "cos": torch.cos, "exp": torch.exp}, "math"]
    uv = sp.lambdify((x, y, t), [u, v], modules=mods)
    fn = sp.lambdify((x, y, t), f, modules=mods)

    def field(q):
        a, b = uv(q[:, 0], q[:, 1], q[:, 2])
        return torch.stack([a, b], 1)

    return field, lambda q: fn(q[:, 0], q[:, 1], q[:, 2])


@pytest.mark.parametrize("engine", ENGINES)
def test_navier_stokes_manufactured(engine, gen):
    nu, alpha = 0.05, 0.1
    field, forcing = ns_manufactured(nu, alpha)
    p = torch.rand(48, 3, generator=gen, dtype=torch.float64) * torch.tensor([6.2, 6.2, 1.0])
    r = RESIDUALS["navier_stokes_2d"](viscosity=nu, drag=alpha, forcing=forcing)(field, p, engine)
    assert r.shape == (48, 2)
    assert r.abs().max().item() < TOL
    r0 = RESIDUALS["navier_stokes_2d"](viscosity=nu, drag=alpha)(field, p, engine)
    assert r0[:, 0].abs().max().item() > 0.1


def test_navier_stokes_kolmogorov_laminar_flow_is_steady(gen):
    # u = A sin(k y) / (nu k^2 + alpha), v = 0 balances the solver's forcing -A k cos(k y)
    nu, alpha, kf, amp = 0.01, 0.1, 4, 1.0
    res = RESIDUALS["navier_stokes_2d"](
        viscosity=nu,
        drag=alpha,
        forcing="kolmogorov",
        forcing_wavenumber=kf,
        forcing_amplitude=amp,
    )
    k = float(kf)

    def field(q):
        u = amp * torch.sin(k * q[:, 1]) / (nu * k * k + alpha)
        return torch.stack([u, 0 * u], 1)

    p = torch.rand(32, 3, generator=gen, dtype=torch.float64) * 6.0
    assert res(field, p).abs().max().item() < TOL


def test_engines_agree_on_a_network_and_both_backpropagate(gen):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    net = net.double()
    p = points_xt(gen, n=10)
    needs = ["u", "u_t", "u_xx", "v_xt", "u_xxxx"]
    a = derivatives_autograd(net, p, needs, ("u", "v"), ("x", "t"))
    b = derivatives_func(net, p, needs, ("u", "v"), ("x", "t"))
    for n in needs:
        assert torch.allclose(a[n], b[n], atol=1e-12), n  # same maths, different AD modes
    grads = []
    for d in (a, b):
        net.zero_grad()
        sum(v.pow(2).sum() for v in d.values()).backward(retain_graph=True)
        grads.append(net[0].weight.grad.clone())
    assert torch.allclose(grads[0], grads[1], atol=1e-10)
