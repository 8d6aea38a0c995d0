"""`Edit`: one part edit as a value, with every setting it takes and their defaults in one place.

    edit = Edit("generate", parts="nose", seed=3, keep="input")
    edited = edit.apply(editor, masks)               # = editor.apply(edit, masks)
    Edit.from_dict(edit.to_dict()) == edit           # what recipes, manifests and the web page store

Every surface builds one: the `edit` commands, `augment` (a variant is an Edit and a source),
`evaluate-edits`, the web editor and recipes (a list of Edits). The value checks itself when it is
made, so a bad setting is refused in one line wherever it comes from; part names are checked
against the model's label set when the edit is applied.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal, Protocol, get_args

import numpy as np

from semantic_vae.checks import MAX_SEED as MAX_SEED  # re-exported: the edit commands and the web page import them here
from semantic_vae.checks import check_seed as check_seed
from semantic_vae.edit.region import KEEP_MODES, KEEP_RADIUS, Keep
from semantic_vae.errors import UserError

Operation = Literal["reconstruct", "generate", "perturb", "interpolate", "swap", "steer", "add", "remove"]
OPERATIONS: tuple[str, ...] = get_args(Operation)
PART_OPERATIONS: tuple[str, ...] = tuple(op for op in OPERATIONS if op != "reconstruct")  # edits of named parts
TARGET_OPERATIONS: tuple[str, ...] = ("interpolate", "swap")  # take a second mask
RANDOM_OPERATIONS: tuple[str, ...] = ("generate", "perturb", "add")  # draw noise from `seed`
MAX_AMOUNT = 5.0  # steer: standard deviations of the attribute; beyond, the latent leaves the data the model saw
Prior = Literal["normal", "data"]
PRIORS: tuple[str, ...] = get_args(Prior)
MAX_RADIUS = 1024
DEFAULT_PARTS = "nose,lips,eyes,brows,hair"  # the parts the metrics, the demo and augment measure one at a time

PartSpec = str | int | Sequence[str | int]


def parse_parts(parts: PartSpec, what: str = "parts") -> tuple[str, ...]:
    """A comma string ("nose,lips"), one id, or a sequence of names and ids -> names as strings, order kept.

    Ids stay as their digits ("2"); the label set resolves them. A string is never read letter by letter.
    """
    if isinstance(parts, bool):
        raise UserError(f"{what}: expected part names or ids, got {parts!r}")
    if isinstance(parts, str):
        items: list[Any] = parts.split(",")
    elif isinstance(parts, (int, np.integer)):
        items = [int(parts)]
    elif isinstance(parts, Sequence) and not isinstance(parts, (bytes, bytearray)):
        items = list(parts)
    else:
        raise UserError(f"{what}: expected a part name, an id or a list of them, got {type(parts).__name__}")
    names: list[str] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (str, int, np.integer)):
            raise UserError(f"{what}: expected part names or ids, got {item!r}")
        name = item.strip() if isinstance(item, str) else str(int(item))
        if name and name not in names:
            names.append(name)
    return tuple(names)


def _number(value: Any, what: str, low: float, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise UserError(f"{what} must be a number, got {value!r}")
    value = float(value)
    if not (math.isfinite(value) and low <= value <= high):
        bounds = f"in [{low:g}, {high:g}]" if math.isfinite(high) else f">= {low:g}"
        raise UserError(f"{what} must be a finite number {bounds}, got {value!r}")
    return value


@dataclass(frozen=True)
class Edit:
    """One part edit of paper §4 (and this project's settings around it).

    Args:
        operation: reconstruct, generate (the parts' latents drawn from the prior), perturb (plus scale * noise),
            interpolate (Eq. 4 towards a target mask), swap (the parts taken from a target mask: alpha 1).
        parts: parts to edit together, by name, id or group: "nose", "lips" or "nose,mouth".
        seed: noise seed (generate, perturb).
        scale: standard deviation of perturb's noise (>= 0).
        alpha: interpolate's weight of the target, in [0, 1] (0: the source, 1: swap).
        prior: generate from "normal" (N(0, I), the paper's) or "data" (the Gaussian fitted on the training
            latents); default: "data" when the checkpoint holds one, else "normal".
        keep: outside the parts' neighbourhood keep the "input", the "reconstruction", or "none" (the raw model output).
        radius: the neighbourhood's width in the model's pixels (scaled to the input's size).
        attribute: steer: the part's attribute to change (`semantic_vae.edit.attributes`: size, height, width, x, y,
            and open, length, face_width, thickness where they apply).
        amount: steer: the change asked, in standard deviations of the attribute over the training split.
        hold: steer: keep the part's other attributes where they were (else they move as they do in the data).
    """

    operation: Operation = "reconstruct"
    parts: PartSpec = ()
    seed: int = 0
    scale: float = 1.0
    alpha: float = 0.5
    prior: Prior | None = None
    keep: Keep = "input"
    radius: int = KEEP_RADIUS
    attribute: str | None = None
    amount: float = 0.0
    hold: bool = True

    def __post_init__(self) -> None:
        if self.operation not in OPERATIONS:
            raise UserError(f"operation: unknown '{self.operation}'; choose from {', '.join(OPERATIONS)}")
        parts = parse_parts(self.parts)
        if self.operation in PART_OPERATIONS and not parts:
            raise UserError(f"{self.operation}: no parts given (e.g. parts='nose')")
        object.__setattr__(self, "parts", parts)
        object.__setattr__(self, "seed", check_seed(self.seed))
        object.__setattr__(self, "scale", _number(self.scale, "scale", 0.0))
        object.__setattr__(self, "alpha", _number(self.alpha, "alpha", 0.0, 1.0))
        if self.prior is not None and self.prior not in PRIORS:
            raise UserError(f"prior: unknown '{self.prior}'; choose from {', '.join(PRIORS)}")
        if self.keep not in KEEP_MODES:
            raise UserError(f"keep: unknown mode '{self.keep}'; choose from {', '.join(KEEP_MODES)}")
        radius = self.radius
        if isinstance(radius, bool) or not isinstance(radius, (int, np.integer)) or not 0 <= radius <= MAX_RADIUS:
            raise UserError(f"radius must be a whole number of pixels in 0..{MAX_RADIUS}, got {radius!r}")
        object.__setattr__(self, "radius", int(radius))
        object.__setattr__(self, "amount", _number(self.amount, "amount", -MAX_AMOUNT, MAX_AMOUNT))
        if not isinstance(self.hold, bool):
            raise UserError(f"hold must be true or false, got {self.hold!r}")
        if self.attribute is not None and (not isinstance(self.attribute, str) or not self.attribute.strip()):
            raise UserError(f"attribute must be an attribute name, got {self.attribute!r}")
        if self.operation == "steer":
            if self.attribute is None:
                raise UserError("steer: no attribute given (e.g. attribute='height')")
            if len(parts) != 1:
                raise UserError(f"steer: one part at a time (a class or a group), got {len(parts)}: {', '.join(parts)}")

    # -- use --------------------------------------------------------------------------------
    @property
    def needs_target(self) -> bool:
        return self.operation in TARGET_OPERATIONS

    @property
    def weight(self) -> float:
        """The target's weight in Eq. 4: alpha for interpolate, 1 for swap."""
        return 1.0 if self.operation == "swap" else self.alpha

    def apply(self, editor: Editor, masks: Any, target: Any = None, seeds: Sequence[int] | None = None) -> np.ndarray:
        """This edit of (H, W) or (B, H, W) label maps: `editor.apply(self, masks, target, seeds)`."""
        if not callable(getattr(editor, "apply", None)):
            raise UserError(
                f"Edit.apply: expected an editor (semantic_vae.edit.MaskEditor), got {type(editor).__name__}"
            )
        return editor.apply(self, masks, target=target, seeds=seeds)

    def with_(self, **changes: Any) -> Edit:
        """A copy with some settings changed (checked again)."""
        return replace(self, **changes)

    # -- as data ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Every field, in plain JSON types; `Edit.from_dict` gives back an equal value."""
        values = asdict(self)
        values["parts"] = list(self.parts)
        return values

    @classmethod
    def from_dict(cls, values: Any, source: str = "edit") -> Edit:
        """An Edit from stored fields (a recipe step, a manifest row); a one-line UserError naming the field."""
        if not isinstance(values, dict):
            raise UserError(f"{source}: an edit must be a mapping of settings, got {type(values).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UserError(f"{source}: unknown setting '{unknown[0]}'; known: {', '.join(sorted(known))}")
        if "operation" not in values:
            raise UserError(f"{source}: the edit names no operation")
        try:
            return cls(**values)
        except UserError as err:
            raise UserError(f"{source}: {err}") from None

    def describe(self, class_names: Sequence[str] | None = None) -> str:
        """'generate nose (seed 3, data prior), keep=input': for figure rows and printed lines."""
        parts = "+".join(self.parts)
        details = {
            "generate": f"seed {self.seed}, {self.prior or 'default'} prior",
            "perturb": f"seed {self.seed}, scale {self.scale:g}",
            "interpolate": f"alpha {self.alpha:g}",
            "steer": f"{self.attribute} {self.amount:+g} sd{', others held' if self.hold else ''}",
            "add": f"seed {self.seed}",
        }.get(self.operation)
        text = f"{self.operation} {parts}".strip() + (f" ({details})" if details else "")
        return f"{text}, keep={self.keep}" if self.operation in PART_OPERATIONS else text


class Editor(Protocol):
    """What applies an `Edit`: `semantic_vae.edit.MaskEditor` (named here by shape, so this module needs no model)."""

    def apply(self, edit: Edit, masks: Any, target: Any = None, seeds: Sequence[int] | None = None) -> np.ndarray: ...
