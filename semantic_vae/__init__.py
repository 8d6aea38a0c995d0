"""semantic-vae: part-level editing and generation of face segmentation masks."""

__version__ = "0.2.0"
