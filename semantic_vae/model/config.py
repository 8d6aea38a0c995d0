"""`VAEConfig`: every size of the network in one typed object, with the paper's values as defaults.

It is the single source of the network's hyperparameters: the LightningModule takes it as
`model.net` (YAML `model: net: {...}`), the benchmarks and the editor build the network from it,
and checkpoints store it as a plain dict.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from semantic_vae.errors import UserError


def check_image_size(size: int, latent_side: int = 16, what: str = "image_size") -> int:
    """A mask side the decoder can draw: the latent side times a power of two (32, 64, ..., 512 for 16x16)."""
    blocks = math.log2(size / latent_side) if isinstance(size, int) and size > 0 else 0.0
    if blocks < 1 or not blocks.is_integer():
        raise UserError(
            f"{what} must be {latent_side} times a power of two (e.g. {2 * latent_side}, {4 * latent_side}, ..., "
            f"{32 * latent_side}), got {size}"
        )
    return size


@dataclass(frozen=True)
class VAEConfig:
    """The Semantic-VAE of paper §3.1 (Fig. 1).

    Args:
        num_classes: classes of the label set (linked from the DataModule).
        image_size: mask side: 16 times a power of two (32, 64, 128, 256); linked from the DataModule.
        latent_dim: per-class latent size, a square: decoded as side x side maps (paper: 16x16 = 256).
        encoder_hidden: widths of the shared MLP (paper: 256, 256, 256; reference code: 1024, 512, 256).
        encoder_input_size: resize each channel to this side before the MLP (reference code: 128); None keeps it.
        lstm_layers: LSTM layers of the mixer; 0 is Table 1's "w/o LSTM block" (paper: 3).
        bidirectional: bidirectional LSTM layers (paper: yes).
        lstm_hidden: LSTM hidden size (paper: 256).
        ffn_hidden: inner width of the mixer's feed-forward block (reference code: 1024).
        decoder_width: decoder base width; block widths halve from 8x this (reference code: 64).
        background: "predicted" (a latent and a logit like every class; the paper's), "context" (no latent: its logit
            is drawn from the parts' latents, so the parts' own latents, not the background's, decide where they end;
            beyond the paper) or "derived" (released network: no latent; its logit is 1 where the parts' logits sum
            to <= 0, else 0).
        encoder_resize: how a channel is resized to `encoder_input_size`: "area" (ours) or "nearest" (released).
        mixer_residual: add a linear projection of the LSTM output to the FFN's (released network), else FFN only.
        decoder_head_norm: GroupNorm + SiLU before the decoder's last 1x1 conv (ours); the released network has none.
        lstm_init: the LSTM's initial state: "zeros" (deterministic, ours) or "random" (released: N(0, 1) at
            every decode, seeded from the edit's seed when editing).
        logit_upsample: the decoder draws the logits at image_size / logit_upsample and they are upsampled
            bilinearly to image_size (1: drawn at full size, the paper's; 2: a block fewer, as segmentation networks
            draw at a stride; beyond the paper).
        latent_skip: add each part's own latent to its mixed latent before the decoder (beyond the paper): the
            decoder reads a part from its own latent directly, and the mixer adds what the neighbours imply.
    """

    num_classes: int = 19
    image_size: int = 256
    latent_dim: int = 256
    encoder_hidden: tuple[int, ...] = (256, 256, 256)
    encoder_input_size: int | None = None
    lstm_layers: int = 3
    bidirectional: bool = True
    lstm_hidden: int = 256
    ffn_hidden: int = 1024
    decoder_width: int = 64
    background: Literal["predicted", "context", "derived"] = "predicted"
    encoder_resize: Literal["area", "nearest"] = "area"
    mixer_residual: bool = False
    decoder_head_norm: bool = True
    lstm_init: Literal["zeros", "random"] = "zeros"
    logit_upsample: int = 1
    latent_skip: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "encoder_hidden", tuple(int(w) for w in self.encoder_hidden))
        if self.num_classes < 2:
            raise UserError(f"model.net.num_classes must be at least 2, got {self.num_classes}")
        side = math.isqrt(self.latent_dim) if self.latent_dim > 0 else 0
        if side < 1 or side * side != self.latent_dim:
            raise UserError(f"model.net.latent_dim must be a square (16*16=256 in the paper), got {self.latent_dim}")
        if self.logit_upsample not in (1, 2):
            raise UserError(f"model.net.logit_upsample must be 1 or 2, got {self.logit_upsample}")
        check_image_size(self.image_size, side * self.logit_upsample)
        for name in ("lstm_hidden", "ffn_hidden", "decoder_width"):
            if getattr(self, name) < 1:
                raise UserError(f"model.net.{name} must be at least 1, got {getattr(self, name)}")
        if self.lstm_layers < 0:
            raise UserError(f"model.net.lstm_layers must be 0 or more, got {self.lstm_layers}")
        if not self.encoder_hidden or min(self.encoder_hidden) < 1:
            raise UserError(f"model.net.encoder_hidden must list positive widths, got {list(self.encoder_hidden)}")
        if self.encoder_input_size is not None and self.encoder_input_size < 1:
            raise UserError(f"model.net.encoder_input_size must be positive, got {self.encoder_input_size}")
        for name, allowed in (("background", ("predicted", "context", "derived")), ("encoder_resize", ("area", "nearest")),
                              ("lstm_init", ("zeros", "random"))):  # fmt: skip
            if getattr(self, name) not in allowed:
                raise UserError(f"model.net.{name}: unknown '{getattr(self, name)}'; choose from {', '.join(allowed)}")

    @property
    def latent_side(self) -> int:
        return math.isqrt(self.latent_dim)

    @property
    def latent_classes(self) -> tuple[int, ...]:
        """The class ids that have a latent, in order: all of them, or all but the background (context or derived)."""
        return tuple(range(0 if self.background == "predicted" else 1, self.num_classes))

    @property
    def num_latents(self) -> int:
        return len(self.latent_classes)

    def to_dict(self) -> dict[str, Any]:
        """Plain types only (lists, ints, bools): what checkpoints and loggers store."""
        values = asdict(self)
        values["encoder_hidden"] = list(self.encoder_hidden)
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> VAEConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UserError(f"model.net: unknown keys {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**values)
