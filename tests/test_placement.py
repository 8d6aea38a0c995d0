"""Placement checks for added and removed parts, on hand-drawn 32x32 masks (radii: eyes 2 px, touch 2 px)."""

import numpy as np
import pytest

from semantic_vae.edit.placement import (
    EYE_RADIUS_FRACTION,
    TOUCH_FRACTION,
    TOUCH_MIN,
    added_in_place,
    changed_outside,
    plausible_fill,
    presence_reached,
    radius_for,
    stray_islands_added,
)
from semantic_vae.labels import CELEBAMASK_HQ, LabelSet, default_palette
from tests.conftest import ID, assert_one_line_user_error

L = CELEBAMASK_HQ


def face() -> np.ndarray:
    """Hair rows 2..7, skin rows 8..26 x columns 8..23, eyes on row 10-11, lips on rows 20-21, neck below."""
    mask = np.zeros((32, 32), np.uint8)
    mask[2:8, 8:24] = ID["hair"]
    mask[8:27, 8:24] = ID["skin"]
    mask[10:12, 18:22] = ID["l_eye"]  # the person's left: image right
    mask[10:12, 10:14] = ID["r_eye"]
    mask[20, 12:20] = ID["u_lip"]
    mask[21, 12:20] = ID["l_lip"]
    mask[27:32, 12:20] = ID["neck"]
    return mask


def with_part(mask: np.ndarray, part: str, rows: slice, cols: slice) -> np.ndarray:
    out = mask.copy()
    out[rows, cols] = ID[part]
    return out


def test_radii_scale_with_the_image():
    assert radius_for(EYE_RADIUS_FRACTION, (32, 32)) == 2
    assert radius_for(EYE_RADIUS_FRACTION, (512, 512)) == 26
    assert radius_for(TOUCH_FRACTION, (32, 32), TOUCH_MIN) == 2
    assert radius_for(TOUCH_FRACTION, (4, 512, 256), TOUCH_MIN) == 8


def test_eyeglasses_cover_both_eyes():
    before = face()
    frame = with_part(before, "eye_g", slice(9, 13), slice(9, 23))
    frame[before == ID["l_eye"]] = ID["l_eye"]  # the eyes show through the lenses
    frame[before == ID["r_eye"]] = ID["r_eye"]
    assert added_in_place(before, frame, "eye_g", L) is True
    one_lens = with_part(before, "eye_g", slice(9, 13), slice(17, 23))  # 4 columns from r_eye's neighbourhood
    assert added_in_place(before, one_lens, "eye_g", L) is False
    on_the_chin = with_part(before, "eye_g", slice(23, 26), slice(9, 23))
    assert added_in_place(before, on_the_chin, "eye_g", L) is False
    assert added_in_place(before, before, "eye_g", L) is False  # not added at all
    no_eyes = np.where(np.isin(before, [ID["l_eye"], ID["r_eye"]]), ID["skin"], before)
    assert added_in_place(no_eyes, np.where(frame == ID["eye_g"], frame, no_eyes), "eye_g", L) is False
    one_eye = np.where(before == ID["r_eye"], ID["skin"], before)  # the other eye hidden: that one suffices
    assert added_in_place(one_eye, with_part(one_eye, "eye_g", slice(9, 13), slice(17, 23)), "eye_g", L) is True


def test_earrings_hang_from_an_ear():
    before = with_part(face(), "l_ear", slice(12, 18), slice(24, 27))
    assert added_in_place(before, with_part(before, "ear_r", slice(18, 21), slice(25, 26)), "ear_r", L) is True
    gap = with_part(before, "ear_r", slice(20, 23), slice(25, 26))  # 3 rows below the ear: beyond 2 px
    assert added_in_place(before, gap, "ear_r", L) is False
    on_the_cheek = with_part(before, "ear_r", slice(15, 17), slice(10, 12))
    assert added_in_place(before, on_the_cheek, "ear_r", L) is False
    # an ear drawn with the earring counts too
    earless = face()
    both = with_part(with_part(earless, "r_ear", slice(12, 18), slice(5, 8)), "ear_r", slice(18, 20), slice(6, 7))
    assert added_in_place(earless, both, "ear_r", L) is True


