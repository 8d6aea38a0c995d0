"""The Semantic-VAE as plain torch modules (no Lightning): config, encoder, mixer, decoder, VAE."""

from semantic_vae.model.config import VAEConfig
from semantic_vae.model.vae import SemanticVAE, one_hot

__all__ = ["SemanticVAE", "VAEConfig", "one_hot"]
