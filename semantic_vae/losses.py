"""The paper's training objective (§3.2), Eq. 1-3 in one place.

Eq. 1  class weights      w_c = 1 - (pixels of class c) / (all pixels), over the training split
Eq. 2  weighted CE        L_wCE = mean over pixels of -w[y] * log p_y
Eq. 3  total              L = L_wCE + lambda * KL(N(mu, sigma^2) || N(0, I))

The KL is summed over every class and latent dimension and averaged over the batch (reference code).

Beyond the paper, two settings against posterior collapse of the small parts' latents (both off
by default, so the paper's loss is unchanged): free bits per class (Kingma et al. 2016), a floor
under each class latent's batch-mean KL below which it costs nothing, and a KL warm-up (Bowman et
al. 2016), a weight ramped from 0 to lambda (applied by the LightningModule).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from semantic_vae.errors import UserError


def class_weights(counts: np.ndarray) -> np.ndarray:
    """Eq. 1 from the (N, C) pixel counts of a subset: w_c = 1 - pixels of c / all pixels.

    Returns (C,) float64. The sums are exact integers, so every process gets the same weights.
    """
    counts = np.asarray(counts)
    if counts.ndim != 2:
        raise UserError(f"class_weights: expected (N, C) pixel counts, got shape {counts.shape}")
    per_class = counts.sum(axis=0, dtype=np.int64)
    total = int(per_class.sum())
    if total == 0:
        raise UserError("class_weights: the subset has no pixels (no masks selected?)")
    return 1.0 - per_class / total


def weighted_cross_entropy(
    logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None, counted: torch.Tensor | None = None
) -> torch.Tensor:
    """Eq. 2 divided by the number of pixels: mean over pixels of -w[y] * log p_y.

    Dividing by the pixel count (not by the sum of the weights, as `F.cross_entropy` would)
    keeps the weighted and plain losses on the same scale, so lambda means the same in both.
    logits (B, C, H, W), target (B, H, W) integer, weight (C,) or None for plain CE; `counted` (B, C) bool
    leaves out the pixels of the classes it marks False (context dropout), still dividing by every pixel.
    """
    target = target.long()
    nll = F.cross_entropy(logits, target, reduction="none")  # (B, H, W)
    if weight is not None:
        nll = nll * weight.to(nll.dtype)[target]
    if counted is not None:
        nll = nll * counted.gather(1, target.flatten(1)).view_as(nll).to(nll.dtype)
    return nll.mean()


def kl_per_class(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, I)) of each class latent, in nats: (B, C, D) -> (B, C), summed in float32 (under
    bf16 autocast the encoder's heads give bf16, whose 8-bit mantissa would round a sum of 256 terms)."""
    mu, logvar = mu.float(), logvar.float()
    return (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).sum(-1)


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL summed over every class and latent dim, averaged over the batch (the paper's term)."""
    return kl_per_class(mu, logvar).sum(1).mean()


def free_bits_kl(mu: torch.Tensor, logvar: torch.Tensor, free_bits: float) -> torch.Tensor:
    """Sum over classes of max(free_bits, the class latent's KL averaged over the batch), in nats.

    Below the floor a class latent's KL has no gradient, so the encoder gains nothing by
    collapsing it onto the prior; with free_bits = 0 this equals `kl_divergence`.
    """
    return kl_per_class(mu, logvar).mean(0).clamp(min=free_bits).sum()


def soft_dice(probs: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(1 - 2|p t| / (|p| + |t|), whether the part is present) per (mask, part); probs and target (B, P, N)."""
    area = target.sum(-1)  # (B, P)
    dice = 1.0 - 2.0 * (probs * target).sum(-1) / (probs.sum(-1) + area).clamp(min=1e-6)
    return dice, area > 0


def part_silhouette_loss(logits: torch.Tensor, silhouettes: torch.Tensor) -> torch.Tensor:
    """Each latent's own silhouette, decoded alone (`model.part_decoder`), against the part's pixel share.

    logits and silhouettes (B, L, S, S), silhouettes in [0, 1] (the one-hot averaged down to S x S). Binary
    cross-entropy over every pixel plus a soft Dice term per present part (1 - 2|p t| / (|p| + |t|)), so a part
    of a few pixels weighs as much as the hair. Returns the mean of the two.
    """
    bce = F.binary_cross_entropy_with_logits(logits.float(), silhouettes.float())
    dice, present = soft_dice(torch.sigmoid(logits.float()).flatten(2), silhouettes.float().flatten(2))  # (B, L)
    dice_term = dice[present].mean() if present.any() else dice.sum() * 0.0
    return 0.5 * (bce + dice_term)


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - soft Dice of each class present in each mask, averaged: every present part weighs the same, however few
    its pixels. logits (B, C, H, W), target (B, H, W) integer."""
    probs = logits.float().softmax(1).flatten(2)  # (B, C, H*W)
    onehot = torch.zeros_like(probs).scatter_(1, target.long().flatten(1)[:, None], 1.0)
    dice, present = soft_dice(probs, onehot)  # (B, C)
    return dice[present].mean()


def vae_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    weight: torch.Tensor | None,
    kl_weight: float,
    free_bits: float = 0.0,
    counted: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Eq. 3: {"loss": ce + kl_weight * KL term, "ce": Eq. 2, "kl": the KL in nats per mask}.

    The KL term is the KL itself (the paper), or with `free_bits` > 0 `free_bits_kl`. `counted`: the classes
    whose pixels the CE counts, per mask (`weighted_cross_entropy`).
    """
    ce = weighted_cross_entropy(logits, target, weight, counted)
    kl = kl_divergence(mu, logvar)
    penalty = kl if free_bits <= 0 else free_bits_kl(mu, logvar, free_bits)
    return {"loss": ce + kl_weight * penalty, "ce": ce, "kl": kl}
