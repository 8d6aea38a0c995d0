"""Files in and out of the edit commands: input PNGs, output folders, label + colour PNG pairs, the manifest,
and running the editor over masks of mixed sizes."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from semantic_vae.data.io import read_label_png, write_color_png, write_label_png
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


def by_shape(masks: Sequence[np.ndarray]) -> dict[tuple[int, ...], list[int]]:
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, m in enumerate(masks):
        groups.setdefault(m.shape, []).append(i)
    return groups


def run_grouped(
    masks: Sequence[np.ndarray], fn: Callable[[np.ndarray, list[int]], np.ndarray], axis: int = 0
) -> list[np.ndarray]:
    """fn(batch (b, H, W), indices) per group of equal-size masks; results back in input order.

    `axis` is the batch axis of fn's result (1 for interpolate's (A, b, H, W)).
    """
    out: list[np.ndarray | None] = [None] * len(masks)
    for idx in by_shape(masks).values():
        result = fn(np.stack([masks[i] for i in idx]), idx)
        for j, i in enumerate(idx):
            out[i] = np.take(result, j, axis=axis)
    return out  # type: ignore[return-value]


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


# The columns of every edit command's manifest.csv: one row per output, enough to reproduce it through the API.
MANIFEST_FIELDS = (
    "output", "color_output", "source", "operation", "parts", "seed", "prior", "scale", "alpha", "target", "keep",
    "radius", "attribute", "amount", "hold",
)  # fmt: skip


def manifest_row(
    output: str, color: bool, source: Path, edit, parts: str, seed: int | None, target: Path | None
) -> dict:
    """One output's row: the settings that applied to it, blank where the operation takes none."""
    op = edit.operation
    return {
        "output": output,
        "color_output": f"color/{output}" if color else "",
        "source": str(source),
        "operation": op,
        "parts": parts,
        "seed": seed if op in ("generate", "perturb", "add") and seed is not None else "",
        "prior": edit.prior if op == "generate" else "",
        "scale": edit.scale if op == "perturb" else "",
        "alpha": edit.alpha if op == "interpolate" else "",
        "target": str(target) if target is not None else "",
        "keep": edit.keep if op != "reconstruct" else "",
        "radius": edit.radius if op != "reconstruct" and edit.keep != "none" else "",
        "attribute": edit.attribute if op == "steer" else "",
        "amount": edit.amount if op == "steer" else "",
        "hold": edit.hold if op == "steer" else "",
    }
