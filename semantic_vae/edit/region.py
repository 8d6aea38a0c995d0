"""Where an edit acts: the edited parts' region, and the `keep` modes that leave the rest untouched.

The region of an edit is the union of the edited parts' pixels before and after the edit,
dilated by a radius (a (2r+1) x (2r+1) square: every pixel within Chebyshev distance r). The
edit metrics measure locality against this region, and `keep` composes an edited mask from it:

- "changes" (the default): the input's own pixels wherever the edit did not change the model's drawing: inside the region, only
  the pixels where the edited decode differs from the unedited one take the edited decode's class, so an edit
  that changes no latent returns the input exactly and a real part keeps its own contour where the edit left it;
- "input": the input's own pixels outside the region, the edited decode inside it;
- "reconstruction": the model's reconstruction outside the region;
- "none": the raw model output everywhere (the paper's edit).

Where the model's pixels meet the kept ones, a class can end up in pieces (a sliver of skin cut off
at the region's edge, a crumb of the new part). `remove_islands` gives every such piece inside the
region the class that surrounds it, so a composed edit has no stray islands its input did not have.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import cv2
import numpy as np

Keep = Literal["changes", "input", "reconstruction", "none"]
KEEP_MODES: tuple[str, ...] = ("changes", "input", "reconstruction", "none")
# "changes" by default: an edit that changes no latent returns the input itself, and a real part keeps its own
# contour where the edit left it (RESULTS.md compares it with "input").
DEFAULT_KEEP: Keep = "changes"
# Model pixels around the edited parts (before and after) where the model may also redraw their neighbours: wider
# lets the neighbours adapt to the edit but adds seams where the model's pixels meet the input's (RESULTS.md).
KEEP_RADIUS = 1


def dilate(region: np.ndarray, radius: int) -> np.ndarray:
    """(H, W) or (N, H, W) bool -> the same, grown by `radius` pixels (square structuring element)."""
    if radius <= 0:
        return region.astype(bool)
    kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    if region.ndim == 2:
        return cv2.dilate(region.astype(np.uint8), kernel).astype(bool)
    return np.stack([cv2.dilate(r.astype(np.uint8), kernel) for r in region]).astype(bool)


def part_region(before: np.ndarray, after: np.ndarray, parts: Sequence[int], radius: int) -> np.ndarray:
    """The parts' pixels in `before` or `after`, dilated by `radius`: (H, W) or (N, H, W) bool."""
    ids = np.asarray(list(parts))
    return dilate(np.isin(before, ids) | np.isin(after, ids), radius)


def scaled_radius(radius: int, shape: tuple[int, ...], model_size: int) -> int:
    """A radius given in the model's pixels, in pixels of a mask of `shape` (..., H, W)."""
    return math.ceil(radius * max(shape[-2], shape[-1]) / model_size) if radius > 0 else 0


def remove_islands(labels: np.ndarray, region: np.ndarray, passes: int = 3) -> np.ndarray:
    """(H, W) labels whose pieces that lie wholly inside `region` and are not their class's largest piece take
    the class that borders them most (8-connectivity). Nothing outside the region changes."""
    out = labels.copy()
    for _ in range(passes):  # a fill can join pieces of another class; a few passes settle it
        changed = False
        for c in np.unique(out[region]):
            count, pieces, stats, _ = cv2.connectedComponentsWithStats((out == c).astype(np.uint8), connectivity=8)
            if count <= 2:  # background label 0 plus one piece: nothing stray
                continue
            largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
            for k in range(1, count):
                x, y, w, h = stats[k, :4]
                ys, xs = slice(max(0, y - 1), y + h + 1), slice(max(0, x - 1), x + w + 1)  # the piece's box + 1 px
                piece = pieces[ys, xs] == k
                if k == largest or not region[ys, xs][piece].all():
                    continue
                ring = dilate(piece, 1) & ~piece
                out[ys, xs][piece] = np.bincount(out[ys, xs][ring]).argmax()
                changed = True
        if not changed:
            break
    return out


