"""Part attributes measured on label maps alone: the scale that steerable edits are measured in.

Every value is a function of an integer label map and nothing else, so it means the same on
synthetic masks, on real CelebAMask-HQ masks and on a user's data. A *part* is a class name of the
label set (every class but id 0, the background) or one of its group names ("lips", "eyes", ...);
a group's region is the union of its classes. Rows and columns are pixel indices, y grows downwards.

Generic attributes, on every part of any label set (H, W: the image height and width):

=========  ==============================================================================
size       the part's pixels / (H * W): its share of the image
height     bounding-box height in pixels / H
width      bounding-box width in pixels / W
x          centroid column, at pixel centres (mean column index + 0.5) / W: 0 left edge, 1 right edge
y          centroid row, at pixel centres (mean row index + 0.5) / H: 0 top edge, 1 bottom edge
=========  ==============================================================================

Semantic attributes, only where the label set has the classes they need (by name; CelebAMask-HQ has
all of them):

==========  ===============  ===========================================================================
attribute   parts            definition (unitless ratios unless said)
==========  ===============  ===========================================================================
open        mouth, lips      inner-mouth pixels (mouth) / lip pixels (u_lip + l_lip); 0 for a closed
                             mouth (no mouth pixels, lips present). Needs mouth, u_lip, l_lip.
length      hair             (lowest hair row - lowest skin row, the chin) / face height (skin
                             bounding-box height in rows); negative when the hair ends above the chin.
                             Needs hair, skin.
face_width  skin             skin width at the cheek row / skin bounding-box height. A row's skin width
                             is its first-to-last skin column extent (eyes and nose inside do not cut
                             it). The cheek row is the widest skin row in the band of rows r with
                             (eyes' centroid row) <= r <= (nose's lowest row), the eyes being l_eye,
                             r_eye (or a class named eyes); when eyes or nose are absent, or the band
                             holds no skin, the widest skin row among rows top + floor(h / 3) ...
                             top + floor((2h - 1) / 3) of the skin's box (top row, h rows): its
                             middle third. Needs skin.
open        l_eye, r_eye,    eye bounding-box height / width (pixels / pixels); for eyes the mean over
            eyes             the eyes present. Needs the eye classes (both for eyes).
thickness   l_brow, r_brow,  (brow pixels / brow bounding-box width in pixels) / H: the mean vertical
            brows            thickness as a fraction of the image height; for brows the mean over the
                             brows present. Needs the brow classes (both for brows).
==========  ===============  ===========================================================================

A value is NaN where the part, or a class its attribute needs, is absent from the mask (a closed
mouth is not absent: open is 0 when the lips are there).

Everything is vectorised over the batch: per-class row and column pixel counts come from two
`np.bincount` calls, and every attribute of every part follows from them (the face width also
needs one pass over the skin's rows). 2,000 masks of 64x64 take well under a second.

`AttributeScale` turns raw values into units of one standard deviation over a training split.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from semantic_vae.errors import UserError
from semantic_vae.labels import LabelSet

GENERIC_ATTRIBUTES: tuple[str, ...] = ("size", "height", "width", "x", "y")
_CHUNK_PIXELS = 1 << 22  # pixels per bincount call: bounds the (pixels,) int64 index arrays to 32 MiB

# (attribute, part, class names the label set must have); the part must also be a part of the label set
_SEMANTIC: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("open", "mouth", ("mouth", "u_lip", "l_lip")),
    ("open", "lips", ("mouth", "u_lip", "l_lip")),
    ("length", "hair", ("hair", "skin")),
    ("face_width", "skin", ("skin",)),
    ("open", "l_eye", ("l_eye",)),
    ("open", "r_eye", ("r_eye",)),
    ("open", "eyes", ("l_eye", "r_eye")),
    ("thickness", "l_brow", ("l_brow",)),
    ("thickness", "r_brow", ("r_brow",)),
    ("thickness", "brows", ("l_brow", "r_brow")),
)
ALL_ATTRIBUTES: tuple[str, ...] = (*GENERIC_ATTRIBUTES, *dict.fromkeys(name for name, _, _ in _SEMANTIC))


# -- parts and their attributes ---------------------------------------------------------
def parts_of(label_set: LabelSet) -> tuple[str, ...]:
    """Every part of the label set: its class names but the background (id 0), then its group names."""
    classes = label_set.names[1:]
    return (*classes, *(name for name, _ in label_set.groups if name not in classes))


def _check_part(label_set: LabelSet, part: str) -> None:
    if not isinstance(part, str) or part not in parts_of(label_set):
        raise UserError(
            f"unknown part {part!r} for label set '{label_set.name}'; parts: {', '.join(parts_of(label_set))}"
        )


def attribute_names(label_set: LabelSet, part: str) -> tuple[str, ...]:
    """The attributes measured on `part` (a class or group name): the generic five, then its semantic ones."""
    _check_part(label_set, part)
    semantic = (name for name, on, needs in _SEMANTIC if on == part and all(n in label_set.names for n in needs))
    return (*GENERIC_ATTRIBUTES, *semantic)


def part_attributes(label_set: LabelSet) -> dict[str, tuple[str, ...]]:
    """Every part of the label set -> its attribute names, in part order."""
    return {part: attribute_names(label_set, part) for part in parts_of(label_set)}


def _part_ids(label_set: LabelSet, part: str) -> list[int]:
    for name, ids in label_set.groups:
        if name == part:
            return list(ids)
    return [label_set.names.index(part)]


def _check_masks(masks: np.ndarray, label_set: LabelSet) -> np.ndarray:
    """(H, W) or (N, H, W) integer label maps -> (N, H, W); a UserError naming `masks` otherwise."""
    array = np.asarray(masks)
    if not np.issubdtype(array.dtype, np.integer):
        raise UserError(f"masks: expected an integer label array, got dtype {array.dtype}")
    if array.ndim not in (2, 3) or array.shape[-1] == 0 or array.shape[-2] == 0:
        raise UserError(f"masks: expected shape (H, W) or (N, H, W) with H, W >= 1, got {array.shape}")
    if array.size and (array.min() < 0 or array.max() >= label_set.num_classes):
        bad = int(array.min()) if array.min() < 0 else int(array.max())
        raise UserError(
            f"masks: label value {bad} is outside 0..{label_set.num_classes - 1} of label set '{label_set.name}'"
        )
    return array[None] if array.ndim == 2 else array


# -- measuring --------------------------------------------------------------------------
@dataclass(frozen=True)
class _Region:
    """Pixel statistics of one part over a batch, (N,) each; box and centroid in pixel indices."""

    area: np.ndarray  # float64 pixels
    top: np.ndarray  # int rows/columns, meaningless where absent
    bottom: np.ndarray
    left: np.ndarray
    right: np.ndarray
    cy: np.ndarray  # float64 mean row index, NaN where absent
    cx: np.ndarray

    @property
    def present(self) -> np.ndarray:
        return self.area > 0

    def rows(self) -> np.ndarray:
        """Bounding-box height in pixels, NaN where absent."""
        return np.where(self.present, self.bottom - self.top + 1, np.nan)

    def cols(self) -> np.ndarray:
        """Bounding-box width in pixels, NaN where absent."""
        return np.where(self.present, self.right - self.left + 1, np.nan)


def _first_last(profile: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, L) counts -> (N,) first and last index with a non-zero count (0 and L - 1 where all are zero)."""
    hit = profile > 0
    length = profile.shape[-1]
    return hit.argmax(-1), length - 1 - hit[..., ::-1].argmax(-1)


