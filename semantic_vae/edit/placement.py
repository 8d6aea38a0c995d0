"""Is an added or removed part plausible? Checks for "add a part" and "remove a part" edits.

Each check is a pure function of the label maps before and after an edit: (H, W) integer arrays give a
Python bool or int, (N, H, W) batches give one value per mask as an (N,) array. "Touching" a region
means lying within a radius of it (Chebyshev distance, `region.dilate`'s square), and the radii scale
with the image, so the same rule holds at 64x64 and at 512x512 (side = max(H, W)):

* ``EYE_RADIUS_FRACTION``: the eyes' neighbourhood for eyeglasses, ceil(0.05 * side) pixels
  (26 at 512, 4 at 64);
* ``TOUCH_FRACTION``: "touches" for earrings, necklaces, ears and the inner mouth,
  max(2, ceil(0.015 * side)) pixels (8 at 512, 2 at 64; a real l_ear sits up to ~5 px from the skin at 512).

`added_in_place(before, after, part, label_set)`: the part is present in `after` and

=======  ========================================================================================
eye_g    overlaps the neighbourhood of every eye (l_eye, r_eye) present in `before`, and `before` has
         at least one eye (glasses cannot be placed on a face without visible eyes)
ear_r    touches an ear (l_ear or r_ear, of `before` or `after`)
hat      more than half of its pixels lie above the topmost skin row of `before` or on `before`'s hair
mouth    touches both lips of `after` (u_lip and l_lip), its centroid row lies strictly between theirs
         and its centroid column within the lips' column extent
neck_l   touches the neck (of `before` or `after`)
l_ear    touches the skin of `after`, on the image right of the skin's centroid (the person's left,
r_ear    as in the real masks); r_ear on the image left
=======  ========================================================================================
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from semantic_vae.edit.region import dilate, part_region
from semantic_vae.errors import UserError
from semantic_vae.labels import LabelSet
from semantic_vae.mask_geometry import stray_islands

EYE_RADIUS_FRACTION = 0.05  # eyeglasses reach this far (a share of the image side) around the eyes
TOUCH_FRACTION = 0.015  # "touches": within this share of the image side, and at least TOUCH_MIN pixels
TOUCH_MIN = 2


def presence_reached(after: np.ndarray, ids: Sequence[int], goal: str) -> np.ndarray:
    """Per mask of `after` (H, W) or (N, H, W): whether every part of `ids` is there (goal "present", an add's), or
    none of them ("absent", a remove's). An edit reports the masks where the model did not do it (it can fail to
    draw a tiny part)."""
    after = np.asarray(after)
    batch = after.reshape(-1, *after.shape[-2:])
    present = np.stack([(batch == c).any(axis=(1, 2)) for c in ids], axis=1)
    return present.all(axis=1) if goal == "present" else ~present.any(axis=1)


def radius_for(fraction: float, shape: tuple[int, ...], minimum: int = 0) -> int:
    """ceil(fraction * max(H, W)) pixels for masks of shape (..., H, W), at least `minimum`."""
    return max(minimum, math.ceil(fraction * max(shape[-2], shape[-1])))


def _pair(before: np.ndarray, after: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both label maps as (N, H, W) integer arrays of one shape; a UserError naming the bad one."""
    arrays = []
    for what, value in (("before", before), ("after", after)):
        array = np.asarray(value)
        if not np.issubdtype(array.dtype, np.integer):
            raise UserError(f"{what}: expected an integer label array, got dtype {array.dtype}")
        if array.ndim not in (2, 3):
            raise UserError(f"{what}: expected shape (H, W) or (N, H, W), got {array.shape}")
        arrays.append(array)
    if arrays[0].shape != arrays[1].shape:
        raise UserError(f"after: shape {arrays[1].shape} differs from before's {arrays[0].shape}")
    return arrays[0].reshape(-1, *arrays[0].shape[-2:]), arrays[1].reshape(-1, *arrays[1].shape[-2:])


def _result(values: list, batched: bool, dtype: type) -> np.ndarray | bool | int:
    return np.asarray(values, dtype=dtype) if batched else dtype(values[0])


def _touches(region: np.ndarray, other: np.ndarray, r: int) -> bool:
    return bool((region & dilate(other, r)).any())


def _centroid(region: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(region)
    return float(ys.mean()), float(xs.mean())


# -- the rules: (before, after, ids by name) of one (H, W) pair -> bool, `after` holding the part ------
Ids = dict[str, int]


def _eyeglasses(before: np.ndarray, after: np.ndarray, ids: Ids) -> bool:
    glasses = after == ids["eye_g"]
    r = radius_for(EYE_RADIUS_FRACTION, before.shape)
    eyes = [before == ids[e] for e in ("l_eye", "r_eye") if e in ids]
    eyes = [e for e in eyes if e.any()]
    return bool(eyes) and all(_touches(glasses, e, r) for e in eyes)


def _earring(before: np.ndarray, after: np.ndarray, ids: Ids) -> bool:
    ears = [ids[e] for e in ("l_ear", "r_ear") if e in ids]
    return _touches(after == ids["ear_r"], np.isin(before, ears) | np.isin(after, ears), _touch(before))


def _hat(before: np.ndarray, after: np.ndarray, ids: Ids) -> bool:
    hat = after == ids["hat"]
    allowed = before == ids["hair"] if "hair" in ids else np.zeros_like(hat)
    if "skin" in ids:
        skin_rows = np.flatnonzero((before == ids["skin"]).any(-1))
        if skin_rows.size:
            allowed = allowed | (np.arange(before.shape[0]) < skin_rows[0])[:, None]
    return 2 * int((hat & allowed).sum()) > int(hat.sum())


def _inner_mouth(before: np.ndarray, after: np.ndarray, ids: Ids) -> bool:
    mouth, upper, lower = (after == ids[n] for n in ("mouth", "u_lip", "l_lip"))
    if not (upper.any() and lower.any()):
        return False
    r = _touch(after)
    if not (_touches(mouth, upper, r) and _touches(mouth, lower, r)):
        return False
    (my, mx), (uy, _), (ly, _) = _centroid(mouth), _centroid(upper), _centroid(lower)
    lip_cols = np.flatnonzero((upper | lower).any(0))
    return uy < my < ly and lip_cols[0] <= mx <= lip_cols[-1]


def _necklace(before: np.ndarray, after: np.ndarray, ids: Ids) -> bool:
    neck = (before == ids["neck"]) | (after == ids["neck"])
    return _touches(after == ids["neck_l"], neck, _touch(before))


def _ear(side: str) -> Callable[[np.ndarray, np.ndarray, Ids], bool]:
    def rule(before: np.ndarray, after: np.ndarray, ids: Ids) -> bool:
        ear, skin = after == ids[side], after == ids["skin"]
        if not skin.any() or not _touches(ear, skin, _touch(after)):
            return False
        ear_x, skin_x = _centroid(ear)[1], _centroid(skin)[1]
        return ear_x > skin_x if side == "l_ear" else ear_x < skin_x  # l_ear: the person's left, image right

    return rule


def _touch(mask: np.ndarray) -> int:
    return radius_for(TOUCH_FRACTION, mask.shape, TOUCH_MIN)


# part -> (rule, class names the label set must have, optional class names the rule also uses)
RULES: dict[str, tuple[Callable[[np.ndarray, np.ndarray, Ids], bool], tuple[str, ...], tuple[str, ...]]] = {
    "eye_g": (_eyeglasses, ("eye_g",), ("l_eye", "r_eye")),
    "ear_r": (_earring, ("ear_r",), ("l_ear", "r_ear")),
    "hat": (_hat, ("hat",), ("skin", "hair")),
    "mouth": (_inner_mouth, ("mouth", "u_lip", "l_lip"), ()),
    "neck_l": (_necklace, ("neck_l", "neck"), ()),
    "l_ear": (_ear("l_ear"), ("l_ear", "skin"), ()),
    "r_ear": (_ear("r_ear"), ("r_ear", "skin"), ()),
}


def added_in_place(before: np.ndarray, after: np.ndarray, part: str | int, label_set: LabelSet) -> bool | np.ndarray:
    """Whether the added `part` (a class name or id with a rule in RULES) is present in `after` and in place.

    (H, W) pairs give a bool, (N, H, W) batches an (N,) bool array. The rules are in the module's table.
    """
    name = label_set.names[label_set.id_of(part)]
    if name not in RULES:
        raise UserError(f"part '{name}' has no placement rule; parts with one: {', '.join(RULES)}")
    rule, needs, uses = RULES[name]
    missing = [n for n in needs if n not in label_set.names]
    if not missing and uses and not any(n in label_set.names for n in uses):
        missing = [" or ".join(uses)]
    if missing:
        lacking = ", ".join(missing)
        raise UserError(f"part '{name}': label set '{label_set.name}' lacks {lacking}, which its placement rule needs")
    ids = {n: i for i, n in enumerate(label_set.names) if n in (*needs, *uses)}
    batched = np.ndim(after) == 3
    b, a = _pair(before, after)
    part_id = ids[name]
    return _result([bool((y == part_id).any()) and rule(x, y, ids) for x, y in zip(b, a)], batched, bool)


def stray_islands_added(before: np.ndarray, after: np.ndarray, label_set: LabelSet) -> int | np.ndarray:
    """Stray islands (`shapes.stray_islands`) that `after` has beyond those of `before`; 0 when it has fewer."""
    batched = np.ndim(after) == 3
    b, a = _pair(before, after)
    c = label_set.num_classes
    return _result([max(0, stray_islands(y, c) - stray_islands(x, c)) for x, y in zip(b, a)], batched, int)


def plausible_fill(before: np.ndarray, after: np.ndarray, removed_ids: Sequence[int]) -> bool | np.ndarray:
    """Whether `after` fills the removed part's place only with classes that border it in `before`.

    The place is where `before` has any of `removed_ids`; its border is the 1-pixel ring around it
    (8-neighbours). Every class `after` has inside the place must occur in `before` on that ring, so a
    removed class still there fails too. A part absent from `before` leaves nothing to fill: True.
    """
    batched = np.ndim(after) == 3
    b, a = _pair(before, after)
    ids = np.asarray(list(removed_ids))
    values = []
    for x, y in zip(b, a):
        place = np.isin(x, ids)
        ring = dilate(place, 1) & ~place
        values.append(bool(np.isin(np.unique(y[place]), np.unique(x[ring])).all()))
    return _result(values, batched, bool)


def changed_outside(before: np.ndarray, after: np.ndarray, region_ids: Sequence[int], radius: int) -> int | np.ndarray:
    """Pixels that differ outside the region: `region_ids` in `before` or `after`, dilated by `radius` pixels."""
    batched = np.ndim(after) == 3
    b, a = _pair(before, after)
    outside = ~part_region(b, a, list(region_ids), radius)  # (N, H, W)
    counts = ((b != a) & outside).sum((-2, -1))
    return _result(list(counts), batched, int)
