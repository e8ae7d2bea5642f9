"""PDE classes against closed forms, written against surviving mutants.

KS: the nonlinear term ``-(1/2) d/dx u^2`` of single cosines worked out by hand (with and
without the 2/3 rule, aliasing included), invariants of ``1 + cos``, constructor messages.
"""

import math

import pytest
import torch

from pdesurr.solvers import KuramotoSivashinsky
from pdesurr.solvers.pde import ParameterError


def ks_nonlinear(pde, u, batch=1):
    system = pde.system(torch.device("cpu"), torch.float64, batch)
    return pde.grid.irfft(system.nonlinear(pde.grid.rfft(u)))


@pytest.mark.parametrize("dealias", [True, False])
def test_ks_nonlinear_of_a_low_cosine(dealias):
    # u = cos(t), t = 2 pi x / L: -(1/2) (u^2)_x = (pi / L) sin(2 t), kept by the 2/3 rule
    length = 7.0
    pde = KuramotoSivashinsky(resolution=16, length=length, dealias=dealias)
    (x,) = pde.grid.coords()
    t = 2 * math.pi * x / length
    out = ks_nonlinear(pde, torch.cos(t).reshape(1, 1, -1))
    # FFT round trips of O(1) values: round-off
    assert torch.allclose(out[0, 0], (math.pi / length) * torch.sin(2 * t), atol=1e-13)


def test_ks_nonlinear_aliasing_with_and_without_the_two_thirds_rule():
    # u = cos(5 t) on N = 16: u^2 = (1 + cos 10 t) / 2. Mode 10 > N/2 aliases to mode 6 on
    # the grid, so undealiased -(1/2)(u^2)_x = (3 pi / L) sin(6 t); the 2/3 rule (cut
    # (16-1)//3 = 5) removes mode 10's alias and the mean has no derivative: N = 0
    length = 5.0
    (x,) = KuramotoSivashinsky(resolution=16, length=length).grid.coords()
    t = 2 * math.pi * x / length
    u = torch.cos(5 * t).reshape(1, 1, -1)
    aliased = ks_nonlinear(KuramotoSivashinsky(resolution=16, length=length, dealias=False), u)
    assert torch.allclose(aliased[0, 0], (3 * math.pi / length) * torch.sin(6 * t), atol=1e-13)
    clean = ks_nonlinear(KuramotoSivashinsky(resolution=16, length=length, dealias=True), u)
    assert clean.abs().max() < 1e-13


def test_ks_linear_symbol_per_sample_lengths():
    pde = KuramotoSivashinsky(resolution=8, length=[2 * math.pi, 4 * math.pi])
    lin = pde.system(torch.device("cpu"), torch.float64, 2).linear
    # k = n for L = 2 pi and n / 2 for L = 4 pi; L(k) = k^2 - k^4
    for b, scale in ((0, 1.0), (1, 0.5)):
        k = torch.arange(5, dtype=torch.float64) * scale
        assert torch.allclose(lin[b].flatten(), k**2 - k**4, rtol=1e-14, atol=1e-14)
    shared = KuramotoSivashinsky(resolution=8, length="2pi").system("cpu", torch.float64, 3)
    assert shared.linear.shape == (1, 1, 5)


def test_ks_parameters_grid_and_invariants():
    pde = KuramotoSivashinsky(resolution=8, length="2pi", dealias=False)
    assert pde.parameters() == {"resolution": 8, "length": 2 * math.pi, "dealias": False}
    assert pde.grid.shape == (8,) and pde.grid.length == (2 * math.pi,)
    assert [f.name for f in pde.fields] == ["u"]
    per = KuramotoSivashinsky(resolution=8, length=[60.0, 64.0])
    assert per.per_sample_length and per.grid.length == (1.0,)
    assert not pde.per_sample_length and pde.dealias is False
    assert KuramotoSivashinsky(resolution=8).dealias is True
    (x,) = pde.grid.coords()
    u = (1 + torch.cos(x)).reshape(1, 1, -1).expand(2, 1, -1)
    inv = pde.invariants(u)
    # <1 + cos> = 1; <(1 + cos)^2>/2 = (1 + 1/2)/2
    assert torch.allclose(inv["mean"], torch.ones(2, dtype=torch.float64), atol=1e-15)
    assert torch.allclose(inv["energy"], torch.full((2,), 0.75, dtype=torch.float64), atol=1e-15)
    k, e, labels = pde.energy_spectrum(u)
    assert labels == ["energy"]


@pytest.mark.parametrize(
    "kwargs,msg",
    [
        ({"resolution": 6}, r"^resolution: must be an even integer >= 8, got 6$"),
        ({"resolution": 9}, r"^resolution: must be an even integer >= 8, got 9$"),
        ({"resolution": 8.0}, r"^resolution: must be an even integer >= 8, got 8.0$"),
        ({"length": "abc"}, r"^length: expected a length"),
        ({"length": -2.0}, r"^length: must be > 0, got -2.0$"),
        ({"length": 0}, r"^length: must be > 0, got 0.0$"),
        ({"length": [60.0, -1.0]}, r"^length: length: must be > 0, got tensor\(\[60., -1.\]"),
        ({"length": [0.0, 1.0]}, r"^length: length: must be > 0"),
    ],
)
def test_ks_constructor_messages(kwargs, msg):
    with pytest.raises(ParameterError, match=msg):
        KuramotoSivashinsky(**kwargs)


def test_ks_initial_conditions_closed_form():
    pde = KuramotoSivashinsky(resolution=32, length="32pi")
    (x,) = pde.grid.coords()
    u = pde.initial_condition("kassam_trefethen", 2)
    want = torch.cos(x / 16) * (1 + torch.sin(x / 16))  # Kassam & Trefethen on L = 32 pi
    assert u.shape == (2, 1, 32) and torch.allclose(u[1, 0], want, atol=1e-15)
    assert u.dtype == torch.float64


