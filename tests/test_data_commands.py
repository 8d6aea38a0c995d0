"""`semantic-vae data merge|prepare|preview` end to end on small temporary data."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from jsonargparse import CLI

from semantic_vae.commands.data import COMMANDS, merge, prepare, preview
from semantic_vae.data.celebamask import make_raw_layout
from semantic_vae.data.synthetic import generate_masks
from semantic_vae.errors import UserError
from semantic_vae.labels import CELEBAMASK_HQ
from semantic_vae.viz import GAP, LEGEND_MIN_WIDTH, MIN_TILE, PAD

INDICES = (0, 1, 29986, 29987)


@pytest.fixture()
def raw(tmp_path, sample_masks) -> Path:
    """Four 512x512 masks split into the release's per-part layout."""
    for index in INDICES:
        make_raw_layout(sample_masks[index][None], tmp_path / "release", index, overlap=True)
    return tmp_path / "release"


def test_merge_writes_the_official_label_pngs(tmp_path, raw, sample_masks, capsys):
    merge(str(raw), str(tmp_path / "merged"), workers=2)
    assert sorted(p.name for p in (tmp_path / "merged").iterdir()) == sorted(f"{i}.png" for i in INDICES)
    for index in INDICES:
        written = cv2.imread(str(tmp_path / "merged" / f"{index}.png"), cv2.IMREAD_UNCHANGED)
        assert written.shape == (512, 512) and written.dtype == np.uint8  # mode L
        assert np.array_equal(written, sample_masks[index])
    out = capsys.readouterr().out
    assert "merged 4 masks" in out and "masks/s" in out


def test_prepare_prints_the_split_and_class_shares(tmp_path, raw, capsys):
    prepare(str(raw), size=32, cache_dir=str(tmp_path / "cache"))
    out = capsys.readouterr().out
    assert "masks: 4 (train 2, test 2), 32x32" in out
    assert "hair" in out and "cloth" in out and "%" in out
    assert len(list((tmp_path / "cache").iterdir())) == 1


def test_prepare_lists_skipped_files(tmp_path, raw, capsys):
    broken = raw / "CelebAMask-HQ-mask-anno" / "0" / "00001_hair.png"
    broken.write_bytes(b"garbage")
    with pytest.raises(UserError, match="00001_hair.png"):
        prepare(str(raw), size=32, cache_dir=str(tmp_path / "cache"))
    with pytest.warns(UserWarning, match="skipped 1 bad files"):
        prepare(str(raw), size=32, cache_dir=str(tmp_path / "cache"), skip_bad=True)
    out = capsys.readouterr().out
    assert "masks: 3 (train 1, test 2)" in out and "skipped 1 bad files" in out and str(broken) in out


@pytest.mark.parametrize("n, rows, cols", [(5, 2, 3), (16, 4, 4), (1, 1, 1)])
def test_preview_grid_size(tmp_path, n, rows, cols):
    out = tmp_path / "grid.png"
    preview(n=n, size=16, out=str(out))
    grid = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)[..., ::-1]
    tile = MIN_TILE  # 16-px masks drawn 8x, nearest
    height, width = PAD + rows * tile + rows * GAP, 2 * PAD + cols * tile + (cols - 1) * GAP
    assert grid.shape[1] == max(width, LEGEND_MIN_WIDTH) and grid.shape[0] > height  # the legend below the cells
    if cols > 1:
        assert (grid[PAD : PAD + tile, PAD + tile : PAD + tile + GAP] == 255).all()  # white between two columns
    shown = np.unique(generate_masks(0, 0, n, 16))
    legend = grid[height:].reshape(-1, 3)
    for class_id in shown:  # a colour swatch for every class in the grid
        assert (legend == CELEBAMASK_HQ.palette[class_id]).all(1).any(), CELEBAMASK_HQ.names[class_id]


def test_preview_of_a_celebamask_folder(tmp_path, raw, sample_masks):
    out = tmp_path / "real.png"
    preview(source="celebamask", root=str(raw), n=4, size=32, out=str(out))
    grid = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert grid.shape[1] == LEGEND_MIN_WIDTH and grid.shape[0] > 2 * MIN_TILE
    first = sample_masks[0][::16, ::16]  # nearest-neighbour 512 -> 32, then drawn 4x in a 128-px tile
    cell = grid[PAD : PAD + MIN_TILE, PAD : PAD + MIN_TILE, ::-1]
    assert np.array_equal(CELEBAMASK_HQ.decolorize(cell), first.repeat(4, 0).repeat(4, 1))  # the first cell


def test_bad_arguments_name_themselves(tmp_path):
    with pytest.raises(UserError, match="nowhere"):
        prepare(str(tmp_path / "nowhere"), cache_dir=str(tmp_path / "cache"))
    with pytest.raises(UserError, match="nowhere"):
        merge(str(tmp_path / "nowhere"), str(tmp_path / "out"))
    with pytest.raises(UserError, match="^n must"):
        preview(n=0, out=str(tmp_path / "p.png"))
    with pytest.raises(UserError, match="^root"):
        preview(source="celebamask", out=str(tmp_path / "p.png"))


def test_functions_work_as_cli_subcommands(tmp_path):
    out = tmp_path / "cli.png"
    CLI(COMMANDS, args=["preview", "--n", "4", "--size", "8", "--out", str(out)], as_positional=False)
    image = cv2.imread(str(out))
    assert image.shape[1] == LEGEND_MIN_WIDTH and (image[:18, :18] != 255).any()  # 2x2 cells of 8 px, a legend
