"""Part attributes on hand-drawn masks: every expected value is counted by hand."""

import json

import numpy as np
import pytest

from semantic_vae.data.synthetic import generate_masks
from semantic_vae.edit.attributes import (
    GENERIC_ATTRIBUTES,
    AttributeScale,
    attribute_names,
    measure,
    measure_all,
    part_attributes,
)
from semantic_vae.errors import UserError
from semantic_vae.labels import CELEBAMASK_HQ, LabelSet, default_palette
from semantic_vae.mask_geometry import geometric_features
from tests.conftest import ID, assert_one_line_user_error

L = CELEBAMASK_HQ


def one(masks, part, name):
    """The single value of one attribute of one (H, W) mask."""
    values = measure(masks, L, part, [name])[name]
    assert values.shape == (1,) and values.dtype == np.float64
    return float(values[0])


def test_generic_attributes_of_a_rectangle():
    mask = np.zeros((20, 20), np.uint8)
    mask[5:9, 3:9] = ID["nose"]  # 4 rows (5..8) x 6 columns (3..8)
    values = measure(mask, L, "nose")
    assert tuple(values) == GENERIC_ATTRIBUTES
    assert values["size"][0] == pytest.approx(24 / 400)
    assert values["height"][0] == pytest.approx(4 / 20)
    assert values["width"][0] == pytest.approx(6 / 20)
    assert values["x"][0] == pytest.approx((5.5 + 0.5) / 20)  # mean column 5.5, at the pixel's centre
    assert values["y"][0] == pytest.approx((6.5 + 0.5) / 20)


def test_absent_parts_are_nan():
    mask = np.zeros((20, 20), np.uint8)
    mask[5:9, 3:9] = ID["nose"]
    for part in ("hat", "eyes", "lips", "skin", "hair", "brows"):
        values = measure(mask, L, part)
        assert all(np.isnan(v[0]) for v in values.values()), part
    # one eye: the group's values are those of the union (here the one eye), its openness that eye's
    mask[12:14, 2:8] = ID["l_eye"]
    assert one(mask, "eyes", "open") == pytest.approx(2 / 6)
    assert np.isnan(one(mask, "r_eye", "open"))


def test_a_group_is_the_union_of_its_classes():
    mask = np.zeros((24, 24), np.uint8)
    mask[10:12, 6:18] = ID["u_lip"]
    mask[12:14, 8:12] = ID["mouth"]
    mask[14:17, 7:17] = ID["l_lip"]
    merged = np.where(np.isin(mask, L.ids_of("lips")), ID["u_lip"], mask)
    lips = measure(mask, L, "lips", GENERIC_ATTRIBUTES)
    union = measure(merged, L, "u_lip", GENERIC_ATTRIBUTES)
    for name in GENERIC_ATTRIBUTES:
        assert lips[name][0] == pytest.approx(union[name][0]), name
    assert lips["height"][0] == pytest.approx(7 / 24)  # rows 10..16
    assert lips["width"][0] == pytest.approx(12 / 24)  # columns 6..17


def test_mouth_open_is_inner_mouth_over_lips():
    mask = np.zeros((20, 20), np.uint8)
    mask[8, 4:10] = ID["u_lip"]  # 6 px
    mask[9, 4:10] = ID["mouth"]  # 6 px
    mask[10, 4:10] = ID["l_lip"]  # 6 px: lips 12 px
    assert one(mask, "mouth", "open") == pytest.approx(0.5)
    assert one(mask, "lips", "open") == pytest.approx(0.5)
    closed = np.where(mask == ID["mouth"], ID["skin"], mask)
    assert one(closed, "lips", "open") == 0.0
    assert one(closed, "mouth", "open") == 0.0  # the part is absent, its openness is not
    assert np.isnan(one(closed, "mouth", "size"))
    no_lips = np.where(np.isin(mask, [ID["u_lip"], ID["l_lip"]]), 0, mask)
    assert np.isnan(one(no_lips, "lips", "open"))


