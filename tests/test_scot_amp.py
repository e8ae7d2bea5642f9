"""scOT under bf16 autocast (``[optim] amp = true``): the Fourier adapter and the
conditioned norms keep float32 where bf16 cannot go; on CUDA the trainer's path runs."""

import math

import pytest
import torch

from pdesurr.models.scot import ScOT
from pdesurr.models.scot.norms import ConditionalLayerNorm


def tiny(seed=0):
    torch.manual_seed(seed)
    model = ScOT(4, 4, image_size=32, patch_size=4, embed_dim=16, depths=[2, 2],
                 num_heads=[2, 2], skip_connections=[1, 0], window_size=4)  # fmt: skip
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():  # off the initialisation, so every layer matters
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))
    return model


def test_conditioned_norm_keeps_float32_statistics_under_bf16():
    gen = torch.Generator().manual_seed(0)
    norm = ConditionalLayerNorm(64)
    x = 50.0 + torch.randn(3, 5, 64, generator=gen)  # large mean: E[x^2] - E[x]^2 cancels
    t = torch.rand(3, 1, generator=gen)
    want = norm(x.bfloat16().float(), t)  # the same bf16 input, float32 throughout
    with torch.autocast("cpu", dtype=torch.bfloat16):  # what a bf16 layer hands the norm
        got = norm(x.bfloat16(), t)
    assert got.dtype == torch.bfloat16 and got.isfinite().all()
    # one bf16 rounding of an O(1) result (8 bits: 2^-8 relative); the bf16 one-pass
    # variance of these inputs is pure round-off (often < 0: NaN)
    torch.testing.assert_close(got.float(), want, rtol=1e-2, atol=2e-2)


def test_forward_and_backward_under_cpu_bf16_autocast_at_another_grid():
    model = tiny()
    gen = torch.Generator().manual_seed(3)
    x, t = torch.randn(2, 4, 16, 16, generator=gen), torch.rand(2, 1, generator=gen)
    ref = model(x, cond=t)  # float32; 16^2 in, adapted to 32^2 and back
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x, cond=t)
    assert out.dtype == torch.bfloat16 and out.shape == ref.shape
    rel = float((out.float() - ref).detach().norm() / ref.detach().norm())
    # bf16 keeps ~3 significant digits per op; a dozen layers accumulate ~1e-2
    assert rel < 5e-2, rel
    out.float().square().mean().backward()
    assert all(p.grad is None or p.grad.isfinite().all() for p in model.parameters())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="bf16 autocast runs on CUDA only")
def test_fine_tune_with_amp_on_cuda(tmp_path):
    from pdesurr.data.generate import generate
    from pdesurr.data.spec import DatasetSpec
    from pdesurr.training.fit import fit
    from pdesurr.training.recipe import Recipe

    store = tmp_path / "kf.zarr"
    spec = DatasetSpec.load(
        "kolmogorov/small", ["splits.train=2", "splits.valid=1", "splits.test=0", "time.frames=7"]
    )
    generate(spec, store, progress=False)
    tiny().save_pretrained(tmp_path / "poseidon")
    dtypes = []
    real = torch.nn.Conv2d.forward

    def spy(self, x):
        out = real(self, x)
        dtypes.append(out.dtype)
        return out

    raw = {
        "data": {"store": str(store), "pairs": "all2all", "max_steps": 3, "step": 2,
                 "predict": "state", "channel_map": "rho_u_v_p"},
        "model": {"kind": "scot", "pretrained": str(tmp_path / "poseidon")},
        "objective": {"kind": "poseidon"},
        "optim": {"lr": 1e-3, "batch_size": 4, "steps": 4, "amp": True},
        "train": {"out": str(tmp_path / "run"), "log_every": 2, "eval_every": 4,
                  "device": "cuda"},
    }  # fmt: skip
    torch.nn.Conv2d.forward = spy
    try:
        result = fit(Recipe.from_dict(raw), progress=False)
    finally:
        torch.nn.Conv2d.forward = real
    assert torch.bfloat16 in dtypes  # the trainer's forward ran under bf16 autocast
    assert all(math.isfinite(r["loss"]) for r in result.history if "loss" in r)
    assert math.isfinite(result.history[-1]["valid_rel_l2"])
