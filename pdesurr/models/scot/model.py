"""scOT, the multiscale windowed operator transformer of Poseidon (Herde et al. 2024,
"Poseidon: Efficient Foundation Models for PDEs", arXiv:2405.19101).

    x (B, C, n, n) --adapter--> (B, C, s, s), s = image_size
      embeddings: Conv(patch, stride patch) -> norm            tokens (B, (s/p)^2, E)
      encoder stage i = 0..L-1:  blocks (dim E 2^i, grid s/p/2^i) -> skip_i,
                                 merge(skip_i + stage input)  (i < L-1)
      skips: skip_i -> residual_blocks[i] (ConvNeXt blocks or identity)
      decoder stage k = 0..L-1 (deepest first): h += skip_{L-1-k} (k > 0), blocks,
                                 unmerge (k < L-1); h_0 = processed skip_{L-1}
      patch_recovery: ConvTranspose(patch, stride patch) -> Conv 5x5 (no bias)
      [learn_residual: + first C_out channels of the s-grid input]
    --adapter back--> (B, C_out, n, n)

Every norm is conditioned on ``t = cond`` (``cond[:, 0]`` the lead time normalised as in
Poseidon, (t2 - t1) / 20 for 21 snapshots; divide by the number of steps for
autoregressive use) when ``use_conditioning`` and ``cond_dim > 0`` (see :mod:`.norms`).

Options are the published ``ScOTConfig`` fields under their published names, with the
Poseidon-T values as defaults; ``num_channels``/``num_out_channels`` may be given but must
equal ``in_channels``/``out_channels``. ``p`` and ``channel_slice_list_normalized_loss``
configure :func:`pdesurr.models.scot.loss.poseidon_loss`. ``gradient_checkpointing``
(not published) recomputes each stage in the backward pass. Module names give exactly the
published state-dict keys; checkpoints load with :meth:`ScOT.from_pretrained`.

The grid must be square with ``n - image_size`` even. Simplified: nothing in the forward
pass; the reference's unused options (mask tokens, head masks, attention outputs) are
absent.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from pdesurr.models.base import check_cond, check_input, record_sizes
from pdesurr.models.scot import pretrained
from pdesurr.models.scot.adapter import resample
from pdesurr.models.scot.blocks import DEFAULT_EPS, SKIP_BLOCKS, DecodeStage, EncodeStage
from pdesurr.models.scot.norms import make_norm


def _square(name: str, value) -> int:
    """Sizes may be given as one int or, as the reference config allows, a pair of equal ints."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2 or value[0] != value[1]:
            raise ValueError(f"scot: {name} = {value} must be square")
        value = value[0]
    return int(value)


class PatchEmbeddings(nn.Module):
    def __init__(self, channels: int, embed_dim: int, patch: int):
        super().__init__()
        self.projection = nn.Conv2d(channels, embed_dim, kernel_size=patch, stride=patch)


class Embeddings(nn.Module):
    def __init__(self, channels, embed_dim, patch, grid, cond_dim, absolute, dropout):
        super().__init__()
        self.patch_embeddings = PatchEmbeddings(channels, embed_dim, patch)
        self.norm = make_norm(embed_dim, DEFAULT_EPS, cond_dim)
        self.position_embeddings = (
            nn.Parameter(torch.zeros(1, grid * grid, embed_dim)) if absolute else None
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, time: torch.Tensor | None) -> torch.Tensor:
        h = self.patch_embeddings.projection(x).flatten(2).transpose(1, 2)  # (B, L, E)
        h = self.norm(h, time)
        if self.position_embeddings is not None:
            h = h + self.position_embeddings
        return self.dropout(h)


class PatchRecovery(nn.Module):
    def __init__(self, embed_dim: int, out_channels: int, patch: int, grid: int):
        super().__init__()
        self.grid = grid
        self.projection = nn.ConvTranspose2d(embed_dim, out_channels, patch, stride=patch)
        self.mixup = nn.Conv2d(out_channels, out_channels, 5, padding=2, bias=False)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h = h.transpose(1, 2).reshape(h.shape[0], h.shape[2], self.grid, self.grid)
        return self.mixup(self.projection(h))


