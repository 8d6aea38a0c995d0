"""Figures: colourised mask grids with row labels and a colour legend, per-class IoU bars, latent usage
bars (PNG, written atomically)."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np

from semantic_vae.files import write_bytes_atomic
from semantic_vae.labels import CELEBAMASK_HQ, LabelSet

FONT = cv2.FONT_HERSHEY_SIMPLEX
TEXT_SCALE = 0.4
TEXT_THICKNESS = 1
SWATCH = 12  # legend colour square, pixels
PAD = 6
LEGEND_MIN_WIDTH = 420  # narrow grids are padded so the legend wraps to a few lines


def text_size(text: str) -> tuple[int, int]:
    (w, h), baseline = cv2.getTextSize(text, FONT, TEXT_SCALE, TEXT_THICKNESS)
    return w, h + baseline


def put_text(image: np.ndarray, text: str, x: int, y: int) -> None:
    """Black text with its top-left corner at (x, y), in place."""
    _, h = text_size(text)
    cv2.putText(image, text, (x, y + h - 3), FONT, TEXT_SCALE, (0, 0, 0), TEXT_THICKNESS, cv2.LINE_AA)


def legend(label_set: LabelSet, class_ids: Sequence[int], width: int) -> np.ndarray:
    """A white band (h, width, 3): a colour square and the class name for each id, wrapped to `width`."""
    items = [(label_set.palette[i], f"{i} {label_set.names[i]}") for i in class_ids]
    line_h = max(SWATCH, text_size("Ag")[1]) + 4
    positions, x, y = [], PAD, PAD
    for _, name in items:
        item_w = SWATCH + 4 + text_size(name)[0] + 10
        if x + item_w > width - PAD and x > PAD:
            x, y = PAD, y + line_h
        positions.append((x, y))
        x += item_w
    band = np.full((y + line_h + PAD, width, 3), 255, np.uint8)
    for (colour, name), (x, y) in zip(items, positions):
        band[y : y + SWATCH, x : x + SWATCH] = colour
        cv2.rectangle(band, (x, y), (x + SWATCH - 1, y + SWATCH - 1), (90, 90, 90), 1)
        put_text(band, name, x + SWATCH + 4, y)
    return band


def labelled_grid(
    rows: Sequence[Sequence[np.ndarray]],
    label_set: LabelSet = CELEBAMASK_HQ,
    row_labels: Sequence[str] | None = None,
    with_legend: bool = True,
    gap: int = 2,
) -> np.ndarray:
    """Rows of label maps -> one RGB figure: a label left of each row, a colour legend of the classes shown below.

    Cells are colourised as they are (give them one size); short rows are padded with white.
    """
    ncols = max(len(r) for r in rows)
    h, w = np.asarray(rows[0][0]).shape
    margin = max((text_size(t)[0] for t in row_labels), default=0) + 2 * PAD if row_labels else 0
    grid_w = ncols * (w + gap) - gap
    figure = np.full((len(rows) * (h + gap) - gap, margin + grid_w, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        y = r * (h + gap)
        for c, mask in enumerate(row):
            x = margin + c * (w + gap)
            figure[y : y + h, x : x + w] = label_set.colorize(np.asarray(mask))
        if row_labels:
            put_text(figure, row_labels[r], PAD, y + max(0, (h - text_size(row_labels[r])[1]) // 2))
    if not with_legend:
        return figure
    shown = sorted({int(v) for row in rows for mask in row for v in np.unique(np.asarray(mask))})
    width = max(figure.shape[1], LEGEND_MIN_WIDTH)
    figure = np.pad(figure, ((0, 0), (0, width - figure.shape[1]), (0, 0)), constant_values=255)
    return np.concatenate([figure, legend(label_set, shown, width)])


def mask_grid(
    masks: Sequence[np.ndarray] | np.ndarray, label_set: LabelSet = CELEBAMASK_HQ, ncols: int | None = None
) -> np.ndarray:
    """(N, H, W) label maps -> one colourised RGB grid, near-square, with a colour legend below."""
    masks = [np.asarray(m) for m in masks]
    ncols = ncols or math.ceil(math.sqrt(len(masks)))
    return labelled_grid([masks[i : i + ncols] for i in range(0, len(masks), ncols)], label_set)


def iou_bar_chart(
    series: Mapping[str, Sequence[float]],
    class_names: Sequence[str],
    path: str | Path,
    title: str = "IoU per class",
) -> Path:
    """Grouped bars: one group per class, one bar per series (a model or a Table 1 row).

    NaN marks a class absent from the split: it gets the word "absent", not a zero bar.
    """
    plt = _pyplot()
    n = len(series)
    x = np.arange(len(class_names))
    width = 0.8 / max(1, n)
    fig, ax = plt.subplots(figsize=(max(8, len(class_names) * 0.5 + 0.4 * n), 4))
    absent = np.ones(len(class_names), bool)
    for i, (label, values) in enumerate(series.items()):
        values = np.asarray(values, float)
        absent &= np.isnan(values)
        ax.bar(x + (i - (n - 1) / 2) * width, np.where(np.isnan(values), 0.0, values), width, label=label)
    for i in np.flatnonzero(absent):
        ax.text(x[i], 0.02, "absent", rotation=90, ha="center", va="bottom", fontsize=7, color="0.4")
    ax.set_xticks(x, class_names, rotation=45, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("IoU")
    ax.set_title(title)
    if n > 1:
        ax.legend(fontsize=7, ncols=min(n, 3))
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
