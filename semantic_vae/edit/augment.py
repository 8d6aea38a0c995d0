"""`semantic-vae edit augment`: grow a mask dataset with N edited variants per input, traceable
through a manifest (every row reproduces through the Python API).

A variant's operation, parts, noise seed and target are drawn from (seed, file name, variant number). An operation
that cannot apply to a drawn part and input becomes a generate of that part (a steer of a part without a steerable
attribute, an add of a part the input has, a remove of one it lacks, an add or remove of a part without presence
priors); an operation that can apply to no input at all is refused before anything is written. A variant identical
to its input or to another variant of it is marked in the manifest (`duplicate_of`) and, with `--duplicates redraw`
or `drop`, drawn again (up to MAX_REDRAWS times) or left out. The summary line counts all of it.
"""

from __future__ import annotations

import re
import time
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from semantic_vae.data.io import png_shape, read_label_png
from semantic_vae.edit.edit import DEFAULT_PARTS, Edit, check_seed
from semantic_vae.edit.editor import MaskEditor
from semantic_vae.edit.io import MANIFEST_FIELDS, by_shape, choices, input_files, manifest_row, write_pair
from semantic_vae.edit.options import Files, ModelOptions
from semantic_vae.errors import UserError
from semantic_vae.files import OutputFolder
from semantic_vae.runtime import Progress

AUGMENT_OPERATIONS = ("generate", "perturb", "swap", "interpolate", "steer", "add", "remove")
STEER_RANGE = 2.0  # steer variants ask for an amount drawn uniformly in [-2, 2] standard deviations
VARIANT_SEED_RANGE = 2**31 - 1  # variant noise seeds are drawn below this (kept: manifests of earlier runs reproduce)
Duplicates = Literal["keep", "redraw", "drop"]
MAX_REDRAWS = 4  # --duplicates redraw: draws of a variant after the first, until it differs from its input and siblings
AUGMENT_FIELDS = (*MANIFEST_FIELDS, "asked", "duplicate_of")  # the operation drawn; the mask a variant is identical to

# Why a drawn operation became a generate (the summary line counts them).
NO_STEERABLE = "the part has no steerable attribute"
NO_PRIOR = "the part has no presence prior"
HAS_PART = "the input already has the part"
LACKS_PART = "the input lacks the part"


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
    template: Edit
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
        target, alpha = None, self.template.alpha
        if op in ("swap", "interpolate"):
            partners = [j for j, s in enumerate(self.shapes) if j != i and s == self.shapes[i]]
            if not partners:
                raise UserError(f"{f}: {op} needs another input of the same size as a target")
            target = partners[int(rng.integers(len(partners)))]
            alpha = 1.0 if op == "swap" else round(float(rng.uniform(0.25, 1.0)), 3)
        settings: dict = {}
        reason = ""
        if op == "steer":
            attributes = self.steerable.get(chosen[0], []) if len(chosen) == 1 else []
            if attributes:
                attribute = attributes[int(rng.integers(len(attributes)))]
                settings = {"attribute": attribute, "amount": round(float(rng.uniform(-STEER_RANGE, STEER_RANGE)), 2)}
                if self.has is not None and not any(c in self.has[i] for c in self.units[chosen[0]]):
                    reason, settings = LACKS_PART, {}  # nothing to reshape
            else:
                reason = NO_STEERABLE
        elif op in ("add", "remove"):
            ids = [c for name in chosen for c in self.units[name]]
            has = self.has is not None and all(c in self.has[i] for c in ids)
            if not all(c in self.presence for c in ids):
                reason = NO_PRIOR
            elif has != (op == "remove"):
                reason = HAS_PART if op == "add" else LACKS_PART
        made = "generate" if reason else op
        edit = self.template.with_(operation=made, parts=chosen, seed=noise_seed, alpha=alpha, **settings)
        return Variant(i, v, edit, target, op, reason, attempt=attempt)

    def check_applicable(self) -> None:
        """Refuse, before anything is written, an asked operation that applies to no input and part (it would only
        ever be a generate)."""
        one = self.parts_per_variant == 1
        for op in self.operations:
            if op == "steer":
                steerable = [name for name in self.units if self.steerable.get(name)]
                known = ", ".join(p for p, a in self.steerable.items() if a) or "none"
                why = (
                    f"a steer edits one part and --parts_per_variant is {self.parts_per_variant}"
                    if not one
                    else f"none of --parts {', '.join(self.units)} has a steerable attribute (parts with one: {known})"
                    if not steerable
                    else f"every input lacks {', '.join(steerable)}"
                    if not any(c in h for h in self.has or [] for n in steerable for c in self.units[n])
                    else ""
                )
                if why:
                    raise UserError(f"--operations steer: applies to no input: {why}")
            if op not in ("add", "remove"):
                continue
            capable = [name for name, ids in self.units.items() if all(c in self.presence for c in ids)]
            known = ", ".join(self.class_names[c] for c in sorted(self.presence)) or "none"
            if not capable:
                raise UserError(f"--operations {op}: applies to no input: none of --parts {', '.join(self.units)} "
                                f"has a presence prior (classes with one: {known})")  # fmt: skip
            has = self.has or []
            if not any(all(c in h for c in self.units[n]) == (op == "remove") for h in has for n in capable):
                state = "already has" if op == "add" else "lacks"
                raise UserError(f"--operations {op}: applies to no input: every input {state} {', '.join(capable)} "
                                f"(classes with a presence prior: {known})")  # fmt: skip


