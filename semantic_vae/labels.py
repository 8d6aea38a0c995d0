"""Label sets: class names in id order, the colour palette, and left/right pairs.

CelebAMask-HQ's 19 classes are the built-in default. Other face-parsing label sets
(LaPa, Helen, a user's own) load from a small YAML file::

    names: [background, skin, brows, eyes, nose, lips, hair]
    palette: [[0,0,0], [204,0,0], ...]     # optional; a default palette otherwise
    flip_pairs: [[2, 3]]                     # optional; ids swapped by a horizontal flip

A *merge map* folds CelebAMask-HQ's 19 classes into fewer::

    classes:            # new classes in id order, each with the CelebAMask-HQ names it takes
      background: [background, hat, ear_r, neck_l]
      skin: [skin, l_ear, r_ear]
      eyes: [l_eye, r_eye, eye_g]
      ...
    flip_pairs: []      # optional, in new names: [[l_brow, r_brow]]

Every CelebAMask-HQ class must be listed exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from semantic_vae.errors import UserError

CELEBAMASK_HQ_NAMES: tuple[str, ...] = (
    "background", "skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear",
    "r_ear", "mouth", "u_lip", "l_lip", "hair", "hat", "ear_r", "neck_l", "neck", "cloth",
)  # fmt: skip
CELEBAMASK_HQ_PALETTE: tuple[tuple[int, int, int], ...] = (
    (0, 0, 0), (204, 0, 0), (76, 153, 0), (204, 204, 0), (51, 51, 255), (204, 0, 204),
    (0, 255, 255), (255, 204, 204), (102, 51, 0), (255, 0, 0), (102, 204, 0), (255, 255, 0),
    (0, 0, 153), (0, 0, 204), (255, 51, 153), (0, 204, 204), (0, 51, 0), (255, 153, 51),
    (0, 204, 0),
)  # fmt: skip
CELEBAMASK_HQ_FLIP_PAIRS: tuple[tuple[int, int], ...] = ((4, 5), (6, 7), (8, 9))
# Names for parts that are edited together: `--parts lips` edits u_lip, l_lip and the inner mouth as one.
CELEBAMASK_HQ_GROUPS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("lips", (10, 11, 12)),
    ("eyes", (4, 5)),
    ("brows", (6, 7)),
    ("ears", (8, 9)),
)


@dataclass(frozen=True)
class LabelSet:
    """An ordered set of classes; id = position in `names`."""

    names: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...]
    flip_pairs: tuple[tuple[int, int], ...] = ()
    name: str = "custom"
    groups: tuple[tuple[str, tuple[int, ...]], ...] = ()  # (name, class ids) edited together

    def __post_init__(self) -> None:
        if len(self.names) < 2:
            raise UserError(f"label set '{self.name}': needs at least 2 classes, got {len(self.names)}")
        if len(set(self.names)) != len(self.names):
            raise UserError(f"label set '{self.name}': class names must be unique")
        if len(self.palette) != len(self.names):
            raise UserError(
                f"label set '{self.name}': palette has {len(self.palette)} colours for {len(self.names)} classes"
            )
        for colour in self.palette:
            if len(colour) != 3 or not all(isinstance(v, (int, np.integer)) and 0 <= v <= 255 for v in colour):
                raise UserError(
                    f"label set '{self.name}': palette colour {list(colour)} is not three whole numbers in 0..255"
                )
        if len(set(self.palette)) != len(self.palette):
            raise UserError(f"label set '{self.name}': palette colours must be distinct")
        for a, b in self.flip_pairs:
            if not (0 <= a < len(self.names) and 0 <= b < len(self.names)):
                raise UserError(f"label set '{self.name}': flip pair ({a}, {b}) is out of range")

    @property
    def num_classes(self) -> int:
        return len(self.names)

    def id_of(self, part: str | int) -> int:
        """Class id from a name or an id; a clear error for anything else."""
        if isinstance(part, (int, np.integer)) or (isinstance(part, str) and part.isdigit()):
            idx = int(part)
            if not 0 <= idx < self.num_classes:
                raise UserError(f"part id {idx} is out of range 0..{self.num_classes - 1}")
            return idx
        if part not in self.names:
            groups = [name for name, _ in self.groups]
            known = ", ".join([*self.names, *groups])
            raise UserError(f"unknown part '{part}'; known parts: {known}")
        return self.names.index(part)

    def ids_of(self, part: str | int) -> list[int]:
        """Class ids of a class (name or id) or of a group name ("lips" -> u_lip, l_lip, mouth)."""
        for name, ids in self.groups:
            if part == name:
                return list(ids)
        return [self.id_of(part)]

    def palette_array(self) -> np.ndarray:
        return np.asarray(self.palette, dtype=np.uint8)  # (C, 3)

    def flip_lut(self) -> np.ndarray:
        """Lookup table that swaps left/right ids, for horizontal flips."""
        lut = np.arange(self.num_classes, dtype=np.uint8)
        for a, b in self.flip_pairs:
            lut[a], lut[b] = b, a
        return lut

    def colorize(self, labels: np.ndarray) -> np.ndarray:
        """(..., H, W) integer labels -> (..., H, W, 3) uint8 RGB."""
        labels = np.asarray(labels)
        if labels.size and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise UserError(f"label value {int(labels.max())} is beyond the last id {self.num_classes - 1}")
        return self.palette_array()[labels]

    def decolorize(self, rgb: np.ndarray, source: str = "image") -> np.ndarray:
        """(H, W, 3) RGB -> (H, W) uint8 labels; an error names the first colour not in the palette."""
        rgb = np.asarray(rgb, dtype=np.uint8)
        if rgb.ndim != 3 or rgb.shape[-1] != 3:
            raise UserError(f"{source}: expected an RGB image, got shape {rgb.shape}")
        code = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
        pal = self.palette_array().astype(np.int32)
        keys = (pal[:, 0] << 16) | (pal[:, 1] << 8) | pal[:, 2]
        order = np.argsort(keys)
        pos = np.searchsorted(keys[order], code).clip(0, len(keys) - 1)
        found = keys[order][pos] == code
        if not found.all():
            y, x = np.argwhere(~found)[0]
            r, g, b = (int(v) for v in rgb[y, x])
            raise UserError(
                f"{source}: colour ({r},{g},{b}) at pixel ({y},{x}) is not in the '{self.name}' palette "
                f"({int((~found).sum())} such pixels)"
            )
        return order[pos].astype(np.uint8)


CELEBAMASK_HQ = LabelSet(
    names=CELEBAMASK_HQ_NAMES,
    palette=CELEBAMASK_HQ_PALETTE,
    flip_pairs=CELEBAMASK_HQ_FLIP_PAIRS,
    name="celebamask_hq",
    groups=CELEBAMASK_HQ_GROUPS,
)


def label_set_for_names(class_names: Sequence[str]) -> LabelSet:
    """CelebAMask-HQ when the names are its 19; otherwise the names with a default palette (a model's label set)."""
    names = tuple(class_names)
    if names == CELEBAMASK_HQ.names:
        return CELEBAMASK_HQ
    return LabelSet(names=names, palette=default_palette(len(names)), name="model")


def default_palette(n: int) -> tuple[tuple[int, int, int], ...]:
    """The CelebAMask-HQ colours first, then distinct generated ones."""
    colours = list(CELEBAMASK_HQ_PALETTE[:n])
    rng = np.random.default_rng(0)
    while len(colours) < n:
        c = tuple(int(v) for v in rng.integers(0, 256, 3))
        if c not in colours:
            colours.append(c)  # type: ignore[arg-type]
    return tuple(colours)  # type: ignore[return-value]


def _read_yaml(path: str | Path, what: str) -> dict:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} file not found: {path}")
    try:
        content = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise UserError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(content, dict):
        raise UserError(f"{path}: expected a mapping at the top level")
    return content


