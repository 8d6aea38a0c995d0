"""The Semantic-VAE as plain torch modules (no Lightning): encoder, mixer, decoder, VAE."""

from semantic_vae.model.vae import SemanticVAE, one_hot

__all__ = ["SemanticVAE", "one_hot"]
