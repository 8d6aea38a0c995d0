"""Mixer L + F (paper §3.1): LSTM layers over the sequence of class embeddings, then an FFN."""

from __future__ import annotations

import torch
from torch import nn

from semantic_vae.model.config import VAEConfig


class LatentMixer(nn.Module):
    """Class embeddings (B, C, D) in label-id order -> mixed embeddings (B, C, D).

    `lstm_layers=0` is Table 1's "w/o LSTM block": the embeddings go straight to the FFN.
    The FFN is two Linear layers with GELU between, as in the Transformer.
    """

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        self.lstm: nn.LSTM | None = None
        width = config.latent_dim
        if config.lstm_layers > 0:
            self.lstm = nn.LSTM(
                config.latent_dim,
                config.lstm_hidden,
                num_layers=config.lstm_layers,
                bidirectional=config.bidirectional,
                batch_first=True,
            )
            width = config.lstm_hidden * (2 if config.bidirectional else 1)
        self.ffn = nn.Sequential(
            nn.Linear(width, config.ffn_hidden), nn.GELU(), nn.Linear(config.ffn_hidden, config.latent_dim)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.lstm is not None:
            z, _ = self.lstm(z)  # (B, C, hidden * directions); zero initial state: deterministic
        return self.ffn(z)  # (B, C, D)
