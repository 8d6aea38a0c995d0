"""The paper's figures of editing: Fig. 3 (input / reconstruction / generation / perturbation)
and Fig. 5 (interpolation), as colourised grids."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from semantic_vae.data.io import resize_labels
from semantic_vae.edit.editor import MaskEditor, PartSpec
from semantic_vae.edit.io import run_grouped
from semantic_vae.viz import rows_grid, save_rgb_png

FIGURE_COLUMNS = 8  # masks per figure row


def figure_side(editor: MaskEditor) -> int:
    """Cell side of the figures: the model's size, at least 128 px so small models stay legible."""
    return max(editor.image_size, 128)


def save_figure(path: Path, rows: Sequence[Sequence[np.ndarray]], editor: MaskEditor) -> Path:
    """Rows of label maps of any size -> one colourised grid (cells resized with nearest)."""
    side = figure_side(editor)
    cells = [[resize_labels(np.asarray(m), side) for m in row] for row in rows]
    return save_rgb_png(path, rows_grid(cells, editor.label_set))


def fig3_rows(editor: MaskEditor, masks: list[np.ndarray], parts: PartSpec, seed: int, scale: float) -> list[list[np.ndarray]]:
    """Paper Fig. 3: rows input / reconstruction / generation / perturbation, a column per mask (seed + i)."""
    masks = masks[:FIGURE_COLUMNS]
    recon = run_grouped(masks, lambda b, idx: editor.reconstruct(b))
    gen = run_grouped(masks, lambda b, idx: editor.generate(b, parts, seed=[seed + i for i in idx]))
    pert = run_grouped(masks, lambda b, idx: editor.perturb(b, parts, scale=scale, seed=[seed + i for i in idx]))
    return [list(masks), recon, gen, pert]


def fig5_rows(sources: list[np.ndarray], targets: list[np.ndarray], steps: list[np.ndarray]) -> list[list[np.ndarray]]:
    """Paper Fig. 5: a row per pair: source, alpha = 0 .. 1, target."""
    return [[s, *path, t] for s, t, path in zip(sources, targets, steps)][:FIGURE_COLUMNS]