POCKET_SHARE = 0.5  # a cut-off piece is a pocket while under this share of its class's largest piece


def cut_off(labels: np.ndarray, region: np.ndarray, base: np.ndarray) -> np.ndarray:
    """(H, W) bool: the pieces of `labels` that the edit inside `region` cut off from their class outside it (a
    pocket of background behind new hair): under POCKET_SHARE of their class's largest piece, reaching outside the
    region, touching it, and not a piece the base had already. (A class split in two halves is not a pocket.)"""
    near = dilate(region, 1)
    out = np.zeros_like(region)
    for c in np.unique(labels[near]):
        count, pieces, stats, _ = cv2.connectedComponentsWithStats((labels == c).astype(np.uint8), connectivity=8)
        if count <= 2:
            continue
        largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        base_pieces = None
        for k in range(1, count):
            if stats[k, cv2.CC_STAT_AREA] >= POCKET_SHARE * stats[largest, cv2.CC_STAT_AREA]:
                continue  # not small: a class split in large pieces is no pocket
            piece = pieces == k
            if region[piece].all() or not near[piece].any():
                continue
            if base_pieces is None:
                base_pieces = cv2.connectedComponents((base == c).astype(np.uint8), connectivity=8)[1]
            owner = base_pieces[piece]
            if owner.min() == owner.max() and owner[0] and (base_pieces == owner[0]).sum() == piece.sum():
                continue  # the base's own piece, as it was
            out |= piece
    return out


def settle(edited: np.ndarray, base: np.ndarray, take: np.ndarray) -> np.ndarray:
    """`edited` where `take`, `base` elsewhere; the pieces this cuts off from their class take the edited decode too,
    and stray islands left inside are given the class around them (`remove_islands`)."""
    out = np.where(take, edited, base).astype(np.uint8)
    pockets = cut_off(out, take, base)
    if pockets.any():
        take = take | pockets
        out = np.where(take, edited, base).astype(np.uint8)
    return remove_islands(out, dilate(take, 1) if pockets.any() else take)


def compose(edited: np.ndarray, base: np.ndarray, parts: Sequence[int], radius: int) -> np.ndarray:
    """`edited` inside the parts' region (of `base` and `edited`), `base` everywhere else; (B, H, W) or (H, W).

    The edited parts keep only their main piece first (a crumb of a new nose elsewhere would widen the
    region); pieces of the base the new part cuts off, and new stray islands, are settled (`settle`).
    """
    if edited.ndim == 3:
        return np.stack([compose(e, b, parts, radius) for e, b in zip(edited, base)])
    ids = list(parts)
    edited = remove_islands(edited, np.isin(edited, ids))  # only the parts' own pieces can be inside
    return settle(edited, base, part_region(base, edited, ids, radius))


def compose_changes(
    edited: np.ndarray,
    unedited: np.ndarray,
    base: np.ndarray,
    parts: Sequence[int],
    radius: int,
    gone: Sequence[int] = (),
) -> np.ndarray:
    """`base` changed only where the edit changed the model's drawing; (B, H, W) or (H, W).

    Inside the parts' region (of `base` and the edited decode), a pixel takes `edited`'s class where `edited`
    and `unedited` differ, and keeps `base`'s elsewhere; the classes in `gone` (a removed part) keep no pixel of
    `base`. Pieces of the base the change cuts off, and new stray islands, are settled (`settle`).
    """
    if edited.ndim == 3:
        return np.stack([compose_changes(e, u, b, parts, radius, gone) for e, u, b in zip(edited, unedited, base)])
    ids = list(parts)
    edited = remove_islands(edited, np.isin(edited, ids))  # only the parts' own pieces can be inside
    take = (edited != unedited) & part_region(base, edited, ids, radius)
    if len(gone):
        take |= np.isin(base, list(gone))
    if not take.any():
        return base.copy()
    return settle(edited, base, take)
