"""What the web editor does, without the web: load masks, apply edits with undo and redo, draw the views,
and write the downloads. `semantic_vae.app.ui` only wires these to Gradio components.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from semantic_vae.data.io import read_label_png, resize_labels, write_color_png, write_label_png
from semantic_vae.data.synthetic import HELDOUT_START, generate_masks
from semantic_vae.edit.edit import Edit
from semantic_vae.edit.editor import MaskEditor
from semantic_vae.edit.recipe import Recipe, RecipeStep, checkpoint_sha256, png_base64
from semantic_vae.errors import UserError
from semantic_vae.files import write_text_atomic

EXAMPLE_SIZE = 512  # the bundled examples and sampled faces: CelebAMask-HQ's label size
EXAMPLE_SEEDS = (3, 11, 42, 77)  # held-out synthetic faces (index HELDOUT_START + seed)
CHANGE_COLOUR = np.array([255, 0, 255], np.uint8)  # changed pixels in the overlay
LOAD_FIRST = "load a mask first: upload a label PNG, pick an example, or sample a face"
MISSED = {"present": "draw", "absent": "take away"}  # an edit's goal -> what the model did not do, in the status


def example_masks() -> dict[str, np.ndarray]:
    """A few synthetic faces to start from, by name."""
    return {f"synthetic face {s}": generate_masks(0, HELDOUT_START + s, 1, EXAMPLE_SIZE)[0] for s in EXAMPLE_SEEDS}


@dataclass
class EditSession:
    """One user's masks: the loaded input, the edits applied to it (with undo and redo), a target mask."""

    editor: MaskEditor
    checkpoint_hash: str
    history: list[tuple[np.ndarray, RecipeStep | None]] = field(default_factory=list)  # (mask, the step that made it)
    position: int = -1  # index of the current mask in `history`
    target: np.ndarray | None = None

    @classmethod
    def open(cls, editor: MaskEditor, checkpoint: str | Path) -> EditSession:
        return cls(editor, checkpoint_sha256(checkpoint))

    # -- masks in -----------------------------------------------------------------------------
    def read(self, path: str | Path) -> np.ndarray:
        """A label PNG or a colourised PNG of any size, checked against the model's label set."""
        return read_label_png(path, self.editor.label_set)

    def load(self, labels: np.ndarray) -> np.ndarray:
        """Start over from this mask: the history holds it alone."""
        self.editor.as_batch(labels)  # label values and shape checked before anything changes
        self.history, self.position = [(np.ascontiguousarray(labels, np.uint8), None)], 0
        return self.current

    def sample(self, seed: int, prior: str | None = None) -> np.ndarray:
        """A whole new face, every part drawn from the prior, at EXAMPLE_SIZE."""
        return self.load(self.editor.sample(1, seed=seed, size=EXAMPLE_SIZE, prior=prior)[0])

    def set_target(self, labels: np.ndarray) -> np.ndarray:
        """The second mask of interpolate and swap, brought to the input's size (nearest-neighbour)."""
        self.target = np.ascontiguousarray(labels, np.uint8)
        return self.target

    # -- edits --------------------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        return self.position >= 0

    @property
    def current(self) -> np.ndarray:
        if not self.loaded:
            raise UserError(LOAD_FIRST)
        return self.history[self.position][0]

    @property
    def previous(self) -> np.ndarray:
        """The mask the current one was made from (itself when nothing was edited)."""
        return self.history[max(0, self.position - 1)][0]

    def step(self, edit: Edit) -> RecipeStep:
        """The recipe step of an edit of the current mask: the edit as the commands apply it (`Edit.prepared`: a
        generate's prior resolved, so the recipe names it; a steer along a direction that predicts little refused)
        and, for an edit towards a target, the target brought to the current mask's size (nearest-neighbour)."""
        if not self.loaded:
            raise UserError(LOAD_FIRST)
        if not edit.parts:
            raise UserError("choose at least one part: click on the mask or tick it in the list")
        self.editor.part_ids(edit.parts)  # unknown parts refused before anything changes
        target = None
        if edit.target:
            if self.target is None:
                raise UserError(f"{edit.operation} needs a second mask: upload one or pick an example as the target")
            target = png_base64(resize_labels(self.target, self.current.shape))
        return RecipeStep(edit.prepared(self.editor), target)

    def apply(self, step: RecipeStep) -> np.ndarray:
        """Apply an edit to the current mask; it becomes the current one (later redo entries are dropped)."""
        result = step.apply(self.editor, self.current)
        self.history = [*self.history[: self.position + 1], (result, step)]
        self.position += 1
        return result

    def note(self, edit: Edit) -> str:
        """Where the last edit, `edit`, fell short (`MaskEditor.outcome`), for the page's status: ' The model did not
        draw eye_g here.', ' Note: lips vanished ...', or '' when it did what it was asked."""
        found = self.editor.outcome(edit, self.previous, self.current)
        if found is None or not found.problem():
            return ""
        if edit.goal in MISSED:
            return f" The model did not {MISSED[edit.goal]} {found.part} here."
        return f" Note: {found.problem()}."

    def undo(self) -> np.ndarray:
        if self.position <= 0:
            raise UserError("nothing to undo")
        self.position -= 1
        return self.current

    def redo(self) -> np.ndarray:
        if self.position >= len(self.history) - 1:
            raise UserError("nothing to redo")
        self.position += 1
        return self.current

    def recipe(self) -> Recipe:
        """The loaded mask and every step up to the current mask."""
        steps = [s for _, s in self.history[1 : self.position + 1] if s is not None]
        return Recipe(self.checkpoint_hash, png_base64(self.history[0][0]), steps)

    # -- views and downloads --------------------------------------------------------------------
    def colour(self, labels: np.ndarray) -> np.ndarray:
        return self.editor.label_set.colorize(labels)

    def overlay(self) -> np.ndarray:
        """The current mask, faded, with the pixels the last edit changed in magenta."""
        after, before = self.current, self.previous
        view = (self.colour(after).astype(np.uint16) + 2 * 255) // 3  # faded towards white
        view = view.astype(np.uint8)
        view[before != after] = CHANGE_COLOUR
        return view

    def part_at(self, x: int, y: int) -> str:
        """The class under a click on the current mask (pixel coordinates of the mask)."""
        labels = self.current
        if not (0 <= y < labels.shape[0] and 0 <= x < labels.shape[1]):
            raise UserError(f"the click ({x}, {y}) is outside the {labels.shape[1]}x{labels.shape[0]} mask")
        return self.editor.class_names[int(labels[y, x])]

    def downloads(self, folder: str | Path) -> dict[str, Path]:
        """The current mask as a label PNG (mode L), a colour PNG and the recipe JSON, in `folder`."""
        folder = Path(folder)
        paths = {
            "labels": folder / "edited.png",
            "colour": folder / "edited_color.png",
            "recipe": folder / "recipe.json",
        }
        write_label_png(paths["labels"], self.current)
        write_color_png(paths["colour"], self.current, self.editor.label_set)
        write_text_atomic(paths["recipe"], self.recipe().to_json())
        return paths
