"""`semantic-vae edit augment`: grow a mask dataset with N edited variants per input, traceable
through a manifest (every row reproduces through the Python API)."""

from __future__ import annotations

import csv
import io
import time
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from semantic_vae.data.io import png_shape, read_label_png
from semantic_vae.edit import latent
from semantic_vae.edit.editor import MaskEditor, PartSpec
from semantic_vae.edit.io import by_shape, input_files, out_dir, split_list, write_pair
from semantic_vae.errors import UserError
from semantic_vae.files import write_text_atomic

AUGMENT_OPERATIONS = ("generate", "perturb", "swap", "interpolate")
AUGMENT_PARTS = "nose,mouth,u_lip,l_lip,l_eye,r_eye,l_brow,r_brow,hair"
MANIFEST_FIELDS = ("output", "color_output", "source", "operation", "parts", "seed", "scale", "alpha", "target")


@dataclass(frozen=True)
class Variant:
    """One augmented mask: what to do to which source; every field is in the manifest."""

    source: int  # index into the sorted input files
    number: int  # variant number of that source
    operation: str
    parts: tuple[int, ...]
    seed: int  # noise seed (generate, perturb); reproduces with MaskEditor.<op>(mask, parts, seed=seed)
    target: int | None = None  # index of the target file (swap, interpolate)
    alpha: float | None = None  # interpolate


def plan_variants(files: list[Path], shapes: list[tuple[int, int] | None], variants: int, operations: list[str],
                  part_ids: list[int], parts_per_variant: int, seed: int) -> list[Variant]:
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
            chosen = tuple(int(p) for p in rng.choice(part_ids, size=parts_per_variant, replace=False))
            noise_seed = int(rng.integers(0, 2**31 - 1))
            target = alpha = None
            if op in ("swap", "interpolate"):
                if not partners:
                    raise UserError(f"{f}: {op} needs another input of the same size as a target")
                target = partners[int(rng.integers(len(partners)))]
                alpha = 1.0 if op == "swap" else round(float(rng.uniform(0.25, 1.0)), 3)
            plan.append(Variant(i, v, op, chosen, noise_seed, target, alpha))
    return plan


def variant_latents(editor: MaskEditor, plan: list[Variant], mu: dict[int, torch.Tensor], scale: float) -> torch.Tensor:
    """(V, C, D) edited embeddings, computed exactly as the MaskEditor methods compute them."""
    rows = []
    for var in plan:
        z = mu[var.source][None]  # (1, C, D)
        if var.operation in ("generate", "perturb"):
            noise = latent.part_noise(1, len(var.parts), editor.latent_dim, [var.seed])
            if var.operation == "generate":
                z = latent.generate_parts(z, var.parts, noise)
            else:
                z = latent.perturb_parts(z, var.parts, noise, scale)
        else:
            z = latent.interpolate_parts(z, mu[var.target][None], var.parts, float(var.alpha))
        rows.append(z[0])
    return torch.stack(rows)


def augment(ckpt: str, input: str, out: str, parts: PartSpec = AUGMENT_PARTS, operations: str | list[str] = "generate,perturb",
            variants: int = 4, parts_per_variant: int = 1, scale: float = 1.0, seed: int = 0, color: bool = True,
            device: str | None = None, batch_size: int = 64, workers: int = 4) -> None:
    """Grow a mask dataset: N edited variants per input over the chosen parts and operations.

    Writes <stem>_v<k>.png (+ color/<stem>_v<k>.png) and manifest.csv with one row per output:
    output, color_output, source, operation, parts, seed, scale, alpha, target. The same seed
    gives the same files; a row reproduces through the Python API, e.g.
    `MaskEditor.generate(read_label_png(source), parts, seed=seed)`.

    Args:
        ckpt: a Semantic-VAE checkpoint (.ckpt from `semantic-vae fit`).
        input: a label PNG or a folder of them.
        out: output folder.
        parts: the parts to draw from, by name or id ("nose,mouth,hair").
        operations: the operations to draw from: generate, perturb, swap, interpolate
            (swap / interpolate take another input of the same size as the target).
        variants: variants per input.
        parts_per_variant: parts edited together in one variant.
        scale: noise scale of perturb.
        seed: seed of the whole run.
        color: also write colourised PNGs under color/.
        device: cpu, cuda, cuda:1, ...; default: CUDA when available.
        batch_size: source masks per step (each gives `variants` outputs).
        workers: threads reading and writing PNGs.
    """
    ops = split_list(operations)
    unknown = [op for op in ops if op not in AUGMENT_OPERATIONS]
    if unknown or not ops:
        raise UserError(f"--operations: unknown '{','.join(unknown)}'; choose from {', '.join(AUGMENT_OPERATIONS)}")
    if variants < 1:
        raise UserError(f"--variants must be at least 1, got {variants}")
    files = input_files(input)
    editor = MaskEditor.from_checkpoint(ckpt, device=device, batch_size=batch_size)
    part_ids = editor.part_ids(parts)
    if not 1 <= parts_per_variant <= len(part_ids):
        raise UserError(f"--parts_per_variant must be in 1..{len(part_ids)}, got {parts_per_variant}")
    dest = out_dir(out)
    plan = plan_variants(files, [png_shape(f) for f in files], variants, ops, part_ids, parts_per_variant, seed)
    started = time.perf_counter()
    rows = run_augment(editor, files, plan, dest, scale, color, batch_size, workers)
    seconds = time.perf_counter() - started
    write_manifest(dest / "manifest.csv", rows)
    print(
        f"augment: {len(rows)} masks ({len(files)} inputs x {variants} variants, {', '.join(ops)}) -> {dest} "
        f"in {seconds:.1f} s: {len(rows) / seconds:.0f} masks/s on {editor.device}"
    )


def run_augment(editor: MaskEditor, files: list[Path], plan: list[Variant], dest: Path, scale: float,
                color: bool, batch_size: int, workers: int) -> list[dict]:
    """Execute a plan chunk by chunk (batch_size sources each); PNG reads and writes run in threads."""
    by_source: dict[int, list[Variant]] = {}
    for var in plan:
        by_source.setdefault(var.source, []).append(var)
    sources = sorted(by_source)
    rows: list[dict] = []
    pending: list[Future] = []
    names = [editor.class_names[i] for i in range(editor.num_classes)]
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
                edited = editor.decode(variant_latents(editor, todo, mu, scale), shape).cpu().numpy()  # (V, H, W)
                for var, labels_out in zip(todo, edited):
                    name = f"{files[var.source].stem}_v{var.number:02d}.png"
                    pending.append(pool.submit(write_pair, dest, name, labels_out, editor.label_set, color))
                    rows.append({
                        "output": name,
                        "color_output": f"color/{name}" if color else "",
                        "source": str(files[var.source]),
                        "operation": var.operation,
                        "parts": ",".join(names[p] for p in var.parts),
                        "seed": var.seed if var.operation in ("generate", "perturb") else "",
                        "scale": scale if var.operation == "perturb" else "",
                        "alpha": var.alpha if var.operation == "interpolate" else "",
                        "target": str(files[var.target]) if var.target is not None else "",
                    })
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
