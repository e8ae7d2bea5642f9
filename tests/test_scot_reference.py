"""scOT's Swin-v2 pieces against an independent implementation: transformers'
``Swinv2SelfAttention`` / ``Swinv2Layer`` / ``Swinv2PatchMerging`` (what the reference
scOT imports), with the same weights. Not in CI: needs ``transformers``; run with

    PYTHONPATH=$PWD:<venv with transformers>/site-packages python -m pytest -m slow \
        tests/test_scot_reference.py -s
"""

import math

import pytest
import torch

transformers = pytest.importorskip("transformers")
from transformers.models.swinv2 import modeling_swinv2 as hf  # noqa: E402

from pdesurr.models.scot.attention import SelfAttention, shifted_window_mask  # noqa: E402
from pdesurr.models.scot.blocks import PatchMerging, ScOTLayer  # noqa: E402

pytestmark = pytest.mark.slow

CFG = dict(
    qkv_bias=True, attention_probs_dropout_prob=0.0, hidden_dropout_prob=0.0,
    layer_norm_eps=1e-5, mlp_ratio=4.0, hidden_act="gelu",
)  # fmt: skip
# float64: both sides are exact up to summation order (~1e-15); float32: ~1e-6 relative
TOL = {torch.float64: 1e-9, torch.float32: 2e-5}


def hf_config(window):
    return transformers.Swinv2Config(window_size=window, qkv_bias=True, mlp_ratio=4.0)


def randomise(module, gen):
    """Weights far from initialisation, logit scales on both sides of the ln(100) clamp, so
    the mask, the clamp and the position bias all matter."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("logit_scale"):
                p.copy_(torch.linspace(1.0, math.log(100.0) + 1.0, p.numel()).view_as(p))
            else:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5)


def report(name, dtype, a, b):
    err = (a - b).abs().max().item()
    print(f"{name:<34} {str(dtype):<14} max|diff| = {err:.3e}")
    assert err < TOL[dtype] * max(1.0, b.abs().max().item())


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("grid,window,shift", [(8, 4, 2), (16, 8, 4), (4, 4, 2), (6, 4, 2)])
def test_layer_matches_transformers(dtype, grid, window, shift):
    gen = torch.Generator().manual_seed(grid + window)
    dim, heads = 16, 2
    ref = hf.Swinv2Layer(hf_config(window), dim, (grid, grid), heads, shift_size=shift)
    randomise(ref, gen)
    ours = ScOTLayer(dim, grid, heads, window, shift, CFG, cond_dim=0)
    ours.load_state_dict(ref.state_dict(), strict=True)  # also checks the key names
    assert (ours.window, ours.shift) == (ref.window_size, ref.shift_size)
    ref, ours = ref.to(dtype).eval(), ours.to(dtype).eval()
    x = torch.randn(3, grid * grid, dim, generator=gen, dtype=dtype)
    report(f"Swinv2Layer grid {grid} w {window}", dtype, ours(x, None), ref(x, (grid, grid))[0])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_attention_with_mask_matches_transformers(dtype):
    gen = torch.Generator().manual_seed(3)
    dim, heads, w, grid = 24, 3, 4, 8
    ref = hf.Swinv2SelfAttention(hf_config(w), dim, heads, w, pretrained_window_size=[0, 0])
    randomise(ref, gen)
    ours = SelfAttention(dim, heads, w)
    ours.load_state_dict(ref.state_dict(), strict=True)
    torch.testing.assert_close(ours.relative_coords_table, ref.relative_coords_table)
    assert torch.equal(ours.relative_position_index, ref.relative_position_index)
    layer = hf.Swinv2Layer(hf_config(w), dim, (grid, grid), heads, shift_size=w // 2)
    hf_mask = layer.get_attn_mask(grid, grid, dtype=dtype)  # (nW, N, N), -100 / 0
    mask = shifted_window_mask(grid, grid, w, w // 2).to(dtype)
    ref, ours = ref.to(dtype), ours.to(dtype)
    x = torch.randn(2 * hf_mask.shape[0], w * w, dim, generator=gen, dtype=dtype)
    report("Swinv2SelfAttention shifted", dtype, ours(x, mask), ref(x, hf_mask)[0])
    report("Swinv2SelfAttention unshifted", dtype, ours(x, None), ref(x, None)[0])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_patch_merging_matches_transformers(dtype):
    gen = torch.Generator().manual_seed(4)
    dim, grid = 8, 8
    ref = hf.Swinv2PatchMerging((grid, grid), dim)
    randomise(ref, gen)
    ours = PatchMerging(dim, cond_dim=0)
    ours.load_state_dict(ref.state_dict(), strict=True)
    ref, ours = ref.to(dtype), ours.to(dtype)
    x = torch.randn(2, grid * grid, dim, generator=gen, dtype=dtype)
    report("Swinv2PatchMerging", dtype, ours(x, None), ref(x, (grid, grid)))
