"""The Semantic-VAE (paper Fig. 1) and the latent-space primitives that editing builds on."""

from __future__ import annotations

import torch
from torch import nn

from semantic_vae.model.config import VAEConfig
from semantic_vae.model.decoder import MaskDecoder
from semantic_vae.model.encoder import ClassEncoder
from semantic_vae.model.mixer import LatentMixer
from semantic_vae.model.prior import PartPrior


def one_hot(labels: torch.Tensor, num_classes: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(B, H, W) integer labels (uint8 is fine) -> contiguous (B, C, H, W) one-hot, on the labels' device.

    A comparison against the class ids instead of `F.one_hot`: no int64 (B, H, W, C) intermediate,
    no permuted copy, and no host sync for a range check (labels are validated where they are read:
    the cache, the PNG readers, `MaskEditor`). An id >= num_classes gives an all-zero pixel.
    """
    classes = torch.arange(num_classes, device=labels.device, dtype=labels.dtype).view(1, -1, 1, 1)
    return (labels.unsqueeze(1) == classes).to(dtype)


class SemanticVAE(nn.Module):
    """Encode each class channel to its own latent, mix the latents, decode a mask.

    encode: (B, C, H, W) one-hot -> mu, logvar (B, C, D)
    mix:    (B, C, D) -> (B, C, D)
    decode: (B, C, D) -> logits (B, C, H, W)
    """

    def __init__(self, config: VAEConfig | None = None) -> None:
        super().__init__()
        self.config = config or VAEConfig()
        self.num_classes = self.config.num_classes
        self.image_size = self.config.image_size
        self.latent_dim = self.config.latent_dim
        self.encoder = ClassEncoder(self.config)
        self.mixer = LatentMixer(self.config)
        self.decoder = MaskDecoder(self.config)
        self.prior = PartPrior(self.config)  # buffers only: the data prior of `generate(prior="data")`

    def encode(self, onehot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encoder(onehot)

    def mix(self, z: torch.Tensor) -> torch.Tensor:
        return self.mixer(z)

    def decode(self, z_mixed: torch.Tensor) -> torch.Tensor:
        return self.decoder(z_mixed)

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """Per-class latents (B, C, D) -> logits: the mixer adapts neighbours to an edited part."""
        return self.decode(self.mix(z))

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        return mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)

    def from_labels(self, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, H, W) integer label maps at the model's size -> logits, mu, logvar (`forward` of their one-hot)."""
        return self(one_hot(labels, self.num_classes))

    def forward(self, onehot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Training: a reparameterised sample; evaluation: the mean. Returns logits, mu, logvar."""
        mu, logvar = self.encode(onehot)
        z = self.reparameterize(mu, logvar) if self.training else mu
        return self.generate(z), mu, logvar
