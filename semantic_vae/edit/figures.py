"""What each edit figure shows, for the CLI and the demo alike: paper Fig. 3 and Fig. 5, swap, steer, add / remove,
before / after and reconstruction grids, built from the editor for the first FIGURE_COLUMNS inputs (the footer says
how many were left out). Where an edit is compared with its input, a reconstruction row shows what the model draws
unedited. `semantic_vae.viz` draws them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from semantic_vae.edit.edit import Edit
from semantic_vae.edit.editor import MaskEditor, run_grouped
from semantic_vae.viz import MIN_TILE, GridRow, MaskGrid, save_grid, subset_note

FIGURE_COLUMNS = 8  # masks per figure row
FIGURE_ALPHAS = 9  # interpolation steps per figure row
MAX_TILE = 256  # px: larger masks are drawn at this side (8 columns stay about 2,000 px wide)


def figure_side(editor: MaskEditor, masks: Sequence[np.ndarray] = ()) -> int:
    """Tile side of the edit figures: at least MIN_TILE px and the model's size; larger masks up to MAX_TILE."""
    largest = max((max(np.shape(m)[-2:]) for m in masks), default=0)
    return max(MIN_TILE, editor.image_size, min(MAX_TILE, largest))


def save(path: Path, grid: MaskGrid, editor: MaskEditor) -> Path:
    return save_grid(path, grid, editor.label_set)


def first(masks: Sequence[np.ndarray], names: Sequence[str], what: str = "inputs") -> tuple[list, list[str], str]:
    """The masks and names a figure shows, and its footer note when it leaves some out."""
    n = min(len(masks), FIGURE_COLUMNS)
    return list(masks[:n]), list(names[:n]), subset_note(n, len(masks), what)