def test_hair_length_relative_to_the_chin():
    mask = np.zeros((30, 30), np.uint8)
    mask[2:15, 4:26] = ID["hair"]
    mask[5:15, 8:22] = ID["skin"]  # face rows 5..14: 10 rows, chin at row 14
    mask[15:18, 4:8] = ID["hair"]  # hair down to row 17: 3 rows below the chin
    assert one(mask, "hair", "length") == pytest.approx(0.3)
    short = mask.copy()
    short[10:, :][short[10:, :] == ID["hair"]] = 0  # hair ends at row 9: 5 rows above the chin
    assert one(short, "hair", "length") == pytest.approx(-0.5)
    bald = np.where(mask == ID["hair"], 0, mask)
    assert np.isnan(one(bald, "hair", "length"))
    no_skin = np.where(mask == ID["skin"], 0, mask)
    assert np.isnan(one(no_skin, "hair", "length"))


def test_eye_openness_is_height_over_width():
    mask = np.zeros((20, 20), np.uint8)
    mask[6:8, 11:17] = ID["l_eye"]  # 2 x 6
    mask[6:8, 3:7] = ID["r_eye"]  # 2 x 4
    assert one(mask, "l_eye", "open") == pytest.approx(1 / 3)
    assert one(mask, "r_eye", "open") == pytest.approx(1 / 2)
    assert one(mask, "eyes", "open") == pytest.approx((1 / 3 + 1 / 2) / 2)  # the mean of the two, not the union


def test_brow_thickness_is_area_over_width_over_image_height():
    mask = np.zeros((20, 20), np.uint8)
    mask[4:6, 10:18] = ID["l_brow"]  # 16 px over 8 columns: 2 rows thick
    mask[4, 2:7] = ID["r_brow"]  # an arch: 5 px on row 4, 3 more on row 5, 5 columns wide
    mask[5, 3:6] = ID["r_brow"]
    assert one(mask, "l_brow", "thickness") == pytest.approx(2 / 20)
    assert one(mask, "r_brow", "thickness") == pytest.approx(8 / 5 / 20)
    assert one(mask, "brows", "thickness") == pytest.approx((2 + 8 / 5) / 2 / 20)


def drawn_face() -> np.ndarray:
    """A 30x30 face: skin rows 5..24 (20 rows), 14 wide (columns 8..21) except three rows.

    Row 6 (the forehead) is 26 wide, row 14 (the cheeks, between the eyes and the nose bottom)
    18 wide and row 18 (the jaw, in the skin's middle third but below the nose) 22 wide.
    """
    mask = np.zeros((30, 30), np.uint8)
    mask[5:25, 8:22] = ID["skin"]
    mask[6, 2:28] = ID["skin"]
    mask[14, 6:24] = ID["skin"]
    mask[18, 4:26] = ID["skin"]
    mask[11:13, 10:13] = ID["r_eye"]  # the eyes' centroid row: 11.5
    mask[11:13, 17:20] = ID["l_eye"]
    mask[12:17, 14:16] = ID["nose"]  # nose bottom: row 16, so the band is rows 12..16
    return mask


def test_face_width_at_the_cheek_row():
    mask = drawn_face()
    assert one(mask, "skin", "face_width") == pytest.approx(18 / 20)  # row 14; rows 6 and 18 are outside the band
    assert one(mask, "skin", "width") == pytest.approx(26 / 30)  # the generic width is the bounding box's
    # without eyes or nose: the widest row of the middle third, rows 5 + 20 // 3 = 11 .. 5 + 39 // 3 = 18
    no_nose = np.where(mask == ID["nose"], ID["skin"], mask)
    assert one(no_nose, "skin", "face_width") == pytest.approx(22 / 20)
    no_eyes = np.where(np.isin(mask, [ID["l_eye"], ID["r_eye"]]), ID["skin"], mask)
    assert one(no_eyes, "skin", "face_width") == pytest.approx(22 / 20)
    # the eyes and the nose do not cut a row's width: a nose reaching the face's edge on row 14 leaves it 18
    wide_nose = mask.copy()
    wide_nose[14, 14:23] = ID["nose"]
    assert one(wide_nose, "skin", "face_width") == pytest.approx(18 / 20)
    assert np.isnan(one(np.zeros_like(mask), "skin", "face_width"))


