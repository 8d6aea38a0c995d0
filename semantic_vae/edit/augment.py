"""`semantic-vae edit augment`: grow a mask dataset with N edited variants per input, traceable
through a manifest (every row reproduces through the Python API)."""

from __future__ import annotations

import csv
import io
import math
import time
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from semantic_vae.data.io import png_shape, read_label_png
from semantic_vae.edit import latent
from semantic_vae.edit.editor import KEEP_RADIUS, MaskEditor, PartSpec, Prior, part_units
from semantic_vae.edit.io import by_shape, choices, input_files, out_dir, write_pair
from semantic_vae.edit.region import Keep
from semantic_vae.errors import UserError
from semantic_vae.files import write_text_atomic

AUGMENT_OPERATIONS = ("generate", "perturb", "swap", "interpolate")
AUGMENT_PARTS = "nose,lips,eyes,brows,hair"
MANIFEST_FIELDS = (
    "output", "color_output", "source", "operation", "parts", "seed", "prior", "scale", "alpha", "target", "keep",
    "radius",
)  # fmt: skip


@dataclass(frozen=True)
class Variant:
    """One augmented mask: what to do to which source; every field is in the manifest."""

    source: int  # index into the sorted input files
    number: int  # variant number of that source
    operation: str
    units: tuple[str, ...]  # the part units edited together ("nose", "lips"), as `MaskEditor.part_ids` reads them
    parts: tuple[int, ...]  # their class ids
    seed: int  # noise seed (generate, perturb); reproduces with MaskEditor.<op>(mask, parts, seed=seed)
    target: int | None = None  # index of the target file (swap, interpolate)
    alpha: float | None = None  # interpolate


def plan_variants(
    files: list[Path],
    shapes: list[tuple[int, int] | None],
    variants: int,
    operations: list[str],
    units: dict[str, list[int]],
    parts_per_variant: int,
    seed: int,
) -> list[Variant]:
    """Every variant's operation, parts, noise seed and target, from (seed, file name, variant number) alone.

    A file's variants do not depend on the other files (except the choice of swap/interpolate
    targets, drawn among the other inputs of the same size).
    """
    plan = []
    for i, f in enumerate(files):
        partners = [j for j, s in enumerate(shapes) if j != i and s == shapes[i]]
        for v in range(variants):
            rng = np.random.default_rng([seed, zlib.crc32(f.name.encode()), v])
            op = operations[int(rng.integers(len(operations)))]
            picked = rng.choice(len(units), size=parts_per_variant, replace=False)
            chosen = tuple(name for k, name in enumerate(units) if k in set(picked.tolist()))
            ids = tuple(dict.fromkeys(i for name in chosen for i in units[name]))
            noise_seed = int(rng.integers(0, 2**31 - 1))
            target = alpha = None
            if op in ("swap", "interpolate"):
                if not partners:
                    raise UserError(f"{f}: {op} needs another input of the same size as a target")
                target = partners[int(rng.integers(len(partners)))]
                alpha = 1.0 if op == "swap" else round(float(rng.uniform(0.25, 1.0)), 3)
            plan.append(Variant(i, v, op, chosen, ids, noise_seed, target, alpha))
    return plan


def variant_latents(
    editor: MaskEditor, plan: list[Variant], mu: dict[int, torch.Tensor], scale: float, prior: Prior
) -> torch.Tensor:
    """(V, C, D) edited embeddings, computed exactly as the MaskEditor methods compute them."""
    rows = []
    for var in plan:
        z = mu[var.source][None]  # (1, C, D)
        if var.operation in ("generate", "perturb"):
            noise = editor.part_noise(
                1, list(var.parts), [var.seed], prior if var.operation == "generate" else "normal"
            )
            if var.operation == "generate":
                z = latent.generate_parts(z, var.parts, noise)
            else:
                z = latent.perturb_parts(z, var.parts, noise, scale)
        else:
            z = latent.interpolate_parts(z, mu[var.target][None], var.parts, float(var.alpha))
        rows.append(z[0])
    return torch.stack(rows)


