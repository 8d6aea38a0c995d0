"""Edit recipes: a sequence of part edits as JSON that replays to the identical label map.

A recipe holds the input label map and any target (as embedded label PNGs), the checkpoint's
SHA-256 and every step (an `Edit`: its operation and every setting its class declares, and its target), so nothing
outside the file and the checkpoint is needed:

    semantic-vae edit replay --recipe recipe.json --ckpt model.ckpt --out replayed/

The web editor writes one for every result it offers for download.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from semantic_vae.edit.edit import Edit, all_settings, operation_class
from semantic_vae.edit.editor import MaskEditor
from semantic_vae.errors import UserError

FORMAT = 2  # format 1 (flat steps) is still read


def png_base64(labels: np.ndarray) -> str:
    """(H, W) uint8 labels -> a mode L PNG, base64 text (what a recipe embeds)."""
    ok, buffer = cv2.imencode(".png", np.ascontiguousarray(labels, dtype=np.uint8))
    if not ok:
        raise UserError(f"could not encode a label map of shape {labels.shape} as PNG")
    return base64.b64encode(buffer.tobytes()).decode("ascii")


def labels_from_base64(text: str, what: str) -> np.ndarray:
    try:
        data = np.frombuffer(base64.b64decode(text, validate=True), np.uint8)
        labels = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except (ValueError, cv2.error):
        labels = None
    if labels is None or labels.ndim != 2 or labels.dtype != np.uint8:
        raise UserError(f"{what}: not an embedded label PNG")
    return labels


@lru_cache(maxsize=8)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checkpoint_sha256(path: str | Path) -> str:
    """SHA-256 of a checkpoint file (cached while the file is unchanged)."""
    stat = Path(path).stat()
    return _file_sha256(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@dataclass(frozen=True)
class RecipeStep:
    """One step of a recipe: an Edit, and its target mask for interpolate and swap (an embedded label PNG)."""

    edit: Edit
    target_png: str | None = None

    def apply(self, editor: MaskEditor, labels: np.ndarray) -> np.ndarray:
        """This edit of one (H, W) label map, exactly as `MaskEditor.apply` computes it."""
        target = None
        if self.edit.target:
            if self.target_png is None:
                raise UserError(f"{self.edit.operation}: the step has no target mask")
            target = labels_from_base64(self.target_png, f"{self.edit.operation} target")
        return editor.apply(self.edit, labels, target)

    def to_dict(self) -> dict[str, Any]:
        return {"edit": self.edit.to_dict(), "target_png": self.target_png}


@dataclass
class Recipe:
    """The loaded input, the checkpoint and the edits applied to it, in order."""

    checkpoint_sha256: str
    input_png: str
    steps: list[RecipeStep] = field(default_factory=list)
    source: str = "recipe"  # where it was read from: errors of a step name it and the step

    def replay(self, editor: MaskEditor) -> np.ndarray:
        """The label map after every step; a step the model cannot apply (an attribute it has no direction for, a
        part it does not know) is refused naming the recipe and the step."""
        labels = labels_from_base64(self.input_png, f"{self.source}: input")
        for i, step in enumerate(self.steps):
            try:
                labels = step.apply(editor, labels)
            except UserError as err:
                raise UserError(f"{self.source}: step {i + 1}: {err}") from None
        return labels

    def to_json(self) -> str:
        document = {
            "format": FORMAT,
            "edit": self.steps[-1].edit.describe() if self.steps else None,  # the last edit, readable at a glance
            "checkpoint_sha256": self.checkpoint_sha256,
            "steps": [step.to_dict() for step in self.steps],
            "input_png": self.input_png,
        }
        return json.dumps(document, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes, source: str = "recipe") -> Recipe:
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError:
                raise UserError(f"{source}: not an edit recipe (not UTF-8 JSON text)") from None
        if not isinstance(text, str):
            raise UserError(f"{source}: expected the recipe's JSON text, got {type(text).__name__}")
        try:
            document = json.loads(text)
        except json.JSONDecodeError as err:
            raise UserError(f"{source}: not valid JSON ({err.msg}, line {err.lineno})") from None
        version = document.get("format") if isinstance(document, dict) else None
        if version not in READERS:
            known = ", ".join(str(v) for v in READERS)
            raise UserError(f"{source}: not an edit recipe of a format this version reads ({known}); got {version!r}")
        raw_steps = document.get("steps") or []
        if not isinstance(raw_steps, list):
            raise UserError(f"{source}: 'steps' must be a list of edits")
        steps = [READERS[version](raw, f"{source}: step {i + 1}") for i, raw in enumerate(raw_steps)]
        if not isinstance(document.get("input_png"), str) or not isinstance(document.get("checkpoint_sha256"), str):
            raise UserError(f"{source}: the recipe has no input mask or no checkpoint hash")
        return cls(document["checkpoint_sha256"], document["input_png"], steps, source)


def _read_step(raw: Any, where: str) -> RecipeStep:
    """A step of format 2: {"edit": the operation and every setting it declares, "target_png": ...}. Recipes written
    before each operation had a class of its own hold every operation's settings in each step: those of other
    operations are dropped."""
    if not isinstance(raw, dict) or not isinstance(raw.get("edit"), dict) or set(raw) - {"edit", "target_png"}:
        raise UserError(f"{where}: not an edit step")
    settings = raw["edit"]
    if "operation" not in settings:
        raise UserError(f"{where}: the edit names no operation")
    try:
        kind = operation_class(settings["operation"])
    except UserError as err:
        raise UserError(f"{where}: {err}") from None
    missing = [name for name in kind.setting_names() if name not in settings]
    if missing:
        raise UserError(f"{where}: the edit has no '{missing[0]}'")
    others = set(all_settings()) - set(kind.setting_names())
    target = raw.get("target_png")
    if target is not None and not isinstance(target, str):
        raise UserError(f"{where}: target_png must be an embedded PNG")
    return RecipeStep(Edit.from_dict({k: v for k, v in settings.items() if k not in others}, where), target)


FORMAT_1 = ("operation", "parts", "seed", "prior", "scale", "alpha", "keep", "radius", "target")  # a step's keys


def _read_step_v1(raw: Any, where: str) -> RecipeStep:
    """A step of format 1 (recipes written before the Edit value): flat fields, None where one did not apply. An
    operation's own settings (not the shared parts, keep, radius) written None are missing, except those whose
    default is None (a generate's prior: the checkpoint's default)."""
    if not isinstance(raw, dict) or not set(raw) <= set(FORMAT_1) or "operation" not in raw:
        raise UserError(f"{where}: not an edit step")
    try:
        kind = operation_class(raw["operation"])
    except UserError as err:
        raise UserError(f"{where}: {err}") from None
    needed = [f.name for f in fields(kind) if f.name in kind.own_setting_names() and f.default is not None]
    absent = [name for name in needed if raw.get(name) is None]
    if absent:
        raise UserError(f"{where}: {kind.name} has no '{absent[0]}'")
    settings = {k: v for k, v in kind.pick(raw).items() if v is not None}
    return RecipeStep(Edit.from_dict({"operation": kind.name, **settings}, where), raw.get("target"))


READERS = {2: _read_step, 1: _read_step_v1}
