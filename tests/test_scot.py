"""scOT (Poseidon): published sizes and key names, the conditioned norm, the window
layout, the Fourier adapter, and checkpoints in the published layout both ways."""

import json
import logging
import math
import struct
import tomllib
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from pdesurr.checkpoints.files import CheckpointError
from pdesurr.models.scot import ScOT
from pdesurr.models.scot.adapter import fourier_downsample, fourier_upsample, resample
from pdesurr.models.scot.norms import ConditionalLayerNorm
from pdesurr.models.scot.pretrained import REPLACEABLE

ROOT = Path(__file__).resolve().parent.parent


def preset(name):
    with open(ROOT / "models" / "scot" / f"{name}.toml", "rb") as f:
        options = tomllib.load(f)["model"]
    assert options.pop("kind") == "scot"
    return options


def small(in_channels=4, out_channels=4, seed=0, **extra):
    torch.manual_seed(seed)
    return ScOT(in_channels, out_channels, 2, 1, **{**preset("small"), **extra})


def perturb(model, seed=1):
    """Move every weight off its initialisation (conditioned norms start near zero)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.1)
    return model


def inputs(batch=2, channels=4, size=32, seed=2):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, channels, size, size, generator=gen), torch.rand(batch, 1)


# published counts (Poseidon model cards / poseidon.md)
@pytest.mark.parametrize("name,count", [("T", 20_774_444), ("B", 157_729_988), ("L", 628_575_524)])
def test_published_sizes_and_keys(name, count):
    with torch.device("meta"):
        model = ScOT(4, 4, **preset(name))
    assert sum(p.numel() for p in model.parameters()) == count
    keys = set(model.state_dict())
    assert keys == {n for n, _ in model.named_parameters()}  # no persistent buffers
    published = [
        "embeddings.patch_embeddings.projection.weight",
        "embeddings.patch_embeddings.projection.bias",
        "embeddings.norm.weight.weight",
        "embeddings.norm.bias.bias",
        "encoder.layers.0.blocks.1.attention.self.logit_scale",
        "encoder.layers.0.blocks.0.attention.self.query.bias",
        "encoder.layers.3.blocks.3.attention.self.key.weight",
        "encoder.layers.2.blocks.0.attention.self.continuous_position_bias_mlp.0.bias",
        "encoder.layers.2.blocks.0.attention.self.continuous_position_bias_mlp.2.weight",
        "encoder.layers.1.blocks.2.attention.output.dense.weight",
        "encoder.layers.1.blocks.2.layernorm_before.weight.bias",
        "encoder.layers.1.blocks.2.intermediate.dense.weight",
        "encoder.layers.1.blocks.2.output.dense.bias",
        "encoder.layers.1.blocks.2.layernorm_after.bias.weight",
        "encoder.layers.2.downsample.reduction.weight",
        "encoder.layers.2.downsample.norm.weight.weight",
        "decoder.layers.0.blocks.0.attention.self.value.bias",
        "decoder.layers.2.upsample.upsample.weight",
        "decoder.layers.2.upsample.mixup.weight",
        "decoder.layers.2.upsample.norm.bias.bias",
        "residual_blocks.0.1.weight",
        "residual_blocks.2.0.dwconv.weight",
        "residual_blocks.1.0.pwconv2.bias",
        "residual_blocks.1.1.norm.weight.weight",
        "patch_recovery.projection.weight",
        "patch_recovery.projection.bias",
        "patch_recovery.mixup.weight",
    ]
    assert set(published) <= keys
    absent = [
        "encoder.layers.3.downsample.reduction.weight",  # last stage does not merge
        "decoder.layers.3.upsample.upsample.weight",  # last decoder stage does not unmerge
        "encoder.layers.0.blocks.0.attention.self.key.bias",  # key has no bias
        "patch_recovery.mixup.bias",
    ]
    assert not set(absent) & keys
    assert not any(k.startswith("residual_blocks.3.") for k in keys)  # identity skip
    shapes = model.state_dict()
    assert tuple(shapes["encoder.layers.0.blocks.0.attention.self.logit_scale"].shape) == (3, 1, 1)
    assert tuple(shapes["embeddings.norm.weight.weight"].shape) == (model.config["embed_dim"], 1)


def test_windows_and_shifts_of_the_published_layout():
    with torch.device("meta"):
        model = ScOT(4, 4, **preset("T"))
    enc = [[(b.window, b.shift) for b in s.blocks] for s in model.encoder.layers]
    assert enc[0] == [(16, 0), (16, 8)] * 2  # 32x32 tokens: shift in stage 0 only
    assert enc[1] == [(16, 0)] * 4 and enc[2] == [(8, 0)] * 4 and enc[3] == [(4, 0)] * 4
    # decoder stages are built over reversed(range(depth)): the first block is shifted
    assert [b.shift for b in model.decoder.layers[3].blocks] == [8, 0, 8, 0]
    mask = model.encoder.layers[0].blocks[1].attn_mask
    assert tuple(mask.shape) == (4, 256, 256)


def test_conditional_layer_norm_formula():
    gen = torch.Generator().manual_seed(0)
    norm = ConditionalLayerNorm(6).double()
    perturb(norm)
    x = torch.randn(3, 5, 6, generator=gen, dtype=torch.float64) * 3 + 2
    t = torch.rand(3, 1, generator=gen, dtype=torch.float64)
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)  # two-pass variance: equal in exact arithmetic
    a = t @ norm.weight.weight.T + norm.weight.bias
    b = t @ norm.bias.weight.T + norm.bias.bias
    want = a[:, None] * (x - mu) / torch.sqrt(var + 1e-5) + b[:, None]
    # the one-pass variance differs from the two-pass one only by rounding (float64)
    torch.testing.assert_close(norm(x, t), want, rtol=1e-10, atol=1e-10)


def band_limited(n, modes, seed=0, batch=2):
    """A real field with |k| <= modes on an n x n grid, and its evaluator on any grid."""
    gen = torch.Generator().manual_seed(seed)
    ks = [(kx, ky) for kx in range(-modes, modes + 1) for ky in range(-modes, modes + 1)]
    amp = torch.randn(batch, len(ks), 2, generator=gen, dtype=torch.float64)

    def on(size):
        x = torch.arange(size, dtype=torch.float64) / size
        out = torch.zeros(batch, 1, size, size, dtype=torch.float64)
        for i, (kx, ky) in enumerate(ks):
            phase = 2 * math.pi * (ky * x[:, None] + kx * x[None, :])
            out[:, 0] += amp[:, i, :1, None] * torch.cos(phase) + amp[:, i, 1:, None] * torch.sin(
                phase
            )
        return out

    return on


def test_adapter_is_exact_on_band_limited_fields():
    field = band_limited(16, modes=6)
    coarse, fine = field(16), field(40)
    # samples of one trigonometric polynomial: resampling is exact up to FFT rounding
    torch.testing.assert_close(fourier_upsample(coarse, 40), fine, rtol=0, atol=1e-12)
    torch.testing.assert_close(fourier_downsample(fine, 16), coarse, rtol=0, atol=1e-12)
    torch.testing.assert_close(resample(resample(coarse, 128), 16), coarse, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="even"):
        resample(coarse, 31)


def test_adapter_halves_the_new_nyquist_mode_like_the_reference():
    j = torch.arange(16, dtype=torch.float64)
    fine = torch.cos(2 * math.pi * 4 * j / 16)[None, None, :, None].expand(1, 1, 16, 16)
    # only the f = -4 bin survives truncation to 8 points and .real keeps half of it
    want = 0.5 * torch.cos(math.pi * torch.arange(8, dtype=torch.float64))[:, None]
    torch.testing.assert_close(fourier_downsample(fine, 8)[0, 0], want.expand(8, 8))


def test_other_grids_go_through_the_adapter():
    model = small().eval()
    for size in (16, 48):
        x, t = inputs(size=size)
        assert model(x, cond=t).shape == (2, 4, size, size)
    with pytest.raises(ValueError, match="square"):
        model(torch.randn(1, 4, 32, 16), cond=torch.rand(1, 1))


def test_learn_residual_adds_the_input():
    model = small(learn_residual=True).double().eval()
    with torch.no_grad():
        for p in model.patch_recovery.parameters():
            p.zero_()
    x = band_limited(16, modes=5)(16).expand(-1, 4, -1, -1)
    # zero recovery: the output is the input resampled to 32 and back (exact here)
    torch.testing.assert_close(model(x, cond=torch.rand(2, 1).double()), x, atol=1e-12, rtol=0)


def test_lead_time_changes_the_output():
    model = perturb(small()).eval()
    x, _ = inputs()
    a = model(x, cond=torch.full((2, 1), 0.1))
    b = model(x, cond=torch.full((2, 1), 0.5))
    assert (a - b).abs().mean() > 1e-3 * a.abs().mean()


# --- checkpoints -------------------------------------------------------------------
def safetensors_header(file):
    raw = Path(file).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + n])


def test_save_load_round_trip(tmp_path):
    model = perturb(small()).eval()
    model.save_pretrained(tmp_path / "ck", extra={"channels": ["rho", "u", "v", "p"]})
    config = json.loads((tmp_path / "ck" / "config.json").read_text())
    assert config["model_type"] == "swinv2" and config["num_layers"] == 3
    assert config["hidden_size"] == 16 * 4 and config["num_channels"] == 4
    assert config["depths"] == [2, 1, 1] and config["window_size"] == 4
    header = safetensors_header(tmp_path / "ck" / "model.safetensors")
    assert header.pop("__metadata__") == {"format": "pt"}
    assert set(header) == set(model.state_dict())
    assert {v["dtype"] for v in header.values()} == {"F32"}
    offsets = [header[k]["data_offsets"][0] for k in sorted(header)]
    assert offsets == sorted(offsets)  # stored in sorted key order
    again = ScOT.from_pretrained(tmp_path / "ck")
    x, t = inputs()
    assert torch.equal(model(x, cond=t), again(x, cond=t))


def test_hf_fields_are_ignored_and_bin_loads(tmp_path):
    model = perturb(small()).eval()
    model.save_pretrained(tmp_path / "ck")
    config = json.loads((tmp_path / "ck" / "config.json").read_text())
    config.update(architectures=["SwinForPDE"], transformers_version="4.37.2", id2label={})
    config["channel_slice_list_normalized_loss"] = None
    (tmp_path / "ck" / "config.json").write_text(json.dumps(config))
    (tmp_path / "ck" / "model.safetensors").unlink()
    torch.save(model.state_dict(), tmp_path / "ck" / "pytorch_model.bin")
    again = ScOT.from_pretrained(tmp_path / "ck")
    x, t = inputs()
    assert torch.equal(model(x, cond=t), again(x, cond=t))


def test_other_channel_counts_replace_exactly_four_tensors(tmp_path, caplog):
    model = perturb(small())
    model.save_pretrained(tmp_path / "ck")
    with pytest.raises(CheckpointError, match="ignore_mismatched_sizes=True"):
        ScOT.from_pretrained(tmp_path / "ck", in_channels=3, out_channels=2)
    with caplog.at_level(logging.WARNING):
        new = ScOT.from_pretrained(
            tmp_path / "ck", in_channels=3, out_channels=2, ignore_mismatched_sizes=True
        )
    old, fresh = model.state_dict(), new.state_dict()
    same = {k for k in old if old[k].shape == fresh[k].shape and torch.equal(old[k], fresh[k])}
    changed = set(old) - same
    assert changed == set(REPLACEABLE)
    assert all(k in caplog.text for k in REPLACEABLE)
    for k in REPLACEABLE:  # explicitly initialised, never uninitialised memory
        assert torch.isfinite(fresh[k]).all() and fresh[k].abs().max() < 1.0
    x, t = inputs(channels=3)
    y = new(x, cond=t)
    assert y.shape == (2, 2, 32, 32) and torch.isfinite(y).all()


@pytest.mark.parametrize("damage", ["truncated", "foreign", "missing", "unexpected", "shape"])
def test_damaged_checkpoints_are_refused(tmp_path, damage):
    model = small()
    model.save_pretrained(tmp_path / "ck")
    file = tmp_path / "ck" / "model.safetensors"
    state = model.state_dict()
    if damage == "truncated":
        file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])
        match = "model.safetensors: not a readable"
    elif damage == "foreign":
        file.write_bytes(b"PK\x03\x04 this is a zip file, not safetensors" * 10)
        match = "model.safetensors: not a readable"
    elif damage == "missing":
        del state["decoder.layers.1.upsample.mixup.weight"]
        match = "missing keys: decoder.layers.1.upsample.mixup.weight"
    elif damage == "unexpected":
        state["encoder.layers.9.extra"] = torch.zeros(2)
        match = "unexpected keys: encoder.layers.9.extra"
    else:
        state["encoder.layers.0.blocks.0.attention.self.query.weight"] = torch.zeros(3, 3)
        match = "shape mismatch: encoder.layers.0.blocks.0.attention.self.query.weight"
    if damage in ("missing", "unexpected", "shape"):
        save_file({k: v.contiguous() for k, v in state.items()}, file)
    with pytest.raises(CheckpointError, match=match):
        ScOT.from_pretrained(tmp_path / "ck")


class Payload:
    def __reduce__(self):
        return (print, ("unpickled!",))


def test_pickled_bin_is_refused(tmp_path):
    small().save_pretrained(tmp_path / "ck")
    (tmp_path / "ck" / "model.safetensors").unlink()
    torch.save({"weights": Payload()}, tmp_path / "ck" / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="pytorch_model.bin: refused"):
        ScOT.from_pretrained(tmp_path / "ck")


def test_no_weights_or_config(tmp_path):
    with pytest.raises(CheckpointError, match="no config.json"):
        ScOT.from_pretrained(tmp_path)
    small().save_pretrained(tmp_path / "ck")
    (tmp_path / "ck" / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="no weights"):
        ScOT.from_pretrained(tmp_path / "ck")


def test_info_describes_a_poseidon_directory(tmp_path, capsys):
    from pdesurr.cli import main

    model = small(in_channels=3)
    model.save_pretrained(tmp_path / "ck", extra={"channels": ["u", "v", "w"]})
    config = json.loads((tmp_path / "ck" / "config.json").read_text())
    config["transformers_version"] = "4.37.2"
    (tmp_path / "ck" / "config.json").write_text(json.dumps(config))
    assert main(["info", str(tmp_path / "ck")]) == 0
    text = capsys.readouterr().out
    n = sum(p.numel() for p in model.parameters())
    assert f"custom size ({n:,} parameters)" in text
    assert "3 in -> 4 out" in text and "32x32" in text and "lead time" in text
    assert "transformers 4.37.2" in text and "channels=['u', 'v', 'w']" in text


def test_gradient_checkpointing_gives_the_same_gradients():
    x, t = inputs()
    grads = []
    for flag in (False, True):
        model = perturb(small(gradient_checkpointing=flag)).train()
        model(x, cond=t).square().mean().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    # recomputation repeats the same float32 kernels: equal up to summation order
    for n in grads[0]:
        torch.testing.assert_close(grads[1][n], grads[0][n], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("size", [64, 128, 192])
def test_poseidon_t_runs_on_its_grid_and_through_the_adapter(size):
    torch.manual_seed(0)
    model = ScOT(4, 4, **preset("T")).eval()
    x = torch.randn(1, 4, size, size)
    with torch.no_grad():
        y = model(x, cond=torch.full((1, 1), 0.35))
    assert y.shape == x.shape and torch.isfinite(y).all()
