"""Latent use: whether the model draws each part from that part's own latent (the paper's premise).

Measured at the model's size (inputs are resized with nearest-neighbour), with the model's raw edit
(keep="none"), each part (a class or a group such as "lips") on its own:

* transfer: every mask i takes the part's latents of mask i+1 (a swap), and the share of the way from the
  source's part to the target's that the decoded part covered, in Jaccard distance d = 1 - IoU:

      t = 1 - d(x, b) / d(a, b)

  a, b: the part in the reconstructions of source and target; x: the part after the swap. t = 0 when the
  swapped part is as far from the target's as the source's own (the model ignored the latent it was given),
  1 when it is the target's (the part is drawn from its latent); a part moved elsewhere scores below 0. Pairs
  whose reconstructed parts are nearly equal (d(a, b) < MIN_SPREAD: nothing to move towards) or lack the part
  are left out.
* spread: the mean d(a, b) of the same pairs in the inputs (the data's own spread of the part) and in the
  reconstructions: a transfer of 1 moves the part by the reconstructions' spread.
* generate change: the mean 1 - IoU of the part between the reconstruction and `generate` (the part's latent
  drawn from the prior, `seeds` draws per mask); diversity: the mean pairwise IoU of the part across them.
"""

from __future__ import annotations

from itertools import combinations
from typing import TYPE_CHECKING

import numpy as np

from semantic_vae.data.io import resize_labels
from semantic_vae.edit.edit import Edit
from semantic_vae.mask_geometry import as_batch, iou

if TYPE_CHECKING:
    from semantic_vae.edit.editor import MaskEditor

MIN_SPREAD = 0.05  # pairs whose reconstructed parts differ by less (1 - IoU) carry no direction to move along
TRANSFER_PARTS = ("nose", "eyes", "brows", "lips", "hair")  # the parts the targets name


def jaccard_distance(a: np.ndarray, b: np.ndarray) -> float:
    """1 - IoU of two boolean regions (a metric on sets); 0 for two empty regions."""
    return 1.0 - iou(a, b)


def transfer(source: np.ndarray, target: np.ndarray, swapped: np.ndarray) -> float:
    """The share of the distance from `source` to `target` that `swapped` covered (0: none, 1: all), three boolean
    regions of one part; NaN when the source and target regions are closer than MIN_SPREAD or one is empty."""
    if not source.any() or not target.any():
        return float("nan")
    spread = jaccard_distance(source, target)
    if spread < MIN_SPREAD:
        return float("nan")
    return 1.0 - jaccard_distance(swapped, target) / spread


def _mean(values: list[float]) -> float | None:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else None


def evaluate_latent_use(
    editor: MaskEditor, masks: np.ndarray, parts: dict[str, list[int]], seeds: int = 4, seed: int = 0
) -> dict:
    """Transfer, spread, generate change and diversity of each part on N >= 2 masks; JSON-ready (None: not
    measurable, e.g. no pair of masks has the part)."""
    masks = as_batch(masks)
    if len(masks) < 2:
        raise ValueError(f"latent use needs at least 2 masks, got {len(masks)}")
    if seeds < 2:
        raise ValueError(f"latent use needs at least 2 seeds (diversity), got {seeds}")
    small = resize_labels(masks, editor.image_size)
    n = len(small)
    targets = np.roll(small, -1, axis=0)  # mask i takes mask i+1's part
    recon = editor.reconstruct(small)
    recon_targets = np.roll(recon, -1, axis=0)
    copies = np.concatenate([small] * seeds)  # (K*N, S, S): seed + k*N + i for copy k of mask i
    results: dict = {"count": n, "size": editor.image_size, "seeds": seeds, "min_spread": MIN_SPREAD, "parts": {}}
    for name, ids in parts.items():
        swapped = editor.apply(Edit("swap", [str(c) for c in ids], keep="none"), small, targets)
        generated = editor.apply(Edit("generate", [str(c) for c in ids], seed, keep="none"), copies,
                                 seeds=[seed + i for i in range(len(copies))]).reshape(seeds, *small.shape)  # fmt: skip

        def region(maps: np.ndarray, i: int, ids: list[int] = ids) -> np.ndarray:
            return np.isin(maps[i], ids)

        moved, data_spread, recon_spread, changes, pairwise = [], [], [], [], []
        for i in range(n):
            a, b = region(recon, i), region(recon_targets, i)
            t = transfer(a, b, region(swapped, i))
            moved.append(t)
            if np.isfinite(t):
                data_spread.append(jaccard_distance(region(small, i), region(targets, i)))
                recon_spread.append(jaccard_distance(a, b))
            if a.any():
                drawn = [region(generated[k], i) for k in range(seeds)]
                changes += [jaccard_distance(a, d) for d in drawn]
                pairwise += [iou(x, y) for x, y in combinations(drawn, 2)]
        results["parts"][name] = {
            "transfer": _mean(moved),
            "pairs": int(np.isfinite(moved).sum()),
            "data_spread": _mean(data_spread),
            "recon_spread": _mean(recon_spread),
            "generate_change": _mean(changes),
            "diversity": _mean(pairwise),
        }
    return results


def format_latent_use(results: dict) -> str:
    """The results of `evaluate_latent_use` as a fixed-width text table."""

    def cell(value: float | None) -> str:
        return f"{'-':>12}" if value is None else f"{value:>12.3f}"

    columns = ("transfer", "pairs", "data spread", "rec spread", "gen change", "div IoU")
    header = f"{'part':<9}" + "".join(f"{c:>12}" for c in columns)
    lines = [f"latent use: {results['count']} masks at {results['size']}x{results['size']}, keep=none, "
             f"{results['seeds']} seeds", header, "-" * len(header)]  # fmt: skip
    for part, m in results["parts"].items():
        lines.append(
            f"{part:<9}{cell(m['transfer'])}{m['pairs']:>12}{cell(m['data_spread'])}{cell(m['recon_spread'])}"
            f"{cell(m['generate_change'])}{cell(m['diversity'])}"
        )
    lines.append(
        "transfer: how far a part swapped in from another mask moves from the source's part (0) to the other's (1); "
        "pairs: mask pairs measured; data / rec spread: 1 - IoU of the part between the pair's inputs / "
        "reconstructions; gen change: 1 - IoU of a generated part against the reconstruction's; div IoU: mean "
        "pairwise IoU of generated parts (lower = more diverse)"
    )
    return "\n".join(lines)
