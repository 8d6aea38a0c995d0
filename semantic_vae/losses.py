"""The paper's loss (§3.2): weighted cross-entropy (Eq. 2) + lambda * KL (Eq. 3)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def weighted_cross_entropy(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """Eq. 2 divided by the number of pixels: mean over pixels of -w[y] * log p_y.

    Dividing by the pixel count (not by the sum of the weights, as `F.cross_entropy` would)
    keeps the weighted and plain losses on the same scale, so lambda means the same in both.
    logits (B, C, H, W), target (B, H, W) integer, weight (C,) or None for plain CE.
    """
    nll = F.cross_entropy(logits, target.long(), reduction="none")  # (B, H, W)
    if weight is not None:
        nll = nll * weight.to(nll.dtype)[target.long()]
    return nll.mean()


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, I)) summed over every class and latent dim, averaged over the batch."""
    kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())  # (B, C, D)
    return kl.flatten(1).sum(1).mean()

