"""`semantic-vae edit augment`: grow a mask dataset with N edited variants per input, traceable
through a manifest (every row reproduces through the Python API)."""

from __future__ import annotations

import re
import time
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

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


@dataclass(frozen=True)
class Variant:
    """One augmented mask: which source, which edit (with its noise seed), which target; all in the manifest."""

    source: int  # index into the sorted input files
    number: int  # variant number of that source
    edit: Edit
    target: int | None = None  # index of the target file (swap, interpolate)


def plan_variants(
    files: list[Path],
    shapes: list[tuple[int, int] | None],
    variants: int,
    operations: list[str],
    units: list[str],
    parts_per_variant: int,
    seed: int,
    template: Edit,
    steerable: dict[str, list[str]] | None = None,
) -> list[Variant]:
    """Every variant's operation, parts, noise seed and target, from (seed, file name, variant number) alone.

    A file's variants do not depend on the other files (except the choice of swap/interpolate
    targets, drawn among the other inputs of the same size). A steer variant draws one of its part's steerable
    attributes (`steerable`) and an amount in [-2, 2]; a part without one is generated instead.
    """
    plan = []
    for i, f in enumerate(files):
        partners = [j for j, s in enumerate(shapes) if j != i and s == shapes[i]]
        for v in range(variants):
            rng = np.random.default_rng([seed, zlib.crc32(f.name.encode()), v])
            op = operations[int(rng.integers(len(operations)))]
            picked = set(rng.choice(len(units), size=parts_per_variant, replace=False).tolist())
            chosen = tuple(name for k, name in enumerate(units) if k in picked)
            noise_seed = int(rng.integers(0, VARIANT_SEED_RANGE))
            target, alpha = None, template.alpha
            if op in ("swap", "interpolate"):
                if not partners:
                    raise UserError(f"{f}: {op} needs another input of the same size as a target")
                target = partners[int(rng.integers(len(partners)))]
                alpha = 1.0 if op == "swap" else round(float(rng.uniform(0.25, 1.0)), 3)
            settings: dict = {}
            if op == "steer":
                attributes = (steerable or {}).get(chosen[0], []) if len(chosen) == 1 else []
                if attributes:
                    attribute = attributes[int(rng.integers(len(attributes)))]
                    amount = round(float(rng.uniform(-STEER_RANGE, STEER_RANGE)), 2)
                    settings = {"attribute": attribute, "amount": amount}
                else:
                    op = "generate"
            edit = template.with_(operation=op, parts=chosen, seed=noise_seed, alpha=alpha, **settings)
            plan.append(Variant(i, v, edit, target))
    return plan


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
    quiet: bool = False,
) -> None:
    """Grow a mask dataset: N edited variants per input over the chosen parts and operations.

    Writes <stem>_v<k>.png (+ color/<stem>_v<k>.png) and manifest.csv with one row per output (no figure: the
    folder is a dataset):
    output, color_output, source, operation, parts, seed, prior, scale, alpha, target, keep, radius.
    The same seed gives the same files; a row reproduces through the Python API, e.g.
    `MaskEditor.generate(read_label_png(source), parts, seed=seed, prior=prior, keep=keep, radius=radius)`.

    Args:
        parts: the parts to draw from, by name, id or group ("nose,lips,eyes,brows,hair"); a group edits as one.
        operations: the operations to draw from: generate, perturb, swap, interpolate, steer, add, remove
            (swap / interpolate take another input of the same size as the target; steer draws one of the part's
            steerable attributes and an amount in [-2, 2] sd; an add of a part the input has, or a remove of one
            it lacks, is a generate of it instead).
        variants: variants per input.
        parts_per_variant: parts (or groups) edited together in one variant.
        seed: seed of the whole run (each variant's noise seed is drawn from it, the file name and its number).
        color: also write colourised PNGs under color/.
        workers: threads reading and writing PNGs.
        quiet: no progress bar (it shows only on a terminal).
    """
    ops = choices(operations, AUGMENT_OPERATIONS, "--operations")
    if isinstance(variants, bool) or variants < 1:
        raise UserError(f"--variants must be at least 1, got {variants}")
    check_seed(seed, "--seed")
    paths = input_files(files.input)
    editor = model.editor()
    units = list(editor.part_units(parts))
    if not 1 <= parts_per_variant <= len(units):
        raise UserError(f"--parts_per_variant must be in 1..{len(units)}, got {parts_per_variant}")
    template = edit.with_(prior=editor.resolve_prior(edit.prior))
    if "generate" in ops and template.prior == "data" and not editor.has_data_prior:
        raise UserError("--prior data: this checkpoint holds no data prior; use 'normal' or fit one")
    steerable = None
    if {"steer", "add", "remove"} & set(ops):
        steering = editor.require_steering(
            "augment --operations " + ",".join(sorted({"steer", "add", "remove"} & set(ops)))
        )
        steerable = {p: [k for k, d in a.items() if d.steerable] for p, a in steering.directions.items()}
    plan = plan_variants(paths, [png_shape(f) for f in paths], variants, ops, units, parts_per_variant, seed, template,
                         steerable)  # fmt: skip
    started = time.perf_counter()
    with OutputFolder(files.out) as out:
        rows = run_augment(editor, paths, plan, out.path, color, model.batch_size, workers, progress=not quiet)
        owned = [p for stem in {f.stem for f in paths} for p in owned_outputs(out.path, stem)]
        out.finish(rows, MANIFEST_FIELDS, owned)
    seconds = time.perf_counter() - started
    print(
        f"augment: {len(rows)} masks ({len(paths)} inputs x {variants} variants, {', '.join(ops)}, "
        f"keep={template.keep}) -> {out.path} in {seconds:.1f} s: {len(rows) / seconds:.0f} masks/s on {editor.device}"
    )


