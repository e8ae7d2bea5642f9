import pytest
import torch


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(1234)


@pytest.fixture(params=["torch", "auto"])
def step_engine(request, monkeypatch):
    """Run a test for both steps of a solver: the eager torch step and what ``auto`` picks
    (a compiled or fused CPU engine where one applies): ``Stepper``'s default engine is
    set to the parameter. Use with ``pytestmark = pytest.mark.usefixtures("step_engine")``."""
    from pdesurr.solvers import Stepper

    monkeypatch.setattr(Stepper.__init__, "__kwdefaults__", {"engine": request.param})
    return request.param
