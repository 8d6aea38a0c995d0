"""Edit metrics on hand-made masks: every expected value is counted by hand."""

import numpy as np
import pytest
import torch

from semantic_vae.edit import Template
from semantic_vae.edit.metrics import (
    EditMetricSettings,
    diversity,
    evaluate_editor,
    format_table,
    islands_added,
    locality,
    locality_counts,
    neighbourhood,
    pairwise_part_iou,
    part_change,
)
from semantic_vae.mask_geometry import (
    ABSENT_FILL,
    fragments_per_class,
    frechet_distance,
    geometric_features,
    iou,
    stray_islands,
    validity,
)


def test_neighbourhood_is_the_union_dilated_by_a_square():
    before = np.zeros((7, 7), np.uint8)
    after = np.zeros((7, 7), np.uint8)
    before[3, 3] = 2
    after[3, 4] = 2
    region = neighbourhood(before, after, part=2, distance=1)
    expected = np.zeros((7, 7), bool)
    expected[2:5, 2:6] = True  # 3x3 around (3,3) union 3x3 around (3,4)
    assert np.array_equal(region, expected)
    assert np.array_equal(neighbourhood(before, after, 2, distance=0), (before == 2) | (after == 2))


def test_locality_counts_changes_inside_the_neighbourhood():
    before = np.zeros((10, 10), np.uint8)
    before[4:6, 4:6] = 2  # the part: a 2x2 block
    after = before.copy()
    after[4, 6] = 2  # the part grows by one pixel: inside
    after[3, 3] = 1  # next to the part (within radius 1): inside
    after[0, 0] = 1  # far away: outside
    after[9, 5] = 1  # far away: outside
    after[8, 8] = 1  # far away: outside
    assert locality_counts(before, after, part=2, distance=1) == (5, 2)  # (changed, inside)
    assert locality(before, after, part=2, distance=1) == pytest.approx(2 / 5)
    # batched: counts pool over masks (5 + 0 changed, 2 + 0 inside)
    assert locality(np.stack([before, before]), np.stack([after, before]), 2, distance=1) == pytest.approx(2 / 5)
    assert np.isnan(locality(before, before, 2))
    # a group of classes is one part: the neighbourhood of {2, 1} also holds the pixel (3, 3) and the far ones
    assert locality(before, after, part=[1, 2], distance=0) == pytest.approx(1.0)


def test_part_change_and_added_islands_by_hand():
    before = np.zeros((6, 6), np.uint8)
    before[1:3, 1:3] = 2  # a 2x2 part
    after = before.copy()
    after[1:3, 3] = 2  # grows to 2x3: IoU 4/6
    assert part_change(before, after, 2) == pytest.approx(1 - 4 / 6)
    assert part_change(before, before, [2, 3]) == 0.0
    assert part_change(np.zeros((3, 3), np.uint8), np.zeros((3, 3), np.uint8), 2) == 0.0  # absent in both: IoU 1
    speckled = after.copy()
    speckled[5, 5] = 2  # a second piece of the part: one stray island more than `before`
    speckled[0, 5] = 1  # a new class in one piece: no island
    assert islands_added(before, speckled, 3) == 1.0
    assert islands_added(speckled, before, 3) == 0.0  # removing islands adds none
    assert islands_added(np.stack([before, before]), np.stack([speckled, after]), 3) == pytest.approx(0.5)


def test_fragments_and_stray_islands():
    mask = np.zeros((8, 8), np.uint8)
    mask[0:2, 0:2] = 1  # class 1: two blobs
    mask[5:7, 5:7] = 1
    mask[0, 5] = 2  # class 2: a diagonal pair (one component with 8-connectivity) ...
    mask[1, 6] = 2
    mask[7, 0] = 2  # ... and two single pixels
    mask[4, 2] = 2
    counts = fragments_per_class(mask, num_classes=4)
    assert counts.tolist() == [1, 2, 3, 0]  # background is one piece; class 3 absent
    assert stray_islands(mask, 4) == 0 + 1 + 2
    clean = np.zeros((8, 8), np.uint8)
    clean[2:6, 2:6] = 1
    assert stray_islands(clean, 4) == 0
    stats = validity(np.stack([mask, clean]), 4)
    assert stats["stray_islands_per_mask"] == pytest.approx(1.5)
    # (mask: 1 + 2 + 3 components over 3 present classes) + (clean: 1 + 1 over 2) = 8 / 5
    assert stats["fragments"] == pytest.approx(8 / 5)
    assert stats["fragments_per_class"][:3] == pytest.approx([1.0, 1.5, 3.0]) and np.isnan(
        stats["fragments_per_class"][3]
    )


