"""Single label PNGs: grayscale, indexed and colourised reading, atomic writing, clear errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from semantic_vae.data.io import (
    decode_png,
    png_shape,
    read_binary_png,
    read_label_png,
    write_color_png,
    write_label_png,
)
from semantic_vae.errors import UserError
from semantic_vae.labels import CELEBAMASK_HQ, LabelSet


@pytest.fixture(scope="module")
def mask(sample_masks) -> np.ndarray:
    """A 512x512 face mask with every common class (synthetic: the tests run from a plain clone)."""
    return sample_masks[0]


def all_ids(size: int = 19) -> np.ndarray:
    return (np.arange(size * size) % 19).reshape(size, size).astype(np.uint8)


def test_reads_a_merged_mask(mask):
    assert mask.shape == (512, 512) and mask.dtype == np.uint8
    assert mask.max() <= 18 and {0, 1, 13} <= set(np.unique(mask).tolist())


def test_label_png_round_trip_is_mode_l(tmp_path, mask):
    path = tmp_path / "out" / "0.png"
    write_label_png(path, mask)
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert raw.ndim == 2 and raw.dtype == np.uint8  # 8-bit grayscale = PIL mode L
    assert np.array_equal(read_label_png(path), mask)
    assert [p.name for p in path.parent.iterdir()] == ["0.png"]  # no temporary file left behind
    assert png_shape(path) == (512, 512)


def test_colourised_png_reads_back_through_the_palette(tmp_path, mask):
    path = tmp_path / "colour.png"
    write_color_png(path, mask)
    assert cv2.imread(str(path), cv2.IMREAD_UNCHANGED).shape == (512, 512, 3)
    assert np.array_equal(read_label_png(path), mask)


def test_palette_round_trip_covers_every_class(tmp_path):
    labels = all_ids()
    assert np.array_equal(CELEBAMASK_HQ.decolorize(CELEBAMASK_HQ.colorize(labels)), labels)
    write_color_png(tmp_path / "c.png", labels)
    assert np.array_equal(read_label_png(tmp_path / "c.png"), labels)


def test_rgb_with_equal_channels_is_read_as_grayscale_ids(tmp_path):
    labels = all_ids()
    cv2.imwrite(str(tmp_path / "g.png"), np.repeat(labels[..., None], 3, axis=2))
    assert np.array_equal(read_label_png(tmp_path / "g.png"), labels)


def test_indexed_png_gives_its_palette_indices(tmp_path):
    from PIL import Image

    labels = all_ids()
    image = Image.fromarray(labels, mode="P")
    image.putpalette([7, 7, 7] * 256)  # colours that mean nothing: the indices are the ids
    image.save(tmp_path / "p.png")
    assert np.array_equal(read_label_png(tmp_path / "p.png"), labels)


def test_resize_is_nearest(tmp_path, mask):
    write_label_png(tmp_path / "m.png", mask)
    small = read_label_png(tmp_path / "m.png", size=64)
    assert small.shape == (64, 64) and np.array_equal(small, mask[::8, ::8])  # 512 -> 64: every 8th pixel
    assert set(np.unique(small).tolist()) <= set(np.unique(mask).tolist())  # no invented ids
    assert np.array_equal(read_label_png(tmp_path / "m.png", size=512), mask)


def test_16_bit_grayscale_with_valid_ids_reads_as_the_ids(tmp_path):
    """Policy: some export tools write label maps in 16 bits; the values are what count (README, Reliability)."""
    labels = all_ids()
    cv2.imwrite(str(tmp_path / "w.png"), labels.astype(np.uint16))
    assert cv2.imread(str(tmp_path / "w.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    read = read_label_png(tmp_path / "w.png")
    assert read.dtype == np.uint8 and np.array_equal(read, labels)
    cv2.imwrite(str(tmp_path / "x.png"), labels.astype(np.uint16) * 300)
    with pytest.raises(UserError, match="label value 5400 is beyond the last id 18"):
        read_label_png(tmp_path / "x.png")


def test_binary_part_png_one_or_three_channels(tmp_path):
    part = np.zeros((8, 8), np.uint8)
    part[2:4, 3:6] = 255
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[2:4, 3:6, 2] = 1  # non-zero in one channel only still counts
    cv2.imwrite(str(tmp_path / "a.png"), part)
    cv2.imwrite(str(tmp_path / "b.png"), rgb)
    assert np.array_equal(read_binary_png(tmp_path / "a.png"), part > 0)
    assert np.array_equal(read_binary_png(tmp_path / "b.png"), part > 0)


# ----------------------------------------------------------------------------- errors


def assert_one_line_naming(err: pytest.ExceptionInfo, path: Path, *words: str) -> None:
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    for word in words:
        assert word in message


def test_missing_file(tmp_path):
    with pytest.raises(UserError) as err:
        read_label_png(tmp_path / "nope.png")
    assert_one_line_naming(err, tmp_path / "nope.png", "not found")


def test_garbage_bytes_do_not_decode(tmp_path):
    path = tmp_path / "x.png"
    path.write_bytes(b"this is not a png at all")
    with pytest.raises(UserError) as err:
        read_label_png(path)
    assert_one_line_naming(err, path, "not a PNG")


def test_truncated_png_does_not_decode(tmp_path, mask, capfd):
    write_label_png(tmp_path / "ok.png", mask)
    path = tmp_path / "cut.png"
    path.write_bytes((tmp_path / "ok.png").read_bytes()[:200])
    with pytest.raises(UserError) as err:
        decode_png(path)
    assert_one_line_naming(err, path, "does not decode")
    assert "IHDR" not in capfd.readouterr().err  # OpenCV's own log lines are silenced


def test_label_value_beyond_the_last_id(tmp_path):
    labels = all_ids()
    labels[0, :5] = 40
    write_label_png(tmp_path / "v.png", labels)
    with pytest.raises(UserError) as err:
        read_label_png(tmp_path / "v.png")
    assert_one_line_naming(err, tmp_path / "v.png", "40", "last id 18", "5 pixels")


def test_fewer_classes_in_a_custom_label_set(tmp_path):
    small = LabelSet(names=("bg", "face", "hair"), palette=((0, 0, 0), (200, 0, 0), (0, 0, 200)), name="tiny")
    write_label_png(tmp_path / "v.png", np.array([[0, 1], [2, 3]], np.uint8))
    with pytest.raises(UserError) as err:
        read_label_png(tmp_path / "v.png", small)
    assert_one_line_naming(err, tmp_path / "v.png", "value 3", "tiny")


def test_colour_not_in_the_palette(tmp_path):
    rgb = CELEBAMASK_HQ.colorize(all_ids())
    rgb[3, 4] = (1, 2, 3)
    cv2.imwrite(str(tmp_path / "c.png"), rgb[..., ::-1])
    with pytest.raises(UserError) as err:
        read_label_png(tmp_path / "c.png")
    assert_one_line_naming(err, tmp_path / "c.png", "(1,2,3)", "palette")


def test_write_rejects_non_label_arrays(tmp_path):
    with pytest.raises(UserError, match="2-D"):
        write_label_png(tmp_path / "a.png", np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(UserError, match="0..255"):
        write_label_png(tmp_path / "a.png", np.full((2, 2), 300))
    assert not list(tmp_path.iterdir())
