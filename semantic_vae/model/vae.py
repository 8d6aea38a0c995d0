"""The Semantic-VAE (paper Fig. 1) and the latent-space primitives that editing builds on."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from semantic_vae.errors import UserError
from semantic_vae.labels import nearest_indices
from semantic_vae.model.config import VAEConfig
from semantic_vae.model.decoder import MaskDecoder
from semantic_vae.model.encoder import ClassEncoder
from semantic_vae.model.mixer import LatentMixer
from semantic_vae.model.prior import PartPrior


def one_hot(labels: torch.Tensor, num_classes: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(B, H, W) integer labels (uint8 is fine) -> contiguous (B, C, H, W) one-hot, on the labels' device.

    A comparison against the class ids instead of `F.one_hot`: no int64 (B, H, W, C) intermediate,
    no permuted copy, and no host sync for a range check (labels are validated where they are read:
    the cache, the PNG readers, `MaskEditor`). An id >= num_classes gives an all-zero pixel.
    """
    classes = torch.arange(num_classes, device=labels.device, dtype=labels.dtype).view(1, -1, 1, 1)
    return (labels.unsqueeze(1) == classes).to(dtype)


class SemanticVAE(nn.Module):
    """Encode each class channel to its own latent, mix the latents, decode a mask.

    encode: (B, C, H, W) one-hot -> mu, logvar (B, L, D)
    mix:    (B, L, D) -> (B, L, D)
    decode: (B, L, D) -> logits (B, C, H, W)

    L = C latents, one per class; with `background="context"` or `"derived"` (the released network) L = C - 1:
    the background has no latent, and its logit is decoded from the parts' latents ("context") or derived from
    the parts' logits (`with_background`).
    """

    def __init__(self, config: VAEConfig | None = None) -> None:
        super().__init__()
        self.config = config or VAEConfig()
        self.num_classes = self.config.num_classes
        self.image_size = self.config.image_size
        self.latent_dim = self.config.latent_dim
        self.encoder = ClassEncoder(self.config)
        self.mixer = LatentMixer(self.config)
        self.decoder = MaskDecoder(self.config)
        self.prior = PartPrior(self.config)  # buffers only: the data prior of `generate(prior="data")`
        self.latent_classes = self.config.latent_classes

    def latent_rows(self, class_ids: Sequence[int]) -> list[int]:
        """The latent row of each class id (the id itself, or id - 1 when the background has no latent)."""
        first = self.latent_classes[0]
        rows = []
        for c in class_ids:
            if not first <= int(c) < self.num_classes:
                name = "the background" if int(c) == 0 else f"class {c}"
                raise UserError(f"{name} has no latent in this model (its background is drawn from the parts')")
            rows.append(int(c) - first)
        return rows

    def encode(self, onehot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encoder(onehot)

    def mix(self, z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.mixer(z, generator)

    def decode(self, z_mixed: torch.Tensor) -> torch.Tensor:
        return self.with_background(self.decoder(z_mixed))

    def with_background(self, logits: torch.Tensor) -> torch.Tensor:
        """(B, L, H, W) -> (B, C, H, W): as it is, or with the derived background channel prepended: 1 where the
        parts' logits sum to <= 0, 0 elsewhere (the released network's rule)."""
        if logits.shape[1] == self.num_classes:
            return logits
        background = (logits.sum(1, keepdim=True) <= 0).to(logits.dtype)  # (B, 1, H, W)
        return torch.cat([background, logits], dim=1)

    def decode_latents(self, z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Per-class latents (B, L, D) -> logits (B, C, H, W): the mixer adapts neighbours to an edited part.

        `generator` seeds a random initial LSTM state (`lstm_init="random"`); unused otherwise.
        """
        return self.decode(self.mix(z, generator))

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        return mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)

    def encode_labels(self, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, H, W) integer label maps at the model's size -> mu, logvar (`encode` of their one-hot).

        A gather-sum over each class's pixels (`F.embedding_bag`) computes the first layer with 1/C of the dense
        product's work, but measured 1.3x (64x64) to 6x (256x256) slower than the dense product on CPU, its
        backward included (BENCHMARKS.md): the dense one-hot product stays.
        """
        return self.encode(one_hot(labels, self.num_classes))

    def from_labels(self, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, H, W) integer label maps at the model's size -> logits, mu, logvar (`forward` of their one-hot)."""
        mu, logvar = self.encode_labels(labels)
        z = self.reparameterize(mu, logvar) if self.training else mu
        return self.decode_latents(z), mu, logvar

    def forward(self, onehot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Training: a reparameterised sample; evaluation: the mean. Returns logits, mu, logvar."""
        mu, logvar = self.encode(onehot)
        z = self.reparameterize(mu, logvar) if self.training else mu
        return self.decode_latents(z), mu, logvar


def resize_nearest(labels: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(B, h, w) labels -> (B, height, width) on their device, with `labels.nearest_indices`."""
    b, h, w = labels.shape
    if (h, w) == (height, width):
        return labels
    ys = torch.from_numpy(nearest_indices(h, height)).to(labels.device)
    xs = torch.from_numpy(nearest_indices(w, width)).to(labels.device)
    return labels[:, ys][:, :, xs]


UPSAMPLE_CHUNK = 4  # masks whose logits are upsampled at once (19 x 512 x 512 floats each: 20 MB)


UPSAMPLE_MODES = ("bilinear", "nearest")


def class_map(logits: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) logits -> (N, H, W) int64 class ids: `logits.argmax(1)`, the first class on ties as well.

    `max(1).indices` computes the same and is 3-4x faster than `argmax(1)` on CPU for these shapes (19 classes,
    64x64 to 128x128, batch 16: 2.3 vs 8.6 ms, 9 vs 34 ms), where an edit spent a third of its time.
    """
    return logits.max(1).indices


def labels_at(
    logits: torch.Tensor,
    size: tuple[int, int] | None,
    exclude: Sequence[int] | torch.Tensor = (),
    upsample: str = "bilinear",
) -> torch.Tensor:
    """(n, C, S, S) logits -> (n, H, W) uint8 labels at `size` (the model's when None).

    `upsample="bilinear"` interpolates the logits before the argmax, so a 64x64 model's parts come out at 512x512
    with smooth contours instead of 8-pixel staircases; "nearest" resizes the model's label map (the staircases;
    RESULTS.md measures both). Shrinking is always nearest-neighbour, which needs no new detail. Classes in
    `exclude` are left out of the argmax: class ids for every map, or an (n, C) boolean tensor per map.
    """
    if upsample not in UPSAMPLE_MODES:
        raise ValueError(f"upsample must be one of {', '.join(UPSAMPLE_MODES)}, got {upsample!r}")
    if isinstance(exclude, torch.Tensor):
        logits = logits.masked_fill(exclude.to(logits.device)[:, :, None, None], -torch.inf)
    elif exclude:
        logits = logits.clone()
        logits[:, list(exclude)] = -torch.inf
    s = logits.shape[-1]
    if size is None or tuple(size) == (s, s):
        return class_map(logits).to(torch.uint8)
    if size[0] < s or size[1] < s or upsample == "nearest":
        return resize_nearest(class_map(logits).to(torch.uint8), *size)
    pieces = []
    for chunk in logits.split(UPSAMPLE_CHUNK):
        finite = chunk.nan_to_num(neginf=-1e4)  # an excluded class stays last after interpolation
        up = F.interpolate(finite, size=tuple(size), mode="bilinear", align_corners=False)
        pieces.append(class_map(up).to(torch.uint8))
    return torch.cat(pieces)
