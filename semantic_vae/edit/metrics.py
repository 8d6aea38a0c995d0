"""Edit metrics: what the paper only shows in figures, measured (locality, validity, realism, diversity).

All functions take integer label maps, (H, W) or (N, H, W) numpy arrays, and are exact
functions of them (no model, no randomness), so they can be checked by hand.

* Locality: of the pixels an edit changes against the reconstruction, the share that lies
  outside the edited part's neighbourhood. Lower is more local.
* Validity: connected components (8-connectivity) per class and stray islands per mask.
* Realism: a Fréchet distance between per-mask geometric feature vectors of two mask sets.
* Diversity: mean pairwise IoU of the edited part across seeds. Lower is more diverse.
"""

from __future__ import annotations

from itertools import combinations
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from semantic_vae.edit.editor import MaskEditor

FEATURES_PER_CLASS = 5  # area, centroid y, centroid x, bounding-box height, bounding-box width
ABSENT_FILL = 0.0  # every feature of a class absent from a mask (zero area, zero extent, centroid at the origin)


def _batch(masks: np.ndarray) -> np.ndarray:
    masks = np.asarray(masks)
    if masks.ndim == 2:
        return masks[None]
    if masks.ndim != 3:
        raise ValueError(f"expected (H, W) or (N, H, W) label maps, got shape {masks.shape}")
    return masks


# -- locality ---------------------------------------------------------------------------
def neighbourhood(before: np.ndarray, after: np.ndarray, part: int, radius: int = 3) -> np.ndarray:
    """(H, W) bool: the part's pixels in `before` or `after`, dilated by `radius` pixels.

    The dilation uses a (2r+1) x (2r+1) square, i.e. every pixel within Chebyshev distance r.
    """
    region = ((before == part) | (after == part)).astype(np.uint8)
    if radius > 0:
        region = cv2.dilate(region, np.ones((2 * radius + 1, 2 * radius + 1), np.uint8))
    return region.astype(bool)


def locality_counts(before: np.ndarray, after: np.ndarray, part: int, radius: int = 3) -> tuple[int, int]:
    """(changed pixels, changed pixels outside the part's neighbourhood), summed over a batch.

    `before` is the reconstruction of the input (what the edit is compared against), `after` the
    edited mask; the neighbourhood is that of `neighbourhood(before, after, part, radius)`.
    """
    changed_total = outside_total = 0
    for b, a in zip(_batch(before), _batch(after), strict=True):
        changed = b != a
        changed_total += int(changed.sum())
        outside_total += int((changed & ~neighbourhood(b, a, part, radius)).sum())
    return changed_total, outside_total


def locality(before: np.ndarray, after: np.ndarray, part: int, radius: int = 3) -> float:
    """Share of changed pixels outside the part's neighbourhood, pooled over the batch; NaN if nothing changed."""
    changed, outside = locality_counts(before, after, part, radius)
    return outside / changed if changed else float("nan")


# -- validity ---------------------------------------------------------------------------
def fragments_per_class(mask: np.ndarray, num_classes: int) -> np.ndarray:
    """(C,) int: connected components (8-connectivity) of each class in one (H, W) mask; 0 when absent."""
    counts = np.zeros(num_classes, dtype=np.int64)
    for c in np.unique(mask):
        if c < num_classes:
            n, _ = cv2.connectedComponents((mask == c).astype(np.uint8), connectivity=8)
            counts[c] = n - 1  # label 0 is everything else
    return counts


def islands(fragment_counts: np.ndarray) -> np.ndarray:
    """(..., C) components per class -> (...) components beyond one per present class."""
    return fragment_counts.sum(-1) - np.count_nonzero(fragment_counts, axis=-1)


def stray_islands(mask: np.ndarray, num_classes: int) -> int:
    """Components of every class other than its largest one, summed over classes (background included).

    A clean face mask has one component per present class, so 0; every extra piece counts 1
    whatever its size. This equals (all components) - (classes present).
    """
    return int(islands(fragments_per_class(mask, num_classes)))


def validity(masks: np.ndarray, num_classes: int) -> dict:
    """Fragment and island statistics of a mask set.

    Returns:
        fragments: mean components per present class, over all (mask, present class) pairs.
        stray_islands_per_mask: mean of `stray_islands` over the masks.
        fragments_per_class: per class id, the mean components over the masks where it is present
            (NaN for a class present in none).
    """
    counts = np.stack([fragments_per_class(m, num_classes) for m in _batch(masks)])  # (N, C)
    present = counts > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = counts.sum(0) / present.sum(0)
    return {
        "fragments": float(counts.sum() / max(1, present.sum())),
        "stray_islands_per_mask": float(islands(counts).mean()),
        "fragments_per_class": [float(v) for v in per_class],
    }