def test_ks_random_sines_options():
    pde = KuramotoSivashinsky(resolution=32, length=10.0)
    gen = torch.Generator().manual_seed(4)
    # a single sine of mode 1: |A| <= amplitude, all power in mode 1
    u = pde.initial_condition("random_sines", 64, gen, n_sines=1, max_mode=1, amplitude=0.2)
    u_hat = pde.grid.rfft(u)
    assert u_hat[..., 2:].abs().max() < 1e-12 and u_hat[..., 0].abs().max() < 1e-12
    amp = u_hat[..., 1].abs() * 2 / 32  # |A| of A sin(t + phi)
    assert amp.max() <= 0.2 + 1e-12 and amp.max() > 0.15  # 64 draws of U(-0.2, 0.2)
    # modes up to max_mode = 3 all occur over many draws, none above
    v = pde.initial_condition("random_sines", 32, gen, n_sines=3, max_mode=3)
    power = pde.grid.rfft(v).abs().amax((0, 1))
    assert (power[1:4] > 1e-3).all() and power[4:].max() < 1e-10
    # the default amplitude 0.5 bounds each wave
    w = pde.initial_condition("random_sines", 16, gen, n_sines=1, max_mode=1)
    assert w.abs().max() <= 0.5 and w.abs().max() > 0.3
    for key in ("n_sines", "max_mode"):
        with pytest.raises(ParameterError, match=rf"^initial.{key}: must be >= 1$"):
            pde.initial_condition("random_sines", 1, gen, **{key: 0})


# --- Navier-Stokes ------------------------------------------------------------------------


def ns_fields(pde, a=0.7, b=-0.4):
    """psi = a sin x + b cos 2y on [0, 2 pi)^2, and what follows from it by hand:
    omega = -lap psi = a sin x + 4 b cos 2y, u = psi_y = -2 b sin 2y, v = -psi_x = -a cos x,
    u . grad omega = 6 a b cos x sin 2y."""
    y, x = pde.grid.meshgrid()
    omega = a * torch.sin(x) + 4 * b * torch.cos(2 * y)
    u, v = -2 * b * torch.sin(2 * y), -a * torch.cos(x)
    adv = 6 * a * b * torch.cos(x) * torch.sin(2 * y)
    return omega.reshape(1, 1, 16, 16), u, v, adv


@pytest.mark.parametrize("dealias", [True, False])
def test_ns_nonlinear_term_by_hand(dealias):
    from pdesurr.solvers import NavierStokes2D

    pde = NavierStokes2D(resolution=16, length="2pi", dealias=dealias)
    omega, u, v, adv = ns_fields(pde)
    n = pde.grid.irfft(pde.system("cpu", torch.float64, 1).nonlinear(pde.grid.rfft(omega)))
    # modes 1-3 only, all inside the 2/3 mask: FFT round-off
    assert torch.allclose(n[0, 0], -adv, atol=1e-13)
    vel = pde.velocity(omega)
    assert torch.allclose(vel[0, 0], u, atol=1e-14) and torch.allclose(vel[0, 1], v, atol=1e-14)


def test_ns_kolmogorov_forcing_and_linear_symbol():
    from pdesurr.solvers import NavierStokes2D

    amp = [1.5, 0.5]
    pde = NavierStokes2D(
        resolution=16,
        viscosity=[0.1, 0.2],
        drag=[0.0, 0.3],
        forcing="kolmogorov",
        forcing_wavenumber=2,
        forcing_amplitude=amp,
    )
    y, x = pde.grid.meshgrid()
    # velocity forcing (A sin 2y, 0) -> vorticity forcing -dFx/dy = -2 A cos 2y
    assert torch.allclose(pde.forcing_field(), -2 * torch.cos(2 * y), atol=1e-15)
    omega, _, _, adv = ns_fields(pde)
    system = pde.system("cpu", torch.float64, 2)
    n = pde.grid.irfft(system.nonlinear(pde.grid.rfft(omega.expand(2, 1, 16, 16))))
    for i, a in enumerate(amp):
        assert torch.allclose(n[i, 0], -adv - 2 * a * torch.cos(2 * y), atol=1e-13)
    # L = -nu |k|^2 - alpha, per trajectory; |k|^2 = ky^2 + kx^2 in mode numbers on 2 pi
    ky = torch.fft.fftfreq(16, 1 / 16, dtype=torch.float64).reshape(-1, 1)
    kx = torch.arange(9, dtype=torch.float64).reshape(1, -1)
    for i, (nu, alpha) in enumerate([(0.1, 0.0), (0.2, 0.3)]):
        want = -nu * (kx**2 + ky**2) - alpha
        assert torch.allclose(system.linear[i, 0], want, rtol=1e-14, atol=1e-14)
    assert NavierStokes2D(resolution=16).forcing_field().abs().max() == 0


def test_ns_invariants_and_spectrum_by_hand():
    from pdesurr.solvers import NavierStokes2D

    a, b = 0.7, -0.4
    pde = NavierStokes2D(resolution=16, length=2 * math.pi)
    omega, _, _, _ = ns_fields(pde, a, b)
    inv = pde.invariants(omega)
    # <u^2 + v^2>/2 = (4 b^2 + a^2)/4 and <omega^2>/2 = (a^2 + 16 b^2)/4
    assert float(inv["energy"][0]) == pytest.approx((4 * b * b + a * a) / 4, rel=1e-13)
    assert float(inv["enstrophy"][0]) == pytest.approx((a * a + 16 * b * b) / 4, rel=1e-13)
    k, e, labels = pde.energy_spectrum(omega)
    assert labels == ["kinetic energy"] and e.shape[:2] == (1, 1)
    # shell 1 holds v's energy a^2/4, shell 2 holds u's b^2
    assert float(e[0, 0, 1]) == pytest.approx(a * a / 4, rel=1e-12)
    assert float(e[0, 0, 2]) == pytest.approx(b * b, rel=1e-12)


# --- quasi-geostrophic ----------------------------------------------------------------------