def owned_outputs(folder: Path, stem: str) -> list[Path]:
    """The files augment writes for an input stem (<stem>_v<k>.png and its colour copy), from any earlier run."""
    pattern = re.compile(rf"{re.escape(stem)}_v\d+\.png")
    found = []
    for where in (folder, folder / "color"):
        if where.is_dir():
            found += [p for p in where.iterdir() if pattern.fullmatch(p.name)]
    return found


def applicable(editor: MaskEditor, var: Variant, mask: np.ndarray) -> Variant:
    """An add of a part the source has, or a remove of one it lacks, becomes a generate of that part (same seed)."""
    if var.edit.operation not in ("add", "remove"):
        return var
    ids = editor.part_ids(var.edit.parts)
    has = all((mask == c).any() for c in ids)
    capable = editor.steering is not None and all(c in editor.steering.presence for c in ids)
    if capable and has == (var.edit.operation == "remove"):
        return var
    return Variant(var.source, var.number, var.edit.with_(operation="generate"), var.target)


def removed(editor: MaskEditor, var: Variant) -> list[int]:
    return editor.part_ids(var.edit.parts) if var.edit.operation == "remove" else []


def run_augment(
    editor: MaskEditor,
    files: list[Path],
    plan: list[Variant],
    dest: Path,
    color: bool,
    batch_size: int,
    workers: int,
    progress: bool = False,
) -> list[dict]:
    """Execute a plan chunk by chunk (batch_size sources each); PNG reads and writes run in threads; the manifest
    rows, sorted by output. `progress`: a bar over the variants on a terminal."""
    by_source: dict[int, list[Variant]] = {}
    for var in plan:
        by_source.setdefault(var.source, []).append(var)
    sources = sorted(by_source)
    rows: list[dict] = []
    pending: list[Future] = []
    with ThreadPoolExecutor(max(1, workers)) as pool, Progress(len(plan), "augment", enabled=progress) as bar:
        for start in range(0, len(sources), batch_size):
            chunk = [v for s in sources[start : start + batch_size] for v in by_source[s]]
            needed = sorted({v.source for v in chunk} | {v.target for v in chunk if v.target is not None})
            masks = dict(zip(needed, pool.map(lambda i: read_label_png(files[i], editor.label_set), needed)))
            for shape, idx in by_shape([masks[i] for i in needed]).items():
                group = [needed[k] for k in idx]
                labels, _ = editor.as_batch(np.stack([masks[i] for i in group]))
                mu = dict(zip(group, editor.encode(labels)))  # each (C, D)
                todo = [applicable(editor, v, masks[v.source]) for v in chunk if v.source in mu]
                z = torch.stack(
                    [
                        editor.edit_latents(
                            v.edit, mu[v.source][None], None if v.target is None else mu[v.target][None]
                        )[0]
                        for v in todo
                    ]
                )  # (V, C, D): the editor's one dispatcher
                per_variant = editor.vae.config.lstm_init == "random" or any(v.edit.operation == "remove" for v in todo)
                edited = (  # one decode per variant where a seed or a removed class changes the decoding
                    torch.cat(
                        [
                            editor.decode(z[k : k + 1], shape, v.edit.seed, removed(editor, v))
                            for k, v in enumerate(todo)
                        ]
                    )
                    if per_variant
                    else editor.decode(z, shape)
                )  # (V, H, W)
                for k, var in enumerate(todo):
                    at = group.index(var.source)
                    out = editor.keep_outside(edited[k : k + 1], labels[at : at + 1], mu[var.source][None],
                                              editor.part_ids(var.edit.parts), var.edit.keep, var.edit.radius)[0]  # fmt: skip
                    name = f"{files[var.source].stem}_v{var.number:02d}.png"
                    pending.append(pool.submit(write_pair, dest, name, out, editor.label_set, color))
                    target = files[var.target] if var.target is not None else None
                    seed = var.edit.seed if var.edit.operation in ("generate", "perturb", "add") else None
                    rows.append(
                        manifest_row(name, color, files[var.source], var.edit, ",".join(var.edit.parts), seed, target)
                    )
            bar.update(len(chunk))
        for future in pending:
            future.result()  # re-raise the first failed write
    rows.sort(key=lambda r: r["output"])
    return rows
