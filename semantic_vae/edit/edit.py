"""`Edit`: one edit as a value, the base of the operations (`semantic_vae.edit.operations`, one class each, declaring
exactly its settings with their defaults and checks); `Edit(name, ...)` builds the operation named:

    edit = Edit("generate", parts="nose", seed=3, keep="input")   # = Generate("nose", seed=3, keep="input")
    edited = edit.apply(editor, masks)                            # = editor.apply(edit, masks)
    Edit.from_dict(edit.to_dict()) == edit                        # what recipes, manifests and the web page store

The commands' options, augment's variants, evaluate-edits, the web editor and recipes all build one. A value checks
itself when it is made, so a bad setting, or one the operation does not take, is refused in one line wherever it
comes from; part names are checked against the model's label set when the edit is applied.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping, Sequence
from dataclasses import Field, dataclass, field, fields, replace
from typing import Any, ClassVar

import numpy as np

from semantic_vae.checks import MAX_SEED as MAX_SEED  # re-exported: the range of every `seed` setting
from semantic_vae.errors import UserError

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


def number(value: Any, what: str, low: float, high: float = math.inf) -> float:
    """A finite float in [low, high]; a one-line UserError naming `what` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise UserError(f"{what} must be a number, got {value!r}")
    value = float(value)
    if not (math.isfinite(value) and low <= value <= high):
        bounds = f"in [{low:g}, {high:g}]" if math.isfinite(high) else f">= {low:g}"
        raise UserError(f"{what} must be a finite number {bounds}, got {value!r}")
    return value


def check_number(what: str, low: float, high: float = math.inf) -> Any:
    return lambda value: number(value, what, low, high)


def check_choice(what: str, allowed: Sequence[str], optional: bool = False, words: str = "unknown") -> Any:
    def check(value: Any) -> Any:
        if (value is None and optional) or value in allowed:
            return value
        raise UserError(f"{what}: {words} '{value}'; choose from {', '.join(allowed)}")

    return check


def setting(default: Any, check: Any = None, **options: Any) -> Any:
    """A field of an operation: its default and the check (value -> the value kept, or a UserError) run when an edit
    is made."""
    return field(default=default, metadata={"check": check}, **options)


class _Made(type):
    """`Edit("generate", ...)` builds the operation's class; every class refuses a setting it does not declare in
    one line (a TypeError of the dataclass otherwise)."""

    def __call__(cls, *args: Any, **settings: Any) -> Any:
        if cls is Edit:
            name, args = (args[0], args[1:]) if args else (settings.pop("operation", "reconstruct"), args)
            return operation_class(name)(*args, **settings)
        names, positional = cls.setting_names(), [f for f in fields(cls) if not f.kw_only]
        if len(args) > len(positional):
            raise UserError(f"{cls.name}: takes at most {len(positional)} settings by position, got {len(args)}")
        unknown = [k for k in settings if k not in names]
        if unknown:
            raise UserError(f"{cls.name}: takes no setting '{unknown[0]}' (its settings: {', '.join(names) or 'none'})")
        return super().__call__(*args, **settings)


REGISTRY: dict[str, type[Edit]] = {}  # operation name -> class, in the order the classes are defined


def operation_class(name: Any) -> type[Edit]:
    """The class of an operation, by name; a UserError naming the operations otherwise."""
    if not isinstance(name, str) or name not in REGISTRY:
        raise UserError(f"operation: unknown '{name}'; choose from {', '.join(REGISTRY)}")
    return REGISTRY[name]


