"""Files in and out of the edit commands: input PNGs, label + colour PNG pairs, the manifest."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from semantic_vae.data.io import read_label_png, write_color_png, write_label_png
from semantic_vae.edit.edit import Edit, all_settings
from semantic_vae.errors import UserError
from semantic_vae.labels import LabelSet


def input_files(path: str, what: str = "input") -> list[Path]:
    """A PNG file, or the sorted PNGs of a folder; a UserError when there are none."""
    p = Path(path)
    if p.is_dir():
        try:
            files = sorted(f for f in p.glob("*.png") if f.is_file())
        except OSError as err:
            raise UserError(f"--{what} {p}: cannot read the folder ({err.strerror or err})") from None
        if not files and not os.access(p, os.R_OK | os.X_OK):
            raise UserError(f"--{what} {p}: cannot read the folder (permission denied)")
        if not files:
            raise UserError(f"--{what} {p}: no PNG files in the folder")
        return files
    if not p.exists():
        raise UserError(f"--{what} {p}: no such file or folder")
    return [p]


def read_masks(files: Sequence[Path], label_set: LabelSet) -> list[np.ndarray]:
    """(H, W) uint8 label maps in the model's label set; a file with other values is a UserError naming it."""
    return [read_label_png(f, label_set) for f in files]


def write_pair(out: Path, name: str, labels: np.ndarray, label_set: LabelSet, color: bool = True) -> Path:
    """The label PNG at out/name and, if `color`, its colourised copy at out/color/name."""
    path = out / name
    write_label_png(path, labels)
    if color:
        write_color_png(out / "color" / name, labels, label_set)
    return path


def pair_targets(sources: list[Path], targets: list[Path]) -> list[Path]:
    """One target per source: a single target serves all, otherwise sorted order pairs them."""
    if len(targets) == 1:
        return targets * len(sources)
    if len(targets) != len(sources):
        raise UserError(f"--target has {len(targets)} PNGs for {len(sources)} inputs; give 1 or {len(sources)}")
    return targets


def check_sizes(sources: list[Path], targets: list[Path], src: list[np.ndarray], tgt: list[np.ndarray]) -> None:
    for s_path, t_path, s, t in zip(sources, targets, src, tgt):
        if s.shape != t.shape:
            raise UserError(
                f"{s_path}: size {s.shape[0]}x{s.shape[1]} differs from its target {t_path} "
                f"({t.shape[0]}x{t.shape[1]}); interpolate and swap need masks of one size"
            )


def choices(value: str | list[str], allowed: Sequence[str], flag: str) -> list[str]:
    """A comma list (or a list) of names, each one of `allowed`; a UserError naming the flag otherwise."""
    chosen = split_list(value)
    unknown = [name for name in chosen if name not in allowed]
    if unknown or not chosen:
        raise UserError(f"{flag}: unknown '{','.join(unknown)}'; choose from {', '.join(allowed)}")
    return chosen


def split_list(value: str | list[str]) -> list[str]:
    items = value.split(",") if isinstance(value, str) else list(value)
    return [s.strip() for s in items if s.strip()]


# The columns of every edit command's manifest.csv: one row per output, enough to reproduce it through the API: every
# operation's settings (`Edit.manifest_values`), blank where the row's operation takes none.
MANIFEST_FIELDS = ("output", "color_output", "source", "operation", *all_settings(), "target")


def manifest_row(
    output: str, color: bool, source: Path, edit: Edit, seed: int | None = None, target: Path | None = None
) -> dict:
    """One output's row: the settings of its edit (`seed`: the file's own seed, where the edit draws noise)."""
    row = dict.fromkeys(MANIFEST_FIELDS, "")
    row.update(output=output, color_output=f"color/{output}" if color else "", source=str(source))
    row.update(operation=edit.operation, **edit.manifest_values())
    if seed is not None and edit.draws_noise:
        row["seed"] = seed
    row["target"] = str(target) if target is not None else ""
    return row
