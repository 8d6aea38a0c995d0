"""Every figure of the project, drawn in one place (PNGs written atomically).

Mask grids (`MaskGrid`): each mask a square tile of at least MIN_TILE px (a small mask upscaled with nearest, so
the model's pixels stay visible), a short title above each row, a label above each column (the file, its seed,
alpha or amount), a footer where the grid shows a subset ("8 of 21 inputs shown") and a legend of the classes
shown. `grid_layout` decides where everything goes and `draw_grid` draws it there, so a test can check the
geometry. Bar charts (matplotlib): IoU per class, latent use.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from semantic_vae.data.io import resize_labels, write_rgb_png
from semantic_vae.files import write_bytes_atomic
from semantic_vae.labels import CELEBAMASK_HQ, LabelSet

MIN_TILE = 128  # px: the smallest side a mask is drawn at
PAD = 8  # px around the figure
GAP = 4  # px between tiles
FONT_PX = 13
LINE = FONT_PX + 8  # px: one line of text (a row title, the column labels, the footer, a legend line)
SWATCH = 12  # legend colour square, px
LEGEND_MIN_WIDTH = 420  # narrow grids are widened so the legend wraps to a few lines
TEXT = (25, 25, 25)
NOTE = (95, 95, 95)


@dataclass(frozen=True)
class GridRow:
    """A row of label maps with a short title drawn above it ("" for none)."""

    title: str
    masks: Sequence[np.ndarray]


@dataclass(frozen=True)
class MaskGrid:
    """What a mask figure shows.

    columns: a label above each column (the masks of a column share it: a file, a seed, an alpha, an amount);
    footer: a line under the grid, e.g. what it leaves out; tile: side of each mask in px (0: the largest mask's
    side, at least MIN_TILE).
    """

    rows: Sequence[GridRow]
    columns: Sequence[str] = ()
    footer: str = ""
    tile: int = 0
    legend: bool = True


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    width: int
    height: int

    @property
    def right(self) -> int:
        return self.x + self.width

    @property
    def bottom(self) -> int:
        return self.y + self.height


@dataclass(frozen=True)
class Label:
    """Text as drawn (shortened with an ellipsis to fit) and the box it takes."""

    text: str
    box: Box


@dataclass(frozen=True)
class GridLayout:
    """Where `draw_grid` puts everything, in px of the figure."""

    width: int
    height: int
    tile: int
    tiles: tuple[tuple[Box, ...], ...]  # per row, one per mask
    row_titles: tuple[Label | None, ...]  # per row
    column_labels: tuple[Label, ...]
    footer: Label | None
    legend: tuple[tuple[int, Box, Label], ...]  # class id, colour square, name


@functools.cache
def font(bold: bool = False):
    """DejaVu Sans (it has α and ·), from matplotlib's own files: the same on every machine."""
    import matplotlib
    from PIL import ImageFont

    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name), FONT_PX)


def text_width(text: str, bold: bool = False) -> int:
    return math.ceil(font(bold).getlength(text))


def fit_text(text: str, width: int, bold: bool = False) -> str:
    """`text`, shortened with an ellipsis until it fits `width` px."""
    if text_width(text, bold) <= width:
        return text
    while text and text_width(text + "…", bold) > width:
        text = text[:-1]
    return text + "…" if text else ""


def subset_note(shown: int, total: int, what: str = "inputs") -> str:
    """'8 of 21 inputs shown' where a figure leaves some out, else ''."""
    return f"{shown} of {total} {what} shown" if shown < total else ""


def tile_side(grid: MaskGrid) -> int:
    if grid.tile:
        return grid.tile
    largest = max((max(np.shape(m)[-2:]) for row in grid.rows for m in row.masks), default=MIN_TILE)
    return max(MIN_TILE, int(largest))


def classes_shown(grid: MaskGrid) -> list[int]:
    return sorted({int(v) for row in grid.rows for m in row.masks for v in np.unique(np.asarray(m))})


