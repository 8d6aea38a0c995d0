"""Edit metrics: what the paper only shows in figures, measured (locality, validity, realism, diversity).

All functions take integer label maps, (H, W) or (N, H, W) numpy arrays, and are exact
functions of them (no model, no randomness), so they can be checked by hand. A part is one
class id or several edited together (the "lips" group: u_lip, l_lip, mouth).

Each edit is compared with its baseline: the input for keep="input", otherwise the model's
reconstruction (what the raw edit would be without the edit).

* Locality: of the pixels an edit changes, the share inside the part's neighbourhood (the part
  in the baseline or the edit, dilated by a distance). Higher is more local.
* Part change: 1 - IoU of the part before and after. Higher: the edit acts on the part.
* Validity: connected components (8-connectivity) per class, stray islands per mask, and the
  islands an edit adds to its baseline.
* Realism: a Fréchet distance between per-mask geometric feature vectors of two mask sets.
* Diversity: mean pairwise IoU of the edited part across seeds. Lower is more diverse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import combinations
from typing import TYPE_CHECKING

import numpy as np

from semantic_vae.edit.edit import Edit
from semantic_vae.edit.region import part_region
from semantic_vae.shapes import (
    as_batch,
    frechet_distance,
    geometric_features,
    iou,
    stray_islands,
    validity,
)

if TYPE_CHECKING:
    from semantic_vae.edit.editor import MaskEditor

METRIC_DISTANCE = 4  # pixels around a part (at the compared masks' size) that count as its neighbourhood

Part = int | Sequence[int]


def _ids(part: Part) -> list[int]:
    return [int(part)] if isinstance(part, (int, np.integer)) else [int(p) for p in part]


# -- locality ---------------------------------------------------------------------------
def neighbourhood(before: np.ndarray, after: np.ndarray, part: Part, distance: int = METRIC_DISTANCE) -> np.ndarray:
    """(H, W) bool: the part's pixels in `before` or `after`, dilated by `distance` pixels (`region.part_region`)."""
    return part_region(before, after, _ids(part), distance)


def locality_counts(
    before: np.ndarray, after: np.ndarray, part: Part, distance: int = METRIC_DISTANCE
) -> tuple[int, int]:
    """(changed pixels, changed pixels inside the part's neighbourhood), summed over a batch."""
    changed_total = inside_total = 0
    for b, a in zip(as_batch(before), as_batch(after), strict=True):
        changed = b != a
        changed_total += int(changed.sum())
        inside_total += int((changed & neighbourhood(b, a, part, distance)).sum())
    return changed_total, inside_total


def locality(before: np.ndarray, after: np.ndarray, part: Part, distance: int = METRIC_DISTANCE) -> float:
    """Share of changed pixels inside the part's neighbourhood, pooled over the batch; NaN if nothing changed."""
    changed, inside = locality_counts(before, after, part, distance)
    return inside / changed if changed else float("nan")


def part_change(before: np.ndarray, after: np.ndarray, part: Part) -> float:
    """Mean over the batch of 1 - IoU of the part's region before and after."""
    ids = _ids(part)
    return float(
        np.mean([1.0 - iou(np.isin(b, ids), np.isin(a, ids)) for b, a in zip(as_batch(before), as_batch(after))])
    )


# -- validity ---------------------------------------------------------------------------
def islands_added(before: np.ndarray, after: np.ndarray, num_classes: int) -> float:
    """Mean over the batch of the stray islands `after` has beyond those of `before` (0 when it has fewer)."""
    pairs = zip(as_batch(before), as_batch(after), strict=True)
    return float(np.mean([max(0, stray_islands(a, num_classes) - stray_islands(b, num_classes)) for b, a in pairs]))


# -- diversity --------------------------------------------------------------------------
def pairwise_part_iou(variants: np.ndarray, part: Part) -> float:
    """Mean IoU of the part's region over all pairs of K >= 2 edits (K, H, W) of one input."""
    regions = [np.isin(v, _ids(part)) for v in variants]
    if len(regions) < 2:
        raise ValueError("diversity needs at least 2 variants")
    return float(np.mean([iou(x, y) for x, y in combinations(regions, 2)]))


def diversity(variants: np.ndarray, part: Part) -> float:
    """(K, N, H, W): K seeds of the same N inputs -> mean over inputs of the mean pairwise part IoU."""
    variants = np.asarray(variants)
    if variants.ndim == 3:
        variants = variants[:, None]
    return float(np.mean([pairwise_part_iou(variants[:, i], part) for i in range(variants.shape[1])]))


# -- the evaluation protocol of `semantic-vae evaluate-edits` ---------------------------
OPERATIONS: tuple[str, ...] = ("generate", "perturb", "swap", "interpolate")