def qg_case(psi1_kind):
    """A QG model with pyqg's F1 = 1/(rd^2 (1 + delta)), F2 = delta F1 written here, and PV
    q_n = lap psi_n + F_n (psi_m - psi_n) built from a hand-chosen streamfunction."""
    from pdesurr.solvers import QuasiGeostrophic

    L, rd, delta, beta, U1, U2, rek = 1e6, 4e4, 0.5, 1.2e-11, 0.03, -0.01, 2e-7
    pde = QuasiGeostrophic(nx=16, L=L, rd=rd, delta=delta, beta=beta, U1=U1, U2=U2, rek=rek)
    F1 = 1 / (rd**2 * (1 + delta))
    F2 = delta * F1
    qy1, qy2 = beta + F1 * (U1 - U2), beta - F2 * (U1 - U2)
    y, x = pde.grid.meshgrid()
    k, l = 2 * math.pi / L, 2 * 2 * math.pi / L  # modes (1, 2)
    a, b = 3e3, -2e3
    zero = torch.zeros_like(x)
    if psi1_kind == "upper":  # psi1 = a sin kx + b cos ly, psi2 = 0
        psi1, psi2 = a * torch.sin(k * x) + b * torch.cos(l * y), zero
        lap1, lap2 = -(k * k) * a * torch.sin(k * x) - (l * l) * b * torch.cos(l * y), zero
        psi1_x = a * k * torch.cos(k * x)
        # J(psi1, q1) = a b k l (l^2 - k^2) cos kx sin ly (the F1 psi1 part has no Jacobian)
        jac1 = a * b * k * l * (l * l - k * k) * torch.cos(k * x) * torch.sin(l * y)
        psi2_x, jac2 = zero, zero
    else:  # psi1 = 0, psi2 = a cos(kx + ly)
        psi1, psi2 = zero, a * torch.cos(k * x + l * y)
        lap1, lap2 = zero, -(k * k + l * l) * psi2
        psi1_x, jac1 = zero, zero
        psi2_x, jac2 = -a * k * torch.sin(k * x + l * y), zero
    q1 = lap1 + F1 * (psi2 - psi1)
    q2 = lap2 + F2 * (psi1 - psi2)
    q1_x = pde.grid.irfft(1j * pde.grid.wavenumbers()[1] * pde.grid.rfft(q1))
    q2_x = pde.grid.irfft(1j * pde.grid.wavenumbers()[1] * pde.grid.rfft(q2))
    rhs1 = -jac1 - U1 * q1_x - qy1 * psi1_x
    rhs2 = -jac2 - U2 * q2_x - qy2 * psi2_x - rek * lap2  # bottom drag -r_ek lap psi2
    return pde, torch.stack([q1, q2])[None], torch.stack([psi1, psi2])[None], (rhs1, rhs2)


@pytest.mark.parametrize("kind", ["upper", "lower"])
def test_qg_inversion_and_tendency_by_hand(kind):
    pde, q, psi, (rhs1, rhs2) = qg_case(kind)
    # zero-mean fields: the inversion returns psi exactly, up to round-off
    assert (pde.streamfunction(q) - psi).abs().max() <= 1e-10 * psi.abs().max()
    system = pde.system("cpu", torch.float64, 1)
    assert system.linear.abs().max() == 0  # everything explicit, as pyqg
    out = pde.grid.irfft(system.nonlinear(pde.grid.rfft(q)))[0]
    scale = max(rhs1.abs().max(), rhs2.abs().max())
    # FFT round-off relative to the largest term; a wrong F, Qy, U or drag is >= 1e-3 off
    assert (out[0] - rhs1).abs().max() <= 1e-9 * scale
    assert (out[1] - rhs2).abs().max() <= 1e-9 * scale


def test_qg_filter_formula():
    from pdesurr.solvers import QuasiGeostrophic

    pde = QuasiGeostrophic(nx=16, ny=8, L=2e6, W=1e6, filterfac=10.0)
    f = pde.filter()
    assert f.shape == (8, 9)
    ny = torch.fft.fftfreq(8, 1 / 8, dtype=torch.float64).reshape(-1, 1)
    nx = torch.arange(9, dtype=torch.float64).reshape(1, -1)
    # k dx = 2 pi n_x / N_x (dx = L / N_x), likewise for y
    wv = torch.sqrt((2 * math.pi * nx / 16) ** 2 + (2 * math.pi * ny / 8) ** 2)
    want = torch.where(wv <= 0.65 * math.pi, 1.0, torch.exp(-10.0 * (wv - 0.65 * math.pi) ** 4))
    assert torch.allclose(f, want, rtol=1e-13, atol=0)
    assert f[0, 0] == 1 and f.min() < 1e-3  # the corner is damped hard


def test_qg_invariants_by_hand():
    pde, q, psi, _ = qg_case("upper")
    inv = pde.invariants(q)
    a, b, k, l = 3e3, -2e3, 2 * math.pi / 1e6, 4 * math.pi / 1e6
    # KE_1 = <|grad psi1|^2>/2 = (a^2 k^2 + b^2 l^2)/4; psi2 = 0: KE_2 = 0
    # spectral derivatives of single modes: round-off only
    ke1 = (a * a * k * k + b * b * l * l) / 4
    assert float(inv["kinetic_energy_1"][0]) == pytest.approx(ke1, rel=1e-10)
    assert float(inv["kinetic_energy_2"][0]) == pytest.approx(0, abs=1e-20)
    # APE = <(psi1 - psi2)^2> / (2 rd^2) * delta / (1 + delta)^2, <psi1^2> = (a^2 + b^2)/2
    d = 0.5
    ape = (a * a + b * b) / 2 / (2 * 4e4**2) * d / (1 + d) ** 2
    assert float(inv["potential_energy"][0]) == pytest.approx(ape, rel=1e-10)
    for n in (0, 1):
        want = 0.5 * float((q[0, n] ** 2).mean())
        assert float(inv[f"potential_enstrophy_{n + 1}"][0]) == pytest.approx(want, rel=1e-12)
    k_, e, labels = pde.energy_spectrum(q)
    assert labels == ["upper layer KE", "lower layer KE"]
    assert float(e[0, 0].sum()) == pytest.approx(float(inv["kinetic_energy_1"][0]), rel=1e-10)


def test_ks_defaults_and_metadata():
    pde = KuramotoSivashinsky()
    assert pde.parameters() == {"resolution": 256, "length": 64.0, "dealias": True}
    assert pde.fields[0].long_name == "KS field u"
    assert KuramotoSivashinsky(resolution=8, length=0.5).length == 0.5  # any L > 0