def load_label_set(path: str | Path) -> LabelSet:
    """A label set from YAML (keys: names, palette?, flip_pairs?)."""
    content = _read_yaml(path, "label set")
    names = content.get("names")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise UserError(f"{path}: 'names' must be a list of class names")
    palette = content.get("palette") or default_palette(len(names))
    pairs = content.get("flip_pairs") or []
    ids = {n: i for i, n in enumerate(names)}
    try:
        flip_pairs = tuple(
            (ids[a] if isinstance(a, str) else int(a), ids[b] if isinstance(b, str) else int(b)) for a, b in pairs
        )
        palette = tuple(tuple(int(v) for v in c) for c in palette)
    except (KeyError, TypeError, ValueError) as err:
        raise UserError(f"{path}: bad 'flip_pairs' or 'palette' entry ({err})") from None
    return LabelSet(names=tuple(names), palette=palette, flip_pairs=flip_pairs, name=Path(path).stem)  # type: ignore[arg-type]


@dataclass(frozen=True)
class MergeMap:
    """Folds CelebAMask-HQ's 19 classes into the classes of `target`."""

    lut: np.ndarray = field(repr=False)  # (19,) uint8: old id -> new id
    target: LabelSet

    def apply(self, labels: np.ndarray) -> np.ndarray:
        return self.lut[labels]