class ScOT(nn.Module):
    """Poseidon's scOT as a pdesurr grid model: ``(B, Cin, n, n) -> (B, Cout, n, n)``."""

    # any square grid runs: the Fourier adapter resamples it to image_size and back, so a
    # field band-limited below both grids' Nyquist gives the same function at shared points
    resolution_invariant = True
    supported_ndims = (2,)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        ndim: int = 2,
        cond_dim: int = 1,
        *,
        image_size: int = 128,
        patch_size: int = 4,
        num_channels: int | None = None,
        num_out_channels: int | None = None,
        embed_dim: int = 48,
        depths: list[int] = (4, 4, 4, 4),
        num_heads: list[int] = (3, 6, 12, 24),
        skip_connections: list[int] = (2, 2, 2, 0),
        window_size: int = 16,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        hidden_dropout_prob: float = 0.0,
        attention_probs_dropout_prob: float = 0.0,
        drop_path_rate: float = 0.0,
        hidden_act: str = "gelu",
        use_absolute_embeddings: bool = False,
        initializer_range: float = 0.02,
        layer_norm_eps: float = 1e-5,
        p: int = 1,
        channel_slice_list_normalized_loss: list[int] | None = None,
        residual_model: str = "convnext",
        use_conditioning: bool = True,
        learn_residual: bool = False,
        gradient_checkpointing: bool = False,
    ):
        super().__init__()
        for name, given, value in (
            ("num_channels", num_channels, in_channels),
            ("num_out_channels", num_out_channels, out_channels),
        ):
            if given is not None and given != value:
                raise ValueError(f"scot: {name}={given} disagrees with the model's {value}")
        if ndim != 2:
            raise ValueError(f"scot: only 2D grids are supported, got ndim={ndim}")
        image_size, patch_size, window_size = (
            _square(n, v)
            for n, v in (("image_size", image_size), ("patch_size", patch_size),
                         ("window_size", window_size))
        )  # fmt: skip
        depths, num_heads = [int(d) for d in depths], [int(h) for h in num_heads]
        skips = [int(s) for s in skip_connections]
        if not len(depths) == len(num_heads) == len(skips):
            raise ValueError(
                f"scot: depths {depths}, num_heads {num_heads} and skip_connections {skips} "
                "need one entry per stage"
            )
        grid, levels = image_size // patch_size, len(depths)
        if image_size % patch_size or grid % 2 ** (levels - 1):
            raise ValueError(
                f"scot: image_size {image_size} must be a multiple of patch_size {patch_size} "
                f"times 2**(stages - 1) = {2 ** (levels - 1)}"
            )
        if residual_model not in SKIP_BLOCKS:
            raise ValueError(f"scot: residual_model {residual_model!r} not in {list(SKIP_BLOCKS)}")
        if use_conditioning and learn_residual and in_channels < out_channels:
            raise ValueError("scot: learn_residual needs in_channels >= out_channels")
        if cond_dim > 0 and not use_conditioning:
            raise ValueError(f"scot: cond_dim={cond_dim} given but use_conditioning is false")
        # without a conditioning input the model is the reference's unconditioned ScOT: its
        # config says so (use_conditioning = false), so the published layout reloads it as
        # built (plain LayerNorms), in the reference code too; learn_residual follows it
        use_conditioning = use_conditioning and cond_dim > 0
        record_sizes(self, in_channels, out_channels, ndim, cond_dim)
        self.config = dict(
            image_size=image_size, patch_size=patch_size, num_channels=in_channels,
            num_out_channels=out_channels, embed_dim=embed_dim, depths=depths,
            num_heads=num_heads, skip_connections=skips, window_size=window_size,
            mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, hidden_dropout_prob=hidden_dropout_prob,
            attention_probs_dropout_prob=attention_probs_dropout_prob,
            drop_path_rate=drop_path_rate, hidden_act=hidden_act,
            use_absolute_embeddings=use_absolute_embeddings,
            initializer_range=initializer_range, layer_norm_eps=layer_norm_eps, p=p,
            channel_slice_list_normalized_loss=channel_slice_list_normalized_loss,
            residual_model=residual_model, use_conditioning=use_conditioning,
            learn_residual=bool(learn_residual and use_conditioning),
        )  # fmt: skip
        self.image_size, self.gradient_checkpointing = image_size, gradient_checkpointing
        self.learn_residual = self.config["learn_residual"]
        cfg, c = self.config, cond_dim if use_conditioning else 0
        self.embeddings = Embeddings(
            in_channels, embed_dim, patch_size, grid, c, use_absolute_embeddings,
            hidden_dropout_prob)  # fmt: skip
        n_rates = 2 * sum(depths)  # stochastic depth grows linearly over encoder + decoder
        rates = [drop_path_rate * i / max(n_rates - 1, 1) for i in range(n_rates)]
        enc, dec, total = rates[: sum(depths)], rates[sum(depths) :], sum(depths)
        self.encoder, self.decoder = nn.Module(), nn.Module()
        self.encoder.layers = nn.ModuleList(
            EncodeStage(
                embed_dim * 2**i, grid // 2**i, depths[i], num_heads[i], cfg, c,
                enc[sum(depths[:i]) : sum(depths[: i + 1])], downsample=i < levels - 1)
            for i in range(levels)
        )  # fmt: skip
        self.decoder.layers = nn.ModuleList(
            DecodeStage(
                embed_dim * 2**i, grid // 2**i, depths[i], num_heads[i], cfg, c,
                dec[sum(depths[i + 1 :]) : total - sum(depths[:i])], upsample=i > 0)
            for i in reversed(range(levels))
        )  # fmt: skip
        self.patch_recovery = PatchRecovery(embed_dim, out_channels, patch_size, grid)
        block = SKIP_BLOCKS[residual_model]
        self.residual_blocks = nn.ModuleList(
            nn.ModuleList(block(embed_dim * 2**i, layer_norm_eps, c) for _ in range(n))
            if n > 0 else nn.ModuleList([nn.Identity()])
            for i, n in enumerate(skips)
        )  # fmt: skip
        self.init_weights()

    @torch.no_grad()
    def init_weights(self) -> None:
        """The reference's initialisation (transformers' Swin-v2 ``_init_weights``):
        Linear and Conv2d weights ~ N(0, initializer_range) with zero biases (also inside
        the conditioned norms), plain LayerNorms (1, 0), ``logit_scale = ln 10``, position
        embeddings 0, ConvNeXt layer scale 1e-6; the transposed convolution keeps PyTorch's
        default initialisation, drawn explicitly here (never left uninitialised)."""
        std = self.config["initializer_range"]
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                m.weight.normal_(0.0, std)
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.ConvTranspose2d):
                m.reset_parameters()
            elif isinstance(m, nn.LayerNorm):
                m.weight.fill_(1.0)
                m.bias.zero_()
            elif hasattr(m, "logit_scale"):
                m.logit_scale.fill_(math.log(10.0))
        if self.embeddings.position_embeddings is not None:
            self.embeddings.position_embeddings.zero_()

    def _run(self, stage, h, time):
        if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
            return checkpoint(stage, h, time, use_reentrant=False)
        return stage(h, time)

    def forward(self, x: torch.Tensor, *, cond: torch.Tensor | None = None) -> torch.Tensor:
        check_input(x, self.in_channels, 2, "scot")
        check_cond(cond, self.cond_dim, x.shape[0], "scot")
        if x.shape[-1] != x.shape[-2]:
            raise ValueError(f"scot: the grid must be square, got {tuple(x.shape[-2:])}")
        time = cond if self.cond_dim > 0 else None
        n = x.shape[-1]
        x = resample(x, self.image_size)
        h = self.embeddings(x, time)
        skips = []
        for stage in self.encoder.layers:
            h, skip = self._run(stage, h, time)
            skips.append(skip)
        for i, blocks in enumerate(self.residual_blocks):
            for block in blocks:
                skips[i] = skips[i] if isinstance(block, nn.Identity) else block(skips[i], time)
        h = skips[-1]
        for k, stage in enumerate(self.decoder.layers):
            if k > 0:
                h = h + skips[len(skips) - 1 - k]
            h = self._run(stage, h, time)
        y = self.patch_recovery(h)
        if self.learn_residual:
            y = y + x[:, : self.out_channels]
        return resample(y, n)

    from_pretrained = classmethod(pretrained.from_pretrained)
    save_pretrained = pretrained.save_pretrained


__all__ = ["ScOT"]