def test_a_hat_sits_above_the_face_or_on_the_hair():
    before = face()
    assert added_in_place(before, with_part(before, "hat", slice(0, 6), slice(6, 26)), "hat", L) is True
    on_the_hair = with_part(before, "hat", slice(4, 10), slice(8, 24))  # rows 4..7 on hair, 8..9 on skin
    assert added_in_place(before, on_the_hair, "hat", L) is True
    low = with_part(before, "hat", slice(6, 14), slice(8, 24))  # 2 rows of hair, 6 of skin: mostly on the face
    assert added_in_place(before, low, "hat", L) is False
    assert added_in_place(before, with_part(before, "hat", slice(24, 30), slice(6, 26)), "hat", L) is False


def test_the_inner_mouth_opens_between_the_lips():
    closed = face()
    lips_apart = closed.copy()  # rows: u_lip 20, a gap 21-22 for the mouth, l_lip 23
    lips_apart[21, 12:20] = ID["skin"]
    lips_apart[23, 12:20] = ID["l_lip"]
    opened = with_part(lips_apart, "mouth", slice(21, 23), slice(13, 19))
    assert added_in_place(closed, opened, "mouth", L) is True
    below = with_part(lips_apart, "mouth", slice(24, 26), slice(13, 19))  # touches the lower lip only
    assert added_in_place(closed, below, "mouth", L) is False
    far = with_part(lips_apart, "mouth", slice(14, 16), slice(13, 19))
    assert added_in_place(closed, far, "mouth", L) is False
    beside = with_part(lips_apart, "mouth", slice(21, 23), slice(20, 22))  # right of the lips' columns
    assert added_in_place(closed, beside, "mouth", L) is False
    no_lips = np.where(np.isin(opened, [ID["u_lip"], ID["l_lip"]]), ID["skin"], opened)
    assert added_in_place(closed, no_lips, "mouth", L) is False


def test_a_necklace_lies_on_or_next_to_the_neck():
    before = face()
    beside = with_part(before, "neck_l", slice(29, 31), slice(20, 23))
    assert added_in_place(before, beside, "neck_l", L) is True
    on = with_part(before, "neck_l", slice(28, 29), slice(12, 20))  # drawn over the neck
    assert added_in_place(before, on, "neck_l", L) is True
    assert added_in_place(before, with_part(before, "neck_l", slice(0, 2), slice(0, 4)), "neck_l", L) is False


def test_ears_touch_the_skin_on_their_side():
    before = face()  # the skin's centroid column is about 15.6
    left_ear = with_part(before, "l_ear", slice(12, 18), slice(24, 27))
    assert added_in_place(before, left_ear, "l_ear", L) is True
    assert added_in_place(before, with_part(before, "l_ear", slice(12, 18), slice(5, 8)), "l_ear", L) is False
    assert added_in_place(before, with_part(before, "r_ear", slice(12, 18), slice(5, 8)), "r_ear", L) is True
    assert added_in_place(before, with_part(before, "r_ear", slice(12, 18), slice(24, 27)), "r_ear", L) is False
    floating = with_part(before, "l_ear", slice(12, 18), slice(28, 31))  # 4 columns from the skin
    assert added_in_place(before, floating, "l_ear", L) is False
    assert added_in_place(before, left_ear, ID["l_ear"], L) is True  # a class id works too


def test_batches_give_one_value_per_mask():
    before = np.stack([face(), face()])
    after = np.stack([with_part(face(), "hat", slice(0, 6), slice(6, 26)), face()])
    result = added_in_place(before, after, "hat", L)
    assert isinstance(result, np.ndarray) and result.dtype == bool and result.tolist() == [True, False]
    two_noses = with_part(with_part(face(), "nose", slice(0, 1), slice(0, 1)), "nose", slice(30, 31), slice(0, 1))
    assert stray_islands_added(before, np.stack([face(), two_noses]), L).tolist() == [0, 1]
    assert plausible_fill(before, before, [ID["neck"]]).tolist() == [False, False]
    assert changed_outside(before, after, [ID["hat"]], 0).tolist() == [0, 0]


def test_stray_islands_added():
    before = face()
    crumb = with_part(before, "nose", slice(0, 1), slice(0, 1))  # a nose (new class, one piece) and ...
    assert stray_islands_added(before, crumb, L) == 0
    two = with_part(crumb, "nose", slice(30, 31), slice(0, 1))  # ... a second piece of it
    assert stray_islands_added(before, two, L) == 1
    assert stray_islands_added(two, before, L) == 0  # fewer islands: 0, not negative
    assert isinstance(stray_islands_added(before, two, L), int)