# -- realism ----------------------------------------------------------------------------
def geometric_features(masks: np.ndarray, num_classes: int) -> np.ndarray:
    """(N, 5C) per mask, per class: area, centroid (y, x), bounding-box (height, width).

    Every value is a fraction of the image side (area: of the image), so masks of any size
    compare. A class absent from a mask has all five values set to ABSENT_FILL.
    """
    masks = _batch(masks)
    n, h, w = masks.shape
    feats = np.full((n, num_classes, FEATURES_PER_CLASS), ABSENT_FILL, dtype=np.float64)
    for i, mask in enumerate(masks):
        for c in np.unique(mask):
            if c >= num_classes:
                continue
            ys, xs = np.nonzero(mask == c)
            feats[i, c] = (
                ys.size / (h * w),
                (ys.mean() + 0.5) / h,  # pixel centres
                (xs.mean() + 0.5) / w,
                (ys.max() - ys.min() + 1) / h,
                (xs.max() - xs.min() + 1) / w,
            )
    return feats.reshape(n, num_classes * FEATURES_PER_CLASS)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix (eigenvalues below 0 from rounding clipped)."""
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two (N, F) feature sets (the squared form, as FID).

    d^2 = |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)), covariances with ddof=1.
    Tr((S_a S_b)^(1/2)) is computed as Tr((A S_b A)^(1/2)) with A = S_a^(1/2): a symmetric
    PSD matrix, so the result stays real and defined when the covariances are singular
    (few samples, a class absent from every mask), without the eps-offset of matrix sqrtm.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"expected two (N, F) feature sets with the same F, got {a.shape} and {b.shape}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"need at least 2 samples per set, got {len(a)} and {len(b)}")
    cov_a = np.atleast_2d(np.cov(a, rowvar=False))
    cov_b = np.atleast_2d(np.cov(b, rowvar=False))
    root_a = _psd_sqrt(cov_a)
    middle = root_a @ cov_b @ root_a
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0.0, None)).sum()
    diff = a.mean(0) - b.mean(0)
    value = diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_sqrt
    return float(max(value, 0.0))


# -- diversity --------------------------------------------------------------------------
def iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two boolean regions; 1.0 when both are empty (two identical, empty parts)."""
    union = np.count_nonzero(a | b)
    return np.count_nonzero(a & b) / union if union else 1.0


def pairwise_part_iou(variants: np.ndarray, part: int) -> float:
    """Mean IoU of the part's region over all pairs of K >= 2 edits (K, H, W) of one input."""
    regions = [v == part for v in variants]
    if len(regions) < 2:
        raise ValueError("diversity needs at least 2 variants")
    return float(np.mean([iou(x, y) for x, y in combinations(regions, 2)]))


def diversity(variants: np.ndarray, part: int) -> float:
    """(K, N, H, W): K seeds of the same N inputs -> mean over inputs of the mean pairwise part IoU."""
    variants = np.asarray(variants)
    if variants.ndim == 3:
        variants = variants[:, None]
    return float(np.mean([pairwise_part_iou(variants[:, i], part) for i in range(variants.shape[1])]))


# -- the evaluation protocol of `semantic-vae evaluate-edits` ---------------------------
OPERATIONS: tuple[str, ...] = ("generate", "perturb", "swap", "interpolate")