def test_geometric_features_by_hand():
    mask = np.zeros((4, 4), np.uint8)
    mask[0:2, 0:2] = 1  # rows 0-1, cols 0-1
    mask[3, 1:4] = 2  # row 3, cols 1-3
    f = geometric_features(mask, num_classes=4).reshape(4, 5)
    assert f[1].tolist() == pytest.approx([4 / 16, 1.0 / 4, 1.0 / 4, 2 / 4, 2 / 4])
    assert f[2].tolist() == pytest.approx([3 / 16, 3.5 / 4, 2.5 / 4, 1 / 4, 3 / 4])
    assert f[3].tolist() == [ABSENT_FILL] * 5
    assert f[0, 0] == pytest.approx(9 / 16)


def test_frechet_distance_by_hand():
    # 1-D: mean 1, var 2 vs mean 3, var 8: (1-3)^2 + 2 + 8 - 2 sqrt(2 * 8) = 6
    assert frechet_distance(np.array([[0.0], [2.0]]), np.array([[1.0], [5.0]])) == pytest.approx(6.0)
    a = np.random.default_rng(0).normal(size=(50, 3))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    # a constant feature (a class absent everywhere) leaves a singular covariance: still defined
    b = a.copy()
    b[:, 1] = a[:, 1] = ABSENT_FILL
    assert frechet_distance(a, b + [0.0, 0.0, 2.0]) == pytest.approx(4.0)


def test_iou_and_diversity_by_hand():
    empty = np.zeros((2, 2), bool)
    assert iou(empty, empty) == 1.0
    v = np.zeros((3, 1, 4), np.uint8)
    v[0, 0, :2] = 5  # {0, 1}
    v[1, 0, :3] = 5  # {0, 1, 2}
    v[2, 0, 2:] = 5  # {2, 3}
    # IoU pairs: 2/3, 0/4, 1/4 -> mean 11/36
    assert pairwise_part_iou(v, part=5) == pytest.approx(11 / 36)
    # (K=3, N=2): the second input's variants are identical -> IoU 1
    same = np.repeat(v[:1], 3, axis=0)
    assert diversity(np.stack([v, same], axis=1), part=5) == pytest.approx((11 / 36 + 1.0) / 2)


class ShiftEditor:
    """A fake editor on 3 classes: reconstruction is the identity, every edit paints pixel (0, 0) class 1."""

    num_classes = 3
    class_names = ("background", "skin", "nose")

    def reconstruct(self, masks):
        return np.array(masks)

    def _paint(self, masks):
        out = np.array(masks)
        out[:, 0, 0] = 1
        return out

    def apply(self, edit, masks, target=None, seeds=None):
        assert edit.keep == "none" and edit.parts == ("2",)  # the template's settings, the unit's ids
        return self._paint(masks)


def test_evaluate_editor_protocol_on_a_fake_editor():
    masks = np.zeros((2, 12, 12), np.uint8)
    masks[:, 5:8, 5:8] = 2  # a nose far from pixel (0, 0)
    masks[1, 6, 6] = 1
    results = evaluate_editor(
        ShiftEditor(),
        masks,
        {"nose": [2]},
        edit=Template(keep="none"),
        settings=EditMetricSettings(seeds=2, distance=2),
    )
    assert results["edit"]["keep"] == "none" and results["distance"] == 2 and results["seeds"] == 2
    assert results["reconstruct"]["pixel_accuracy"] == 1.0
    assert results["reconstruct"]["fd"] == pytest.approx(0.0, abs=1e-12)
    assert results["real"]["stray_islands_per_mask"] == 0.0
    for op in ("generate", "perturb", "swap", "interpolate"):
        m = results["operations"][op]["nose"]
        assert m["locality"] == 0.0  # the only change is outside the nose's neighbourhood
        assert m["changed"] == pytest.approx(1 / 144)
        assert m["part_change"] == 0.0
        # mask 0: the painted pixel is its only skin (no stray); mask 1: a second skin piece (1 stray)
        assert m["stray_islands_per_mask"] == pytest.approx(0.5)
        assert m["islands_added"] == pytest.approx(0.5)
    assert results["operations"]["generate"]["nose"]["diversity"] == 1.0  # identical across seeds
    assert results["operations"]["swap"]["nose"]["diversity"] is None
    assert "generate    nose" in format_table(results)