def augment(
    model: ModelOptions,
    files: Files,
    edit: Edit,
    parts: str = DEFAULT_PARTS,
    operations: str = "generate,perturb",
    variants: int = 4,
    parts_per_variant: int = 1,
    seed: int = 0,
    color: bool = True,
    workers: int = 4,
    duplicates: Duplicates = "keep",
    quiet: bool = False,
) -> None:
    """Grow a mask dataset: N edited variants per input over the chosen parts and operations.

    Writes <stem>_v<k>.png (+ color/<stem>_v<k>.png) and manifest.csv with one row per output (no figure: the
    folder is a dataset):
    output, color_output, source, operation, parts, seed, prior, scale, alpha, target, keep, radius, attribute, amount,
    hold, asked (the operation drawn), duplicate_of (input, or the variant it equals).
    The same seed gives the same files; a row reproduces through the Python API, e.g.
    `MaskEditor.generate(read_label_png(source), parts, seed=seed, prior=prior, keep=keep, radius=radius)`.

    Args:
        parts: the parts to draw from, by name, id or group ("nose,lips,eyes,brows,hair"); a group edits as one.
        operations: the operations to draw from: generate, perturb, swap, interpolate, steer, add, remove
            (swap / interpolate take another input of the same size as the target; steer draws one of the part's
            steerable attributes and an amount in [-2, 2] sd; a steer of a part without one, an add of a part the input
            has, or a remove of one it lacks, is a generate of it instead: the summary line counts them). An
            operation that applies to no input is refused.
        variants: variants per input.
        parts_per_variant: parts (or groups) edited together in one variant.
        seed: seed of the whole run (each variant's noise seed is drawn from it, the file name and its number).
        color: also write colourised PNGs under color/.
        workers: threads reading and writing PNGs.
        duplicates: a variant identical to its input or to another variant of it: keep it (marked in the manifest),
            redraw it (up to 4 times), or drop it.
        quiet: no progress bar (it shows only on a terminal).
    """
    ops = choices(operations, AUGMENT_OPERATIONS, "--operations")
    if isinstance(variants, bool) or variants < 1:
        raise UserError(f"--variants must be at least 1, got {variants}")
    check_seed(seed, "--seed")
    if duplicates not in ("keep", "redraw", "drop"):
        raise UserError(f"--duplicates: unknown '{duplicates}'; choose from keep, redraw, drop")
    paths = input_files(files.input)
    editor = model.editor()
    units = {editor.part_name(name): ids for name, ids in editor.part_units(parts).items()}
    if not 1 <= parts_per_variant <= len(units):
        raise UserError(f"--parts_per_variant must be in 1..{len(units)}, got {parts_per_variant}")
    template = edit.with_(prior=editor.resolve_prior(edit.prior))
    if "generate" in ops and template.prior == "data" and not editor.has_data_prior:
        raise UserError("--prior data: this checkpoint holds no data prior; use 'normal' or fit one")
    steerable, presence, has = {}, frozenset(), None
    if {"steer", "add", "remove"} & set(ops):
        steering = editor.require_steering(
            "augment --operations " + ",".join(sorted({"steer", "add", "remove"} & set(ops)))
        )
        steerable = {p: [k for k, d in a.items() if d.steerable] for p, a in steering.directions.items()}
        presence = frozenset(steering.presence)
    if {"steer", "add", "remove"} & set(ops):  # what each input holds decides whether they apply to it
        with ThreadPoolExecutor(max(1, workers)) as pool:
            has = list(pool.map(lambda f: frozenset(np.unique(read_label_png(f, editor.label_set)).tolist()), paths))
    planner = Planner(paths, [png_shape(f) for f in paths], ops, units, parts_per_variant, seed, template, steerable,
                      presence, has, editor.class_names)  # fmt: skip
    planner.check_applicable()
    plan = [planner.variant(i, v) for i in range(len(paths)) for v in range(variants)]
    started = time.perf_counter()
    with OutputFolder(files.out) as out:
        made = run_augment(editor, paths, plan, out.path, color, model.batch_size, workers, planner, duplicates,
                           progress=not quiet)  # fmt: skip
        rows = [variant_row(v, paths, color) for v in made]
        owned = [p for stem in {f.stem for f in paths} for p in owned_outputs(out.path, stem)]
        out.finish(rows, AUGMENT_FIELDS, owned)
    seconds = time.perf_counter() - started
    print(
        f"augment: {len(rows)} masks ({len(paths)} inputs x {variants} variants, keep={template.keep}) -> {out.path} in "
        f"{seconds:.1f} s: {len(rows) / seconds:.0f} masks/s on {editor.device}; {summary(made, plan, ops, duplicates)}"
    )


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


