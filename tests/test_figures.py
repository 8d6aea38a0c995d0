"""The figures: tile and label geometry in pixels, what each edit figure shows, and the IoU chart's notes."""

from __future__ import annotations

import numpy as np
import pytest

from semantic_vae.data.synthetic import heldout_masks
from semantic_vae.edit import Edit, MaskEditor, figures
from semantic_vae.labels import CELEBAMASK_HQ
from semantic_vae.viz import MIN_TILE, GridRow, MaskGrid, bar_notes, draw_grid, fit_text, subset_note, text_width

WHITE = 255


def ink(image: np.ndarray, box) -> int:
    """Pixels in the box that are not white: where text was drawn."""
    return int((image[box.y : box.bottom, box.x : box.right] != WHITE).any(-1).sum())


@pytest.fixture(scope="module")
def small_masks() -> np.ndarray:
    return heldout_masks(8, 64)


def test_small_masks_are_upscaled_to_128_px_tiles_with_titles_above_rows_and_labels_on_columns(small_masks):
    rows = [GridRow("input", list(small_masks)), GridRow("reconstruction", list(small_masks[::-1])),
            GridRow("generate nose (data prior)", list(small_masks))]  # fmt: skip
    columns = [f"{i}.png · seed {i}" for i in range(8)]
    grid = MaskGrid(rows, columns, subset_note(8, 21))
    image, layout = draw_grid(grid)

    assert image.shape == (layout.height, layout.width, 3) and layout.tile == MIN_TILE == 128
    for row, boxes in zip(rows, layout.tiles):
        for mask, box in zip(row.masks, boxes):
            assert (box.width, box.height) == (128, 128)
            upscaled = np.repeat(np.repeat(mask, 2, axis=0), 2, axis=1)  # nearest, 2x
            assert np.array_equal(image[box.y : box.bottom, box.x : box.right], CELEBAMASK_HQ.colorize(upscaled))
    left_margin = min(box.x for boxes in layout.tiles for box in boxes)
    assert left_margin / layout.width <= 0.12  # no label column beside the masks: titles sit above the rows
    assert max(box.right for boxes in layout.tiles for box in boxes) <= layout.width

    previous_bottom = max(label.box.bottom for label in layout.column_labels)
    for title, boxes, row in zip(layout.row_titles, layout.tiles, rows):
        assert title.text == row.title and ink(image, title.box) > 20
        assert previous_bottom <= title.box.y and title.box.bottom <= boxes[0].y  # above its row, below the last
        assert title.box.right <= layout.width
        previous_bottom = boxes[0].bottom
    for label, box, text in zip(layout.column_labels, layout.tiles[0], columns):
        assert label.text == text and box.x <= label.box.x and label.box.right <= box.right  # over its column
        assert ink(image, label.box) > 20
    assert layout.footer.text == "8 of 21 inputs shown" and layout.footer.box.y >= previous_bottom
    assert ink(image, layout.footer.box) > 20
    legend_ids = [c for c, _, _ in layout.legend]
    assert legend_ids == sorted(np.unique(small_masks).tolist())  # one legend entry per class shown
    for c, swatch, _ in layout.legend:
        centre = image[swatch.y + swatch.height // 2, swatch.x + swatch.width // 2]
        assert tuple(int(v) for v in centre) == tuple(CELEBAMASK_HQ.palette[c])


def test_large_masks_keep_their_size_and_long_labels_are_shortened_to_their_column():
    big = heldout_masks(2, 200)
    image, layout = draw_grid(MaskGrid([GridRow("", list(big))], ["a very long file name indeed.png", "b.png"]))
    assert layout.tile == 200 and layout.row_titles == (None,)
    first = layout.column_labels[0]
    assert first.text.endswith("…") and first.box.width <= 200 and ink(image, first.box) > 20
    assert fit_text("short", 200) == "short" and text_width(fit_text("x" * 80, 50)) <= 50


def test_subset_note_and_the_iou_chart_labels_every_bar_without_height():
    assert subset_note(8, 21) == "8 of 21 inputs shown" and subset_note(8, 8) == ""
    assert bar_notes({"demo": [0.5, 0.0, float("nan")]}) == [["", "IoU 0", "absent"]]
    two = bar_notes({"a": [0.0, float("nan")], "b": [0.3, float("nan")]})
    assert two == [["IoU 0", "absent"], ["", ""]]  # "absent" once per class, where every series lacks it


@pytest.fixture(scope="module")
def editor(trained_ckpt) -> MaskEditor:
    return MaskEditor.from_checkpoint(trained_ckpt, device="cpu", batch_size=16)


def titles(grid: MaskGrid) -> list[str]:
    return [row.title for row in grid.rows]


def test_a_steer_figure_has_the_asked_amount_among_its_rows_and_a_reconstruction_row(editor):
    masks = list(heldout_masks(10, 64))
    names = [f"{i}.png" for i in range(10)]
    edit = Edit("steer", "nose", attribute="height", amount=1.5)
    grid = figures.steer_grid(editor, masks, names, edit, [-2, -1, 0, 1, 2], asked=1.5)
    assert titles(grid) == ["input", "reconstruction", "nose height -2 sd", "nose height -1 sd", "nose height 0 sd",
                            "nose height +1 sd", "nose height +1.5 sd (asked)", "nose height +2 sd"]  # fmt: skip
    asked = grid.rows[titles(grid).index("nose height +1.5 sd (asked)")]
    assert np.array_equal(np.stack(asked.masks), editor.apply(edit, np.stack(masks[:8])))  # what the command wrote
    assert np.array_equal(np.stack(grid.rows[1].masks), editor.reconstruct(np.stack(masks[:8])))
    assert list(grid.columns) == names[:8] and grid.footer.endswith("8 of 10 inputs shown")
    assert grid.tile >= MIN_TILE


def test_fig3_labels_each_column_with_its_seed_and_before_after_compares_with_the_reconstruction(editor):
    masks = list(heldout_masks(3, 64))
    grid = figures.fig3_grid(editor, masks, ["a.png", "b.png", "c.png"], Edit("generate", "nose", seed=4))
    assert titles(grid)[:2] == ["input", "reconstruction"] and titles(grid)[2].startswith("generate nose")
    assert list(grid.columns) == ["a.png · seed 4", "b.png · seed 5", "c.png · seed 6"]
    assert "shown" not in grid.footer  # every input is in the figure
    grid = figures.before_after_grid(editor, masks, ["a", "b", "c"], {"nose": [2], "hair": [13]})
    assert titles(grid) == ["input", "reconstruction", "generate nose", "generate hair"]
    grid = figures.fig5_grid(editor, ["a"] * 3, ["b"] * 3, masks, masks[::-1], [[m] * 21 for m in masks],
                             np.linspace(0, 1, 21).tolist(), Edit("interpolate", "nose"))  # fmt: skip
    assert grid.columns[0] == "source" and grid.columns[1] == "α 0" and grid.columns[-2] == "α 1"
    assert len(grid.rows[0].masks) == 2 + figures.FIGURE_ALPHAS and grid.footer.endswith("9 of 21 alphas shown")
