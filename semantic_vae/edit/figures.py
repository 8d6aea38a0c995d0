"""The paper's figures of editing, labelled: Fig. 3 (input / reconstruction / generation /
perturbation) and Fig. 5 (interpolation), as colourised grids with row labels and a legend."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from semantic_vae.data.io import resize_labels, write_rgb_png
from semantic_vae.edit.edit import Edit
from semantic_vae.edit.editor import MaskEditor
from semantic_vae.edit.io import run_grouped
from semantic_vae.viz import labelled_grid

FIGURE_COLUMNS = 8  # masks per figure row


def figure_side(editor: MaskEditor) -> int:
    """Cell side of the figures: the model's size, at least 128 px so small models stay legible."""
    return max(editor.image_size, 128)


def save_figure(
    path: Path, rows: Sequence[Sequence[np.ndarray]], editor: MaskEditor, row_labels: Sequence[str]
) -> Path:
    """Rows of label maps of any size -> one labelled, colourised grid (cells resized with nearest)."""
    side = figure_side(editor)
    cells = [[resize_labels(np.asarray(m), side) for m in row] for row in rows]
    write_rgb_png(path, labelled_grid(cells, editor.label_set, row_labels))
    return path


def fig3_rows(editor: MaskEditor, masks: list[np.ndarray], edit: Edit) -> tuple[list[list[np.ndarray]], list[str]]:
    """Paper Fig. 3: rows input / reconstruction / generation / perturbation, a column per mask (seed + i).

    Both edited rows use `edit`'s parts, seed, keep and radius; generation its prior, perturbation its scale.
    """
    masks = masks[:FIGURE_COLUMNS]
    generate = edit.with_(operation="generate", prior=editor.resolve_prior(edit.prior))
    perturb = edit.with_(operation="perturb")
    recon = run_grouped(masks, lambda b, idx: editor.reconstruct(b))
    rows = [list(masks), recon]
    labels = ["input", "reconstruction"]
    for step in (generate, perturb):
        rows.append(
            run_grouped(masks, lambda b, idx, step=step: editor.apply(step, b, seeds=[edit.seed + i for i in idx]))
        )
        labels.append(f"{step.describe()}, seeds {edit.seed}..{edit.seed + len(masks) - 1}")
    return rows, labels


def fig5_rows(
    files: Sequence[Path | str],
    sources: list[np.ndarray],
    targets: list[np.ndarray],
    steps: list[list[np.ndarray]],
    alphas: Sequence[float],
) -> tuple[list[list[np.ndarray]], list[str]]:
    """Paper Fig. 5: a row per pair: source, alpha = 0 .. 1, target; labelled with the file and the alphas."""
    rows = [[s, *path, t] for s, t, path in zip(sources, targets, steps)][:FIGURE_COLUMNS]
    span = f"alpha {alphas[0]:g}..{alphas[-1]:g}"
    labels = [f"{Path(f).name}: source | {span} | target" for f in files][: len(rows)]
    return rows, labels
