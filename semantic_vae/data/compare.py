"""Statistics of a mask set that tell two sets apart (`semantic-vae data compare`: synthetic against real masks).

Both sets are measured at one size with the same functions: per class the pixel share, the
presence, the pieces, the position and extent, and two contour measures of smoothness; overall
the realism Fréchet distance of `semantic_vae.mask_geometry` (the edit metrics' measure).

Contour measures, per class region of one mask (`cv2.findContours`, outer contours, every pixel):

* perimeter² / area: the summed contour lengths squared over the summed contour areas, both
  through pixel centres (an axis-aligned square gives exactly 16, a disc about 4π, a ragged or
  elongated region more); averaged over the masks where the class is present.
* turning angle: each contour is walked every `turning_step(size)` pixels (1/64 of the image side,
  so sizes compare) and the absolute angle between successive chords is averaged, in degrees, over
  every vertex of the set. A convex outline of the same length turns 360° in all; wiggles, notches
  and staircases add to it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from semantic_vae.console import Progress
from semantic_vae.labels import CELEBAMASK_HQ


def turning_step(size: int) -> int:
    """Contour points between two vertices of the turning-angle walk: 1/64 of the side, at least 1."""
    return max(1, size // 64)


@dataclass
class MaskStatistics:
    """Per mask (N) and class (C) measurements of a mask set, the raw material of `summarise`."""

    size: int
    pixels: np.ndarray  # (N, C) pixel counts
    fragments: np.ndarray  # (N, C) connected pieces (8-connectivity, as mask_geometry.fragments_per_class)
    centroid: np.ndarray  # (N, C, 2) (y, x) of the pixel centres, fraction of the side; NaN when absent
    extent: np.ndarray  # (N, C, 2) bounding-box (height, width), fraction of the side; NaN when absent
    perimeter: np.ndarray  # (N, C) summed outer contour length, pixels
    contour_area: np.ndarray  # (N, C) summed outer contour area, pixels²
    turn_sum: np.ndarray  # (N, C) summed absolute turning angles, degrees
    turn_count: np.ndarray  # (N, C) vertices those angles were taken at


def _turning(contour: np.ndarray, step: int) -> tuple[float, int]:
    """Summed absolute turning angle (degrees) and vertex count of one closed contour walked every `step` points."""
    points = contour[::step, 0, :].astype(np.float64)
    if len(points) < 3:
        return 0.0, 0
    chords = np.roll(points, -1, axis=0) - points  # chord i runs from vertex i to vertex i + 1
    before = np.roll(chords, 1, axis=0)
    cross = before[:, 0] * chords[:, 1] - before[:, 1] * chords[:, 0]
    dot = (before * chords).sum(1)
    return float(np.degrees(np.abs(np.arctan2(cross, dot))).sum()), len(points)


def measure(
    masks: np.ndarray, num_classes: int = CELEBAMASK_HQ.num_classes, progress: Progress | None = None
) -> MaskStatistics:
    """Measure (N, H, W) square label maps class by class (`progress` counts the masks)."""
    masks = np.asarray(masks)
    n, size, _ = masks.shape
    step = turning_step(size)
    stats = MaskStatistics(
        size=size,
        pixels=np.zeros((n, num_classes), np.int64),
        fragments=np.zeros((n, num_classes), np.int64),
        centroid=np.full((n, num_classes, 2), np.nan),
        extent=np.full((n, num_classes, 2), np.nan),
        perimeter=np.zeros((n, num_classes)),
        contour_area=np.zeros((n, num_classes)),
        turn_sum=np.zeros((n, num_classes)),
        turn_count=np.zeros((n, num_classes), np.int64),
    )
    for i, mask in enumerate(masks):
        for c in np.unique(mask):
            if c >= num_classes:
                continue
            region = (mask == c).astype(np.uint8)
            count, _, boxes, centres = cv2.connectedComponentsWithStats(region, connectivity=8)
            boxes, centres = boxes[1:], centres[1:]  # component 0 is everything else
            areas = boxes[:, cv2.CC_STAT_AREA]
            top, left = boxes[:, cv2.CC_STAT_TOP], boxes[:, cv2.CC_STAT_LEFT]
            bottom, right = top + boxes[:, cv2.CC_STAT_HEIGHT], left + boxes[:, cv2.CC_STAT_WIDTH]
            stats.pixels[i, c] = areas.sum()
            stats.fragments[i, c] = count - 1
            mean_xy = (centres * areas[:, None]).sum(0) / areas.sum()
            stats.centroid[i, c] = (mean_xy[1] + 0.5) / size, (mean_xy[0] + 0.5) / size
            stats.extent[i, c] = (bottom.max() - top.min()) / size, (right.max() - left.min()) / size
            contours, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
            for contour in contours:
                stats.perimeter[i, c] += cv2.arcLength(contour, True)
                stats.contour_area[i, c] += cv2.contourArea(contour)
                turned, vertices = _turning(contour, step)
                stats.turn_sum[i, c] += turned
                stats.turn_count[i, c] += vertices
        if progress is not None:
            progress.update()
    return stats


def _mean_std(values: np.ndarray) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if not len(values):
        return math.nan, math.nan
    return float(values.mean()), float(values.std())


def summarise(stats: MaskStatistics, names: tuple[str, ...] = CELEBAMASK_HQ.names) -> dict[str, dict[str, float]]:
    """Per class name: pixel share, presence, fragments where present, centroid and extent mean/std, smoothness.

    Positions and extents are fractions of the image side, over the masks that hold the class;
    NaN where no mask does.
    """
    total = stats.pixels.sum()
    present = stats.pixels > 0
    out = {}
    for c, name in enumerate(names):
        here = present[:, c]
        with np.errstate(invalid="ignore", divide="ignore"):
            roundness = stats.perimeter[here, c] ** 2 / stats.contour_area[here, c]
        roundness = roundness[np.isfinite(roundness)]  # one-pixel-wide regions enclose no area
        turns = stats.turn_count[here, c].sum()
        cy, cy_std = _mean_std(stats.centroid[:, c, 0])
        cx, cx_std = _mean_std(stats.centroid[:, c, 1])
        h, h_std = _mean_std(stats.extent[:, c, 0])
        w, w_std = _mean_std(stats.extent[:, c, 1])
        out[name] = {
            "pixel_share": float(stats.pixels[:, c].sum() / total) if total else math.nan,
            "presence": float(here.mean()) if len(here) else math.nan,
            "fragments": float(stats.fragments[here, c].mean()) if here.any() else math.nan,
            "centroid_y": cy,
            "centroid_y_std": cy_std,
            "centroid_x": cx,
            "centroid_x_std": cx_std,
            "height": h,
            "height_std": h_std,
            "width": w,
            "width_std": w_std,
            "perimeter2_per_area": float(roundness.mean()) if len(roundness) else math.nan,
            "turning_angle_deg": float(stats.turn_sum[here, c].sum() / turns) if turns else math.nan,
        }
    return out