def _nan_to_none(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def _edit_set(editor: MaskEditor, op: str, masks: np.ndarray, targets: np.ndarray, part: int,
              seeds: int, seed: int, scale: float, alpha: float) -> np.ndarray:
    """(K, N, H, W) edits of the N masks: K = `seeds` for the random operations, 1 otherwise.

    The K copies go through the model as one batch (few large forward passes are much faster
    than many small ones, the LSTM above all); copy k of mask i has its own seed, seed + k*N + i.
    """
    n = len(masks)
    if op in ("generate", "perturb"):
        copies = np.concatenate([masks] * seeds)  # (K*N, H, W)
        per_mask = [seed + i for i in range(seeds * n)]
        if op == "generate":
            edits = editor.generate(copies, part, seed=per_mask)
        else:
            edits = editor.perturb(copies, part, scale=scale, seed=per_mask)
        return edits.reshape(seeds, *masks.shape)
    if op == "swap":
        return editor.swap(masks, targets, part)[None]
    if op == "interpolate":
        return editor.interpolate(masks, targets, part, alpha)[None]
    raise ValueError(f"unknown operation '{op}'; known: {', '.join(OPERATIONS)}")


def evaluate_editor(
    editor: MaskEditor,
    masks: np.ndarray,
    parts: list[int],
    operations: tuple[str, ...] = OPERATIONS,
    seeds: int = 4,
    seed: int = 0,
    scale: float = 1.0,
    alpha: float = 0.5,
    radius: int = 3,
) -> dict:
    """Every edit metric for each operation and part on N >= 2 masks (N, H, W); JSON-ready (NaN -> None).

    generate / perturb run K = `seeds` times per mask (diversity over those K); swap and
    interpolate (at `alpha`) take mask i-1 as the target of mask i. Realism compares against the
    input masks themselves (the real test masks); the reconstruction's distance is the floor.
    """
    masks = _batch(masks)
    n, h, w = masks.shape
    if n < 2:
        raise ValueError(f"the edit metrics need at least 2 masks, got {n}")
    c = editor.num_classes
    recon = editor.reconstruct(masks)  # (N, H, W)
    real_features = geometric_features(masks, c)
    real_validity = validity(masks, c)
    recon_validity = validity(recon, c)
    results: dict = {
        "count": n,
        "size": [h, w],
        "radius": radius,
        "seeds": seeds,
        "scale": scale,
        "alpha": alpha,
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
        for part in parts:
            edits = _edit_set(editor, op, masks, targets, part, seeds, seed, scale, alpha)  # (K, N, H, W)
            flat = edits.reshape(-1, h, w)
            before = np.broadcast_to(recon, edits.shape).reshape(-1, h, w)
            edit_validity = validity(flat, c)
            per_part[editor.class_names[part]] = {
                "locality": _nan_to_none(locality(before, flat, part, radius)),
                "changed": float(np.count_nonzero(before != flat)) / flat.size,
                "part_iou": float(np.mean([iou(b == part, a == part) for b, a in zip(before, flat)])),
                "fragments": edit_validity["fragments"],
                "stray_islands_per_mask": edit_validity["stray_islands_per_mask"],
                "fd": frechet_distance(geometric_features(flat, c), real_features),
                "diversity": diversity(edits, part) if len(edits) >= 2 else None,
            }
        results["operations"][op] = per_part
    return results


def format_table(results: dict) -> str:
    """The results of `evaluate_editor` as a fixed-width text table."""

    def cell(value: float | None, fmt: str = "{:.3f}") -> str:
        return "-" if value is None else fmt.format(value)

    header = f"{'operation':<12}{'part':<9}{'locality':>9}{'changed':>9}{'part IoU':>9}{'frag/cls':>9}{'stray/mask':>11}{'FD':>9}{'div IoU':>9}"
    lines = [header, "-" * len(header)]
    real, recon = results["real"], results["reconstruct"]
    lines.append(f"{'real':<12}{'':<9}{'-':>9}{'-':>9}{'-':>9}{real['fragments']:>9.3f}{real['stray_islands_per_mask']:>11.2f}{'0':>9}{'-':>9}")
    lines.append(
        f"{'reconstruct':<12}{'':<9}{'-':>9}{1 - recon['pixel_accuracy']:>9.3f}{'-':>9}{recon['fragments']:>9.3f}"
        f"{recon['stray_islands_per_mask']:>11.2f}{recon['fd']:>9.4f}{'-':>9}"
    )
    for op, per_part in results["operations"].items():
        for part, m in per_part.items():
            lines.append(
                f"{op:<12}{part:<9}{cell(m['locality']):>9}{m['changed']:>9.3f}{m['part_iou']:>9.3f}{m['fragments']:>9.3f}"
                f"{m['stray_islands_per_mask']:>11.2f}{m['fd']:>9.4f}{cell(m['diversity']):>9}"
            )
    lines.append(
        "locality: share of changed pixels outside the part's neighbourhood (lower = more local); "
        "changed: share of pixels changed vs the reconstruction (for 'reconstruct': vs the input); "
        "part IoU: the part before vs after; FD: Fréchet distance of geometric features to the real masks; "
        "div IoU: mean pairwise IoU of the part across seeds (lower = more diverse)"
    )
    return "\n".join(lines)
