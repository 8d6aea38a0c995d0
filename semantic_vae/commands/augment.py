"""`semantic-vae edit augment`: grow a mask dataset with N edited variants per input (`semantic_vae.edit.augment`
plans and edits them), written as label PNGs with a manifest whose every row reproduces through the Python API."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from semantic_vae.checks import check_seed
from semantic_vae.commands.files import MANIFEST_FIELDS, choices, input_files, manifest_row, write_pair
from semantic_vae.commands.options import Files, ModelOptions
from semantic_vae.console import Progress
from semantic_vae.data.io import png_shape, read_label_png
from semantic_vae.edit.augment import (
    AUGMENT_OPERATIONS,
    MAX_REDRAWS,
    Duplicates,
    Planner,
    Variant,
    mark_duplicates,
    output_name,
    render,
    summary,
)
from semantic_vae.edit.edit import DEFAULT_PARTS, REGISTRY, Template
from semantic_vae.edit.editor import MaskEditor
from semantic_vae.edit.operations import Generate, Perturb, Prior
from semantic_vae.edit.region import DEFAULT_KEEP, KEEP_RADIUS, Keep
from semantic_vae.errors import UserError
from semantic_vae.files import OutputFolder

AUGMENT_FIELDS = (*MANIFEST_FIELDS, "asked", "duplicate_of")  # the operation drawn; the mask a variant is identical to


def augment(
    model: ModelOptions,
    files: Files,
    parts: list[str] | str = DEFAULT_PARTS,
    operations: list[str] | str = "generate,perturb",
    variants: int = 4,
    parts_per_variant: int = 1,
    seed: int = 0,
    color: bool = True,
    workers: int = 4,
    duplicates: Duplicates = "keep",
    quiet: bool = False,
    scale: float = Perturb.scale,
    prior: Prior | None = Generate.prior,
    keep: Keep = DEFAULT_KEEP,
    radius: int = KEEP_RADIUS,
) -> None:
    """Grow a mask dataset: N edited variants per input over the chosen parts and operations.

    Writes <stem>_v<k>.png (+ color/<stem>_v<k>.png) and manifest.csv with one row per output (no figure: the
    folder is a dataset):
    output, color_output, source, operation, parts, seed, prior, scale, alpha, target, keep, radius, attribute, amount,
    hold, asked (the operation drawn), duplicate_of (input, or the variant it equals).
    The same seed gives the same files; a row reproduces through the Python API, e.g.
    `MaskEditor.generate(read_label_png(source), parts, seed=seed, prior=prior, keep=keep, radius=radius)`.

    Args:
        parts: the parts to draw from, by name, id or group, a list or a comma list ("nose,lips,eyes,brows,hair"); a
            group edits as one.
        operations: the operations to draw from (a list or a comma list): generate, perturb, swap, interpolate, steer,
            add, remove
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
        scale, prior, keep, radius: the settings of the variants that take them (`semantic_vae.edit.operations`).
    """
    template = Template(scale=scale, prior=prior, keep=keep, radius=radius)
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
    template = Template(**{**template.given, "prior": editor.resolve_prior(template.prior)})
    takes_prior = any("prior" in REGISTRY[op].setting_names() for op in ops)
    if takes_prior and template.prior == "data" and not editor.has_data_prior:
        raise UserError("--prior data: this checkpoint holds no data prior; use 'normal' or fit one")
    steerable, presence, has = {}, frozenset(), None
    steered = sorted(op for op in ops if REGISTRY[op].uses_steering)
    if steered:
        steering = editor.require_steering("augment --operations " + ",".join(steered))
        steerable = {p: [k for k, d in a.items() if d.steerable] for p, a in steering.directions.items()}
        presence = frozenset(steering.presence)
        # what each input holds decides whether they apply to it
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


def variant_row(var: Variant, files: list[Path], color: bool) -> dict:
    name = output_name(files, var)
    target = files[var.target] if var.target is not None else None
    row = manifest_row(name, color, files[var.source], var.edit, None, target)
    return {**row, "asked": var.asked, "duplicate_of": var.duplicate_of}


def owned_outputs(folder: Path, stem: str) -> list[Path]:
    """The files augment writes for an input stem (<stem>_v<k>.png and its colour copy), from any earlier run."""
    pattern = re.compile(rf"{re.escape(stem)}_v\d+\.png")
    found = []
    for where in (folder, folder / "color"):
        if where.is_dir():
            found += [p for p in where.iterdir() if pattern.fullmatch(p.name)]
    return found


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
            images: dict[int, list[np.ndarray]] = {}
            for var, image in zip(chunk, render(editor, chunk, masks)):
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
                    targets = {variants[k].target for k in again} - set(masks) - {None}
                    masks.update({i: read(i) for i in targets})
                    for k, image in zip(again, render(editor, [variants[k] for k in again], masks)):
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
