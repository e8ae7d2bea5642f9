"""PDE-Refiner: noise schedule, objective, wrapper over every grid backbone, training,
resume, reproducible batch-independent rollouts."""

import math

import numpy as np
import pytest
import torch

from pdesurr.checkpoints.readers import load_surrogate
from pdesurr.checkpoints.surrogate import Surrogate
from pdesurr.config import ConfigError
from pdesurr.data.generate import generate
from pdesurr.data.spec import DatasetSpec
from pdesurr.data.store import open_store
from pdesurr.evaluation.evaluate import evaluate
from pdesurr.evaluation.plot_refinement_spectra import refinement_spectra, write_refinement_spectra
from pdesurr.evaluation.reference import solver_step
from pdesurr.evaluation.rollout import persistence, rollout
from pdesurr.models import MODELS
from pdesurr.models.noise_schedule import NoiseSchedule
from pdesurr.models.refiner import Refiner, StepNoise
from pdesurr.training.fit import fit
from pdesurr.training.recipe import Recipe

SIGMA = 4e-7
TINY = {
    "unet": dict(
        hidden=8, channel_mults=[1, 2], blocks_per_level=1, norm_groups=2, cond_embedding_dim=16
    ),
    "fno": dict(modes=6, width=12, layers=2),
    "lsm": dict(
        hidden=8, levels=2, num_token=4, num_basis=6, patch_size=2, heads=2, projection_hidden=16
    ),
}


def released_std(k_levels: int, sigma: float) -> list[float]:
    """Noise std per level t = K..0 of the released code, from its formula: betas
    sigma^(j/K) listed for j = K..0, abar_t = prod_{j<=t} (1 - beta_j), std = sqrt(1 - abar)."""
    betas = [sigma ** (j / k_levels) for j in reversed(range(k_levels + 1))]
    abar, out = 1.0, []
    for b in betas:
        abar *= 1 - b
        out.append(math.sqrt(1 - abar))
    return out[::-1]


def test_released_schedule_matches_the_published_stds():
    s = NoiseSchedule(3, SIGMA, "ddpm_variance")
    expected = released_std(3, SIGMA)
    # float64 evaluation of the same closed form: agreement to round-off
    assert s.noise.flip(0).tolist() == pytest.approx(expected, rel=1e-9)
    # the printed values (1, 0.0862, 7.40e-3, 6.32e-4) carry 3 significant digits
    assert expected == pytest.approx([1.0, 0.0862, 7.40e-3, 6.32e-4], rel=3e-3)
    assert (s.signal**2 + s.noise**2).tolist() == pytest.approx([1.0] * 4, rel=1e-12)


def test_paper_std_schedule():
    s = NoiseSchedule(3, SIGMA, "paper_std")
    expected = [1.0] + [SIGMA ** (k / 3) for k in (1, 2, 3)]  # std of refinement step k
    assert s.noise.flip(0).tolist() == pytest.approx(expected, rel=1e-12)
    # the paper's text: 7.4e-3, 5.4e-5, 4e-7, two significant digits
    assert expected[1:] == pytest.approx([7.4e-3, 5.4e-5, 4e-7], rel=1e-2)


@pytest.mark.parametrize("kind", ["ddpm_variance", "paper_std"])
def test_posterior_step_keeps_the_marginals(kind):
    """With the true velocity, the DDPM posterior maps y_t ~ q(y_t | z) to a sample of
    q(y_{t-1} | z) = N(sqrt(abar_{t-1}) z, (1 - abar_{t-1}) I)."""
    s = NoiseSchedule(3, SIGMA, kind)
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(1, 1, 16, dtype=torch.float64, generator=gen).expand(20_000, 1, 16)
    for t in range(3, 0, -1):
        eps = torch.randn(z.shape, dtype=torch.float64, generator=gen)
        y_t = s.add_noise(z, eps, t)
        fresh = torch.randn(z.shape, dtype=torch.float64, generator=gen)
        prev = s.posterior(y_t, s.velocity(z, eps, t), t, fresh)
        resid = (prev - s.signal[t - 1] * z) / s.noise[t - 1]
        # 320k standard-normal draws: mean within ~5e-3, variance within ~1e-2 (5 sigma)
        assert abs(float(resid.mean())) < 1e-2 and float(resid.var()) == pytest.approx(1, abs=2e-2)
    eps = torch.randn(z.shape, dtype=torch.float64, generator=gen)
    last = s.posterior(s.add_noise(z, eps, 0), s.velocity(z, eps, 0), 0, None)
    assert torch.allclose(last, z, atol=1e-12)  # t = 0 returns the clean estimate, no noise