def grid_layout(grid: MaskGrid, label_set: LabelSet = CELEBAMASK_HQ) -> GridLayout:
    """Column labels at the top, then per row its title and its tiles, the footer, the legend."""
    tile = tile_side(grid)
    ncols = max((len(row.masks) for row in grid.rows), default=0)
    grid_width = ncols * tile + max(0, ncols - 1) * GAP
    wanted = [grid_width, *(text_width(r.title, bold=True) for r in grid.rows), text_width(grid.footer)]
    width = 2 * PAD + max(wanted)
    if grid.legend:
        width = max(width, LEGEND_MIN_WIDTH)
    inner = width - 2 * PAD
    y = PAD
    columns = []
    if grid.columns:
        for c, text in enumerate(grid.columns[:ncols]):
            shown = fit_text(text, tile)
            w = text_width(shown)
            columns.append(Label(shown, Box(PAD + c * (tile + GAP) + (tile - w) // 2, y, w, LINE)))
        y += LINE
    titles, tiles = [], []
    for row in grid.rows:
        if row.title:
            shown = fit_text(row.title, inner, bold=True)
            titles.append(Label(shown, Box(PAD, y, text_width(shown, bold=True), LINE)))
            y += LINE
        else:
            titles.append(None)
        tiles.append(tuple(Box(PAD + c * (tile + GAP), y, tile, tile) for c in range(len(row.masks))))
        y += tile + GAP
    footer = None
    if grid.footer:
        shown = fit_text(grid.footer, inner)
        footer = Label(shown, Box(PAD, y, text_width(shown), LINE))
        y += LINE
    legend = []
    if grid.legend:
        x, y = PAD, y + GAP
        for c in classes_shown(grid):
            name = f"{c} {label_set.names[c]}" if c < label_set.num_classes else str(c)
            item = SWATCH + 4 + text_width(name)
            if x + item > width - PAD and x > PAD:
                x, y = PAD, y + LINE
            swatch = Box(x, y + (LINE - SWATCH) // 2, SWATCH, SWATCH)
            legend.append((c, swatch, Label(name, Box(x + SWATCH + 4, y, text_width(name), LINE))))
            x += item + 12
        y += LINE
    return GridLayout(width, y + PAD, tile, tuple(tiles), tuple(titles), tuple(columns), footer, tuple(legend))


def draw_grid(grid: MaskGrid, label_set: LabelSet = CELEBAMASK_HQ) -> tuple[np.ndarray, GridLayout]:
    """The figure as an (H, W, 3) uint8 RGB array, and its layout."""
    from PIL import Image, ImageDraw

    layout = grid_layout(grid, label_set)
    figure = np.full((layout.height, layout.width, 3), 255, np.uint8)
    for row, boxes in zip(grid.rows, layout.tiles):
        for mask, box in zip(row.masks, boxes):
            figure[box.y : box.bottom, box.x : box.right] = label_set.colorize(
                resize_labels(np.asarray(mask), box.width)
            )
    image = Image.fromarray(figure)
    draw = ImageDraw.Draw(image)
    for label in layout.column_labels:
        draw.text((label.box.x, label.box.y + 2), label.text, fill=TEXT, font=font())
    for label in layout.row_titles:
        if label is not None:
            draw.text((label.box.x, label.box.y + 2), label.text, fill=TEXT, font=font(bold=True))
    if layout.footer is not None:
        draw.text((layout.footer.box.x, layout.footer.box.y + 2), layout.footer.text, fill=NOTE, font=font())
    for c, swatch, label in layout.legend:
        colour = tuple(int(v) for v in label_set.palette[c]) if c < label_set.num_classes else (255, 255, 255)
        draw.rectangle((swatch.x, swatch.y, swatch.right - 1, swatch.bottom - 1), fill=colour, outline=(90, 90, 90))
        draw.text((label.box.x, label.box.y + 2), label.text, fill=TEXT, font=font())
    return np.asarray(image), layout


def save_grid(path: str | Path, grid: MaskGrid, label_set: LabelSet = CELEBAMASK_HQ) -> Path:
    """Draw a mask grid and write it as an RGB PNG."""
    figure, _ = draw_grid(grid, label_set)
    write_rgb_png(path, figure)
    return Path(path)


def mask_grid(
    masks: Sequence[np.ndarray] | np.ndarray, label_set: LabelSet = CELEBAMASK_HQ, ncols: int | None = None
) -> np.ndarray:
    """(N, H, W) label maps -> one near-square RGB grid with a colour legend below."""
    masks = [np.asarray(m) for m in masks]
    ncols = ncols or math.ceil(math.sqrt(len(masks)))
    rows = [GridRow("", masks[i : i + ncols]) for i in range(0, len(masks), ncols)]
    return draw_grid(MaskGrid(rows), label_set)[0]


def bar_notes(series: Mapping[str, Sequence[float]]) -> list[list[str]]:
    """Per series and class, the word drawn where a bar has no height: 'absent' (NaN: the class is not in the
    split; written once, where every series lacks it) or 'IoU 0' (the model never drew it right)."""
    values = np.array([np.asarray(v, float) for v in series.values()])  # (S, C)
    absent = np.isnan(values).all(0)
    return [
        ["absent" if absent[c] and s == 0 else "IoU 0" if row[c] == 0 else "" for c in range(len(row))]
        for s, row in enumerate(values)
    ]


def iou_bar_chart(
    series: Mapping[str, Sequence[float]],
    class_names: Sequence[str],
    path: str | Path,
    title: str = "IoU per class",
) -> Path:
    """Grouped bars: one group per class, one bar per series (a model or a Table 1 row).

    A bar without height is labelled (`bar_notes`): "absent" for a class absent from the split, "IoU 0" for one
    the model never drew right.
    """
    plt = _pyplot()
    n = len(series)
    x = np.arange(len(class_names))
    width = 0.8 / max(1, n)
    fig, ax = plt.subplots(figsize=(max(8, len(class_names) * 0.5 + 0.4 * n), 4))
    for i, ((label, values), notes) in enumerate(zip(series.items(), bar_notes(series))):
        values = np.asarray(values, float)
        at = x + (i - (n - 1) / 2) * width
        ax.bar(at, np.where(np.isnan(values), 0.0, values), width, label=label)
        for c in np.flatnonzero(notes):
            where = x[c] if notes[c] == "absent" else at[c]
            ax.text(where, 0.02, notes[c], rotation=90, ha="center", va="bottom", fontsize=7, color="0.35")
    ax.set_xticks(x, class_names, rotation=45, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("IoU")
    ax.set_title(title)
    if n > 1:  # beside the bars, never over them
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        fig.set_figwidth(fig.get_figwidth() + 2.6)
    return _save(fig, path)


def latent_chart(kl: Mapping[str, float], active_units: Mapping[str, int], latent_dim: int, path: str | Path,
                 title: str = "How much each part's latent is used") -> Path:  # fmt: skip
    """Two bar panels per class: KL to the prior (nats) and active units (of `latent_dim`)."""
    plt = _pyplot()
    names = list(kl)
    x = np.arange(len(names))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(8, len(names) * 0.5), 5.5), sharex=True)
    top.bar(x, [kl[n] for n in names], color="tab:blue")
    top.set_ylabel("KL (nats)")
    top.set_title(title)
    bottom.bar(x, [active_units[n] for n in names], color="tab:orange")
    bottom.set_ylabel(f"active units (of {latent_dim})")
    bottom.set_ylim(0, latent_dim)
    bottom.set_xticks(x, names, rotation=45, ha="right")
    return _save(fig, path)


def class_chart(synthetic: Mapping[str, Mapping[str, float]], real: Mapping[str, Mapping[str, float]],
                path: str | Path) -> Path:  # fmt: skip
    """Two panels of paired bars per class: pixel share (log scale) and presence, synthetic vs real
    (`data compare`'s per-class summaries)."""
    plt = _pyplot()
    names = list(real)
    x = np.arange(len(names))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(8, len(names) * 0.55), 6), sharex=True)
    for axis, key, label in ((top, "pixel_share", "pixel share"), (bottom, "presence", "masks containing it")):
        for offset, values, series in ((-0.2, synthetic, "synthetic"), (0.2, real, "real")):
            axis.bar(x + offset, [values[n][key] for n in names], 0.4, label=series)
        axis.set_ylabel(label)
    top.set_yscale("log")
    top.set_title("Classes: synthetic vs real")
    top.legend(fontsize=8)
    bottom.set_ylim(0, 1.05)
    bottom.set_xticks(x, names, rotation=45, ha="right")
    return _save(fig, path)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path) -> Path:
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    _pyplot().close(fig)
    return write_bytes_atomic(path, buffer.getvalue())
