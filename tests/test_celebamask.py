"""CelebAMask-HQ readers: the official merge order, root detection, the paper split, bad files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from semantic_vae.data.celebamask import (
    MERGED_DIR,
    RAW_DIR,
    ReadSummary,
    make_raw_layout,
    merge_parts,
    open_root,
    paper_test_mask,
    read_masks,
    write_merged,
)
from semantic_vae.data.io import read_binary_png, read_label_png, resize_labels, write_color_png, write_label_png
from semantic_vae.errors import UserError
from semantic_vae.labels import CELEBAMASK_HQ
from tests.conftest import ID


@pytest.fixture(scope="module")
def samples(sample_masks) -> dict[int, np.ndarray]:
    """12 synthetic 512x512 masks under the real samples' indices (0-3 train, 29980-29987 test)."""
    return sample_masks


def raw_root(tmp_path: Path, samples: dict[int, np.ndarray], **layout) -> Path:
    for index, labels in samples.items():
        make_raw_layout(labels[None], tmp_path, start_index=index, **layout)
    return tmp_path


def read_all(root: Path, **kwargs) -> dict[str, np.ndarray]:
    return {r.name: r.labels for r in read_masks(open_root(root), **kwargs)}


# ----------------------------------------------------------------------------- the raw layout


@pytest.mark.parametrize("overlap, channels", [(False, 1), (True, 1), (True, 3)])
@pytest.mark.parametrize("source", ["sample_masks", "real_masks"])
def test_raw_merge_reproduces_the_masks(tmp_path, request, source, overlap, channels):
    """Split into the release's per-part layout, merge back: the same maps (real ones where present)."""
    samples = request.getfixturevalue(source)
    root = raw_root(tmp_path, samples, overlap=overlap, channels=channels)
    assert (root / RAW_DIR / "14" / "29980_skin.png").is_file()  # k = idx // 2000
    assert (root / RAW_DIR / "0" / "00003_hair.png").is_file()
    if overlap:  # the skin file really lies under the nose, so only the official order gives it back
        assert read_binary_png(root / RAW_DIR / "0" / "00000_skin.png")[samples[0] == ID["nose"]].all()
    merged = read_all(root)
    assert list(merged) == [str(i) for i in sorted(samples)]
    for index, labels in samples.items():
        assert np.array_equal(merged[str(index)], labels), index


def test_overlapping_parts_follow_the_official_order(tmp_path):
    """Hand-made parts: hair over skin, cloth over neck, whatever order the files are listed in."""
    shape = (6, 6)
    parts = {name: np.zeros(shape, np.uint8) for name in ("skin", "hair", "neck", "cloth", "nose")}
    parts["skin"][0:4, 0:4] = 255
    parts["hair"][0:2, 0:6] = 255  # covers the skin's top rows
    parts["nose"][2, 1] = 255  # inside the skin
    parts["neck"][3:6, 1:3] = 255  # overlaps the skin's last row
    parts["cloth"][5, 0:6] = 255  # over the neck's last row
    for name, image in parts.items():
        cv2.imwrite(str(tmp_path / f"00000_{name}.png"), image)
    expected = np.array(
        [
            [13, 13, 13, 13, 13, 13],
            [13, 13, 13, 13, 13, 13],
            [1, 2, 1, 1, 0, 0],
            [1, 17, 17, 1, 0, 0],
            [0, 17, 17, 0, 0, 0],
            [18, 18, 18, 18, 18, 18],
        ]
    )
    listed = [(ID[name], tmp_path / f"00000_{name}.png") for name in ("cloth", "hair", "skin", "neck", "nose")]
    labels, resized = merge_parts(listed)
    assert not resized
    assert np.array_equal(labels, expected)


def test_two_workers_equal_one(tmp_path, samples):
    root = raw_root(tmp_path, samples, overlap=True)
    one = read_all(root, workers=1)
    two = read_all(root, workers=2)
    assert list(one) == list(two)
    assert all(np.array_equal(one[k], two[k]) for k in one)


