"""The paper's figures of editing, labelled: Fig. 3 (input / reconstruction / generation /
perturbation) and Fig. 5 (interpolation), as colourised grids with row labels and a legend."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from semantic_vae.data.io import resize_labels, write_rgb_png
from semantic_vae.edit.editor import MaskEditor, PartSpec
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


def fig3_rows(
    editor: MaskEditor, masks: list[np.ndarray], parts: PartSpec, seed: int, options: dict
) -> tuple[list[list[np.ndarray]], list[str]]:
    """Paper Fig. 3: rows input / reconstruction / generation / perturbation, a column per mask (seed + i).

    `options` holds keep, radius, scale and prior (as the edit commands take them).
    """
    masks = masks[:FIGURE_COLUMNS]
    keep = {"keep": options.get("keep", "input"), "radius": options.get("radius", 3)}
    prior, scale = editor.resolve_prior(options.get("prior")), options.get("scale", 1.0)
    recon = run_grouped(masks, lambda b, idx: editor.reconstruct(b))
    gen = run_grouped(masks, lambda b, idx: editor.generate(b, parts, [seed + i for i in idx], prior, **keep))
    pert = run_grouped(masks, lambda b, idx: editor.perturb(b, parts, scale, [seed + i for i in idx], **keep))
    names = "+".join(editor.class_names[i] for i in editor.part_ids(parts))
    seeds = f"seeds {seed}..{seed + len(masks) - 1}"
    labels = [
        "input",
        "reconstruction",
        f"generate {names} ({prior} prior), {seeds}",
        f"perturb {names} (scale {scale:g}), {seeds}",
    ]
    return [list(masks), recon, gen, pert], [
        f"{label}, keep={keep['keep']}" if i > 1 else label for i, label in enumerate(labels)
    ]


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