def caption(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def reconstruction_row(editor: MaskEditor, masks: list[np.ndarray]) -> GridRow:
    return GridRow("reconstruction", run_grouped(masks, lambda b, idx: editor.reconstruct(b)))


def seeded_row(editor: MaskEditor, title: str, edit: Edit, masks: list[np.ndarray], seeds: list[int]) -> GridRow:
    return GridRow(title, run_grouped(masks, lambda b, idx: editor.apply(edit, b, seeds=[seeds[i] for i in idx])))


def reconstruct_grid(editor: MaskEditor, masks: Sequence[np.ndarray], names: Sequence[str]) -> MaskGrid:
    shown, labels, note = first(masks, names)
    return MaskGrid(
        [GridRow("input", shown), reconstruction_row(editor, shown)], labels, note, figure_side(editor, shown)
    )


def fig3_grid(
    editor: MaskEditor, masks: Sequence[np.ndarray], names: Sequence[str], edit: Edit, scale: float | None = None
) -> MaskGrid:
    """Paper Fig. 3: rows input / reconstruction / generation / perturbation; column i is file i with seed + i.

    Both edited rows use `edit`'s parts, seed, keep and radius; generation its prior (where it has one), perturbation
    `scale` (default: the edit's, where it has one).
    """
    shown, labels, note = first(masks, names)
    seeds = [edit.seed + i for i in range(len(shown))]
    parts = "+".join(edit.parts)
    generate = edit.with_(operation="generate")
    generate = generate.with_(prior=editor.resolve_prior(generate.prior))
    perturb = edit.with_(operation="perturb", **({} if scale is None else {"scale": scale}))
    rows = [
        GridRow("input", shown),
        reconstruction_row(editor, shown),
        seeded_row(editor, f"generate {parts} ({generate.prior} prior)", generate, shown, seeds),
        seeded_row(editor, f"perturb {parts} (scale {perturb.scale:g})", perturb, shown, seeds),
    ]
    columns = [f"{name} · seed {s}" for name, s in zip(labels, seeds)]
    return MaskGrid(rows, columns, caption(f"keep={edit.keep}, radius {edit.radius}", note), figure_side(editor, shown))


def fig5_grid(
    editor: MaskEditor,
    names: Sequence[str],
    target_names: Sequence[str],
    sources: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    paths: Sequence[Sequence[np.ndarray]],
    alphas: Sequence[float],
    edit: Edit,
) -> MaskGrid:
    """Paper Fig. 5: a row per pair (source, its path at each alpha, target), the alphas on the columns (at most
    FIGURE_ALPHAS of them, evenly spread)."""
    n = min(len(sources), FIGURE_COLUMNS)
    steps = sorted(set(np.linspace(0, len(alphas) - 1, min(len(alphas), FIGURE_ALPHAS)).round().astype(int).tolist()))
    rows = [GridRow(f"{names[i]} → {target_names[i]}", [sources[i], *(paths[i][k] for k in steps), targets[i]])
            for i in range(n)]  # fmt: skip
    columns = ["source", *(f"α {alphas[k]:g}" for k in steps), "target"]
    notes = (subset_note(n, len(sources), "pairs"), subset_note(len(steps), len(alphas), "alphas"))
    note = caption(f"interpolate {'+'.join(edit.parts)}, keep={edit.keep}", *notes)
    return MaskGrid(rows, columns, note, figure_side(editor, sources[:n]))


def swap_grid(
    editor: MaskEditor,
    masks: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    names: Sequence[str],
    target_names: Sequence[str],
    edit: Edit,
) -> MaskGrid:
    """Rows source / reconstruction / target / result; a column per pair."""
    shown, labels, note = first(masks, names)
    partners = list(targets[: len(shown)])
    swapped = run_grouped(shown, lambda b, idx: editor.apply(edit, b, np.stack([partners[i] for i in idx])))
    rows = [GridRow("source", shown), reconstruction_row(editor, shown), GridRow("target", partners),
            GridRow(f"swap {'+'.join(edit.parts)} in from the target", swapped)]  # fmt: skip
    columns = [f"{Path(a).stem} ← {Path(b).stem}" for a, b in zip(labels, target_names)]
    return MaskGrid(rows, columns, caption(f"keep={edit.keep}", note), figure_side(editor, shown))


def steer_grid(
    editor: MaskEditor,
    masks: Sequence[np.ndarray],
    names: Sequence[str],
    edit: Edit,
    amounts: Sequence[float],
    asked: float | None = None,
) -> MaskGrid:
    """Rows input / reconstruction / one per amount, `asked` (the amount of the written results) among them and
    marked; a column per mask. `edit` gives the part, attribute, hold and keep."""
    shown, labels, note = first(masks, names)
    steps = sorted({float(a) for a in amounts} | ({float(asked)} if asked is not None else set()))
    edits = [edit.with_(amount=a) for a in steps]
    paths = run_grouped(shown, lambda b, idx: np.stack(editor.apply_many(edits, b)), axis=1)  # per mask (A, H, W)
    part = edit.parts[0]
    rows = [GridRow("input", shown), reconstruction_row(editor, shown)]
    for k, amount in enumerate(steps):
        mark = " (asked)" if amount == asked else ""
        rows.append(GridRow(f"{part} {edit.attribute} {amount:+g} sd{mark}".replace("+0 sd", "0 sd"),
                            [p[k] for p in paths]))  # fmt: skip
    held = "others held" if edit.hold else "others free"
    return MaskGrid(rows, labels, caption(f"steer {part}.{edit.attribute}, {held}, keep={edit.keep}", note),
                    figure_side(editor, shown))  # fmt: skip


def presence_grid(
    editor: MaskEditor, masks: Sequence[np.ndarray], names: Sequence[str], edit: Edit, seeds: Sequence[int]
) -> MaskGrid:
    """add / remove: rows input / reconstruction / result; an add's columns name their seeds."""
    shown, labels, note = first(masks, names, "masks it applies to")
    seeds = list(seeds[: len(shown)])
    result = seeded_row(editor, f"{edit.operation} {'+'.join(edit.parts)}", edit, shown, seeds)
    columns = [f"{name} · seed {s}" for name, s in zip(labels, seeds)] if edit.draws_noise else labels
    return MaskGrid([GridRow("input", shown), reconstruction_row(editor, shown), result], columns,
                    caption(f"keep={edit.keep}", note), figure_side(editor, shown))  # fmt: skip


def before_after_grid(
    editor: MaskEditor, masks: Sequence[np.ndarray], names: Sequence[str], units: Mapping[str, list[int]]
) -> MaskGrid:
    """Rows input / reconstruction / each part generated (keep=input, data prior where fitted); column i seed i."""
    shown, labels, note = first(masks, names)
    seeds = list(range(len(shown)))
    prior = editor.resolve_prior(None)
    rows = [GridRow("input", shown), reconstruction_row(editor, shown)]
    for name, ids in units.items():
        edit = Edit("generate", [str(i) for i in ids], prior=prior, keep="input")
        rows.append(seeded_row(editor, f"generate {name}", edit, shown, seeds))
    columns = [f"{name} · seed {s}" for name, s in zip(labels, seeds)]
    return MaskGrid(rows, columns, caption(f"keep=input, {prior} prior", note), figure_side(editor, shown))
