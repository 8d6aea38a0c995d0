"""`semantic-vae data compare`: hand-made masks with hand-computed statistics, the command's files, its bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from jsonargparse import CLI

from semantic_vae import mask_geometry
from semantic_vae.cli import main
from semantic_vae.commands.data import COMMANDS, EDITED_PARTS, compare, reconstruction_miou
from semantic_vae.data.compare import measure, summarise, turning_step
from semantic_vae.data.io import read_label_png, write_label_png
from semantic_vae.data.synthetic import generate_masks
from semantic_vae.errors import UserError
from semantic_vae.labels import CELEBAMASK_HQ

STAT_KEYS = {
    "pixel_share", "presence", "fragments", "centroid_y", "centroid_y_std", "centroid_x", "centroid_x_std",
    "height", "height_std", "width", "width_std", "perimeter2_per_area", "turning_angle_deg",
}  # fmt: skip


def test_a_square_has_perimeter_squared_over_area_16_and_four_right_turns() -> None:
    mask = np.zeros((64, 64), np.uint8)
    mask[10:19, 20:29] = 2  # 9x9 pixels: the contour through the pixel centres is a square of side 8
    stats = measure(mask[None])
    assert stats.perimeter[0, 2] == 32 and stats.contour_area[0, 2] == 64
    assert summarise(stats)["nose"]["perimeter2_per_area"] == pytest.approx(16.0)
    # At 64 px the walk takes every contour point (step 1): 32 vertices, four of them turn 90 degrees.
    assert turning_step(64) == 1 and turning_step(256) == 4 and turning_step(32) == 1
    assert stats.turn_count[0, 2] == 32 and stats.turn_sum[0, 2] == pytest.approx(360.0)
    assert summarise(stats)["nose"]["turning_angle_deg"] == pytest.approx(360.0 / 32)
    assert summarise(stats)["background"]["perimeter2_per_area"] == pytest.approx(16.0)  # the image border


def test_shares_presence_fragments_positions_by_hand() -> None:
    masks = np.zeros((2, 8, 8), np.uint8)
    masks[0, 0:4, 0:4] = 2  # 16 pixels
    masks[0, 6:8, 6:8] = 2  # and a second piece of 4
    masks[1, 2:4, 2:6] = 1  # skin only in the second mask: 8 pixels
    out = summarise(measure(masks))
    nose, skin, background = out["nose"], out["skin"], out["background"]
    assert nose["pixel_share"] == pytest.approx(20 / 128) and skin["pixel_share"] == pytest.approx(8 / 128)
    assert background["pixel_share"] == pytest.approx(100 / 128)
    assert nose["presence"] == 0.5 and skin["presence"] == 0.5 and background["presence"] == 1.0
    assert nose["fragments"] == 2.0 and skin["fragments"] == 1.0
    # Pixel-centre centroid: rows (16 * 1.5 + 4 * 6.5) / 20 = 2.5, + 0.5, over the side 8.
    assert nose["centroid_y"] == pytest.approx(3 / 8) and nose["centroid_x"] == pytest.approx(3 / 8)
    assert nose["centroid_y_std"] == 0.0 and nose["height"] == 1.0 and nose["width"] == 1.0
    assert skin["centroid_y"] == pytest.approx(3 / 8) and skin["centroid_x"] == pytest.approx(4 / 8)
    assert skin["height"] == pytest.approx(2 / 8) and skin["width"] == pytest.approx(4 / 8)
    assert np.isnan(out["hair"]["centroid_y"]) and out["hair"]["presence"] == 0.0 and np.isnan(out["hair"]["fragments"])


def test_measures_agree_with_the_shapes_module() -> None:
    masks = generate_masks(2, 0, 6, 64)
    stats = measure(masks)
    counts = np.stack([mask_geometry.fragments_per_class(m, 19) for m in masks])
    assert np.array_equal(stats.fragments, counts)
    features = mask_geometry.geometric_features(masks, 19).reshape(6, 19, 5)
    present = stats.pixels > 0
    assert np.allclose(features[..., 0][present], stats.pixels[present] / 64**2)
    assert np.allclose(features[..., 1:3][present], stats.centroid[present])
    assert np.allclose(features[..., 3:5][present], stats.extent[present])


def test_reconstruction_miou_by_hand() -> None:
    class EverythingBackground:  # predicts class 0 everywhere
        num_classes, batch_size = 19, 1

        def reconstruct(self, masks: np.ndarray) -> np.ndarray:
            return np.zeros_like(masks)

    masks = np.zeros((2, 4, 4), np.uint8)
    masks[:, :2] = 1  # half skin: IoU(background) = 16 / 32, IoU(skin) = 0
    assert reconstruction_miou(EverythingBackground(), masks) == pytest.approx(0.25)


@pytest.fixture()
def real_folder(tmp_path) -> Path:
    """Three synthetic 64x64 label PNGs standing in for real ones."""
    for i, mask in enumerate(generate_masks(1, 0, 3, 64)):
        write_label_png(tmp_path / "real" / f"{i}.png", mask)
    return tmp_path / "real"


def test_the_command_writes_its_json_and_figures(tmp_path, real_folder, capsys) -> None:
    out = tmp_path / "out"
    CLI(
        COMMANDS,
        args=["compare", "--real", str(real_folder), "--n", "4", "--size", "32", "--out", str(out)],
        as_positional=False,
    )
    assert sorted(p.name for p in out.iterdir()) == ["classes.png", "compare.json", "masks.png"]
    report = json.loads((out / "compare.json").read_text())
    assert set(report) == {"size", "synthetic", "real", "frechet_distance", "share_ratios"}
    assert report["size"] == 32 and report["real"]["count"] == 3 and report["synthetic"]["count"] == 4
    assert report["synthetic"]["start"] == 10_000_000
    for side in ("synthetic", "real"):
        assert list(report[side]["classes"]) == list(CELEBAMASK_HQ.names)
        assert all(set(v) == STAT_KEYS for v in report[side]["classes"].values())
    real = np.stack([read_label_png(p, CELEBAMASK_HQ, size=32) for p in sorted(real_folder.glob("*.png"))])
    synthetic = generate_masks(0, 10_000_000, 4, 32)  # the held-out masks it compares
    features = [mask_geometry.geometric_features(m, CELEBAMASK_HQ.num_classes) for m in (synthetic, real)]
    assert report["frechet_distance"] == pytest.approx(mask_geometry.frechet_distance(*features))
    real_classes = report["real"]["classes"]
    assert set(report["share_ratios"]) == {n for n, v in real_classes.items() if v["pixel_share"] >= 0.005}
    skin = report["synthetic"]["classes"]["skin"]["pixel_share"] / real_classes["skin"]["pixel_share"]
    assert report["share_ratios"]["skin"] == pytest.approx(skin)
    printed = capsys.readouterr().out
    assert "realism Fréchet distance" in printed and "skin" in printed


def test_with_a_checkpoint_it_reports_the_reconstruction_miou(tmp_path, real_folder, monkeypatch) -> None:
    class Identity:  # a perfect model: reconstructs every mask as it is
        num_classes, batch_size, class_names = 19, 8, CELEBAMASK_HQ.names

        upsample = "bilinear"

        def reconstruct(self, masks: np.ndarray) -> np.ndarray:
            return masks

        def generate(self, masks: np.ndarray, parts: str, seed: int, keep: str) -> np.ndarray:
            assert (seed, keep) == (0, "input") and self.upsample in ("nearest", "bilinear")
            return masks  # the real parts themselves: as smooth as the real ones

    monkeypatch.setattr("semantic_vae.edit.MaskEditor.from_checkpoint", lambda path: Identity())
    compare(str(real_folder), n=3, size=32, out=str(tmp_path / "out"), ckpt="model.ckpt")
    report = json.loads((tmp_path / "out" / "compare.json").read_text())
    assert report["reconstruction_miou"] == {"checkpoint": "model.ckpt", "real": 1.0, "synthetic": 1.0}
    smoothness = report["edited_smoothness"]
    assert list(smoothness) == ["nearest", "bilinear"]
    for mode in smoothness.values():
        assert list(mode) == list(EDITED_PARTS)
        for part, value in mode.items():
            assert value["ratio_to_real"] == pytest.approx(1.0), part
            assert value["perimeter2_per_area"] == report["real"]["classes"][part]["perimeter2_per_area"]
            assert value["turning_ratio_to_real"] == pytest.approx(1.0), part


@pytest.mark.parametrize(
    "change, words",
    [
        ({"real": "missing"}, ["real:", "missing", "not a folder"]),
        ({"real": "empty"}, ["real:", "no PNG files"]),
        ({"real": "one"}, ["real:", "only one PNG file"]),
        ({"real": "bad"}, ["1.png", "label value 200"]),
        ({"n": 1}, ["n must be at least 2", "got 1"]),
        ({"size": 0}, ["size must be positive", "got 0"]),
        ({"ckpt": "missing.ckpt"}, ["missing.ckpt", "checkpoint not found"]),
    ],
)
def test_bad_input_is_one_line_naming_the_argument(tmp_path, real_folder, change, words) -> None:
    (tmp_path / "empty").mkdir()
    write_label_png(tmp_path / "one" / "0.png", np.zeros((8, 8), np.uint8))
    write_label_png(tmp_path / "bad" / "0.png", np.zeros((8, 8), np.uint8))
    write_label_png(tmp_path / "bad" / "1.png", np.full((8, 8), 200, np.uint8))
    args = {"real": str(real_folder), "n": 3, "size": 16, "out": str(tmp_path / "out")}
    args.update({k: str(tmp_path / v) if k in ("real", "ckpt") else v for k, v in change.items()})
    with pytest.raises(UserError) as caught:
        compare(**args)
    message = str(caught.value)
    assert "\n" not in message
    for word in words:
        assert word in message, (word, message)
    assert not (tmp_path / "out").exists()  # nothing written before the input is checked


def test_bad_input_through_the_cli_exits_2_with_one_line(tmp_path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as done:
        main(["data", "compare", "--real", str(tmp_path / "empty"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert done.value.code == 2 and len(lines) == 1 and "no PNG files" in lines[0], err


def test_a_class_missing_from_the_synthetic_masks_is_a_zero_ratio(tmp_path, capsys) -> None:
    for i in range(2):  # "real" masks that are all necklace: no synthetic mask comes close
        write_label_png(tmp_path / "real" / f"{i}.png", np.full((16, 16), 16, np.uint8))
    compare(str(tmp_path / "real"), n=2, size=16, out=str(tmp_path / "out"))
    report = json.loads((tmp_path / "out" / "compare.json").read_text())
    assert list(report["share_ratios"]) == ["neck_l"] and report["share_ratios"]["neck_l"] < 0.05
    assert "furthest neck_l" in capsys.readouterr().out
