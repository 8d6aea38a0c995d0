"""A training-only decoder that draws each part's silhouette from that part's latent alone (beyond the paper).

The mixer lets the decoder infer a part from its neighbours, and then the decoder learns to ignore the part's own
latent (posterior collapse of what the context predicts). This small decoder sees one latent and nothing else, so
its loss (`losses.part_silhouette_loss`) falls only when each latent carries its part's shape and place. The
editor never runs it; `SemanticVAEModule(part_loss_weight=...)` builds it for training.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from semantic_vae.model.config import VAEConfig
from semantic_vae.model.decoder import bilinear2, upsample2

PART_DECODER_WIDTH = 8
PART_DECODER_BLOCKS = 1  # 16x16 latents -> 32x32 logits, then bilinear to the mask's size


class PartSilhouetteDecoder(nn.Module):
    """(B, L, D) latents, each on its own -> (B, L, S, S) logits of that class's silhouette at the mask's size S.

    Every latent goes through the same small conv stack as a one-channel side x side map (the main decoder reads
    it as such a map too): conv3x3 -> SiLU, then per block nearest x2 -> conv3x3 -> SiLU, then a 1x1 conv, at
    side * 2^blocks (32x32); the logits reach the mask's size bilinearly, so the loss sees an eye's shape at full
    resolution while the convolutions stay cheap.
    """

    def __init__(self, config: VAEConfig, width: int = PART_DECODER_WIDTH) -> None:
        super().__init__()
        self.side = config.latent_side
        self.blocks = min(PART_DECODER_BLOCKS, int(math.log2(config.image_size // self.side)))
        self.stem = nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.SiLU())
        self.convs = nn.ModuleList(
            nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.SiLU()) for _ in range(self.blocks)
        )
        self.head = nn.Conv2d(width, 1, 1)
        self.output_size = config.image_size

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        b, parts, _ = z.shape
        x = self.stem(z.reshape(b * parts, 1, self.side, self.side))  # (B*L, width, side, side)
        for conv in self.convs:
            x = conv(upsample2(x))  # (B*L, width, 2h, 2w)
        logits = self.head(x)  # (B*L, 1, side * 2^blocks, ...)
        while logits.shape[-1] < self.output_size:
            logits = bilinear2(logits)
        return logits.view(b, parts, self.output_size, self.output_size)
