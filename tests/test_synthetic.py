"""The procedural face-mask generator: determinism, sizes, calibration, co-occurrence, attributes."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from semantic_vae.data.io import resize_labels
from semantic_vae.data.synthetic import generate_mask, generate_masks, generation_rate

ROOT = Path(__file__).resolve().parents[1]
KERNEL = np.ones((3, 3), np.uint8)

# Pixel shares (%) of the 21 real masks in /work/shared/data/celebamask_hq_samples at 256x256, classes with
# >= 0.5% of the pixels (`semantic-vae data compare --real ...`, compare.json). Re-pinned for generator 2: these
# samples and x1.5 instead of the README's 24 samples and x2. Eyeglasses are checked on their own: the
# generator follows the dataset's 1 face in 20, and 1 of the 21 samples (0.36%) wears big dark glasses.
REFERENCE_SHARES = {0: 28.16, 1: 24.98, 2: 2.02, 12: 0.64, 13: 33.48, 17: 4.67, 18: 2.94}


@pytest.fixture(scope="module")
def calibration_masks() -> np.ndarray:
    # 2,000 masks at 128x128, a quarter of the cost of 256: coordinates scale with the size, so class
    # shares land within a few percent of their 256 values; only thin parts gain a little from edge pixels.
    return generate_masks(seed=0, start=0, count=2000, size=128)


@pytest.fixture(scope="module")
def pixel_counts(calibration_masks: np.ndarray) -> np.ndarray:
    return np.stack([np.bincount(m.ravel(), minlength=19) for m in calibration_masks])  # (N, 19)


def _digest(mask: np.ndarray) -> str:
    return hashlib.sha256(mask.tobytes()).hexdigest()


def _ring(mask: np.ndarray, label: int) -> np.ndarray:
    """Labels of the pixels just outside the region of `label` (8-neighbourhood)."""
    region = (mask == label).astype(np.uint8)
    return mask[(cv2.dilate(region, KERNEL) > 0) & (region == 0)]


def _extent(region: np.ndarray, axis: int) -> int:
    """Rows (axis 1) or columns (axis 0) a boolean region spans; 0 when empty."""
    hit = np.flatnonzero(region.any(axis))
    return int(hit[-1] - hit[0] + 1) if len(hit) else 0


def test_same_seed_and_index_give_the_same_mask() -> None:
    a = generate_mask(3, 17)
    assert np.array_equal(a, generate_mask(3, 17))
    assert not np.array_equal(a, generate_mask(3, 18))
    assert not np.array_equal(a, generate_mask(4, 17))


@pytest.mark.parametrize("size", [32, 64, 256, 512])
def test_dtype_shape_and_values(size: int) -> None:
    for index in range(5):
        mask = generate_mask(1, index, size)
        assert mask.dtype == np.uint8 and mask.shape == (size, size)
        assert mask.max() <= 18
        assert {0, 1, 2, 13, 17}.issubset(np.unique(mask).tolist())  # background, skin, nose, hair, neck


def test_generate_masks_stacks_generate_mask_for_any_workers() -> None:
    one = generate_masks(5, 100, 12, size=64)
    assert one.shape == (12, 64, 64) and one.dtype == np.uint8
    assert np.array_equal(one, np.stack([generate_mask(5, 100 + i, 64) for i in range(12)]))
    assert np.array_equal(one, generate_masks(5, 100, 12, size=64, workers=2))


def test_same_mask_in_a_fresh_process() -> None:
    code = (
        "import hashlib; from semantic_vae.data.synthetic import generate_mask; "
        "print(hashlib.sha256(generate_mask(7, 3, 128).tobytes()).hexdigest())"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == _digest(generate_mask(7, 3, 128))


def test_every_size_draws_the_same_layout() -> None:
    """Coordinates scale with the size: a 512 mask sampled down with nearest-neighbour agrees with the mask
    drawn at the small size on most pixels. Only edges differ: fillPoly paints every pixel an edge crosses,
    so at 32 px (an eye is 3x1 px there) thin parts come out a pixel fatter; 89% agree on average, as in v1."""
    agree_32, agree_256 = [], []
    for index in range(12):
        big = generate_mask(2, index, 512)
        agree_32.append((resize_labels(big, 32) == generate_mask(2, index, 32)).mean())
        agree_256.append((resize_labels(big, 256) == generate_mask(2, index, 256)).mean())
    assert min(agree_32) > 0.83 and np.mean(agree_32) > 0.86
    assert min(agree_256) > 0.98


def test_class_shares_match_the_real_data(pixel_counts: np.ndarray) -> None:
    shares = 100.0 * pixel_counts.sum(0) / pixel_counts.sum()
    for label, reference in REFERENCE_SHARES.items():
        assert reference / 1.5 <= shares[label] <= reference * 1.5, (
            f"class {label}: {shares[label]:.2f}% vs {reference}%"
        )
    assert 0.15 <= shares[3] <= 0.5  # eyeglasses in 1 of 20 faces, about 5% of the picture each
    assert (pixel_counts > 0).any(0).all(), f"missing classes: {np.flatnonzero(~(pixel_counts > 0).any(0))}"


def test_rare_parts_appear_about_as_often_as_in_the_dataset(pixel_counts: np.ndarray) -> None:
    present = (pixel_counts > 0).mean(0)
    assert 0.02 <= present[14] <= 0.05  # hat, ~1 in 30
    assert 0.035 <= present[3] <= 0.07  # eyeglasses, ~1 in 20
    assert 0.06 <= present[15] <= 0.2  # earrings: 2 of the 21 real samples, 4 of the 24 public ones
    assert 0.01 <= present[16] <= 0.08  # necklace, mostly under the clothes
    assert 0.35 <= present[10] <= 0.55  # open mouth: 9 of the 21 real samples
    assert 0.55 <= present[18] <= 0.85  # clothes: 15 of 21
    assert present[[4, 5, 6, 7]].min() >= 0.85  # eyes and brows usually visible
    assert present[[8, 9]].min() >= 0.35 and present[[8, 9]].max() <= 0.65  # ears: 11 of 21 each


def test_eyes_lie_in_the_face_or_under_eyeglasses(calibration_masks: np.ndarray) -> None:
    # At 128 px an eye's ring may touch the brow or, in a strong turn, the nose; never the background.
    allowed = {1, 2, 3, 6, 7, 13}
    for mask in calibration_masks[:400]:
        for label in (4, 5):
            if not (mask == label).any():  # hidden by dark glasses or a strong turn
                continue
            ring = _ring(mask, label)
            assert np.isin(ring, list(allowed)).all(), (label, np.unique(ring))
            assert (ring == 1).mean() > 0.5 or (ring == 3).any() or (ring == 13).any()


def test_glasses_go_with_the_eyes_and_dark_ones_hide_them(calibration_masks, pixel_counts) -> None:
    for mask, counts in zip(calibration_masks, pixel_counts):
        if counts[3] == 0:
            continue
        glasses = cv2.dilate((mask == 3).astype(np.uint8), KERNEL) > 0
        for label in (4, 5):  # a visible eye sits inside a lens
            if counts[label]:
                assert glasses[mask == label].mean() > 0.5


def test_mouth_only_between_the_lips(calibration_masks: np.ndarray, pixel_counts: np.ndarray) -> None:
    for mask in calibration_masks[pixel_counts[:, 10] > 0]:
        ring = _ring(mask, 10)
        assert (ring == 11).any() and (ring == 12).any()
        assert np.isin(ring, [11, 12]).mean() > 0.85  # the corners may touch the cheek


def test_earrings_hang_from_visible_ears(calibration_masks: np.ndarray, pixel_counts: np.ndarray) -> None:
    for mask in calibration_masks[pixel_counts[:, 15] > 0]:
        pieces, labels = cv2.connectedComponents((mask == 15).astype(np.uint8), connectivity=8)
        for piece in range(1, pieces):
            ring = _ring(np.where(labels == piece, 15, mask), 15)
            assert np.isin(ring, [8, 9]).any(), np.unique(ring)


def test_hats_sit_on_the_hair(calibration_masks: np.ndarray, pixel_counts: np.ndarray) -> None:
    rows = np.arange(calibration_masks.shape[1])[:, None]
    for mask in calibration_masks[pixel_counts[:, 14] > 0]:
        assert np.isin(_ring(mask, 14), [13]).any()  # touches the hair
        hat_y = (rows * (mask == 14)).sum() / (mask == 14).sum()
        face_y = (rows * (mask == 1)).sum() / (mask == 1).sum()
        assert hat_y < face_y  # above the face


def test_left_parts_are_on_the_image_right(calibration_masks: np.ndarray, pixel_counts: np.ndarray) -> None:
    """As in the real masks: l_eye/l_brow/l_ear (the person's left) lie right of r_eye/r_brow/r_ear."""
    columns = np.arange(calibration_masks.shape[-1])
    for left, right in ((4, 5), (6, 7), (8, 9)):
        both = (pixel_counts[:, left] > 20) & (pixel_counts[:, right] > 20)
        masks = calibration_masks[both]
        mean_x = lambda label, masks=masks: ((masks == label) * columns).sum((1, 2)) / (masks == label).sum((1, 2))  # noqa: E731
        assert both.sum() > 100 and (mean_x(left) > mean_x(right)).all()


def test_inner_face_stays_aligned_as_in_celeba_hq(calibration_masks: np.ndarray, pixel_counts: np.ndarray) -> None:
    """The real crops are aligned on the eyes: eye centres move by about a pixel (at 256), the outline far more."""
    rows, columns = np.arange(128)[:, None], np.arange(128)
    eyes = calibration_masks[(pixel_counts[:, 4] > 10) & (pixel_counts[:, 5] > 10)]
    for label in (4, 5):
        ys = ((eyes == label) * rows).sum((1, 2)) / (eyes == label).sum((1, 2))
        assert ys.std() < 1.5  # px at 128
    skin_x = ((calibration_masks == 1) * columns).sum((1, 2)) / (calibration_masks == 1).sum((1, 2))
    assert 2.0 < skin_x.std() < 10.0  # the turn moves the face's outline


def test_attributes_vary_enough_to_learn(calibration_masks: np.ndarray, pixel_counts: np.ndarray) -> None:
    """Nose length, open mouth, eye openness, brow thickness, hair length, face width/height all vary."""
    masks = calibration_masks[:600]
    nose = np.array([_extent(m == 2, 1) for m in masks], float)
    assert nose.std() / nose.mean() > 0.04
    eyes = [(_extent(m == 4, 1), _extent(m == 4, 0)) for m in masks if (m == 4).sum() > 10]
    openness = np.array([h / w for h, w in eyes])
    assert np.percentile(openness, 90) / np.percentile(openness, 10) > 1.3
    brows = np.array([(m == 6).sum() / max(1, _extent(m == 6, 0)) for m in masks if (m == 6).sum() > 10])
    assert np.percentile(brows, 90) / np.percentile(brows, 10) > 1.3  # mean thickness
    chin = np.array([np.flatnonzero((m == 1).any(1))[-1] for m in masks])
    hair_bottom = np.array([np.flatnonzero((m == 13).any(1))[-1] for m in masks])
    below = hair_bottom - chin  # hair length: from well above the chin (short) to the picture's bottom (long)
    assert (below < -10).mean() > 0.15 and (hair_bottom == 127).mean() > 0.3 and np.ptp(below) > 50
    width = np.array([_extent(m == 1, 0) for m in masks], float)
    height = np.array([_extent(m == 1, 1) for m in masks], float)
    assert (width / height).std() > 0.03
    assert 0.35 < (pixel_counts[:, 10] > 0).mean() < 0.55  # open mouths


def test_generation_rate_is_a_positive_finite_number() -> None:
    rate = generation_rate(size=64, count=5)  # speed targets are checked by `make bench`, not here
    assert np.isfinite(rate) and rate > 0