def test_batched_equals_one_by_one_and_agrees_with_the_geometric_features():
    masks = generate_masks(seed=3, start=0, count=6, size=64)
    masks[2][masks[2] == ID["mouth"]] = ID["skin"]  # a closed mouth
    masks[3][masks[3] == ID["l_eye"]] = ID["skin"]  # a hidden eye
    batch = measure_all(masks, L)
    assert set(batch) == {(p, n) for p, names in part_attributes(L).items() for n in names}
    for i, mask in enumerate(masks):
        single = measure_all(mask, L)
        for key, values in batch.items():
            assert values.shape == (6,)
            np.testing.assert_array_equal(values[i : i + 1], single[key], err_msg=str(key))
    feats = geometric_features(masks, L.num_classes).reshape(6, L.num_classes, 5)  # area, cy, cx, h, w
    for c, name in enumerate(L.names[1:], start=1):
        present = feats[:, c, 0] > 0
        for k, attr in enumerate(("size", "y", "x", "height", "width")):
            np.testing.assert_allclose(batch[(name, attr)][present], feats[present, c, k], err_msg=f"{name}.{attr}")
        assert np.isnan(batch[(name, "size")][~present]).all()


def test_custom_label_sets_get_the_attributes_their_classes_allow():
    plain = LabelSet(names=("background", "a", "b", "c"), palette=default_palette(4), groups=(("ab", (1, 2)),))
    assert part_attributes(plain) == {p: GENERIC_ATTRIBUTES for p in ("a", "b", "c", "ab")}
    mask = np.zeros((4, 4), np.uint8)
    mask[0, :2] = 1
    mask[3, 3] = 2
    values = measure_all(mask, plain)
    assert values[("ab", "size")][0] == pytest.approx(3 / 16)
    assert values[("ab", "height")][0] == pytest.approx(1.0)
    assert np.isnan(values[("c", "x")][0])
    # a merged face label set: hair length and face width by name, no eyes' openness on a single "eyes" class
    merged = LabelSet(names=("background", "skin", "eyes", "nose", "hair"), palette=default_palette(5))
    assert attribute_names(merged, "hair") == (*GENERIC_ATTRIBUTES, "length")
    assert attribute_names(merged, "skin") == (*GENERIC_ATTRIBUTES, "face_width")
    assert attribute_names(merged, "eyes") == GENERIC_ATTRIBUTES
    face = np.where(drawn_face() == ID["skin"], 1, 0).astype(np.uint8)
    face[drawn_face() == ID["l_eye"]] = 2
    face[drawn_face() == ID["r_eye"]] = 2
    face[drawn_face() == ID["nose"]] = 3
    assert measure(face, merged, "skin", ["face_width"])["face_width"][0] == pytest.approx(18 / 20)


def test_a_large_batch_in_one_call():
    masks = np.zeros((500, 32, 32), np.uint8)
    masks[:, 4:10, 4:20] = ID["nose"]
    masks[::2, 20:22, 3:9] = ID["l_eye"]
    values = measure_all(masks, L)
    assert values[("nose", "size")].shape == (500,)
    assert np.isnan(values[("l_eye", "open")][1::2]).all()
    assert values[("l_eye", "open")][::2] == pytest.approx(np.full(250, 2 / 6))


def scale_values() -> dict:
    return {
        ("nose", "size"): np.array([0.1, 0.2, 0.3, np.nan]),
        ("hat", "size"): np.array([np.nan, np.nan]),  # never present
        ("skin", "x"): np.array([0.5, 0.5, 0.5]),  # never varies
    }