def small_refiner(ndim=1, backbone="unet", cond_dim=0, **kw):
    torch.manual_seed(0)
    return Refiner(2, 1, ndim, cond_dim, backbone=backbone, backbone_options=TINY[backbone], **kw)


def test_pure_noise_level_is_one_step_prediction():
    model = small_refiner(cond_dim=1)
    gen = torch.Generator().manual_seed(1)
    x, out = torch.randn(4, 2, 32, generator=gen), torch.randn(4, 1, 32, generator=gen)
    eps, cond = torch.randn(4, 1, 32, generator=gen), torch.rand(4, 1, generator=gen)
    t = torch.full((4,), 3)
    assert torch.equal(model.schedule.add_noise(out, eps, t), eps)  # abar_K = 0: pure noise
    loss = model.denoising_loss(x, out, cond, t, eps)
    # target -y: the loss is the MSE of -v_hat against the state, as for one_step
    one_step = torch.mean((-model.velocity(x, eps, 3, cond) - out) ** 2)
    assert torch.allclose(loss, one_step, rtol=1e-6)
    assert torch.allclose(model(x, cond=cond), -model.velocity(x, torch.zeros_like(out), 3, cond))


@pytest.mark.parametrize("backbone", sorted(TINY))
@pytest.mark.parametrize("ndim", [1, 2])
def test_every_backbone_samples_batch_independently(backbone, ndim):
    model = small_refiner(ndim, backbone, cond_dim=1).eval()
    gen = torch.Generator().manual_seed(2)
    x, cond = torch.randn(3, 2, *[16] * ndim, generator=gen), torch.rand(3, 1, generator=gen)
    estimates = []
    full = model.sample(x, cond, StepNoise(5, [10, 11, 12], 0), estimates)
    assert full.shape == (3, 1, *[16] * ndim) and len(estimates) == 4
    assert torch.equal(estimates[-1], full)
    one = model.sample(x[1:2], cond[1:2], StepNoise(5, [11], 0))
    # float32 kernels may sum in another order with the batch size: tolerance ~1e-5
    assert torch.allclose(full[1:2], one, atol=1e-5, rtol=1e-4)
    other = model.sample(x, cond, StepNoise(6, [10, 11, 12], 0))
    assert not torch.allclose(full, other)  # the noise matters


@pytest.mark.parametrize("backbone", sorted(TINY))
def test_denoising_loss_reaches_every_parameter(backbone):
    model = small_refiner(2, backbone, cond_dim=1)
    gen = torch.Generator().manual_seed(3)
    x, y = torch.randn(3, 2, 16, 16, generator=gen), torch.randn(3, 1, 16, 16, generator=gen)
    model.denoising_loss(
        x, y, torch.rand(3, 1), torch.tensor([0, 1, 3]), torch.randn_like(y)
    ).backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not dead


def test_scaled_difference_adds_the_last_frame():
    model = small_refiner(predict="scaled_difference")
    x = torch.randn(2, 2, 32)
    z = torch.randn(2, 1, 32)
    assert torch.allclose(model.from_latent(x, z), x[:, 1:] + 0.3 * z)
    assert torch.allclose(model.to_latent(x, model.from_latent(x, z)), z, atol=1e-6)


def test_tiny_refiner_overfits_one_batch():
    model = small_refiner()
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(4, 2, 16, generator=gen)
    y = torch.roll(x[:, 1:], 2, -1)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    with torch.no_grad():
        before = float(((model.sample(x, None, StepNoise(0, range(4), 0)) - y) ** 2).mean())
    for i in range(300):
        g = torch.Generator().manual_seed(i)
        t = torch.randint(0, 4, (4,), generator=g)
        loss = model.denoising_loss(x, y, None, t, torch.randn(y.shape, generator=g))
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = float(((model.sample(x, None, StepNoise(0, range(4), 0)) - y) ** 2).mean())
    assert after < 0.05 * before, (before, after)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "ks.zarr"
    spec = DatasetSpec.load(
        "ks_refiner/small", ["splits.train=6", "splits.valid=2", "splits.test=3"]
    )
    generate(spec, path, progress=False)
    return path


