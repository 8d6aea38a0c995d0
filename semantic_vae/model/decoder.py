"""Decoder D (paper §3.1): class latents as 16x16 maps, residual up-sampling blocks, C logits."""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn

from semantic_vae.model.config import VAEConfig


class GroupNorm32(nn.GroupNorm):
    """GroupNorm computed in float32 whatever the input's dtype (as the released network's)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.float()).type(x.dtype)


def group_norm(channels: int) -> nn.GroupNorm:
    """32 groups (the released network's) where the width allows, else the largest divisor of 32 that fits."""
    return GroupNorm32(math.gcd(32, channels), channels)


class _Upsample2(torch.autograd.Function):
    """Nearest-neighbour x2 with a hand-written backward: the forward is one broadcast copy, the backward adds the
    four strided quarters of the gradient. Autograd's own backward of the copy (a sum over the broadcast dims) is
    3x slower than F.interpolate's on CPU; this pair is 2.6x faster than F.interpolate forward and backward
    (BENCHMARKS.md)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        b, c, h, w = x.shape
        return x[:, :, :, None, :, None].expand(b, c, h, 2, w, 2).reshape(b, c, 2 * h, 2 * w)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return grad[..., ::2, ::2] + grad[..., 1::2, ::2] + grad[..., ::2, 1::2] + grad[..., 1::2, 1::2]


def upsample2(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, 2H, 2W), nearest-neighbour: equal to `F.interpolate(x, scale_factor=2)` bit for bit;
    its gradient equals F.interpolate's up to the order of four additions (float rounding)."""
    return _Upsample2.apply(x)


def _bilinear2_rows(x: torch.Tensor) -> torch.Tensor:
    """(..., H, W) -> (..., 2H, W): bilinear x2 along H with align_corners=False (edges replicated)."""
    before = torch.cat([x[..., :1, :], x[..., :-1, :]], dim=-2)  # x[i-1], the first row repeated
    after = torch.cat([x[..., 1:, :], x[..., -1:, :]], dim=-2)  # x[i+1], the last row repeated
    even, odd = 0.25 * before + 0.75 * x, 0.75 * x + 0.25 * after  # rows 2i and 2i+1
    return torch.stack([even, odd], dim=-2).flatten(-3, -2)


def bilinear2(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, 2H, 2W): `F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)`
    written as shifted sums. Compiled under `torch.use_deterministic_algorithms` (base.yaml's `deterministic`),
    F.interpolate's backward gave a zero gradient to everything before it (torch 2.13, CPU); these ops do not."""
    return _bilinear2_rows(_bilinear2_rows(x).transpose(-1, -2)).transpose(-1, -2)


class UpBlock(nn.Module):
    """GroupNorm -> SiLU -> nearest x2 -> conv3x3 -> GroupNorm -> SiLU -> conv3x3 (zero init), plus skip."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.norm1 = group_norm(in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.norm2 = group_norm(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # the block starts as its skip path
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = upsample2(self.act(self.norm1(x)))  # (B, in, 2H, 2W)
        h = self.conv2(self.act(self.norm2(self.conv1(h))))  # (B, out, 2H, 2W)
        return self.skip(upsample2(x)) + h


class MaskDecoder(nn.Module):
    """(B, L, D) with D = 16*16 -> (B, L, image_size, image_size) logits of the L classes with a latent (and of the
    background too when its logit comes from the parts' latents, `background="context"`).

    One up-block per doubling from 16 to `image_size` (4 at 256, 2 at 64); widths halve
    from 8 x `decoder_width`. The head is GroupNorm, SiLU and a 1x1 conv, or the 1x1 conv alone
    (`decoder_head_norm=False`, the released network).
    """

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        self.side = config.latent_side  # checked by VAEConfig: latent_dim is a square, image_size side * 2^k
        self.logit_upsample = config.logit_upsample
        n_blocks = int(math.log2(config.image_size // config.logit_upsample // self.side))
        widths = [config.decoder_width * 8 // 2**i for i in range(n_blocks + 1)]  # e.g. 512,256,128,64,32
        channels = config.num_latents
        logits = config.num_classes if config.background == "context" else channels  # "derived": prepended later
        self.stem = nn.Conv2d(channels, widths[0], 1)
        self.blocks = nn.Sequential(*(UpBlock(a, b) for a, b in itertools.pairwise(widths)))
        conv = nn.Conv2d(widths[-1], logits, 1)
        self.head = nn.Sequential(group_norm(widths[-1]), nn.SiLU(), conv) if config.decoder_head_norm else conv

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        b, c, d = z.shape
        x = self.stem(z.view(b, c, self.side, self.side))  # (B, 8*base, 16, 16)
        logits = self.head(self.blocks(x))  # (B, L, S / logit_upsample, S / logit_upsample)
        return logits if self.logit_upsample == 1 else bilinear2(logits)
