"""Presets parse, validate and build; bad values fail naming the file and the key."""

import tomllib

import pytest
import torch

from pdesurr.config import CATALOGUE_ROOT, ConfigError, SolverConfig, parse_override

PRESETS = sorted((CATALOGUE_ROOT / "solvers").glob("*.toml"))


def tiny(path) -> list[str]:
    """Overrides that shrink a preset's grid to 16 points per side (QG names it nx)."""
    pde = tomllib.loads(path.read_text())["pde"]
    return ["pde.resolution=16"] if "resolution" in pde else ["pde.nx=16"]


def test_there_are_presets():
    assert len(PRESETS) >= 6


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.stem)
def test_every_preset_builds_and_steps(path):
    cfg = SolverConfig.load(path, tiny(path))
    stepper = cfg.build_stepper()
    u0 = cfg.initial_state()
    u1 = stepper.step(u0)
    assert u1.shape == u0.shape == (cfg.resolved_run()["batch"], *u0.shape[1:])
    assert torch.isfinite(u1).all()
    assert cfg.n_steps() > 0
    resolved = cfg.resolved()
    assert set(resolved) == {"pde", "integrator", "initial", "run"}


def test_preset_by_name_equals_by_path():
    by_name = SolverConfig.load("ns2d_taylor_green")
    by_path = SolverConfig.load(CATALOGUE_ROOT / "solvers" / "ns2d_taylor_green.toml")
    assert by_name.resolved() == by_path.resolved()


def error_of(preset: str, overrides: list[str]) -> str:
    with pytest.raises(ConfigError) as info:
        SolverConfig.load(preset, overrides)
    return str(info.value)


def test_unknown_key_names_key_file_and_suggestion():
    message = error_of("ns2d_decaying", ["pde.viscosty=1e-3"])
    assert "pde.viscosty" in message
    assert "ns2d_decaying.toml" in message
    assert "did you mean 'viscosity'" in message


def test_unknown_run_key_and_section():
    assert "run.stpes" in error_of("ns2d_decaying", ["run.stpes=3"])
    assert "[integrater]" in error_of("ns2d_decaying", ["integrater.dt=0.1"])


def test_unknown_preset_lists_available():
    with pytest.raises(ConfigError, match="ks_refiner"):
        SolverConfig.load("no_such_preset")


def test_wrong_type():
    message = error_of("ns2d_decaying", ['pde.resolution="big"'])
    assert "pde.resolution" in message and "wrong type" in message
    assert "run.batch" in error_of("ns2d_decaying", ["run.batch=1.5"])


def test_odd_resolution():
    message = error_of("ns2d_decaying", ["pde.resolution=17"])
    assert "pde.resolution" in message and "even" in message
    assert "pde.nx" in error_of("qg_pyqg", ["pde.nx=15"])


def test_negative_viscosity():
    message = error_of("ns2d_decaying", ["pde.viscosity=-1e-3"])
    assert "pde.viscosity" in message and "ns2d_decaying.toml" in message


@pytest.mark.parametrize("dt", ["0", "-0.1", "[0.1, -0.1]"])
def test_dt_must_be_positive(dt):
    assert "integrator.dt" in error_of("ns2d_decaying", [f"integrator.dt={dt}"])


def test_steps_and_t_end_both_set():
    # both given by the user: an error; an override replaces the preset's other one
    assert "run.steps" in error_of("ns2d_decaying", ["run.steps=10", "run.t_end=1.0"])
    assert SolverConfig.load("ns2d_decaying", ["run.steps=10"]).n_steps() == 10
    assert SolverConfig.load("ns2d_taylor_green", ["run.t_end=0.5"]).n_steps() == 50
    with pytest.raises(ConfigError, match="run.steps"):
        SolverConfig.from_dict(
            {
                "pde": {"kind": "kuramoto_sivashinsky"},
                "integrator": {"dt": 0.1},
                "initial": {"kind": "random_sines"},
                "run": {"steps": 3, "t_end": 1.0},
            },
            "x.toml",
        )


def test_per_trajectory_parameters_fix_the_batch():
    assert "run.batch" in error_of("ks_refiner", ["pde.length=[60.0, 64.0]", "run.batch=3"])
    cfg = SolverConfig.load("ks_refiner", ["pde.length=[60.0, 64.0]", "run.batch=2"])
    assert cfg.initial_state().shape[0] == 2


@pytest.mark.parametrize(
    "text, key, value",
    [
        ("pde.viscosity=1e-4", ["pde", "viscosity"], 1e-4),
        ("pde.resolution=64", ["pde", "resolution"], 64),
        ("run.t_end=5.0", ["run", "t_end"], 5.0),
        ("pde.forcing=kolmogorov", ["pde", "forcing"], "kolmogorov"),
        ('pde.forcing="none"', ["pde", "forcing"], "none"),
        ("pde.length=2pi", ["pde", "length"], "2pi"),
        ("pde.length=[60.0, 64.0]", ["pde", "length"], [60.0, 64.0]),
        ("pde.dealias=false", ["pde", "dealias"], False),
        (" run.dtype = float32 ", ["run", "dtype"], "float32"),
    ],
)
def test_parse_override(text, key, value):
    parsed_key, parsed = parse_override(text)
    assert parsed_key == key
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize("text", ["viscosity", "viscosity=1", "pde.=1", ".x=1"])
def test_parse_override_rejects(text):
    with pytest.raises(ConfigError):
        parse_override(text)
