"""The Semantic-VAE as plain torch modules (no Lightning): config, encoder, mixer, decoder, VAE, loading."""

from semantic_vae.model.config import VAEConfig
from semantic_vae.model.loading import LoadedModel, load_vae
from semantic_vae.model.vae import SemanticVAE, one_hot

__all__ = ["LoadedModel", "SemanticVAE", "VAEConfig", "load_vae", "one_hot"]