def variant_row(var: Variant, files: list[Path], color: bool) -> dict:
    name = output_name(files, var)
    target = files[var.target] if var.target is not None else None
    seed = var.edit.seed if var.edit.operation in ("generate", "perturb", "add") else None
    row = manifest_row(name, color, files[var.source], var.edit, ",".join(var.edit.parts), seed, target)
    return {**row, "asked": var.asked, "duplicate_of": var.duplicate_of}


def output_name(files: list[Path], var: Variant) -> str:
    return f"{files[var.source].stem}_v{var.number:02d}.png"


def owned_outputs(folder: Path, stem: str) -> list[Path]:
    """The files augment writes for an input stem (<stem>_v<k>.png and its colour copy), from any earlier run."""
    pattern = re.compile(rf"{re.escape(stem)}_v\d+\.png")
    found = []
    for where in (folder, folder / "color"):
        if where.is_dir():
            found += [p for p in where.iterdir() if pattern.fullmatch(p.name)]
    return found


def removed(editor: MaskEditor, var: Variant) -> list[int]:
    return editor.part_ids(var.edit.parts) if var.edit.operation == "remove" else []


Encoded = dict[int, tuple[torch.Tensor, torch.Tensor]]  # file index -> (mu (C, D), labels (H, W) on the device)


def encode(editor: MaskEditor, masks: dict[int, np.ndarray]) -> Encoded:
    """The encoder means of label maps, batched by size."""
    found: Encoded = {}
    order = list(masks)
    for idx in by_shape([masks[i] for i in order]).values():
        group = [order[k] for k in idx]
        labels, _ = editor.as_batch(np.stack([masks[i] for i in group]))
        found.update({i: (mu, lab) for i, mu, lab in zip(group, editor.encode(labels), labels)})
    return found


