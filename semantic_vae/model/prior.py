"""`PartPrior`: a Gaussian per class fitted on the training split's posterior means (beyond the paper).

The paper generates a part by drawing its latent from N(0, I). Where a class latent uses only a
corner of that space, N(0, I) draws land where the decoder never looked during training; drawing
from N(mean_c, Sigma_c) of the class's own posterior means keeps generated parts like real ones.
Fitted at the end of each training epoch and stored with the weights (buffers).
"""

from __future__ import annotations

import torch
from torch import nn

from semantic_vae.model.config import VAEConfig

JITTER = 1e-5  # added to the covariance diagonal so its Cholesky factor exists (singular with few masks)


class PartPrior(nn.Module):
    """mean (L, D) and lower-triangular scale (L, D, D) per latent; `fitted` says whether they hold a fit."""

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        c, d = config.num_latents, config.latent_dim
        self.register_buffer("mean", torch.zeros(c, d))
        self.register_buffer("scale_tril", torch.eye(d).expand(c, d, d).clone())
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    @torch.no_grad()
    def fit(self, mean: torch.Tensor, covariance: torch.Tensor) -> None:
        """From the per-class mean (C, D) and covariance (C, D, D) of mu (float64 is best)."""
        d = covariance.shape[-1]
        eye = torch.eye(d, dtype=covariance.dtype, device=covariance.device)
        scale = covariance.diagonal(dim1=-2, dim2=-1).mean(-1).clamp(min=1.0)[:, None, None]
        factor, info = torch.linalg.cholesky_ex(covariance + JITTER * scale * eye)
        if bool((info != 0).any()):  # not positive definite even with jitter: keep the diagonal
            factor = torch.diag_embed(covariance.diagonal(dim1=-2, dim2=-1).clamp(min=0).sqrt())
        self.mean.copy_(mean.to(self.mean.dtype))
        self.scale_tril.copy_(factor.to(self.scale_tril.dtype))
        self.fitted.fill_(True)

    def transform(self, noise: torch.Tensor, parts: list[int]) -> torch.Tensor:
        """Standard normal noise (B, P, D) for the given latent rows -> draws from their fitted Gaussians."""
        mean = self.mean[parts].to(noise.device, noise.dtype)  # (P, D)
        scale = self.scale_tril[parts].to(noise.device, noise.dtype)  # (P, D, D)
        return mean + torch.einsum("pde,bpe->bpd", scale, noise)