def recipe(store, out, model=None, **sets):
    raw = {
        "data": {"store": str(store), "history": 1, "conditioning": ["length"], "predict": "state"},
        "model": {
            "kind": "refiner",
            "backbone": "fno",
            "backbone_options": TINY["fno"],
            "predict": "scaled_difference",
        },
        "objective": {"kind": "refiner"},
        "optim": {"lr": 3e-3, "batch_size": 8, "steps": 20, "warmup": 2, "ema": 0.9},
        "train": {"out": str(out), "eval_every": 10, "log_every": 5, "seed": 1},
    }
    raw["model"] = model or raw["model"]
    for key, value in sets.items():
        section, name = key.split("__")
        raw[section][name] = value
    return Recipe.from_dict(raw, "test-recipe.toml")


def test_resume_gives_the_same_losses(store, tmp_path):
    full = fit(recipe(store, tmp_path / "full"), progress=False)
    r = recipe(store, tmp_path / "split")
    first = fit(r, progress=False, stop_after=10)
    second = fit(r, progress=False)
    resumed = first.history + second.history
    assert [h["step"] for h in resumed] == [h["step"] for h in full.history]
    for a, b in zip(full.history, resumed, strict=True):
        # same batches, same levels and noise drawn from (seed, step): bit-identical on CPU
        assert a["loss"] == b["loss"], (a, b)
    wa = load_surrogate(tmp_path / "full" / "checkpoint")[0].state_dict()
    wb = load_surrogate(tmp_path / "split" / "checkpoint")[0].state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_recipe_refuses_mismatched_objectives(store, tmp_path):
    with pytest.raises(ConfigError, match="objective.kind"):
        recipe(store, tmp_path, objective__kind="one_step")
    with pytest.raises(ConfigError, match="objective.kind"):
        recipe(store, tmp_path, model={"kind": "fno", **TINY["fno"]})
    with pytest.raises(ConfigError, match="data.predict"):
        recipe(store, tmp_path, data__predict="residual")


def test_rollouts_are_reproducible_and_batch_independent(store, tmp_path):
    surrogate, _ = load_surrogate(fit(recipe(store, tmp_path / "run"), progress=False).checkpoint)
    assert surrogate.stochastic
    history = torch.randn(4, 1, 1, 64)
    cond = torch.rand(4, 1) + 30
    a = rollout(surrogate, history, 3, cond, trajectories=[7, 8, 9, 10], seed=2)
    b = rollout(surrogate, history, 3, cond, trajectories=[7, 8, 9, 10], seed=2)
    assert torch.equal(a, b)
    alone = rollout(surrogate, history[2:3], 3, cond[2:3], trajectories=[9], seed=2)
    # float32 kernels may sum in another order with the batch size: tolerance ~1e-5
    assert torch.allclose(a[2:3], alone, atol=1e-5, rtol=1e-4)
    ds1 = evaluate(surrogate, store, "test", cond_names=["length"], batch=1, steps=5)[0]
    ds3 = evaluate(surrogate, store, "test", cond_names=["length"], batch=3, steps=5)[0]
    assert ds1["correlation"].values == pytest.approx(ds3["correlation"].values, abs=1e-5)
    ens, pred, _ = evaluate(surrogate, store, "test", cond_names=["length"], steps=5, samples=3)
    # member 0 is the single-sample rollout; the others differ by their noise only
    assert ens["correlation"].values == pytest.approx(ds3["correlation"].values, abs=1e-5)
    corr, spread = ens["ensemble_correlation"].values, ens["ensemble_spread"].values
    assert ens.attrs["ensemble_members"] == 3 and (spread > 0).all()
    assert ((corr > -1) & (corr <= 1)).all() and corr[0] > corr[-1] - 1e-6


def test_registered_with_a_small_preset():
    assert MODELS["refiner"] is Refiner
    surrogate = Surrogate(small_refiner(), history=2, channels=1)
    assert surrogate(torch.randn(2, 2, 1, 16)).shape == (2, 1, 16)