def test_compose_keeps_the_input_outside_and_fills_new_islands_by_hand():
    from semantic_vae.edit.region import compose, remove_islands

    base = np.zeros((7, 9), np.uint8)
    base[:, 4:] = 1  # background left, skin right
    base[2:4, 5:7] = 2  # the nose, a 2x2 block in the skin
    edited = np.full((7, 9), 3, np.uint8)  # the model drew class 3 everywhere...
    edited[2:5, 5:7] = 2  # ...and the nose one row longer
    edited[3, 4] = 1  # with a one-pixel crumb of skin inside the nose's region
    out = compose(edited, base, [2], radius=0)
    expected = base.copy()
    expected[4, 5:7] = 2  # only the parts' pixels (before and after) take the model's labels
    assert np.array_equal(out, expected)
    # radius 1: the ring around the nose takes the model's class 3, and the crumb of skin at (3, 4), now an
    # island of skin, takes the class that borders it most: background, 3 of its 8 neighbours (nose ties at 3;
    # the lower id wins)
    out = compose(edited, base, [2], radius=1)
    assert out[3, 4] == 0 and set(np.unique(np.delete(out[1:6, 4:8].ravel(), 2 * 4))) == {2, 3}
    assert np.array_equal(out[:, :4], base[:, :4]) and np.array_equal(out[:, 8], base[:, 8])
    # a piece partly outside the region is not the composition's to fill
    labels = np.zeros((5, 5), np.uint8)
    labels[0, :] = 1  # class 1: the main piece along the top...
    labels[4, 0:2] = 1  # ...and a stray piece at the bottom left
    inside = np.zeros((5, 5), bool)
    inside[3:, :] = True
    assert (remove_islands(labels, inside)[4, 0:2] == 0).all()  # wholly inside: filled with its surroundings
    inside[3:, 1:] = True
    inside[4, 0] = False
    assert (remove_islands(labels, inside)[4, 0:2] == 1).all()  # not wholly inside: left alone


def test_compose_changes_takes_only_what_the_edit_changed_by_hand():
    from semantic_vae.edit.region import compose_changes

    base = np.zeros((7, 9), np.uint8)
    base[:, 4:] = 1  # background left, skin right
    base[1:4, 5:7] = 2  # the input's nose: rows 1-3
    unedited = base.copy()
    unedited[1, 5:7] = 1  # the model's reconstruction draws it a row shorter (rows 2-3)...
    unedited[2:4, 7] = 2  # ...and a column wider
    edited = unedited.copy()
    edited[4, 5:8] = 2  # the edit adds a row at the bottom
    out = compose_changes(edited, unedited, base, [2], radius=1)
    expected = base.copy()
    expected[4, 5:8] = 2  # only the changed pixels: the input keeps its own top row and column 7 stays skin
    assert np.array_equal(out, expected)
    assert np.array_equal(compose_changes(unedited, unedited, base, [2], radius=1), base)  # no change: the input
    # a removed part keeps none of the input's pixels, even where the model drew it differently
    removed = unedited.copy()
    removed[removed == 2] = 1
    out = compose_changes(removed, unedited, base, [2], radius=1, gone=[2])
    assert not (out == 2).any() and np.array_equal(out[:, :4], base[:, :4])


@pytest.mark.parametrize(
    "x, y",
    [
        (np.arange(12.0), np.random.default_rng(0).normal(size=12)),
        (np.array([1.0, 1, 2, 2, 3]), np.array([1.0, 2, 2, 3, 3])),  # ties on both sides: their mean ranks
        (np.array([3.0, 1, 2, 2]), np.array([-1.0, 5, 0, 0])),
    ],
)
def test_spearman_agrees_with_torchmetrics_ties_included(x, y):
    from torchmetrics.functional import spearman_corrcoef

    from semantic_vae.edit.metrics import spearman

    assert spearman(x, y) == pytest.approx(float(spearman_corrcoef(torch.from_numpy(x), torch.from_numpy(y))), abs=1e-5)


def test_spearman_is_nan_where_nothing_is_ranked():
    from semantic_vae.edit.metrics import spearman

    assert np.isnan(spearman(np.ones(5), np.arange(5.0))) and np.isnan(spearman(np.arange(5.0), np.full(5, 2.0)))
    assert np.isnan(spearman(np.array([1.0]), np.array([2.0])))


def test_a_piece_the_edit_cuts_off_takes_the_edited_decode_by_hand():
    from semantic_vae.edit.region import compose, cut_off

    base = np.zeros((8, 8), np.uint8)
    base[2:, 2:4] = 13  # a strand of hair, background on both sides, joined along the top two rows
    edited = base.copy()
    edited[0:2, 0:6] = 13  # the new hair covers the top rows: the 12 background pixels left of the strand are cut off
    edited[5:, 0:2] = 13  # and in the model's own drawing the hair covers their lower half
    region = np.zeros((8, 8), bool)
    region[0:2, 0:6] = True
    pockets = cut_off(np.where(region, edited, base), region, base)
    assert pockets.sum() == 12 and pockets[2:, :2].all()  # the pocket (12 px) is under half the right side (28 px)
    out = compose(edited, base, [13], radius=0)
    expected = edited.copy()
    expected[2:5, 0:2] = 13  # the pocket takes the model's pixels; its background rest, cut off, takes the hair
    assert np.array_equal(out, expected)
    halves = np.zeros((8, 8), np.uint8)
    halves[:, 3:5] = 13  # a class split in two halves by the edit is no pocket
    assert not cut_off(halves, np.ones((8, 8), bool) & (halves == 13), np.zeros((8, 8), np.uint8)).any()
