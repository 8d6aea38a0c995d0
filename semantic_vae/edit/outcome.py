"""What an edit did, checked on its results: the one report that the edit commands print in their summary line, the
web editor shows in its status and `MaskEditor.steer`, `add`, `remove` and `sample` give as an `EditWarning`.

An operation is checked where its goal (`Edit.goal`) can be read off the result:

- add: the part is present in the result; remove: it is absent (a 64x64 model may not draw a part of a pixel or two);
- generate, perturb, steer: the part, present in the input, is still there (a model that does not draw a part loses
  it: a steer of the lips on a model that draws none leaves every face without a mouth);
- steer: the attribute moved the asked way, the result's value against the input's (`attributes.measure`, on the
  results where the part is there before and after); a direction whose held-out R^2 is below `R2_STEERABLE` is
  named, since it predicts little of the attribute.

Operations without a goal (reconstruct, interpolate, swap: the target decides what the part becomes) report nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from semantic_vae.edit.attributes import measure
from semantic_vae.edit.edit import Edit
from semantic_vae.edit.placement import presence_reached
from semantic_vae.edit.steering import R2_STEERABLE
from semantic_vae.labels import LabelSet

PRESENCE = {"present": "this model did not draw it", "absent": "the model drew it again"}  # goal -> a miss in words


class EditWarning(UserWarning):
    """An edit ran but did not do what it was asked on some masks (the message says what, and on how many)."""


@dataclass(frozen=True)
class Outcome:
    """Counts over the results of one edit (module docstring); `summary` and `problem` put them in words."""

    edit: Edit
    part: str  # the edited part(s), as the user named them ("lips", "eye_g+hat")
    results: int
    reached: int = 0  # add / remove: results where the part is present / absent
    had: int = 0  # generate, perturb, steer: results whose input has the part
    kept: int = 0  # ... of which the result still has it
    measured: int = 0  # steer: results where the attribute is measured before and after (amount != 0)
    moved: int = 0  # ... of which it moved the asked way
    r2: float | None = None  # steer: the direction's held-out R^2

    @property
    def weak(self) -> bool:
        return self.r2 is not None and not self.r2 >= R2_STEERABLE

    def summary(self) -> str:
        """What happened, in one clause: 'eye_g present in 3 of 4 results (...)'; '' for an operation not checked."""
        goal, n = self.edit.goal, self.results
        if goal in PRESENCE:
            missed = f" ({PRESENCE[goal]} in the others)" if self.reached < n else ""
            return f"{self.part} {goal} in {self.reached} of {n} results{missed}"
        said = []
        asked = self.edit.asked()
        if asked is not None and asked[1] != 0 and self.measured:
            said.append(f"{self.part}.{asked[0]} moved the asked way in {self.moved} of {self.measured} "
                        "results that kept the part")  # fmt: skip
        if self.kept < self.had:
            said.append(f"{self.part} vanished in {self.had - self.kept} of {self.had} results that had it "
                        "(this model did not draw it there)")  # fmt: skip
        if self.weak:
            said.append(f"the direction's held-out R^2 is {self.r2:.2f}, below {R2_STEERABLE}: it predicts little")
        return "; ".join(said)

    def problem(self) -> str:
        """The summary when the edit fell short on some results (or its direction is weak), else ''."""
        short = (
            self.reached < self.results
            if self.edit.goal in PRESENCE
            else self.kept < self.had or self.moved < self.measured or self.weak
        )
        return self.summary() if short else ""


def outcome(
    edit: Edit,
    before: Sequence[np.ndarray],
    after: Sequence[np.ndarray],
    label_set: LabelSet,
    ids: Sequence[int],
    part: str,
    r2: float | None = None,
) -> Outcome | None:
    """The outcome of `edit` from its inputs and results ((H, W) maps, one per result; sizes may differ between
    pairs). `ids`: the edited classes; `part`: the steered part's name (a class or group name); `r2`: the steer
    direction's held-out R^2. None for an operation that is not checked."""
    if not edit.goal:
        return None
    name = "+".join(edit.parts)
    if edit.goal in PRESENCE:
        reached = sum(bool(presence_reached(m, ids, edit.goal)[0]) for m in after)
        return Outcome(edit, name, len(after), reached=reached)
    has_before = [bool(np.isin(m, ids).any()) for m in before]
    has_after = [bool(np.isin(m, ids).any()) for m in after]
    had = sum(has_before)
    kept = sum(b and a for b, a in zip(has_before, has_after))
    measured = moved = 0
    asked = edit.asked()
    if asked is not None and asked[1] != 0:
        attribute, amount = asked
        for b, a in zip(before, after):
            old, new = (float(measure(m, label_set, part, [attribute])[attribute][0]) for m in (b, a))
            if math.isfinite(old) and math.isfinite(new):
                measured += 1
                moved += bool(np.sign(new - old) == np.sign(amount))
    return Outcome(edit, name, len(after), had=had, kept=kept, measured=measured, moved=moved, r2=r2)
