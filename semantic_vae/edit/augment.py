"""Augment a mask dataset with N edited variants per input, traceable through a manifest (every row reproduces
through the Python API: the variants go through the editor's one pipeline, `MaskEditor.apply_each`). The command
(files, manifest, threads) is `semantic_vae.commands.augment`.

A variant's operation, parts, noise seed and target are drawn from (seed, file name, variant number). An operation
that cannot apply to a drawn part and input becomes a generate of that part (a steer of a part without a steerable
attribute, an add of a part the input has, a remove of one it lacks, an add or remove of a part without presence
priors); an operation that can apply to no input at all is refused before anything is written. A variant identical
to its input or to another variant of it is marked in the manifest (`duplicate_of`) and, with `--duplicates redraw`
or `drop`, drawn again (up to MAX_REDRAWS times) or left out. The summary line counts all of it.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np

from semantic_vae.edit.edit import REGISTRY, Edit, Template, operation_class
from semantic_vae.edit.editor import MaskEditor, by_shape
from semantic_vae.edit.operations import Generate, PartEdit
from semantic_vae.errors import UserError

AUGMENT_OPERATIONS = tuple(n for n, kind in REGISTRY.items() if issubclass(kind, PartEdit))
VARIANT_SEED_RANGE = 2**31 - 1  # variant noise seeds are drawn below this (kept: manifests of earlier runs reproduce)
Duplicates = Literal["keep", "redraw", "drop"]
MAX_REDRAWS = 4  # --duplicates redraw: draws of a variant after the first, until it differs from its input and siblings


@dataclass(frozen=True)
class Variant:
    """One augmented mask: which source, which edit (with its noise seed), which target; all in the manifest."""

    source: int  # index into the sorted input files
    number: int  # variant number of that source
    edit: Edit
    target: int | None = None  # index of the target file (swap, interpolate)
    asked: str = ""  # the operation drawn (edit.operation unless it could not apply: then `reason` says why)
    reason: str = ""
    duplicate_of: str = ""  # "input", or the file name of an earlier variant of the same source with equal pixels
    attempt: int = 0  # 0: the first draw; k: the k-th redraw (--duplicates redraw)


@dataclass(frozen=True)
class Planner:
    """Draws variants: from (seed, file name, variant number) alone, so a file's variants do not depend on the other
    files (except the choice of swap/interpolate targets, drawn among the other inputs of the same size). A redraw
    (attempt 1, 2, ...) adds the attempt to the draw's seed.

    steerable: part -> its steerable attributes; units: part -> its class ids; presence: the classes with presence
    priors; has: per file, the classes it holds (read when add or remove is asked); class_names: the label set's.
    """

    files: list[Path]
    shapes: list[tuple[int, int] | None]
    operations: list[str]
    units: dict[str, list[int]]
    parts_per_variant: int
    seed: int
    template: Template
    steerable: dict[str, list[str]]
    presence: frozenset[int] = frozenset()
    has: list[frozenset[int]] | None = None
    class_names: Sequence[str] = ()

    def variant(self, i: int, v: int, attempt: int = 0) -> Variant:
        f, names = self.files[i], list(self.units)
        rng = np.random.default_rng([self.seed, zlib.crc32(f.name.encode()), v, *([attempt] if attempt else [])])
        op = self.operations[int(rng.integers(len(self.operations)))]
        picked = set(rng.choice(len(names), size=self.parts_per_variant, replace=False).tolist())
        chosen = tuple(name for k, name in enumerate(names) if k in picked)
        noise_seed = int(rng.integers(0, VARIANT_SEED_RANGE))
        settings, target, reason = operation_class(op).draw(rng, self, i, chosen)
        made = Generate.name if reason else op
        edit = self.template.edit(made, chosen, seed=noise_seed, **settings)
        return Variant(i, v, edit, target, op, reason, attempt=attempt)

    def check_applicable(self) -> None:
        """Refuse, before anything is written, an asked operation that applies to no input and part (it would only
        ever be a generate)."""
        for op in self.operations:
            why = operation_class(op).applicable(self)
            if why:
                raise UserError(f"--operations {op}: applies to no input: {why}")


def summary(made: list[Variant], plan: list[Variant], ops: Sequence[str], duplicates: str) -> str:
    """What augment made: variants per operation, the drawn operations that became another and why, the identical
    variants and what was done with them."""
    counts = Counter(v.edit.operation for v in made)
    said = ["made " + ", ".join(f"{op} {counts[op]}" for op in dict.fromkeys([*ops, *counts]))]
    switched = Counter((v.asked, v.edit.operation, v.reason) for v in made if v.reason)
    said += [f"{n} {asked} became {op} ({reason})" for (asked, op, reason), n in sorted(switched.items())]
    redrawn = sum(v.attempt > 0 for v in made)
    if redrawn:
        said.append(f"{redrawn} redrawn, being identical to their input or to another variant of it")
    same_input = sum(v.duplicate_of == "input" for v in made)
    same_other = sum(bool(v.duplicate_of) for v in made) - same_input
    if same_input or same_other:
        counts = [f"{same_input} identical to their input"] if same_input else []
        counts += [f"{same_other} identical to another variant of their input"] if same_other else []
        how = f"after {MAX_REDRAWS} redraws; " if duplicates == "redraw" else ""
        then = "; --duplicates redraw or drop" if duplicates == "keep" else ""
        said.append(f"{' and '.join(counts)} ({how}marked duplicate_of in the manifest{then})")
    dropped = len(plan) - len(made)
    if dropped:
        said.append(f"{dropped} dropped, being identical to their input or to another variant of it")
    if not (redrawn or same_input or same_other or dropped):
        said.append("no variant identical to its input or to another")
    return "; ".join(said)


def output_name(files: list[Path], var: Variant) -> str:
    return f"{files[var.source].stem}_v{var.number:02d}.png"


def render(editor: MaskEditor, variants: list[Variant], masks: dict[int, np.ndarray]) -> list[np.ndarray]:
    """Each variant's (H, W) label map at its source's size, through the editor's one pipeline
    (`MaskEditor.apply_each`: one encode and one decode per source size, batched)."""
    outs: list[np.ndarray | None] = [None] * len(variants)
    sources = [masks[v.source] for v in variants]
    for ks in by_shape(sources).values():
        todo = [variants[k] for k in ks]
        targets = [None if v.target is None else masks[v.target] for v in todo]
        for k, image in zip(ks, editor.apply_each([v.edit for v in todo], [sources[k] for k in ks], targets)):
            outs[k] = image
    return outs  # type: ignore[return-value]


def mark_duplicates(
    variants: list[Variant], images: list[np.ndarray], source: np.ndarray, files: list[Path]
) -> list[Variant]:
    """The variants of one source, each marked with the input or the first earlier variant whose pixels it equals."""
    marked = []
    for k, (var, image) in enumerate(zip(variants, images)):
        same = "input" if np.array_equal(image, source) else ""
        if not same:
            same = next((output_name(files, variants[j]) for j in range(k) if np.array_equal(image, images[j])), "")
        marked.append(replace(var, duplicate_of=same))
    return marked
