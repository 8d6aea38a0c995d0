"""Mixer L + F (paper §3.1): LSTM layers over the sequence of class embeddings, then an FFN."""

from __future__ import annotations

import torch
from torch import nn

from semantic_vae.model.config import VAEConfig


class LatentMixer(nn.Module):
    """Class embeddings (B, L, D) in label-id order -> mixed embeddings (B, L, D).

    `lstm_layers=0` is Table 1's "w/o LSTM block": the embeddings go straight to the FFN.
    The FFN is two Linear layers with GELU between, as in the Transformer; with `mixer_residual` (the
    released network) a linear projection of its input is added to its output (the identity when the widths
    agree). The LSTM starts from zeros, or (`lstm_init="random"`, as released) from N(0, 1) drawn at every call.
    With `latent_skip` each class's own embedding is added to its output.
    """

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        self.lstm: nn.LSTM | None = None
        self.random_init = config.lstm_init == "random"
        self.latent_skip = config.latent_skip
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
        self.residual: nn.Module | None = None
        if config.mixer_residual:
            self.residual = nn.Linear(width, config.latent_dim) if width != config.latent_dim else nn.Identity()

    def initial_state(self, z: torch.Tensor, generator: torch.Generator | None) -> tuple[torch.Tensor, ...] | None:
        """None (zeros), or (h0, c0) of N(0, 1) (layers * directions, B, hidden), drawn on the CPU when seeded."""
        if not self.random_init or self.lstm is None:
            return None
        shape = (self.lstm.num_layers * (2 if self.lstm.bidirectional else 1), z.shape[0], self.lstm.hidden_size)
        if generator is None:
            return torch.randn(shape, device=z.device, dtype=z.dtype), torch.randn(
                shape, device=z.device, dtype=z.dtype
            )
        h0, c0 = torch.randn((2, *shape), generator=generator).to(z.device, z.dtype)
        return h0, c0

    def forward(self, z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        h = z
        if self.lstm is not None:
            h, _ = self.lstm(z, self.initial_state(z, generator))  # (B, L, hidden * directions)
        out = self.ffn(h)  # (B, L, D)
        if self.residual is not None:
            out = out + self.residual(h)
        return out + z if self.latent_skip else out