def load_merge_map(path: str | Path, source: LabelSet = CELEBAMASK_HQ) -> MergeMap:
    content = _read_yaml(path, "merge map")
    classes = content.get("classes")
    if not isinstance(classes, dict) or not classes:
        raise UserError(f"{path}: 'classes' must map each new class name to a list of {source.name} names")
    lut = np.full(source.num_classes, 255, dtype=np.uint8)
    for new_id, (new_name, old_names) in enumerate(classes.items()):
        listed = [old_names] if isinstance(old_names, str) else old_names
        if not isinstance(listed, list) or not listed or not all(isinstance(old, str) for old in listed):
            raise UserError(
                f"{path}: class '{new_name}' must list {source.name} class names (a name or a list of names), "
                f"got {old_names!r}"
            )
        for old in listed:
            if old not in source.names:
                raise UserError(f"{path}: class '{new_name}' lists unknown {source.name} class '{old}'")
            old_id = source.names.index(old)
            if lut[old_id] != 255:
                raise UserError(f"{path}: {source.name} class '{old}' is listed twice")
            lut[old_id] = new_id
    missing = [source.names[i] for i in np.flatnonzero(lut == 255)]
    if missing:
        raise UserError(f"{path}: {source.name} classes not mapped: {', '.join(missing)}")
    names = tuple(classes)
    palette = tuple(source.palette[int(np.flatnonzero(lut == i)[0])] for i in range(len(names)))
    if len(set(palette)) != len(palette):
        palette = default_palette(len(names))
    pairs = content.get("flip_pairs") or []
    try:
        flip_pairs = tuple((names.index(a), names.index(b)) for a, b in pairs)
    except ValueError as err:
        raise UserError(f"{path}: bad 'flip_pairs' entry ({err})") from None
    target = LabelSet(names=names, palette=palette, flip_pairs=flip_pairs, name=Path(path).stem)
    return MergeMap(lut=lut, target=target)


def resolve_label_set(label_set: str | None, merge_map: str | None) -> tuple[LabelSet, MergeMap | None]:
    """The label set of a dataset option pair (`--data.label_set`, `--data.merge_map`, also the data tools').

    A merge map defines the label set it folds into, so the two are not given together.
    """
    if label_set and merge_map:
        raise UserError(
            "label_set and merge_map: give one; a merge map folds CelebAMask-HQ into the label set it defines"
        )
    if merge_map:
        merge = load_merge_map(merge_map)
        return merge.target, merge
    return (load_label_set(label_set) if label_set else CELEBAMASK_HQ), None


def nearest_indices(src: int, dst: int) -> np.ndarray:
    """floor(i * src / dst) for each destination pixel i: nearest-neighbour in exact integer arithmetic.

    The one definition of nearest-neighbour resizing in the project (the data cache, the editor
    on any device, the figures). OpenCV's INTER_NEAREST computes it in floating point and can
    differ by one pixel for odd ratios.
    """
    return np.arange(dst, dtype=np.int64) * src // dst
