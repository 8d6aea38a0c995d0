"""Figures: colourised mask grids and per-class IoU bar charts (PNG, written atomically)."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from semantic_vae.data.io import write_rgb_png
from semantic_vae.files import write_bytes_atomic
from semantic_vae.labels import CELEBAMASK_HQ, LabelSet


def save_rgb_png(path: str | Path, rgb: np.ndarray) -> Path:
    """Write an (H, W, 3) RGB image atomically, creating its folder."""
    path = Path(path)
    write_rgb_png(path, rgb)
    return path


def tile(images: Sequence[np.ndarray], ncols: int | None = None, gap: int = 2) -> np.ndarray:
    """Equal-size (H, W, 3) images in a grid with white separators; near-square by default."""
    n = len(images)
    ncols = ncols or math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    h, w = images[0].shape[:2]
    grid = np.full((nrows * (h + gap) - gap, ncols * (w + gap) - gap, 3), 255, dtype=np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, ncols)
        y, x = r * (h + gap), c * (w + gap)
        grid[y : y + h, x : x + w] = img
    return grid


def mask_grid(masks: Sequence[np.ndarray] | np.ndarray, label_set: LabelSet = CELEBAMASK_HQ, ncols: int | None = None) -> np.ndarray:
    """(N, H, W) label maps -> one colourised RGB grid."""
    return tile([label_set.colorize(np.asarray(m)) for m in masks], ncols)


def rows_grid(rows: Sequence[Sequence[np.ndarray]], label_set: LabelSet = CELEBAMASK_HQ) -> np.ndarray:
    """Rows of label maps (e.g. input | reconstruction | edits) -> one RGB grid, a row per entry."""
    ncols = max(len(r) for r in rows)
    blank = np.full_like(label_set.colorize(np.asarray(rows[0][0])), 255)
    cells = [label_set.colorize(np.asarray(m)) for r in rows for m in r]
    padded: list[np.ndarray] = []
    i = 0
    for r in rows:
        padded += cells[i : i + len(r)] + [blank] * (ncols - len(r))
        i += len(r)
    return tile(padded, ncols)


def iou_bar_chart(
    series: Mapping[str, Sequence[float]],
    class_names: Sequence[str],
    path: str | Path,
    title: str = "IoU per class",
) -> Path:
    """Grouped bars: one group per class, one bar per series (a model or a Table 1 row)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(series)
    x = np.arange(len(class_names))
    width = 0.8 / max(1, n)
    fig, ax = plt.subplots(figsize=(max(8, len(class_names) * 0.5 + 0.4 * n), 4))
    for i, (label, values) in enumerate(series.items()):
        ax.bar(x + (i - (n - 1) / 2) * width, np.nan_to_num(np.asarray(values, float)), width, label=label)
    ax.set_xticks(x, class_names, rotation=45, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("IoU")
    ax.set_title(title)
    if n > 1:
        ax.legend(fontsize=7, ncols=min(n, 3))
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    return write_bytes_atomic(path, buffer.getvalue())