def augment(
    ckpt: str,
    input: str,
    out: str,
    parts: PartSpec = AUGMENT_PARTS,
    operations: str | list[str] = "generate,perturb",
    variants: int = 4,
    parts_per_variant: int = 1,
    scale: float = 1.0,
    prior: Prior | None = None,
    keep: Keep = "input",
    radius: int = KEEP_RADIUS,
    seed: int = 0,
    color: bool = True,
    device: str | None = None,
    batch_size: int = 64,
    workers: int = 4,
) -> None:
    """Grow a mask dataset: N edited variants per input over the chosen parts and operations.

    Writes <stem>_v<k>.png (+ color/<stem>_v<k>.png) and manifest.csv with one row per output:
    output, color_output, source, operation, parts, seed, prior, scale, alpha, target, keep, radius.
    The same seed gives the same files; a row reproduces through the Python API, e.g.
    `MaskEditor.generate(read_label_png(source), parts, seed=seed, prior=prior, keep=keep, radius=radius)`.

    Args:
        ckpt: a Semantic-VAE checkpoint (.ckpt from `semantic-vae fit`).
        input: a label PNG or a folder of them.
        out: output folder.
        parts: the parts to draw from, by name, id or group ("nose,lips,eyes,brows,hair"); a group edits as one.
        operations: the operations to draw from: generate, perturb, swap, interpolate
            (swap / interpolate take another input of the same size as the target).
        variants: variants per input.
        parts_per_variant: parts (or groups) edited together in one variant.
        scale: noise scale of perturb.
        prior: generate from "normal" (N(0, I)) or "data" (the fitted per-part Gaussian); default: "data" when the
            checkpoint holds one, else "normal".
        keep: outside the parts' neighbourhood keep the "input", the "reconstruction", or "none" (the raw model output).
        radius: the neighbourhood's width in the model's pixels (scaled to the input's size).
        seed: seed of the whole run.
        color: also write colourised PNGs under color/.
        device: cpu, cuda, cuda:1, ...; default: CUDA when available.
        batch_size: source masks per step (each gives `variants` outputs).
        workers: threads reading and writing PNGs.
    """
    ops = choices(operations, AUGMENT_OPERATIONS, "--operations")
    if variants < 1:
        raise UserError(f"--variants must be at least 1, got {variants}")
    if not math.isfinite(scale):
        raise UserError(f"--scale must be a finite number, got {scale}")
    MaskEditor.check_options(keep, radius)
    MaskEditor.check_seed(seed)
    files = input_files(input)
    editor = MaskEditor.from_checkpoint(ckpt, device=device, batch_size=batch_size)
    units = part_units(editor, parts)
    if not 1 <= parts_per_variant <= len(units):
        raise UserError(f"--parts_per_variant must be in 1..{len(units)}, got {parts_per_variant}")
    prior = editor.resolve_prior(prior)
    if "generate" in ops:
        editor.part_noise(1, units[next(iter(units))], 0, prior)  # an unusable prior fails before any output
    dest = out_dir(out)
    plan = plan_variants(files, [png_shape(f) for f in files], variants, ops, units, parts_per_variant, seed)
    started = time.perf_counter()
    options = EditOptions(scale, prior, keep, radius)
    rows = run_augment(editor, files, plan, dest, options, color, batch_size, workers)
    seconds = time.perf_counter() - started
    write_manifest(dest / "manifest.csv", rows)
    print(
        f"augment: {len(rows)} masks ({len(files)} inputs x {variants} variants, {', '.join(ops)}, keep={keep}) "
        f"-> {dest} in {seconds:.1f} s: {len(rows) / seconds:.0f} masks/s on {editor.device}"
    )


@dataclass(frozen=True)
class EditOptions:
    """The settings every variant of an augment run shares (in the manifest)."""

    scale: float
    prior: Prior
    keep: Keep
    radius: int


def manifest_row(var: Variant, name: str, files: list[Path], options: EditOptions, color: bool) -> dict:
    random = var.operation in ("generate", "perturb")
    return {
        "output": name,
        "color_output": f"color/{name}" if color else "",
        "source": str(files[var.source]),
        "operation": var.operation,
        "parts": ",".join(var.units),
        "seed": var.seed if random else "",
        "prior": options.prior if var.operation == "generate" else "",
        "scale": options.scale if var.operation == "perturb" else "",
        "alpha": var.alpha if var.operation == "interpolate" else "",
        "target": str(files[var.target]) if var.target is not None else "",
        "keep": options.keep,
        "radius": options.radius if options.keep != "none" else "",
    }


def run_augment(
    editor: MaskEditor,
    files: list[Path],
    plan: list[Variant],
    dest: Path,
    options: EditOptions,
    color: bool,
    batch_size: int,
    workers: int,
) -> list[dict]:
    """Execute a plan chunk by chunk (batch_size sources each); PNG reads and writes run in threads."""
    by_source: dict[int, list[Variant]] = {}
    for var in plan:
        by_source.setdefault(var.source, []).append(var)
    sources = sorted(by_source)
    rows: list[dict] = []
    pending: list[Future] = []
    with ThreadPoolExecutor(max(1, workers)) as pool:
        for start in range(0, len(sources), batch_size):
            chunk = [v for s in sources[start : start + batch_size] for v in by_source[s]]
            needed = sorted({v.source for v in chunk} | {v.target for v in chunk if v.target is not None})
            masks = dict(zip(needed, pool.map(lambda i: read_label_png(files[i], editor.label_set), needed)))
            for shape, idx in by_shape([masks[i] for i in needed]).items():
                group = [needed[k] for k in idx]
                labels, _ = editor.as_batch(np.stack([masks[i] for i in group]))
                mu = dict(zip(group, editor.encode(labels)))  # each (C, D)
                todo = [v for v in chunk if v.source in mu]
                z = variant_latents(editor, todo, mu, options.scale, options.prior)
                edited = editor.decode(z, shape)  # (V, H, W)
                sources_of = [group.index(v.source) for v in todo]
                for k, var in enumerate(todo):
                    out = editor.keep_outside(edited[k : k + 1], labels[sources_of[k] : sources_of[k] + 1],
                                              mu[var.source][None], list(var.parts), options.keep, options.radius)[0]  # fmt: skip
                    name = f"{files[var.source].stem}_v{var.number:02d}.png"
                    pending.append(pool.submit(write_pair, dest, name, out, editor.label_set, color))
                    rows.append(manifest_row(var, name, files, options, color))
        for future in pending:
            future.result()  # re-raise the first failed write
    rows.sort(key=lambda r: r["output"])
    return rows


def write_manifest(path: Path, rows: list[dict]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=MANIFEST_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(path, buffer.getvalue())