def test_ks_random_sines_statistics_and_reproducibility():
    # u = sum_j A_j sin(l_j t + phi_j), A ~ U(-a, a) independent and zero-mean, so
    # E <u^2> = n_sines E[A^2] / 2 = n_sines a^2 / 6 (cross terms vanish in expectation)
    pde = KuramotoSivashinsky(resolution=32, length=10.0)
    u = pde.initial_condition("random_sines", 4000, torch.Generator().manual_seed(0))
    energy = float((u**2).mean())
    # defaults n_sines = 10, a = 0.5; the 4000-draw estimate has ~1.5 % standard error,
    # one sine more or less changes it by 10 %
    assert energy == pytest.approx(10 * 0.25 / 6, rel=0.05)
    assert pde.grid.rfft(u)[..., 3:].abs().max() < 1e-10  # default max_mode = 2
    one = pde.initial_condition(
        "random_sines", 4000, torch.Generator().manual_seed(1), n_sines=1, max_mode=1
    )
    amp = pde.grid.rfft(one)[..., 1].abs() * 2 / 32
    # |A| ~ U(0, a): mean a/2, and small amplitudes occur
    assert float(amp.mean()) == pytest.approx(0.25, rel=0.05) and float(amp.min()) < 0.01
    # the generator alone decides the draw
    a = pde.initial_condition("random_sines", 3, torch.Generator().manual_seed(5))
    b = pde.initial_condition("random_sines", 3, torch.Generator().manual_seed(5))
    c = pde.initial_condition("random_sines", 3, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_systems_are_built_on_the_requested_device():
    # "meta" stands in for CUDA: every symbol, mask and per-sample parameter must be put on
    # the requested device, or the nonlinear term would mix devices and fail
    from pdesurr.solvers import NavierStokes2D, QuasiGeostrophic

    meta = torch.device("meta")
    pdes = [
        KuramotoSivashinsky(resolution=8, length=[6.0, 7.0]),
        KuramotoSivashinsky(resolution=8, dealias=False),
        NavierStokes2D(
            resolution=8, viscosity=[0.1, 0.2], forcing="kolmogorov", forcing_wavenumber=2
        ),
        NavierStokes2D(resolution=8, forcing_wavenumber=2, dealias=False),
        QuasiGeostrophic(nx=8),
    ]
    for pde in pdes:
        system = pde.system(meta, torch.float64, 2)
        assert system.linear.device == meta and system.linear.dtype == torch.float64
        shape = (2, pde.channels, *pde.grid.spectral_shape)
        u_hat = torch.zeros(shape, dtype=torch.complex128, device=meta)
        assert system.nonlinear(u_hat).device == meta


def test_ks_per_sample_symbols_keep_float64():
    pde = KuramotoSivashinsky(resolution=8, length=[6.0, 7.0])
    assert pde.system("cpu", torch.float64, 2).linear.dtype == torch.float64


def test_ks_nonlinear_term_is_zero_on_the_nyquist_mode():
    # u = cos 2t on N = 8: u^2 has a Nyquist part (mode 4); its derivative is not
    # representable, so the spectral tendency must be exactly 0 there (not i k_N * ...)
    pde = KuramotoSivashinsky(resolution=8, length=2 * math.pi, dealias=False)
    (x,) = pde.grid.coords()
    u_hat = pde.grid.rfft(torch.cos(2 * x).reshape(1, 1, -1))
    n_hat = pde.system("cpu", torch.float64, 1).nonlinear(u_hat)
    assert n_hat[..., 4].abs().max() == 0


def test_ns_per_sample_parameters_on_device_and_shapes():
    from pdesurr.solvers import NavierStokes2D, QuasiGeostrophic

    meta = torch.device("meta")
    pde = NavierStokes2D(
        resolution=8,
        viscosity=[0.1, 0.2],
        drag=[0.1, 0.3],
        forcing="kolmogorov",
        forcing_wavenumber=2,
        forcing_amplitude=[1.0, 2.0],
    )
    system = pde.system(meta, torch.float64, 2)
    out = system.nonlinear(torch.zeros(2, 1, 8, 5, dtype=torch.complex128, device=meta))
    assert out.device == meta and out.shape == (2, 1, 8, 5)  # one tendency per trajectory
    assert pde.velocity(torch.zeros(2, 1, 8, 8, device=meta)).device == meta
    qg = QuasiGeostrophic(nx=8)
    assert qg.streamfunction(torch.zeros(1, 2, 8, 8, device=meta)).device == meta
    # shared parameters: L is (1, 1, Ny, Kx) like every other PDE's
    shared = NavierStokes2D(resolution=8, forcing_wavenumber=2).system("cpu", torch.float64, 3)
    assert shared.linear.shape == (1, 1, 8, 5)


def test_ns_without_dealiasing_keeps_aliased_modes_but_zeroes_nyquist():
    from pdesurr.solvers import NavierStokes2D
    from pdesurr.spectral import dealias_mask

    gen = torch.Generator().manual_seed(2)
    w = torch.randn(1, 1, 8, 8, generator=gen, dtype=torch.float64)
    raw = NavierStokes2D(resolution=8, forcing_wavenumber=2, dealias=False)
    n_hat = raw.system("cpu", torch.float64, 1).nonlinear(raw.grid.rfft(w))
    # d/dx is zero on the x-Nyquist column and d/dy on the y-Nyquist row, so the
    # divergence of the flux vanishes where both meet (the product itself does not)
    assert n_hat[0, 0, 4, 4] == 0 and n_hat[0, 0, 4, 3] != 0 and n_hat[0, 0, 3, 4] != 0
    # no 2/3 rule: modes outside the mask are filled by the full-band product
    outside = ~dealias_mask(raw.grid)
    assert n_hat[0, 0][outside].abs().max() > 1e-3
    clean = NavierStokes2D(resolution=8, forcing_wavenumber=2, dealias=True)
    c_hat = clean.system("cpu", torch.float64, 1).nonlinear(clean.grid.rfft(w))
    assert c_hat[0, 0][outside].abs().max() == 0


def test_ns_float32_state_gets_float32_symbols():
    # per-sample nu, alpha, A are stored in float64: they must follow the state's precision
    from pdesurr.solvers import NavierStokes2D

    pde = NavierStokes2D(
        resolution=8,
        viscosity=[0.1, 0.2],
        drag=[0.1, 0.3],
        forcing="kolmogorov",
        forcing_wavenumber=2,
        forcing_amplitude=[1.0, 2.0],
    )
    system = pde.system("cpu", torch.float32, 2)
    assert system.linear.dtype == torch.float32
    out = system.nonlinear(torch.zeros(2, 1, 8, 5, dtype=torch.complex64))
    assert out.dtype == torch.complex64


def test_qg_mean_mode_shapes_and_filter_device():
    from pdesurr.solvers import QuasiGeostrophic, Stepper

    pde, q, psi, _ = qg_case("upper")
    # a uniform PV offset has no streamfunction: the mean of psi is fixed to 0
    shifted = pde.streamfunction(q + 1e-5)
    assert (shifted - psi).abs().max() <= 1e-10 * psi.abs().max()
    system = pde.system("cpu", torch.float64, 1)
    out = system.nonlinear(pde.grid.rfft(q))
    assert out.shape == (1, 2, 16, 9)  # one tendency per trajectory and layer
    assert Stepper(pde, "ab3", 3600.0).step(q, 2).shape == q.shape
    meta = QuasiGeostrophic(nx=8).system(torch.device("meta"), torch.float64, 1)
    assert meta.filter.device == torch.device("meta")


def test_ks_random_sines_phases_are_uniform():
    # phi ~ U(0, 2 pi): the phase of mode 1's coefficient fills all four quadrants evenly
    pde = KuramotoSivashinsky(resolution=16, length=3.0)
    u = pde.initial_condition(
        "random_sines", 4000, torch.Generator().manual_seed(3), n_sines=1, max_mode=1
    )
    angle = torch.angle(pde.grid.rfft(u)[:, 0, 1])
    quadrant = torch.floor((angle + math.pi) / (math.pi / 2)).clamp(0, 3)
    share = torch.bincount(quadrant.long(), minlength=4).double() / 4000
    # 4000 draws: each share is 0.25 with a standard error of 0.007
    assert torch.allclose(share, torch.full((4,), 0.25, dtype=torch.float64), atol=0.04)


def test_ks_float32_per_sample_symbols():
    pde = KuramotoSivashinsky(resolution=8, length=[6.0, 7.0])
    assert pde.system("cpu", torch.float32, 2).linear.dtype == torch.float32


def test_qg_inversion_is_zero_on_the_mean_mode():
    # psi's mean is free and fixed to 0: all four coefficients vanish at kappa = 0 (a wrong
    # placeholder there is invisible in psi itself, being ~F * q_mean ~ 1e-10 of it)
    from pdesurr.solvers import QuasiGeostrophic

    a = QuasiGeostrophic(nx=8).inversion_matrix()
    assert a.shape == (2, 2, 8, 5) and torch.equal(a[:, :, 0, 0], torch.zeros(2, 2, dtype=a.dtype))


# --- Navier-Stokes: constructor, parameters and initial conditions --------------------------


@pytest.mark.parametrize(
    "kwargs,msg",
    [
        ({"forcing": "gravity"}, "forcing: must be one of ('none', 'kolmogorov'), got 'gravity'"),
        ({"resolution": 32, "forcing_wavenumber": 16}, "must be an integer in [1, resolution/2)"),
        ({"resolution": 32, "forcing_wavenumber": 0}, "forcing_wavenumber: must be an integer"),
        ({"resolution": 32, "forcing_wavenumber": 2.0}, "resolution/2), got 2.0"),
        (
            {"resolution": 6, "forcing_wavenumber": 2},
            "resolution: must be an even integer >= 8, got 6",
        ),
        ({"resolution": 34.0, "forcing_wavenumber": 2}, "resolution: must be an even integer"),
        ({"resolution": 33}, "resolution: must be an even integer >= 8, got 33"),
        ({"length": "two pi"}, "length: expected a length (a number or a multiple of pi"),
        ({"length": -1.0}, "length: must be > 0, got -1.0"),
        ({"length": 0}, "length: must be > 0, got 0"),
    ],
)
def test_ns_constructor_messages(kwargs, msg):
    from pdesurr.solvers import NavierStokes2D

    with pytest.raises(ParameterError) as info:
        NavierStokes2D(**kwargs)
    assert msg in str(info.value) and str(info.value).split(":")[0] == info.value.key
    assert info.value.__cause__ is None


def test_ns_boundary_arguments_and_parameters():
    from pdesurr.solvers import NavierStokes2D

    NavierStokes2D(resolution=8, forcing_wavenumber=3)  # the smallest grid, k_f < N/2
    NavierStokes2D(resolution=32, forcing_wavenumber=15)
    NavierStokes2D(resolution=32, forcing_wavenumber=1)
    pde = NavierStokes2D(
        resolution=16,
        length="4pi",
        viscosity=0.02,
        drag=0.1,
        forcing="kolmogorov",
        forcing_wavenumber=3,
        forcing_amplitude=2.5,
        dealias=0,
    )
    assert pde.parameters() == {
        "resolution": 16,
        "length": 4 * math.pi,
        "viscosity": 0.02,
        "drag": 0.1,
        "forcing": "kolmogorov",
        "forcing_wavenumber": 3,
        "forcing_amplitude": 2.5,
        "dealias": False,
    }
    assert pde.dealias is False and pde.name == "navier_stokes_2d"
    assert pde.grid.shape == (16, 16) and pde.grid.length == (4 * math.pi, 4 * math.pi)
    assert [f.name for f in pde.fields] == ["vorticity"] and pde.channels == 1
    assert pde.fields[0].long_name == "relative vorticity" and pde.fields[0].units == "1/time"
    defaults = NavierStokes2D().parameters()
    assert defaults == {
        "resolution": 128,
        "length": 2 * math.pi,
        "viscosity": 1e-3,
        "drag": 0.0,
        "forcing": "none",
        "forcing_wavenumber": 4,
        "forcing_amplitude": 1.0,
        "dealias": True,
    }
    per = NavierStokes2D(resolution=8, forcing_wavenumber=1, viscosity=[0.1, 0.2], drag=[0, 1])
    assert per.viscosity.tolist() == [0.1, 0.2] and per.drag.tolist() == [0.0, 1.0]
    amp = NavierStokes2D(resolution=8, forcing_wavenumber=1, forcing_amplitude=[1, -2])
    assert amp.forcing_amplitude.tolist() == [1.0, -2.0]
    with pytest.raises(ParameterError, match="viscosity"):
        NavierStokes2D(viscosity=[0.1, -0.1])
    with pytest.raises(ParameterError, match="drag"):
        NavierStokes2D(drag=[0.1, -0.1])


def test_ns_taylor_green_and_laminar_closed_forms():
    from pdesurr.solvers import NavierStokes2D

    n, side = 16, 3.0
    pde = NavierStokes2D(
        resolution=n,
        length=side,
        viscosity=[0.1, 0.2],
        drag=[0.05, 0.0],
        forcing="kolmogorov",
        forcing_wavenumber=2,
        forcing_amplitude=[1.0, -3.0],
    )
    assert sorted(pde.initial_conditions()) == ["laminar", "random", "taylor_green"]
    c = torch.arange(n, dtype=torch.float64) * side / n
    y, x = c.reshape(-1, 1), c.reshape(1, -1)  # y on axis -2, x on the last axis
    k = 2 * math.pi * 3 / side
    w = pde.initial_condition("taylor_green", 2, wavenumber=3, amplitude=0.5)
    assert w.shape == (2, 1, n, n) and w.dtype == torch.float64
    want = 0.5 * 2 * k * torch.sin(k * x) * torch.sin(k * y)
    assert torch.allclose(w[1, 0], want, atol=1e-14)  # closed form: round-off only
    w[0] += 1  # a real batch, not a view of one field
    assert torch.allclose(w[1, 0], want, atol=1e-14)
    k1 = 2 * math.pi * 1 / side
    default = pde.initial_condition("taylor_green", 1)
    assert torch.allclose(default[0, 0], 2 * k1 * torch.sin(k1 * x) * torch.sin(k1 * y))

    lam = pde.initial_condition("laminar", 2)
    kf = 2 * math.pi * 2 / side
    for i, (nu, alpha, a) in enumerate([(0.1, 0.05, 1.0), (0.2, 0.0, -3.0)]):
        # omega = A f / (nu k_f^2 + alpha), f = -k_f cos(k_f y): the steady laminar flow
        want = a * (-kf * torch.cos(kf * y)) / (nu * kf * kf + alpha) * torch.ones(n, n)
        assert torch.allclose(lam[i, 0], want, rtol=1e-13, atol=1e-13)
    lam[0] += 1
    assert not torch.allclose(lam[0], lam[1])

    drag_only = NavierStokes2D(
        resolution=8, forcing="kolmogorov", forcing_wavenumber=1, viscosity=0.0, drag=0.5
    )
    drag_only.initial_condition("laminar", 1)  # nu = 0 is fine with drag > 0
    still = NavierStokes2D(resolution=8, forcing="kolmogorov", forcing_wavenumber=1, viscosity=0)
    with pytest.raises(ParameterError) as info:
        still.initial_condition("laminar", 1)
    assert str(info.value) == "viscosity: laminar flow needs nu or drag > 0"
    with pytest.raises(ParameterError) as info:
        NavierStokes2D(resolution=8, forcing_wavenumber=1).initial_condition("laminar", 1)
    assert str(info.value) == "initial.kind: laminar needs kolmogorov forcing"


@pytest.mark.parametrize("side", [2 * math.pi, 1.0])
def test_ns_random_field_is_the_filtered_spectrum(side):
    """w_hat = FFT(noise) sqrt(k E(k)), E(k) = k^4 exp(-2 (k/k_p)^2) in mode numbers, cut by
    the 2/3 rule, then scaled: rebuilt here from the same normal draws with NumPy's FFT."""
    import numpy as np

    from pdesurr.solvers import NavierStokes2D

    n, kp = 24, 3.0
    pde = NavierStokes2D(resolution=n, length=side)
    w = pde.initial_condition("random", 2, torch.Generator().manual_seed(5), peak_wavenumber=kp)
    noise = torch.randn(2, 1, n, n, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    m = np.fft.fftfreq(n, 1 / n)
    my, mx = m.reshape(-1, 1), np.abs(m).reshape(1, -1)
    kmag = np.sqrt(mx**2 + my**2)
    amp = np.sqrt(kmag**4 * np.exp(-2 * (kmag / kp) ** 2) * kmag)
    keep = (np.abs(my) <= (n - 1) // 3) & (mx <= (n - 1) // 3)  # the 2/3 rule, square
    want = np.fft.ifft2(np.fft.fft2(noise.numpy()) * amp * keep).real
    got = w.numpy()
    for i in range(2):  # equal up to the energy scaling, which the next lines check
        scale = np.sum(got[i] * want[i]) / np.sum(want[i] ** 2)
        assert np.allclose(got[i], scale * want[i], atol=1e-12 * np.abs(got[i]).max())
        assert scale > 0
    # default energy 0.5: <u^2 + v^2>/2 from the velocity of the field
    assert torch.allclose(pde.invariants(w)["energy"], torch.full((2,), 0.5, dtype=torch.float64))
    again = pde.initial_condition("random", 2, torch.Generator().manual_seed(5), peak_wavenumber=kp)
    assert torch.equal(w, again)
    for key, opts in [("peak_wavenumber", {"peak_wavenumber": 0.0}), ("energy", {"energy": 0})]:
        with pytest.raises(ParameterError) as info:
            pde.initial_condition("random", 1, torch.Generator(), **opts)
        assert str(info.value) == f"initial.{key}: must be > 0"
    small = pde.initial_condition("random", 1, torch.Generator(), peak_wavenumber=0.5, energy=1e-9)
    assert torch.isfinite(small).all()


def test_ns_random_default_peak_is_four():
    from pdesurr.solvers import NavierStokes2D

    pde = NavierStokes2D(resolution=16)
    a = pde.initial_condition("random", 1, torch.Generator().manual_seed(1))
    b = pde.initial_condition("random", 1, torch.Generator().manual_seed(1), peak_wavenumber=4.0)
    c = pde.initial_condition("random", 1, torch.Generator().manual_seed(1), peak_wavenumber=5.0)
    assert torch.equal(a, b) and not torch.allclose(a, c)


# --- quasi-geostrophic: constructor, parameters, velocity and initial conditions ------------


@pytest.mark.parametrize(
    "kwargs,msg",
    [
        ({"nx": 6}, "nx: must be an even integer >= 8, got 6"),
        ({"nx": 9}, "nx: must be an even integer >= 8, got 9"),
        ({"nx": 16.0}, "nx: must be an even integer >= 8, got 16.0"),
        ({"nx": 8, "ny": 7}, "ny: must be an even integer >= 8, got 7"),
        ({"nx": 8, "ny": 6}, "ny: must be an even integer >= 8, got 6"),
        ({"L": 0}, "L: must be > 0, got 0"),
        ({"W": -1.0}, "W: must be > 0, got -1.0"),
        ({"rd": 0.0}, "rd: must be > 0, got 0.0"),
        ({"delta": 0}, "delta: must be > 0, got 0"),
        ({"H1": -5}, "H1: must be > 0, got -5"),
        ({"rek": -1e-7}, "rek: must be >= 0, got -1e-07"),
        ({"filterfac": -1}, "filterfac: must be >= 0, got -1"),
    ],
)
def test_qg_constructor_messages(kwargs, msg):
    from pdesurr.solvers import QuasiGeostrophic

    with pytest.raises(ParameterError) as info:
        QuasiGeostrophic(**kwargs)
    assert str(info.value) == msg


def test_qg_parameters_defaults_and_grid():
    from pdesurr.solvers import QuasiGeostrophic

    # pyqg 0.7's QGModel defaults, written out
    assert QuasiGeostrophic().parameters() == {
        "nx": 64,
        "ny": 64,
        "L": 1e6,
        "W": 1e6,
        "beta": 1.5e-11,
        "rd": 15000.0,
        "delta": 0.25,
        "H1": 500.0,
        "U1": 0.025,
        "U2": 0.0,
        "rek": 5.787e-7,
        "filterfac": 23.6,
    }
    QuasiGeostrophic(nx=8, rek=0, filterfac=0)  # the boundaries are allowed
    p = dict(nx=16, ny=8, L=2e6, W=5e5, beta=1e-11, rd=2e4, delta=0.5, H1=800.0)
    p.update(U1=0.04, U2=-0.02, rek=1e-7, filterfac=12.0)
    pde = QuasiGeostrophic(**p)
    assert pde.parameters() == {k: float(v) if k not in ("nx", "ny") else v for k, v in p.items()}
    assert all(type(v) is float for k, v in pde.parameters().items() if k not in ("nx", "ny"))
    assert pde.grid.shape == (8, 16) and pde.grid.length == (5e5, 2e6)
    y, x = pde.grid.meshgrid()
    # pyqg's points sit at cell centres: (i + 1/2) dx
    assert torch.allclose(x[0], (torch.arange(16, dtype=torch.float64) + 0.5) * 2e6 / 16)
    assert torch.allclose(y[:, 0], (torch.arange(8, dtype=torch.float64) + 0.5) * 5e5 / 8)
    assert QuasiGeostrophic(nx=8, L=3e5).grid.length == (3e5, 3e5)  # W defaults to L
    (field,) = pde.fields
    assert (field.name, field.channels, field.dims) == ("q", 2, ("layer",))
    assert field.long_name == "potential vorticity anomaly" and field.units == "1/s"
    assert pde.channels == 2 and pde.name == "quasi_geostrophic"


@pytest.mark.parametrize("kind", ["upper", "lower"])
def test_qg_velocity_signs_and_spectrum_per_layer(kind):
    pde, q, psi, _ = qg_case(kind)
    y, x = pde.grid.meshgrid()
    a, b, k, l = 3e3, -2e3, 2 * math.pi / 1e6, 4 * math.pi / 1e6
    vel = pde.velocity(q)
    assert vel.shape == (1, 2, 2, 16, 16)
    zero = torch.zeros_like(x)
    if kind == "upper":  # psi1 = a sin kx + b cos ly: u = -psi_y, v = psi_x
        want = [[b * l * torch.sin(l * y), a * k * torch.cos(k * x)], [zero, zero]]
    else:  # psi2 = a cos(kx + ly)
        s = torch.sin(k * x + l * y)
        want = [[zero, zero], [a * l * s, -a * k * s]]
    scale = a * l
    for n in range(2):
        for c in range(2):
            # spectral derivatives of single modes: round-off only
            assert torch.allclose(vel[0, n, c], want[n][c], atol=1e-10 * scale), (n, c)
    _, e, _ = pde.energy_spectrum(q)
    inv = pde.invariants(q)
    assert e.shape[:2] == (1, 2)
    for n in range(2):
        ke = float(inv[f"kinetic_energy_{n + 1}"][0])
        assert float(e[0, n].sum()) == pytest.approx(ke, rel=1e-10, abs=1e-20)


def test_qg_pyqg_default_initial_condition():
    from pdesurr.solvers import QuasiGeostrophic

    pde = QuasiGeostrophic(nx=16, ny=8)
    assert sorted(pde.initial_conditions()) == ["baroclinic_mode", "pyqg_default"]
    q = pde.initial_condition("pyqg_default", 3, torch.Generator().manual_seed(2))
    g = torch.Generator().manual_seed(2)
    r2 = torch.rand(3, 8, 16, generator=g, dtype=torch.float64)
    r1 = torch.rand(3, 1, 16, generator=g, dtype=torch.float64)
    # pyqg: q1 = 1e-7 r(y, x) + 1e-6 r(x), q2 = 0
    assert q.shape == (3, 2, 8, 16) and q.dtype == torch.float64
    assert torch.allclose(q[:, 0], 1e-7 * r2 + 1e-6 * r1, rtol=1e-15, atol=0)
    assert torch.equal(q[:, 1], torch.zeros(3, 8, 16, dtype=torch.float64))


def qg_fastest_mode(p: dict, k: float, l: float) -> complex:
    """q2 / q1 of the fastest-growing Phillips mode, from pyqg's formulas written out:
    sigma solves det(sigma P + B) = 0 (P: q_hat = P psi_hat), and psi is its null vector."""
    import cmath

    f1 = 1.0 / (p["rd"] ** 2 * (1.0 + p["delta"]))
    f2 = p["delta"] * f1
    shear = p["U1"] - p["U2"]
    qy = (p["beta"] + f1 * shear, p["beta"] - f2 * shear)
    kk = k * k + l * l
    P = [[-kk - f1, f1], [f2, -kk - f2]]
    U, R = (p["U1"], p["U2"]), (0.0, p["rek"] * kk)
    B = [[1j * k * (U[i] * P[i][j] + (qy[i] if i == j else 0.0)) for j in range(2)] for i in (0, 1)]
    B[1][1] -= R[1]
    qa = P[0][0] * P[1][1] - P[0][1] * P[1][0]
    qb = P[0][0] * B[1][1] + B[0][0] * P[1][1] - P[0][1] * B[1][0] - B[0][1] * P[1][0]
    qc = B[0][0] * B[1][1] - B[0][1] * B[1][0]
    disc = cmath.sqrt(qb * qb - 4 * qa * qc)
    sigma = max([(-qb + disc) / (2 * qa), (-qb - disc) / (2 * qa)], key=lambda s: s.real)
    row = [sigma * P[0][0] + B[0][0], sigma * P[0][1] + B[0][1]]
    psi = (row[1], -row[0])  # orthogonal to the first row of the singular matrix
    q1 = P[0][0] * psi[0] + P[0][1] * psi[1]
    q2 = P[1][0] * psi[0] + P[1][1] * psi[1]
    return q2 / q1


@pytest.mark.parametrize("mode", [(3, 1), (4, 0)])
def test_qg_baroclinic_mode_is_the_fastest_phillips_mode(mode):
    from pdesurr.solvers import QuasiGeostrophic

    p = dict(beta=1e-11, rd=2e4, delta=0.5, U1=0.04, U2=-0.01, rek=2e-7)
    L, W = 1e6, 2e6
    pde = QuasiGeostrophic(nx=16, ny=16, L=L, W=W, **p)
    opts = {"mode_x": mode[0], "mode_y": mode[1], "amplitude": 3e-6}
    if mode == (4, 0):
        opts = {"amplitude": 3e-6}  # the defaults are mode (4, 0)
    q = pde.initial_condition("baroclinic_mode", 2, None, **opts)
    k, l = 2 * math.pi * mode[0] / L, 2 * math.pi * mode[1] / W
    ratio = qg_fastest_mode(p, k, l)
    y, x = pde.grid.meshgrid()
    theta = k * x + l * y
    # q1 = A cos(theta), q2 = A Re(r e^{i theta}): a closed form, round-off only
    assert torch.allclose(q[1, 0], 3e-6 * torch.cos(theta), atol=1e-12 * 3e-6)
    want2 = 3e-6 * (ratio.real * torch.cos(theta) - ratio.imag * torch.sin(theta))
    assert torch.allclose(q[1, 1], want2, atol=1e-9 * 3e-6)
    assert q.shape == (2, 2, 16, 16)
    q[0] += 1  # a real batch, not views of one field
    assert torch.allclose(q[1, 0], 3e-6 * torch.cos(theta), atol=1e-12 * 3e-6)
    default = pde.initial_condition("baroclinic_mode", 1)
    kd = 2 * math.pi * 4 / L  # defaults: mode (4, 0), amplitude 1e-7
    assert torch.allclose(default[0, 0], 1e-7 * torch.cos(kd * x), atol=1e-12 * 1e-7)


@pytest.mark.parametrize(
    "kwargs,key",
    [
        ({"viscosity": "thin"}, "viscosity"),
        ({"drag": [0.1, float("nan")]}, "drag"),
        ({"forcing_amplitude": "big"}, "forcing_amplitude"),
        ({"forcing_amplitude": float("inf")}, "forcing_amplitude"),
        # an odd grid: k_f = 16 is not below 33 // 2 = 16, refused before the grid is
        ({"resolution": 33, "forcing_wavenumber": 16}, "forcing_wavenumber"),
    ],
)
def test_ns_per_sample_errors_name_their_key(kwargs, key):
    from pdesurr.solvers import NavierStokes2D

    with pytest.raises(ParameterError) as info:
        NavierStokes2D(**kwargs)
    assert info.value.key == key


def test_ns_laminar_keeps_a_scalar_amplitude_in_float64():
    from pdesurr.solvers import NavierStokes2D

    side, a, nu = 2 * math.pi, 0.1, 0.3  # 0.1 is not a float32 number
    pde = NavierStokes2D(
        resolution=8, forcing="kolmogorov", forcing_wavenumber=1, forcing_amplitude=a, viscosity=nu
    )
    w = pde.initial_condition("laminar", 1)
    y = (torch.arange(8, dtype=torch.float64) * side / 8).reshape(-1, 1)
    want = a * -torch.cos(y) / nu * torch.ones(8, 8)  # k_f = 1 on 2 pi
    # float64 throughout: a float32 amplitude would be off by ~1e-8 relative
    assert torch.allclose(w[0, 0], want, rtol=1e-14, atol=1e-15)


def test_qg_invariants_of_two_layers_in_closed_form():
    """psi_n = c_n cos(kx + ly) in both layers, q built from pyqg's PV formula written here:
    KE_n = c_n^2 K / 4, APE = (c_1 - c_2)^2 / 2 / (2 rd^2) delta / (1 + delta)^2,
    enstrophy_n = <q_n^2> / 2 = q_amp_n^2 / 4."""
    from pdesurr.solvers import QuasiGeostrophic

    L, rd, delta = 1e6, 3e4, 0.4
    pde = QuasiGeostrophic(nx=16, ny=16, L=L, rd=rd, delta=delta)
    f1 = 1 / (rd**2 * (1 + delta))
    f2 = delta * f1
    k, l = 2 * math.pi * 2 / L, 2 * math.pi * 1 / L
    kk = k * k + l * l
    c1, c2 = 5e3, -2e3
    y, x = pde.grid.meshgrid()
    phase = torch.cos(k * x + l * y)
    qa1, qa2 = -kk * c1 + f1 * (c2 - c1), -kk * c2 + f2 * (c1 - c2)
    q = torch.stack([qa1 * phase, qa2 * phase])[None] * 1e4  # O(1e-3) PV
    c1, c2, qa1, qa2 = c1 * 1e4, c2 * 1e4, qa1 * 1e4, qa2 * 1e4
    inv = pde.invariants(q)
    # single Fourier modes: round-off only
    assert float(inv["kinetic_energy_1"][0]) == pytest.approx(c1 * c1 * kk / 4, rel=1e-10, abs=0)
    assert float(inv["kinetic_energy_2"][0]) == pytest.approx(c2 * c2 * kk / 4, rel=1e-10, abs=0)
    ape = (c1 - c2) ** 2 / 2 / (2 * rd**2) * delta / (1 + delta) ** 2
    assert float(inv["potential_energy"][0]) == pytest.approx(ape, rel=1e-10, abs=0)
    ens1, ens2 = qa1 * qa1 / 4, qa2 * qa2 / 4
    assert float(inv["potential_enstrophy_1"][0]) == pytest.approx(ens1, rel=1e-12, abs=0)
    assert float(inv["potential_enstrophy_2"][0]) == pytest.approx(ens2, rel=1e-12, abs=0)
    assert all(v.shape == (1,) for v in inv.values())
    wn, e, labels = pde.energy_spectrum(q)
    assert e.shape == (1, 2, len(wn)) and len(labels) == 2
    assert float(e[0, 0].sum()) == pytest.approx(c1 * c1 * kk / 4, rel=1e-10, abs=0)


def test_qg_velocity_on_the_input_device():
    from pdesurr.solvers import QuasiGeostrophic

    q = torch.zeros(1, 2, 8, 8, dtype=torch.float64, device="meta")
    vel = QuasiGeostrophic(nx=8).velocity(q)  # "meta" stands in for CUDA: no data needed
    assert vel.device == q.device and vel.shape == (1, 2, 2, 8, 8)