@dataclass(frozen=True)
class Edit(metaclass=_Made):
    """An edit of label maps; the operations are its subclasses (`semantic_vae.edit.operations`).

    A subclass names itself (`name`), declares its settings as dataclass fields made with `setting`, and overrides
    the hooks the editor's one pipeline (`MaskEditor.apply_jobs`) calls: `latents` (the latents after the edit),
    `check_masks` (refuse masks it cannot apply to), `left_out` (classes the decode may not draw: ids, or (B, C) bool
    per mask; `reconstruction()` is the unedited decode), `unedited_left_out` (those the unedited decode that
    keep="changes" compares with leaves out) and `compose` (the result from the decode); `prepared` gives the edit
    as the commands and the web editor apply it (defaults resolved, what the model cannot do well refused first).
    Nothing outside the subclasses asks which operation an edit is.
    """

    name: ClassVar[str] = ""
    target: ClassVar[bool] = False  # takes a second mask (interpolate, swap)
    measured_by: ClassVar[str] = ""  # which `evaluate-edits` protocol measures it: "edits", "steering", "presence"
    uses_steering: ClassVar[bool] = False  # needs the checkpoint's fitted directions or presence priors
    goal: ClassVar[str] = ""  # what `outcome` checks: "kept" (the part stays), "present", "absent"; "": nothing

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name"):
            REGISTRY[cls.name] = cls

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.metadata.get("check") is not None:
                object.__setattr__(self, f.name, f.metadata["check"](getattr(self, f.name)))
        self.validate()

    def validate(self) -> None:
        """Checks across settings (after each setting's own)."""

    @property
    def operation(self) -> str:
        return self.name

    @classmethod
    def setting_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def own_setting_names(cls) -> tuple[str, ...]:
        """The settings the operation's class declares itself (not those of a shared base such as `PartEdit`)."""
        shared = {n for base in cls.__mro__ if not base.__dict__.get("name") for n in inspect.get_annotations(base)}
        return tuple(n for n in cls.setting_names() if n not in shared)

    @classmethod
    def pick(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        """The values of the settings this operation takes, from values meant for several (a template's, the web
        page's controls)."""
        return {k: v for k, v in values.items() if k in cls.setting_names()}

    @property
    def draws_noise(self) -> bool:
        return "seed" in self.setting_names()

    @property
    def noise_seed(self) -> int:
        """The edit's noise seed, 0 where it has none: also the decode's (a model with a random initial LSTM state)."""
        return getattr(self, "seed", 0)

    # -- the hooks (the class docstring) ------------------------------------------------------
    def latents(self, editor: Any, z: Any, z_target: Any = None, seeds: Any = None) -> Any:
        raise NotImplementedError

    def prepared(self, editor: Any) -> Edit:
        return self

    def check_masks(self, editor: Any, labels: Any) -> None:
        return None

    def left_out(self, editor: Any, labels: Any, reconstruction: Any) -> Any:
        return ()

    def unedited_left_out(self, left_out: Any) -> Any:
        return ()

    def compose(self, editor: Any, edited: Any, labels: Any, z: Any, unedited: Any) -> np.ndarray:
        return edited.cpu().numpy()

    def direction(self, editor: Any) -> Any:
        """The steering direction the edit moves along (its held-out R^2 is reported), if any."""
        return None

    def asked(self) -> tuple[str, float] | None:
        """The attribute and amount the edit asks to move (its outcome measures whether it did)."""
        return None

    # -- use --------------------------------------------------------------------------------
    def apply(self, editor: Any, masks: Any, target: Any = None, seeds: Sequence[int] | None = None) -> np.ndarray:
        """This edit of (H, W) or (B, H, W) label maps: `editor.apply(self, masks, target, seeds)`."""
        if not callable(getattr(editor, "apply", None)):
            raise UserError(
                f"Edit.apply: expected an editor (semantic_vae.edit.MaskEditor), got {type(editor).__name__}"
            )
        return editor.apply(self, masks, target=target, seeds=seeds)

    def with_(self, **changes: Any) -> Edit:
        """A copy with some settings changed (checked again); another `operation` keeps the settings it also takes."""
        if "operation" in changes:
            kind = operation_class(changes.pop("operation"))
            return kind(**kind.pick({**self.values(), **changes}))
        return replace(self, **changes)

    # -- as data ----------------------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def manifest_values(self) -> dict[str, Any]:
        """The settings as a manifest row holds them."""
        return self.values()

    def to_dict(self) -> dict[str, Any]:
        """The operation and its settings, in plain JSON types; `Edit.from_dict` gives back an equal value."""
        values = {"operation": self.name, **self.values()}
        if "parts" in values:
            values["parts"] = list(values["parts"])
        return values

    @classmethod
    def from_dict(cls, values: Any, source: str = "edit") -> Edit:
        """An Edit from stored settings (a recipe step, a manifest row); a one-line UserError naming the setting."""
        if not isinstance(values, dict):
            raise UserError(f"{source}: an edit must be a mapping of settings, got {type(values).__name__}")
        if "operation" not in values:
            raise UserError(f"{source}: the edit names no operation")
        try:
            kind = operation_class(values["operation"])
            unknown = sorted(set(values) - {"operation", *kind.setting_names()})
            if unknown:
                known = ", ".join(kind.setting_names()) or "none"
                raise UserError(f"unknown setting '{unknown[0]}' of {kind.name}; known: {known}")
            return kind(**{k: v for k, v in values.items() if k != "operation"})
        except UserError as err:
            raise UserError(f"{source}: {err}") from None

    def details(self) -> str:
        """The settings worth a figure's row title ('seed 3, data prior'); '' for none."""
        return ""

    def describe(self) -> str:
        """'generate nose (seed 3, data prior), keep=input': for figure rows and printed lines."""
        return self.name + (f" ({self.details()})" if self.details() else "")


def all_settings() -> dict[str, Field]:
    """Every operation's settings by name, first declared first (the manifest's columns, a template's fields)."""
    found: dict[str, Field] = {}
    for kind in REGISTRY.values():
        found.update({f.name: f for f in fields(kind) if f.name not in found})
    return found


class Template:
    """Settings of edits whose operation and parts are chosen later (augment's variants, evaluate-edits'
    operations): `template.edit("perturb", parts)` takes the settings perturb declares. A setting no operation
    declares, or a bad value (by its operation's check), is refused when the template is made."""

    def __init__(self, **settings: Any) -> None:
        known = all_settings()
        for key, value in settings.items():
            if key not in known or key in ("parts", "seed"):
                raise UserError(f"a template takes no setting '{key}'")
            check = known[key].metadata.get("check")
            settings[key] = check(value) if check is not None else value
        self.given = settings

    def __getattr__(self, key: str) -> Any:
        values = self.to_dict() if key != "given" else {}
        if key in values:
            return values[key]
        raise AttributeError(key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Template) and self.to_dict() == other.to_dict()

    def to_dict(self) -> dict[str, Any]:
        """Every setting of every operation other than parts and seed: the given ones, else their defaults."""
        return {k: f.default for k, f in all_settings().items() if k not in ("parts", "seed")} | self.given

    def edit(self, operation: str, parts: PartSpec, **more: Any) -> Edit:
        kind = operation_class(operation)
        return kind(parts, **kind.pick({**self.to_dict(), **more}))