def test_longer_test_split(tmp_path):
    spec = DatasetSpec.load(
        "ks_refiner/small",
        ["splits.train=2", "splits.valid=0", "splits.test=1", "time.split_frames={test=31}"],
    )
    assert spec.frames_of("train") == 20 and spec.frames_of("test") == 31
    generate(spec, tmp_path / "ks.zarr", progress=False)
    store = open_store(tmp_path / "ks.zarr")
    times = np.asarray(store.read("test", "time"))
    # the same save interval (0.5) and spin-up (10) as the training split, 31 frames
    assert np.allclose(times, 10.0 + 0.5 * np.arange(31))
    assert np.asarray(store.read("test", "u")).shape == (1, 31, 64)
    assert np.asarray(store.read("train", "u")).shape == (2, 20, 64)
    with pytest.raises(ConfigError, match="split_frames.tset"):
        DatasetSpec.load("ks_refiner/small", ["time.split_frames={tset=31}"])


def test_refinement_spectra(store, tmp_path):
    indices = open_store(store).usable("test")
    kw = dict(store_path=store, split="test", per_trajectory=3, dtype=torch.float64)
    exact = refinement_spectra(solver_step(open_store(store), "test", indices), **kw)
    lazy = refinement_spectra(persistence, **kw)
    true = exact["spectrum_true"].values[0]
    top = true > 1e-3 * true.max()  # the energetic modes
    # the generating solver reproduces its own frames to float32 storage rounding (~1e-7)
    assert (exact["spectrum_error"].values[0, 0, top] < 1e-8 * true[top]).all()
    assert list(lazy["stage"].values) == ["prediction"]
    assert lazy["spectrum_error"].values[0, 0, top].max() > 1e-3 * true[top].max()
    model = Surrogate(Refiner(1, 1, 1, 1, "fno", TINY["fno"]), history=1, channels=1)
    ds = refinement_spectra(model, cond_names=["length"], **{**kw, "dtype": torch.float32})
    assert ds.sizes["stage"] == 4 and np.isfinite(ds["spectrum_error"].values).all()
    png = write_refinement_spectra(persistence, tmp_path / "r", "persistence", **kw)
    assert png.is_file() and (tmp_path / "r" / "refinement_spectra.nc").is_file()


@pytest.mark.parametrize("name", ["small", "ks_cpu", "ks"])
def test_presets_build(name):
    from pdesurr.training.recipe import model_preset

    options = model_preset(f"refiner/{name}")
    assert options.pop("kind") == "refiner"
    with torch.device("meta"):  # the paper's backbone has ~56M parameters: shapes only
        model = Refiner(1, 1, 1, 1, **options)
    y = model(torch.empty(2, 1, 64, device="meta"), cond=torch.empty(2, 1, device="meta"))
    assert y.shape == (2, 1, 64)
    if name == "ks":  # PDE-Refiner's KS U-Net: cumulative multipliers -> 64, 128, 256, 1024
        widths = [blocks[-1].conv2.out_channels for blocks in model.backbone.down]
        assert widths == [64, 128, 256, 1024] and model.step_scale == pytest.approx(1000 / 3)
    if name == "ks_cpu":
        torch.manual_seed(0)
        out = Refiner(1, 1, 1, 1, **options).backbone.proj_out
        assert not out.weight.any() and not out.bias.any()  # zero-initialised output


def test_suite_solver_reference_beyond_one_batch(tmp_path):
    """The solver row holds every test trajectory's parameters: more than one batch (16)."""
    from pdesurr.evaluation.suite import load_suite, run_suite

    path = tmp_path / "ks.zarr"
    sets = ["splits.train=0", "splits.valid=0", "splits.test=17", "time.frames=4"]
    generate(DatasetSpec.load("ks_refiner/small", sets), path, progress=False)
    suite = tmp_path / "bench.toml"
    suite.write_text(
        f'[suite]\ndata = "{path}"\ncontext = 1\nout = "{tmp_path / "out"}"\n'
        "[references]\npersistence = false\nsolver = true\nsolver_substeps = [5]\n"
    )
    (row,) = run_suite(load_suite(suite), plots=False)
    # the generating solver on its own float32-stored frames: storage rounding only
    assert row["one_step"]["rel_l2"] < 1e-5
