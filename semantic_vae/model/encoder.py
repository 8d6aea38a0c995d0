"""Encoder M (paper §3.1): one MLP shared by every class channel, to a Gaussian per class."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from semantic_vae.model.config import VAEConfig


class ClassEncoder(nn.Module):
    """Each one-hot channel is flattened and mapped to (mu, logvar) of size `latent_dim`.

    Paper: 3 Linear+ReLU layers of width 256. Reference-code variant: the channel is first
    resized to 128x128 (`encoder_input_size=128`, nearest-neighbour in the released network) and the
    widths are (1024, 512, 256). The channels it sees are the classes with a latent (`latent_classes`).
    """

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        self.input_size = config.encoder_input_size or config.image_size
        self.resize_mode = config.encoder_resize
        self.first_channel = config.latent_classes[0]
        layers: list[nn.Module] = []
        width = self.input_size * self.input_size
        for out in config.encoder_hidden:
            layers += [nn.Linear(width, out), nn.ReLU(inplace=True)]
            width = out
        self.mlp = nn.Sequential(*layers)
        self.mu = nn.Linear(width, config.latent_dim)
        self.logvar = nn.Linear(width, config.latent_dim)

    def forward(self, onehot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        onehot = onehot[:, self.first_channel :]  # (B, L, H, W): the classes with a latent
        b, c, h, w = onehot.shape
        if h != self.input_size or w != self.input_size:
            onehot = F.interpolate(onehot, size=(self.input_size, self.input_size), mode=self.resize_mode)
        h = self.mlp(onehot.flatten(2))  # (B, L, hidden[-1]); one MLP for every channel
        return self.mu(h), self.logvar(h)  # 2 x (B, L, latent_dim)
