"""Edit recipes: a sequence of part edits as JSON that replays to the identical label map.

A recipe holds the input label map and any target (as embedded label PNGs), the checkpoint's
SHA-256 and every step (operation, parts, seed, prior, scale, alpha, keep, radius), so nothing
outside the file and the checkpoint is needed:

    semantic-vae edit replay --recipe recipe.json --ckpt model.ckpt --out replayed/

The web editor writes one for every result it offers for download.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from semantic_vae.edit.editor import KEEP_RADIUS, MaskEditor
from semantic_vae.errors import UserError

FORMAT = 1
OPERATIONS = ("generate", "perturb", "interpolate", "swap")


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
class Step:
    """One edit. Fields that do not apply to the operation are None."""

    operation: str
    parts: tuple[str, ...]
    seed: int | None = None
    prior: str | None = None  # generate
    scale: float | None = None  # perturb
    alpha: float | None = None  # interpolate (swap: 1)
    keep: str = "input"
    radius: int = KEEP_RADIUS
    target: str | None = None  # interpolate, swap: the target label map, an embedded PNG

    def apply(self, editor: MaskEditor, labels: np.ndarray) -> np.ndarray:
        """This edit of one (H, W) label map, exactly as the MaskEditor method computes it."""
        keep = {"keep": self.keep, "radius": self.radius}
        parts = list(self.parts)
        if self.operation == "generate":
            return editor.generate(labels, parts, seed=self.seed, prior=self.prior, **keep)
        if self.operation == "perturb":
            return editor.perturb(labels, parts, scale=self.scale, seed=self.seed, **keep)
        if self.operation in ("interpolate", "swap"):
            if self.target is None:
                raise UserError(f"{self.operation}: the step has no target mask")
            target = labels_from_base64(self.target, f"{self.operation} target")
            alpha = 1.0 if self.operation == "swap" else self.alpha
            return editor.interpolate(labels, target, parts, alpha, **keep)
        raise UserError(f"unknown operation '{self.operation}'; known: {', '.join(OPERATIONS)}")

    def summary(self) -> dict[str, Any]:
        """The step's settings without the embedded target (for display and the recipe's `edit` field)."""
        return {k: v for k, v in asdict(self).items() if k != "target" and v is not None}


@dataclass
class Recipe:
    """The loaded input, the checkpoint and the steps applied to it, in order."""

    checkpoint_sha256: str
    input_png: str
    steps: list[Step] = field(default_factory=list)

    def replay(self, editor: MaskEditor) -> np.ndarray:
        labels = labels_from_base64(self.input_png, "recipe input")
        for step in self.steps:
            labels = step.apply(editor, labels)
        return labels

    def to_json(self) -> str:
        last = self.steps[-1].summary() if self.steps else None
        document = {
            "format": FORMAT,
            "edit": last,  # the last edit, readable at a glance
            "checkpoint_sha256": self.checkpoint_sha256,
            "steps": [asdict(step) for step in self.steps],
            "input_png": self.input_png,
        }
        return json.dumps(document, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str, source: str = "recipe") -> Recipe:
        try:
            document = json.loads(text)
        except json.JSONDecodeError as err:
            raise UserError(f"{source}: not valid JSON ({err.msg}, line {err.lineno})") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise UserError(f"{source}: not an edit recipe of format {FORMAT}")
        names = {f.name for f in fields(Step)}
        steps = []
        for i, raw in enumerate(document.get("steps") or []):
            if not isinstance(raw, dict) or not set(raw) <= names or "operation" not in raw:
                raise UserError(f"{source}: step {i + 1} is not an edit step")
            steps.append(Step(**{**raw, "parts": tuple(raw.get("parts") or ())}))
        if not isinstance(document.get("input_png"), str) or not isinstance(document.get("checkpoint_sha256"), str):
            raise UserError(f"{source}: the recipe has no input mask or no checkpoint hash")
        return cls(document["checkpoint_sha256"], document["input_png"], steps)
