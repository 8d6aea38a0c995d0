"""Mixer L + F (paper §3.1): LSTM layers over the sequence of class embeddings, then an FFN."""

from __future__ import annotations

import torch
from torch import nn


class LatentMixer(nn.Module):
    """Class embeddings (B, C, D) in label-id order -> mixed embeddings (B, C, D).

    `lstm_layers=0` is Table 1's "w/o LSTM block": the embeddings go straight to the FFN.
    The FFN is two Linear layers with GELU between, as in the Transformer.
    """

    def __init__(
        self,
        latent_dim: int = 256,
        lstm_layers: int = 3,
        bidirectional: bool = True,
        lstm_hidden: int = 256,
        ffn_hidden: int = 1024,
    ) -> None:
        super().__init__()
        self.lstm: nn.LSTM | None = None
        width = latent_dim
        if lstm_layers > 0:
            self.lstm = nn.LSTM(
                latent_dim, lstm_hidden, num_layers=lstm_layers, bidirectional=bidirectional, batch_first=True
            )
            width = lstm_hidden * (2 if bidirectional else 1)
        self.ffn = nn.Sequential(nn.Linear(width, ffn_hidden), nn.GELU(), nn.Linear(ffn_hidden, latent_dim))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.lstm is not None:
            z, _ = self.lstm(z)  # (B, C, hidden * directions); zero initial state: deterministic
        return self.ffn(z)  # (B, C, D)