def test_plausible_fill_uses_only_classes_bordering_the_hole():
    before = with_part(face(), "nose", slice(13, 18), slice(15, 17))  # a nose inside the skin
    assert plausible_fill(before, np.where(before == ID["nose"], ID["skin"], before), [ID["nose"]]) is True
    assert plausible_fill(before, np.where(before == ID["nose"], ID["hair"], before), [ID["nose"]]) is False
    assert plausible_fill(before, before, [ID["nose"]]) is False  # the removed class is still there
    assert plausible_fill(face(), face(), [ID["nose"]]) is True  # nothing to fill
    # glasses over the eyes: the hole borders skin and both eyes, so eyes may grow into it
    glasses = with_part(face(), "eye_g", slice(9, 13), slice(9, 23))
    glasses[face() == ID["l_eye"]] = ID["l_eye"]
    filled = np.where(glasses == ID["eye_g"], ID["skin"], glasses)
    filled[9, 18:22] = ID["l_eye"]
    assert plausible_fill(glasses, filled, [ID["eye_g"]]) is True  # r_eye was covered: not on the ring
    filled[9, 10:14] = ID["r_eye"]
    assert plausible_fill(glasses, filled, [ID["eye_g"]]) is False


def test_changed_outside_counts_pixels_beyond_the_dilated_region():
    before = face()
    after = with_part(before, "hat", slice(0, 3), slice(10, 12))  # the hat: 6 px
    after[16, 16] = ID["nose"]  # far from the hat
    after[4, 12] = ID["skin"]  # 2 rows below the hat
    assert changed_outside(before, after, [ID["hat"]], radius=0) == 2
    assert changed_outside(before, after, [ID["hat"]], radius=2) == 1
    assert changed_outside(before, after, [ID["hat"], ID["nose"]], radius=2) == 0
    assert changed_outside(before, before, [ID["hat"]], radius=0) == 0


def bad_inputs():
    mask = face()
    plain = LabelSet(names=("background", "hat", "b"), palette=default_palette(3))
    no_ears = LabelSet(names=("background", "skin", "ear_r"), palette=default_palette(3))
    return [
        (lambda: added_in_place(mask, mask, "nose", L), r"part 'nose' has no placement rule; parts with one: eye_g"),
        (lambda: added_in_place(mask, mask, "teeth", L), r"unknown part 'teeth'"),
        (lambda: added_in_place(mask, mask, "hat", plain), r"part 'hat': label set 'custom' lacks skin or hair"),
        (lambda: added_in_place(mask, mask, "ear_r", no_ears), r"lacks l_ear or r_ear"),
        (lambda: added_in_place(mask, mask[:16], "hat", L), r"after: shape \(16, 32\) differs from before's"),
        (lambda: plausible_fill(mask * 1.0, mask, [2]), r"before: expected an integer label array, got dtype float64"),
        (lambda: changed_outside(mask, mask[None, None], [2], 1), r"after: expected shape \(H, W\) or \(N, H, W\)"),
        (lambda: stray_islands_added(mask, mask.astype(bool), L), r"after: expected an integer"),
    ]


@pytest.mark.parametrize("case", range(len(bad_inputs())))
def test_bad_input_is_a_one_line_user_error(case):
    assert_one_line_user_error(*bad_inputs()[case])


def test_presence_reached_says_whether_an_add_or_a_remove_happened():
    with_hair, bald = face(), face()
    bald[bald == ID["hair"]] = 0
    batch = np.stack([with_hair, bald])
    assert presence_reached(batch, [ID["hair"]], "present").tolist() == [True, False]
    assert presence_reached(batch, [ID["hair"]], "absent").tolist() == [False, True]
    # every part of a group must be there for an add, none of them for a remove
    assert presence_reached(with_hair, [ID["hair"], ID["eye_g"]], "present").tolist() == [False]
    assert presence_reached(with_hair, [ID["l_eye"], ID["r_eye"]], "present").tolist() == [True]
    assert presence_reached(with_hair, [ID["hat"], ID["eye_g"]], "absent").tolist() == [True]
