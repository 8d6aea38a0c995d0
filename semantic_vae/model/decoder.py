"""Decoder D (paper §3.1): class latents as 16x16 maps, residual up-sampling blocks, C logits."""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn

from semantic_vae.model.config import VAEConfig


def group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(32, channels), channels)


class UpBlock(nn.Module):
    """GroupNorm -> SiLU -> nearest x2 -> conv3x3 -> GroupNorm -> SiLU -> conv3x3 (zero init), plus skip."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.norm1 = group_norm(in_ch)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.norm2 = group_norm(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # the block starts as its skip path
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.up(self.act(self.norm1(x)))  # (B, in, 2H, 2W)
        h = self.conv2(self.act(self.norm2(self.conv1(h))))  # (B, out, 2H, 2W)
        return self.skip(self.up(x)) + h


class MaskDecoder(nn.Module):
    """(B, C, D) with D = 16*16 -> (B, C, image_size, image_size) logits.

    One up-block per doubling from 16 to `image_size` (4 at 256, 2 at 64); widths halve
    from 8 x `decoder_width`.
    """

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        self.side = config.latent_side  # checked by VAEConfig: latent_dim is a square, image_size side * 2^k
        n_blocks = int(math.log2(config.image_size // self.side))
        widths = [config.decoder_width * 8 // 2**i for i in range(n_blocks + 1)]  # e.g. 512,256,128,64,32
        self.stem = nn.Conv2d(config.num_classes, widths[0], 1)
        self.blocks = nn.Sequential(*(UpBlock(a, b) for a, b in itertools.pairwise(widths)))
        self.head = nn.Sequential(group_norm(widths[-1]), nn.SiLU(), nn.Conv2d(widths[-1], config.num_classes, 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        b, c, d = z.shape
        x = self.stem(z.view(b, c, self.side, self.side))  # (B, 8*base, 16, 16)
        return self.head(self.blocks(x))  # (B, C, S, S)