def render(editor: MaskEditor, variants: list[Variant], encoded: Encoded) -> list[np.ndarray]:
    """Each variant's (H, W) label map at its source's size: the editor's one dispatcher for the latents, one decode
    per source size (per variant where a seed or a removed class changes the decoding), then `keep`."""
    outs: list[np.ndarray | None] = [None] * len(variants)
    sizes: dict[tuple[int, ...], list[int]] = {}
    for k, var in enumerate(variants):
        sizes.setdefault(tuple(encoded[var.source][1].shape), []).append(k)
    for shape, ks in sizes.items():
        todo = [variants[k] for k in ks]
        z = torch.stack([
            editor.edit_latents(v.edit, encoded[v.source][0][None], None if v.target is None else encoded[v.target][0][None])[0]
            for v in todo
        ])  # (V, C, D)  # fmt: skip
        per_variant = editor.vae.config.lstm_init == "random" or any(v.edit.operation == "remove" for v in todo)
        edited = (
            torch.cat([editor.decode(z[j : j + 1], shape, v.edit.seed, removed(editor, v)) for j, v in enumerate(todo)])
            if per_variant
            else editor.decode(z, shape)
        )  # (V, H, W)
        for j, (k, var) in enumerate(zip(ks, todo)):
            mu, labels = encoded[var.source]
            outs[k] = editor.keep_outside(edited[j : j + 1], labels[None], mu[None], editor.part_ids(var.edit.parts),
                                          var.edit.keep, var.edit.radius)[0]  # fmt: skip
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


def run_augment(
    editor: MaskEditor,
    files: list[Path],
    plan: list[Variant],
    dest: Path,
    color: bool,
    batch_size: int,
    workers: int,
    planner: Planner,
    duplicates: Duplicates = "keep",
    progress: bool = False,
) -> list[Variant]:
    """Execute a plan chunk by chunk (batch_size sources each); PNG reads and writes run in threads. Returns the
    variants written (a redrawn one as drawn last), sorted by output name. `progress`: a bar over the variants on a
    terminal."""
    by_source: dict[int, list[Variant]] = {}
    for var in plan:
        by_source.setdefault(var.source, []).append(var)
    sources = sorted(by_source)
    written: list[Variant] = []
    pending: list[Future] = []
    with ThreadPoolExecutor(max(1, workers)) as pool, Progress(len(plan), "augment", enabled=progress) as bar:
        read: Callable[[int], np.ndarray] = lambda i: read_label_png(files[i], editor.label_set)  # noqa: E731
        for start in range(0, len(sources), batch_size):
            chunk = [v for s in sources[start : start + batch_size] for v in by_source[s]]
            needed = sorted({v.source for v in chunk} | {v.target for v in chunk if v.target is not None})
            masks = dict(zip(needed, pool.map(read, needed)))
            encoded = encode(editor, masks)
            images: dict[int, list[np.ndarray]] = {}
            for var, image in zip(chunk, render(editor, chunk, encoded)):
                images.setdefault(var.source, []).append(image)
            for s in sources[start : start + batch_size]:
                outs = images[s]
                variants = mark_duplicates(by_source[s], outs, masks[s], files)
                for attempt in range(1, MAX_REDRAWS + 1 if duplicates == "redraw" else 1):
                    again = [k for k, v in enumerate(variants) if v.duplicate_of]
                    if not again:
                        break
                    for k in again:
                        variants[k] = planner.variant(s, variants[k].number, attempt)
                    targets = {variants[k].target for k in again} - set(encoded) - {None}
                    encoded.update(encode(editor, {i: read(i) for i in targets}))
                    for k, image in zip(again, render(editor, [variants[k] for k in again], encoded)):
                        outs[k] = image
                    variants = mark_duplicates(variants, outs, masks[s], files)
                for var, image in zip(variants, outs):
                    if duplicates == "drop" and var.duplicate_of:
                        continue
                    pending.append(
                        pool.submit(write_pair, dest, output_name(files, var), image, editor.label_set, color)
                    )
                    written.append(var)
            bar.update(len(chunk))
        for future in pending:
            future.result()  # re-raise the first failed write
    return sorted(written, key=lambda v: output_name(files, v))
