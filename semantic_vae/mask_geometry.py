"""Geometry of label maps: connected pieces, stray islands, per-class features, the Fréchet distance.

Pure numpy/OpenCV functions of integer label maps, (H, W) or (N, H, W), with no model and no
randomness, so each can be checked by hand. The edit metrics, the comparison of synthetic with
real masks and the part attributes all measure masks with these.
"""

from __future__ import annotations

import cv2
import numpy as np

FEATURES_PER_CLASS = 5  # area, centroid y, centroid x, bounding-box height, bounding-box width
ABSENT_FILL = 0.0  # every feature of a class absent from a mask (zero area, zero extent, centroid at the origin)


def as_batch(masks: np.ndarray) -> np.ndarray:
    """(H, W) or (N, H, W) label maps -> (N, H, W)."""
    masks = np.asarray(masks)
    if masks.ndim == 2:
        return masks[None]
    if masks.ndim != 3:
        raise ValueError(f"expected (H, W) or (N, H, W) label maps, got shape {masks.shape}")
    return masks


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
    counts = np.stack([fragments_per_class(m, num_classes) for m in as_batch(masks)])  # (N, C)
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
    masks = as_batch(masks)
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


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two boolean regions; 1.0 when both are empty (two identical, empty parts)."""
    union = np.count_nonzero(a | b)
    return np.count_nonzero(a & b) / union if union else 1.0
