"""The option groups the edit commands share, each declared and documented once: jsonargparse flattens them into
every command's flags (--ckpt, --input, --target, ...)."""

from __future__ import annotations

from dataclasses import dataclass

from semantic_vae.edit.editor import MaskEditor


@dataclass(frozen=True)
class ModelOptions:
    """The model.

    Args:
        ckpt: a Semantic-VAE checkpoint (.ckpt from `semantic-vae fit`, or a file from `semantic-vae convert`).
        device: cpu, cuda, cuda:1, ...; default: CUDA when available.
        batch_size: masks per forward pass.
    """

    ckpt: str
    device: str | None = None
    batch_size: int = 64

    def editor(self) -> MaskEditor:
        return MaskEditor.from_checkpoint(self.ckpt, device=self.device, batch_size=self.batch_size)


@dataclass(frozen=True)
class Files:
    """The label PNGs.

    Args:
        input: a label PNG (grayscale ids or colourised) or a folder of them.
        out: output folder: <name>.png labels, color/<name>.png, manifest.csv (written last).
    """

    input: str
    out: str


@dataclass(frozen=True)
class Figure:
    """The command's figure.

    Args:
        figure: write the command's figure grid into the output folder.
    """

    figure: bool = True


@dataclass(frozen=True)
class Target:
    """The second mask of interpolate and swap.

    Args:
        target: target label PNG (for every input) or a folder with one per input (sorted order).
    """

    target: str
