"""Label sets, palettes, left/right pairs and merge maps."""

import numpy as np
import pytest

from semantic_vae.errors import UserError
from semantic_vae.labels import CELEBAMASK_HQ, load_label_set, load_merge_map


def test_celebamask_hq_defaults():
    assert CELEBAMASK_HQ.num_classes == 19
    assert CELEBAMASK_HQ.names[13] == "hair" and CELEBAMASK_HQ.palette[13] == (0, 0, 204)
    lut = CELEBAMASK_HQ.flip_lut()
    assert [int(lut[i]) for i in (4, 5, 6, 7, 8, 9, 1)] == [5, 4, 7, 6, 9, 8, 1]


def test_palette_round_trip():
    labels = np.arange(19, dtype=np.uint8).reshape(1, 19).repeat(3, 0)
    rgb = CELEBAMASK_HQ.colorize(labels)
    assert rgb.shape == (3, 19, 3) and tuple(rgb[0, 4]) == (51, 51, 255)
    assert np.array_equal(CELEBAMASK_HQ.decolorize(rgb), labels)


def test_colour_not_in_palette_is_named():
    rgb = CELEBAMASK_HQ.colorize(np.zeros((2, 2), np.uint8))
    rgb[1, 0] = (1, 2, 3)
    with pytest.raises(UserError, match=r"x\.png: colour \(1,2,3\) at pixel \(1,0\)"):
        CELEBAMASK_HQ.decolorize(rgb, source="x.png")


def test_part_names_and_ids():
    assert CELEBAMASK_HQ.id_of("nose") == 2 and CELEBAMASK_HQ.id_of(13) == 13 and CELEBAMASK_HQ.id_of("5") == 5
    with pytest.raises(UserError, match="unknown part 'noze'"):
        CELEBAMASK_HQ.id_of("noze")
    with pytest.raises(UserError, match="out of range"):
        CELEBAMASK_HQ.id_of(19)


def test_label_set_from_yaml(tmp_path):
    path = tmp_path / "lapa.yaml"
    path.write_text(
        "names: [background, skin, l_brow, r_brow, l_eye, r_eye, nose, u_lip, mouth, l_lip, hair]\n"
        "flip_pairs: [[l_brow, r_brow], [4, 5]]\n"
    )
    lapa = load_label_set(path)
    assert lapa.num_classes == 11 and lapa.name == "lapa"
    assert lapa.flip_pairs == ((2, 3), (4, 5))
    assert len(set(lapa.palette)) == 11


def test_merge_map_folds_classes(tmp_path):
    path = tmp_path / "eyes.yaml"
    path.write_text(
        "classes:\n"
        "  background: [background, hat, ear_r, neck_l]\n"
        "  skin: [skin, l_ear, r_ear, neck]\n"
        "  eyes: [eye_g, l_eye, r_eye]\n"
        "  brows: [l_brow, r_brow]\n"
        "  nose: nose\n"
        "  mouth: [mouth, u_lip, l_lip]\n"
        "  hair: hair\n"
        "  cloth: cloth\n"
    )
    merge = load_merge_map(path)
    assert merge.target.names == ("background", "skin", "eyes", "brows", "nose", "mouth", "hair", "cloth")
    labels = np.array([[4, 5, 13, 14, 11]], dtype=np.uint8)
    assert merge.apply(labels).tolist() == [[2, 2, 6, 0, 5]]


def test_merge_map_must_cover_every_class(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("classes:\n  background: [background]\n  face: [skin]\n")
    with pytest.raises(UserError, match="bad.yaml: celebamask_hq classes not mapped: nose"):
        load_merge_map(path)
    path.write_text("classes:\n  a: [background, skin]\n  b: [skin]\n")
    with pytest.raises(UserError, match="'skin' is listed twice"):
        load_merge_map(path)