def test_scan_ignores_other_files_and_reports_stray_pngs(tmp_path, samples):
    root = raw_root(tmp_path, {0: samples[0], 2001: samples[1]})
    (root / RAW_DIR / "0" / "notes.txt").write_text("not a mask")
    found = open_root(root)
    assert found.kind == "raw" and found.names == ("0", "2001") and not found.stray
    write_label_png(root / RAW_DIR / "1" / "02001_moustache.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(UserError, match="02001_moustache.png"):
        list(read_masks(open_root(root)))
    summary = ReadSummary()
    assert len(list(read_masks(open_root(root), skip_bad=True, summary=summary))) == 2
    assert len(summary.bad) == 1 and "02001_moustache.png" in summary.bad[0]


def test_broken_part_png_raises_or_is_skipped(tmp_path, samples):
    root = raw_root(tmp_path, {0: samples[0], 1: samples[1]})
    broken = root / RAW_DIR / "0" / "00001_nose.png"
    broken.write_bytes(b"garbage")
    with pytest.raises(UserError) as err:
        read_all(root)
    assert str(broken) in str(err.value)
    summary = ReadSummary()
    kept = [r.name for r in read_masks(open_root(root), skip_bad=True, summary=summary)]
    assert kept == ["0"] and len(summary.bad) == 1 and str(broken) in summary.bad[0]


def test_write_merged_gives_the_official_files(tmp_path, samples):
    root = raw_root(tmp_path / "raw", {0: samples[0], 29987: samples[29987]}, overlap=True)
    summary = write_merged(open_root(root), tmp_path / "out", workers=2)
    assert summary.read == 2 and not summary.bad
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["0.png", "29987.png"]
    assert np.array_equal(read_label_png(tmp_path / "out" / "29987.png"), samples[29987])


# ----------------------------------------------------------------------------- merged folders


def test_merged_folder_round_trip_in_numeric_order(tmp_path, samples):
    for index, labels in samples.items():
        write_label_png(tmp_path / f"{index}.png", labels)
    found = open_root(tmp_path)
    assert found.kind == "merged"
    assert found.names == tuple(str(i) for i in sorted(samples))  # 2 before 29980, not "29980" < "3"
    merged = read_all(tmp_path)
    assert all(np.array_equal(merged[str(i)], samples[i]) for i in samples)


def test_colourised_folder_reads_back(tmp_path, samples):
    for index in (0, 29985):
        write_color_png(tmp_path / MERGED_DIR / f"{index}.png", samples[index])
    merged = read_all(tmp_path)  # found through the CelebAMask-HQ-mask/ subfolder
    assert np.array_equal(merged["29985"], samples[29985])


def test_read_resizes_with_nearest(tmp_path, samples):
    write_label_png(tmp_path / "0.png", samples[0])
    small = read_all(tmp_path, size=64)["0"]
    assert np.array_equal(small, samples[0][::8, ::8])  # nearest-neighbour: every 8th pixel


# ----------------------------------------------------------------------------- root detection and bad input


def test_root_detection(tmp_path, samples):
    raw = raw_root(tmp_path / "release", {5: samples[0]})
    assert open_root(raw).kind == "raw"
    assert open_root(raw / RAW_DIR).kind == "raw"  # the anno folder itself
    write_label_png(tmp_path / "labels" / "a.png", samples[1])
    assert open_root(tmp_path / "labels").kind == "merged"
    write_label_png(tmp_path / "sean" / MERGED_DIR / "7.png", samples[1])
    assert open_root(tmp_path / "sean").folder == tmp_path / "sean" / MERGED_DIR


def test_missing_and_empty_roots(tmp_path):
    with pytest.raises(UserError, match="not found") as err:
        open_root(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(err.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no label PNGs") as err:
        open_root(tmp_path / "empty")
    assert str(tmp_path / "empty") in str(err.value)
    (tmp_path / "e2" / RAW_DIR / "0").mkdir(parents=True)
    with pytest.raises(UserError, match="no masks found"):
        open_root(tmp_path / "e2")
    (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(UserError, match="not a folder"):
        open_root(tmp_path / "file.png")


def bad_folder(tmp_path: Path, samples) -> dict[str, Path]:
    """Three good masks and one of each bad kind."""
    for index in (0, 1, 2):
        write_label_png(tmp_path / f"{index}.png", samples[index])
    bad = {"garbage": tmp_path / "x.png", "value": tmp_path / "v.png", "colour": tmp_path / "c.png"}
    bad["garbage"].write_bytes(b"not a png")
    too_big = samples[3].copy()
    too_big[:10, :10] = 19
    write_label_png(bad["value"], too_big)
    rgb = CELEBAMASK_HQ.colorize(samples[3])
    rgb[100, 100] = (9, 9, 9)
    cv2.imwrite(str(bad["colour"]), rgb[..., ::-1])
    return bad


@pytest.mark.parametrize("kind, words", [("garbage", "not a PNG"), ("value", "value 19"), ("colour", "(9,9,9)")])
def test_each_bad_file_raises_naming_it(tmp_path, samples, kind, words):
    bad = bad_folder(tmp_path, samples)
    for other, path in bad.items():
        if other != kind:
            path.unlink()
    with pytest.raises(UserError) as err:
        read_all(tmp_path)
    assert str(bad[kind]) in str(err.value) and words in str(err.value)


def test_skip_bad_counts_every_bad_file(tmp_path, samples):
    bad_folder(tmp_path, samples)
    summary = ReadSummary()
    names = [r.name for r in read_masks(open_root(tmp_path), skip_bad=True, summary=summary)]
    assert names == ["0", "1", "2"] and summary.read == 3
    assert sorted(Path(line.split(": ")[0]).name for line in summary.bad) == ["c.png", "v.png", "x.png"]


def test_wrong_size_mask_is_resized_and_warned_once(tmp_path, samples):
    write_label_png(tmp_path / "0.png", samples[0])
    write_label_png(tmp_path / "1.png", resize_labels(samples[1], 300))
    write_label_png(tmp_path / "2.png", samples[2][:256])
    summary = ReadSummary()
    with pytest.warns(UserWarning) as record:
        merged = {r.name: r.labels for r in read_masks(open_root(tmp_path), summary=summary)}
    assert len(record) == 1
    message = str(record[0].message)
    assert "2 masks were not 512x512" in message and str(tmp_path) in message
    assert summary.resized == ["1", "2"]
    assert all(m.shape == (512, 512) for m in merged.values())


# ----------------------------------------------------------------------------- the split


def test_paper_split_on_image_indices():
    names = ["0", "1", "27999", "28000", "29999"]
    assert paper_test_mask(names).tolist() == [False, False, False, True, True]


def test_split_on_other_names_takes_the_last_fifteenth():
    names = [f"face_{i:03d}" for i in range(30)]
    test = paper_test_mask(names)
    assert test.tolist() == [False] * 28 + [True] * 2