def _region(rows: np.ndarray, cols: np.ndarray) -> _Region:
    """(N, H) pixels per row and (N, W) per column of a region -> its statistics."""
    area = rows.sum(-1).astype(np.float64)
    top, bottom = _first_last(rows)
    left, right = _first_last(cols)
    with np.errstate(invalid="ignore", divide="ignore"):
        cy = rows @ np.arange(rows.shape[-1], dtype=np.float64) / area
        cx = cols @ np.arange(cols.shape[-1], dtype=np.float64) / area
    return _Region(area, top, bottom, left, right, cy, cx)


def _mean_present(*values: np.ndarray) -> np.ndarray:
    """Element-wise mean of the finite values; NaN where none is finite (np.nanmean without its warning)."""
    stack = np.stack(values)
    finite = np.isfinite(stack)
    count = finite.sum(0)
    total = np.where(finite, stack, 0.0).sum(0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


class _Measurer:
    """Per-class row/column pixel counts of a batch, computed once; each part's values follow from them."""

    def __init__(self, masks: np.ndarray, label_set: LabelSet) -> None:
        self.masks = masks
        self.label_set = label_set
        n, h, w = masks.shape
        c = label_set.num_classes
        self.rows = np.empty((n, c, h), np.int64)  # (N, C, H) pixels of class c in row y
        self.cols = np.empty((n, c, w), np.int64)  # (N, C, W)
        step = max(1, _CHUNK_PIXELS // (h * w))
        ys = np.arange(h, dtype=np.intp)[None, :, None]
        xs = np.arange(w, dtype=np.intp)[None, None, :]
        for start in range(0, n, step):  # chunks of masks bound the index arrays' memory
            chunk = masks[start : start + step].astype(np.intp)
            k = len(chunk)
            cell = np.arange(k, dtype=np.intp)[:, None, None] * c + chunk  # (k, H, W): (mask, class) index
            self.rows[start : start + k] = np.bincount((cell * h + ys).ravel(), minlength=k * c * h).reshape(k, c, h)
            self.cols[start : start + k] = np.bincount((cell * w + xs).ravel(), minlength=k * c * w).reshape(k, c, w)
        self._regions: dict[tuple[int, ...], _Region] = {}

    def region(self, ids: Sequence[int]) -> _Region:
        key = tuple(sorted(set(ids)))
        if key not in self._regions:
            self._regions[key] = _region(self.rows[:, key].sum(1), self.cols[:, key].sum(1))
        return self._regions[key]

    def cls(self, name: str) -> _Region:
        return self.region([self.label_set.names.index(name)])

    # -- generic
    def generic(self, part: str, name: str) -> np.ndarray:
        _, h, w = self.masks.shape
        r = self.region(_part_ids(self.label_set, part))
        if name == "size":
            return np.where(r.present, r.area / (h * w), np.nan)
        if name == "height":
            return r.rows() / h
        if name == "width":
            return r.cols() / w
        if name == "x":
            return (r.cx + 0.5) / w
        return (r.cy + 0.5) / h  # "y"

    # -- semantic
    def mouth_open(self) -> np.ndarray:
        lips = self.cls("u_lip").area + self.cls("l_lip").area
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(lips > 0, self.cls("mouth").area / lips, np.nan)

    def hair_length(self) -> np.ndarray:
        hair, skin = self.cls("hair"), self.cls("skin")
        return np.where(hair.present & skin.present, (hair.bottom - skin.bottom) / skin.rows(), np.nan)

    def face_width(self) -> np.ndarray:
        n, h, w = self.masks.shape
        skin = self.cls("skin")
        on = self.masks == self.label_set.names.index("skin")  # (N, H, W)
        first, last = _first_last(on)  # (N, H) first/last skin column per row
        extent = np.where(on.any(-1), last - first + 1, 0)  # (N, H) skin width per row, 0 for rows without skin
        row = np.arange(h)[None, :]  # (1, H)
        height = skin.bottom - skin.top + 1
        third = (row >= (skin.top + height // 3)[:, None]) & (row <= (skin.top + (2 * height - 1) // 3)[:, None])
        names = self.label_set.names
        eye_ids = [names.index(e) for e in ("l_eye", "r_eye", "eyes") if e in names]
        if eye_ids and "nose" in names:
            eyes, nose = self.region(eye_ids), self.cls("nose")
            with np.errstate(invalid="ignore"):
                band = (row >= eyes.cy[:, None]) & (row <= nose.bottom[:, None])  # (N, H); False where NaN
            band &= (eyes.present & nose.present)[:, None]
            use_band = (band & (extent > 0)).any(-1)
            rows = np.where(use_band[:, None], band, third)
        else:
            rows = third
        widest = np.where(rows, extent, 0).max(-1)
        return np.where(skin.present, widest / height, np.nan)

    def eye_open(self, eye: str) -> np.ndarray:
        r = self.cls(eye)
        return r.rows() / r.cols()

    def brow_thickness(self, brow: str) -> np.ndarray:
        r = self.cls(brow)
        return r.area / r.cols() / self.masks.shape[1]  # NaN where absent (0 / NaN)

    def semantic(self, part: str, name: str) -> np.ndarray:
        if name == "open" and part in ("mouth", "lips"):
            return self.mouth_open()
        if name == "length":
            return self.hair_length()
        if name == "face_width":
            return self.face_width()
        if name == "open":
            eyes = ("l_eye", "r_eye") if part == "eyes" else (part,)
            return _mean_present(*(self.eye_open(e) for e in eyes))
        brows = ("l_brow", "r_brow") if part == "brows" else (part,)  # "thickness"
        return _mean_present(*(self.brow_thickness(b) for b in brows))

    def value(self, part: str, name: str) -> np.ndarray:
        raw = self.generic(part, name) if name in GENERIC_ATTRIBUTES else self.semantic(part, name)
        return np.asarray(raw, dtype=np.float64)


def _check_names(label_set: LabelSet, part: str, names: Sequence[str] | str | None) -> tuple[str, ...]:
    known = attribute_names(label_set, part)
    if names is None:
        return known
    names = (names,) if isinstance(names, str) else tuple(names)
    for name in names:
        if name in known:
            continue
        if name in ALL_ATTRIBUTES:
            raise UserError(f"part '{part}' has no attribute '{name}'; its attributes: {', '.join(known)}")
        raise UserError(f"unknown attribute {name!r}; the attributes of '{part}': {', '.join(known)}")
    return names


def measure(
    masks: np.ndarray, label_set: LabelSet, part: str, names: Sequence[str] | None = None
) -> dict[str, np.ndarray]:
    """Raw attribute values of `part` on (H, W) or (N, H, W) integer label maps.

    Returns attribute name -> (N,) float64 (N = 1 for one (H, W) mask), in the units of the module's
    table; NaN where the part or a class the attribute needs is absent. `names` picks attributes
    (default: all of `attribute_names(label_set, part)`).
    """
    chosen = _check_names(label_set, part, names)
    measurer = _Measurer(_check_masks(masks, label_set), label_set)
    return {name: measurer.value(part, name) for name in chosen}


def measure_all(masks: np.ndarray, label_set: LabelSet) -> dict[tuple[str, str], np.ndarray]:
    """Every attribute of every part: (part, attribute) -> (N,) float64 raw values (see `measure`)."""
    measurer = _Measurer(_check_masks(masks, label_set), label_set)
    return {
        (part, name): measurer.value(part, name) for part, names in part_attributes(label_set).items() for name in names
    }


# -- normalisation ----------------------------------------------------------------------
@dataclass(frozen=True)
class AttributeStat:
    """Mean and standard deviation (ddof=0) of one attribute over the finite values of a training split."""

    part: str
    name: str
    mean: float
    std: float
    count: int  # finite values the statistics come from; 0: mean = std = 0.0 and nothing to normalise with

    @property
    def usable(self) -> bool:
        return self.count > 0 and self.std > 0 and math.isfinite(self.std)


@dataclass(frozen=True)
class AttributeScale:
    """Per (part, attribute): the mean and std over a training split, so that 1 unit = 1 std.

    An attribute whose std is 0 (it never varies over the split: a part always absent but one mask,
    a constant value) or that has no finite value at all is kept, with its count, but cannot be
    normalised: `normalise` and `denormalise` raise a UserError naming it instead of dividing by 0.
    """

    stats: tuple[AttributeStat, ...]
    _index: dict[tuple[str, str], AttributeStat] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {(s.part, s.name): s for s in self.stats})

    @classmethod
    def fit(cls, values: Mapping[tuple[str, str], np.ndarray]) -> AttributeScale:
        """From raw values, (part, attribute) -> (N,) (e.g. `measure_all` on the training masks); NaN are skipped."""
        stats = []
        for (part, name), raw in values.items():
            raw = np.asarray(raw, dtype=np.float64).ravel()
            finite = raw[np.isfinite(raw)]
            if finite.size:
                stats.append(AttributeStat(part, name, float(finite.mean()), float(finite.std()), int(finite.size)))
            else:
                stats.append(AttributeStat(part, name, 0.0, 0.0, 0))
        return cls(tuple(stats))

    def stat(self, part: str, name: str) -> AttributeStat:
        """The statistics of one attribute; a UserError naming it when the scale lacks it."""
        key = (part, name)
        if key not in self._index:
            known = ", ".join(f"{p}.{n}" for p, n in self._index)
            raise UserError(f"attribute '{part}.{name}' is not in the attribute scale; it has: {known}")
        return self._index[key]

    def _usable(self, part: str, name: str) -> AttributeStat:
        s = self.stat(part, name)
        if s.count == 0:
            raise UserError(
                f"attribute '{part}.{name}' cannot be normalised: it had no finite value in the fitted split"
            )
        if not s.usable:
            raise UserError(
                f"attribute '{part}.{name}' cannot be normalised: its std over the fitted split is 0 "
                f"(constant {s.mean:g} over {s.count} values)"
            )
        return s

    def normalise(self, part: str, name: str, raw: np.ndarray | float) -> np.ndarray | float:
        """Raw value(s) -> standard deviations from the training mean ((raw - mean) / std); NaN stays NaN."""
        s = self._usable(part, name)
        out = (np.asarray(raw, dtype=np.float64) - s.mean) / s.std
        return float(out) if out.ndim == 0 else out

    def denormalise(self, part: str, name: str, value: np.ndarray | float) -> np.ndarray | float:
        """Standard deviations from the training mean -> raw value(s) (value * std + mean)."""
        s = self._usable(part, name)
        out = np.asarray(value, dtype=np.float64) * s.std + s.mean
        return float(out) if out.ndim == 0 else out

    def to_dict(self) -> dict[str, dict[str, dict[str, float | int]]]:
        """{part: {attribute: {"mean": float, "std": float, "count": int}}}: plain JSON-ready values."""
        out: dict[str, dict[str, dict[str, float | int]]] = {}
        for s in self.stats:
            out.setdefault(s.part, {})[s.name] = {"mean": float(s.mean), "std": float(s.std), "count": int(s.count)}
        return out

    @classmethod
    def from_dict(cls, data: Mapping) -> AttributeScale:
        """The inverse of `to_dict`; a UserError naming the first malformed entry."""
        if not isinstance(data, Mapping):
            raise UserError(f"attribute scale: expected a mapping of parts, got {type(data).__name__}")
        stats = []
        for part, attrs in data.items():
            if not isinstance(attrs, Mapping):
                raise UserError(f"attribute scale: part '{part}' must map attribute names to statistics")
            for name, entry in attrs.items():
                try:
                    mean, std, count = float(entry["mean"]), float(entry["std"]), int(entry["count"])
                except (KeyError, TypeError, ValueError):
                    raise UserError(
                        f"attribute scale: entry '{part}.{name}' needs numbers 'mean', 'std' and 'count'"
                    ) from None
                if std < 0 or count < 0:
                    raise UserError(f"attribute scale: entry '{part}.{name}' has a negative std or count")
                stats.append(AttributeStat(str(part), str(name), mean, std, count))
        return cls(tuple(stats))