def _nan_to_none(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


@dataclass(frozen=True)
class EditMetricSettings:
    """How `evaluate_editor` measures: seeds per mask, the first seed, and the locality neighbourhood's distance."""

    seeds: int = 4
    seed: int = 0
    distance: int = METRIC_DISTANCE


def _edit_set(
    editor: MaskEditor, edit: Edit, masks: np.ndarray, targets: np.ndarray, settings: EditMetricSettings
) -> np.ndarray:
    """(K, N, H, W) edits of the N masks: K = `settings.seeds` for the random operations, 1 otherwise.

    The K copies go through the model as one batch (few large forward passes are much faster
    than many small ones, the LSTM above all); copy k of mask i has its own seed, seed + k*N + i.
    """
    n, k = len(masks), settings.seeds
    if edit.operation in ("generate", "perturb"):
        copies = np.concatenate([masks] * k)  # (K*N, H, W)
        edits = editor.apply(edit, copies, seeds=[settings.seed + i for i in range(k * n)])
        return edits.reshape(k, *masks.shape)
    return editor.apply(edit, masks, targets)[None]


def evaluate_editor(
    editor: MaskEditor,
    masks: np.ndarray,
    parts: dict[str, list[int]],
    operations: tuple[str, ...] = OPERATIONS,
    edit: Edit = Edit(),
    settings: EditMetricSettings = EditMetricSettings(),
) -> dict:
    """Every edit metric for each operation and part on N >= 2 masks (N, H, W); JSON-ready (NaN -> None).

    `parts` maps a name to the class ids edited together ({"nose": [2], "lips": [10, 11, 12]}). `edit` is the
    template of every edit (its scale, alpha, prior, keep and radius; operation and parts are set here).
    generate / perturb run K = `settings.seeds` times per mask (diversity over those K); swap and
    interpolate take mask i-1 as the target of mask i. Each edit is compared with its
    baseline: the input for keep="input", otherwise the reconstruction. Realism compares against
    the input masks themselves (the real test masks); the reconstruction's distance is the floor.
    """
    masks = as_batch(masks)
    n, h, w = masks.shape
    if n < 2:
        raise ValueError(f"the edit metrics need at least 2 masks, got {n}")
    c = editor.num_classes
    recon = editor.reconstruct(masks)  # (N, H, W)
    baseline = masks if edit.keep == "input" else recon
    real_features = geometric_features(masks, c)
    real_validity = validity(masks, c)
    recon_validity = validity(recon, c)
    results: dict = {
        "count": n,
        "size": [h, w],
        "edit": {k: v for k, v in edit.to_dict().items() if k not in ("operation", "parts", "seed")},
        **asdict(settings),
        "real": {k: real_validity[k] for k in ("fragments", "stray_islands_per_mask")},
        "reconstruct": {
            "pixel_accuracy": float((recon == masks).mean()),
            "fragments": recon_validity["fragments"],
            "stray_islands_per_mask": recon_validity["stray_islands_per_mask"],
            "fd": frechet_distance(geometric_features(recon, c), real_features),
        },
        "operations": {},
    }
    targets = np.roll(masks, 1, axis=0)
    for op in operations:
        per_part: dict = {}
        for name, part in parts.items():
            step = edit.with_(operation=op, parts=[str(i) for i in part])
            edits = _edit_set(editor, step, masks, targets, settings)  # (K, N, H, W)
            flat = edits.reshape(-1, h, w)
            before = np.broadcast_to(baseline, edits.shape).reshape(-1, h, w)
            edit_validity = validity(flat, c)
            per_part[name] = {
                "locality": _nan_to_none(locality(before, flat, part, settings.distance)),
                "changed": float(np.count_nonzero(before != flat)) / flat.size,
                "part_change": part_change(before, flat, part),
                "fragments": edit_validity["fragments"],
                "stray_islands_per_mask": edit_validity["stray_islands_per_mask"],
                "islands_added": islands_added(before, flat, c),
                "fd": frechet_distance(geometric_features(flat, c), real_features),
                "diversity": diversity(edits, part) if len(edits) >= 2 else None,
            }
        results["operations"][op] = per_part
    return results


def format_table(results: dict) -> str:
    """The results of `evaluate_editor` as a fixed-width text table."""

    def cell(value: float | None, fmt: str = "{:.3f}") -> str:
        return "-" if value is None else fmt.format(value)

    columns = ("locality", "changed", "part chg", "frag/cls", "stray/mask", "+islands", "FD", "div IoU")
    header = f"{'operation':<12}{'part':<9}" + "".join(f"{c:>11}" for c in columns)
    lines = [
        f"keep={results['edit']['keep']} (radius {results['edit']['radius']}), prior={results['edit']['prior']}, "
        f"{results['count']} masks at {results['size'][0]}x{results['size'][1]}, {results['seeds']} seeds",
        header,
        "-" * len(header),
    ]
    real, recon = results["real"], results["reconstruct"]
    lines.append(
        f"{'real':<12}{'':<9}{'-':>11}{'-':>11}{'-':>11}{real['fragments']:>11.3f}{real['stray_islands_per_mask']:>11.2f}"
        f"{'-':>11}{'0':>11}{'-':>11}"
    )
    lines.append(
        f"{'reconstruct':<12}{'':<9}{'-':>11}{1 - recon['pixel_accuracy']:>11.3f}{'-':>11}{recon['fragments']:>11.3f}"
        f"{recon['stray_islands_per_mask']:>11.2f}{'-':>11}{recon['fd']:>11.4f}{'-':>11}"
    )
    for op, per_part in results["operations"].items():
        for part, m in per_part.items():
            lines.append(
                f"{op:<12}{part:<9}{cell(m['locality']):>11}{m['changed']:>11.3f}{m['part_change']:>11.3f}"
                f"{m['fragments']:>11.3f}{m['stray_islands_per_mask']:>11.2f}{m['islands_added']:>11.2f}"
                f"{m['fd']:>11.4f}{cell(m['diversity']):>11}"
            )
    lines.append(
        f"locality: share of changed pixels within {results['distance']} px of the part (higher = more local); "
        "changed: share of pixels changed vs the baseline (the input for keep=input, else the reconstruction; "
        "for 'reconstruct': vs the input); part chg: 1 - IoU of the part before and after; +islands: stray "
        "islands added to the baseline per edit; FD: Fréchet distance of geometric features to the real masks; "
        "div IoU: mean pairwise IoU of the part across seeds (lower = more diverse)"
    )
    return "\n".join(lines)
