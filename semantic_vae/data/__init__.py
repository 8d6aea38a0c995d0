"""Data: label-map readers, the synthetic generator, datasets and the datamodule."""