def test_scale_normalises_and_round_trips():
    scale = AttributeScale.fit(scale_values())
    std = np.std([0.1, 0.2, 0.3])
    assert scale.normalise("nose", "size", 0.2) == pytest.approx(0.0)
    assert scale.normalise("nose", "size", 0.2 + std) == pytest.approx(1.0)
    out = scale.normalise("nose", "size", np.array([0.1, np.nan]))
    assert out[0] == pytest.approx(-0.1 / std) and np.isnan(out[1])
    assert scale.denormalise("nose", "size", scale.normalise("nose", "size", 0.27)) == pytest.approx(0.27)
    data = json.loads(json.dumps(scale.to_dict(), allow_nan=False))  # plain, strict-JSON values
    assert data["nose"]["size"] == {"mean": pytest.approx(0.2), "std": pytest.approx(std), "count": 3}
    assert AttributeScale.from_dict(data) == scale
    assert AttributeScale.fit(measure_all(drawn_face(), L)).stat("skin", "face_width").count == 1


def test_scale_refuses_attributes_that_never_vary():
    scale = AttributeScale.fit(scale_values())
    assert not scale.stat("skin", "x").usable and scale.stat("skin", "x").std == 0.0
    for call in (scale.normalise, scale.denormalise):
        with pytest.raises(UserError, match=r"'skin\.x' cannot be normalised: its std .* is 0"):
            call("skin", "x", 0.5)
        with pytest.raises(UserError, match=r"'hat\.size' cannot be normalised: it had no finite value"):
            call("hat", "size", 0.5)
        with pytest.raises(UserError, match=r"'nose\.width' is not in the attribute scale; it has: nose\.size"):
            call("nose", "width", 0.5)


def bad_inputs():
    mask = np.zeros((8, 8), np.uint8)
    return [
        (lambda: measure(mask, L, "teeth"), r"unknown part 'teeth'.*parts: skin, nose"),
        (lambda: measure(mask, L, "background"), r"unknown part 'background'"),
        (lambda: attribute_names(L, "teeth"), r"unknown part 'teeth'"),
        (lambda: measure(mask, L, "nose", ["sharpness"]), r"unknown attribute 'sharpness'.*'nose': size, height"),
        (lambda: measure(mask, L, "nose", ["open"]), r"part 'nose' has no attribute 'open'; its attributes: size"),
        (lambda: measure(mask.astype(np.float32), L, "nose"), r"masks: expected an integer .*float32"),
        (lambda: measure(mask.astype(bool), L, "nose"), r"masks: expected an integer .*bool"),
        (
            lambda: measure(mask[None, None], L, "nose"),
            r"masks: expected shape \(H, W\) or \(N, H, W\).*\(1, 1, 8, 8\)",
        ),
        (lambda: measure(np.zeros(8, np.uint8), L, "nose"), r"masks: expected shape"),
        (lambda: measure(np.zeros((2, 0, 8), np.uint8), L, "nose"), r"masks: expected shape"),
        (lambda: measure(mask + 19, L, "nose"), r"masks: label value 19 is outside 0\.\.18"),
        (lambda: measure_all(mask - 1.0, L), r"masks: expected an integer"),
        (lambda: AttributeScale.from_dict([1, 2]), r"attribute scale: expected a mapping"),
        (lambda: AttributeScale.from_dict({"nose": 3}), r"part 'nose' must map"),
        (lambda: AttributeScale.from_dict({"nose": {"size": {"mean": 0.1}}}), r"'nose\.size' needs numbers"),
        (lambda: AttributeScale.from_dict({"nose": {"size": {"mean": 0, "std": -1, "count": 2}}}), r"negative"),
    ]


@pytest.mark.parametrize("case", range(len(bad_inputs())))
def test_bad_input_is_a_one_line_user_error(case):
    assert_one_line_user_error(*bad_inputs()[case])
