"""The latent operations of paper §4, on per-class embeddings z (B, C, D): one implementation,
used by `MaskEditor`, `edit augment` and the benchmarks.

Each function returns a new tensor; rows of parts not named stay as they are (the encoder
mean mu, never a sample, in the editor). Noise is drawn on the CPU from its own seeded
generator and then moved to z's device, so a seed gives the same edit on any device.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from semantic_vae.errors import UserError

SeedSpec = int | Sequence[int]


def draw_noise(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """Standard normal draws on the CPU from their own generator: the same values on any device.

    Draws fill the tensor in order, so the first rows of a larger draw equal a smaller one.
    """
    return torch.randn(shape, generator=torch.Generator(device="cpu").manual_seed(int(seed)))


def part_noise(batch: int, parts: int, dim: int, seed: SeedSpec) -> torch.Tensor:
    """(batch, parts, dim) standard normal draws, on the CPU.

    One int seed: one generator for the batch (mask i gets the i-th draw). A sequence of seeds:
    one generator per mask, so mask i's noise does not depend on the others.
    """
    if isinstance(seed, (int, np.integer)):
        return draw_noise((batch, parts, dim), int(seed))
    seeds = [int(s) for s in seed]
    if len(seeds) != batch:
        raise UserError(f"got {len(seeds)} seeds for {batch} masks")
    return torch.stack([draw_noise((parts, dim), s) for s in seeds]) if seeds else torch.zeros(0, parts, dim)


def generate_parts(z: torch.Tensor, parts: Sequence[int], noise: torch.Tensor) -> torch.Tensor:
    """Generation: the parts' embeddings replaced by `noise` (B, P, D), draws from N(0, I) in the paper."""
    out = z.clone()
    out[:, list(parts)] = noise.to(z.device, z.dtype)
    return out


def perturb_parts(z: torch.Tensor, parts: Sequence[int], noise: torch.Tensor, scale: float) -> torch.Tensor:
    """Perturbation: the parts' embeddings plus scale * noise (B, P, D)."""
    out = z.clone()
    out[:, list(parts)] += scale * noise.to(z.device, z.dtype)
    return out


def steer(z: torch.Tensor, change: torch.Tensor, amount: float) -> torch.Tensor:
    """Steering: every embedding plus amount * change (C, D), the same direction for every mask."""
    return z + amount * change.to(z.device, z.dtype)


def interpolate_parts(
    z_source: torch.Tensor, z_target: torch.Tensor, parts: Sequence[int], alpha: float
) -> torch.Tensor:
    """Eq. 4 per chosen part: m_c = alpha * m_c^target + (1 - alpha) * m_c^source; others from the source.

    alpha = 0 reconstructs the source, alpha = 1 swaps the parts in from the target.
    """
    ids = list(parts)
    out = z_source.clone()
    out[:, ids] = alpha * z_target[:, ids] + (1.0 - alpha) * z_source[:, ids]
    return out
