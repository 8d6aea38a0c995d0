"""`semantic-vae edit ...` and `semantic-vae evaluate-edits`: typed functions that jsonargparse.CLI exposes.

Output layout of every edit command (`--out DIR`):

    DIR/<name>.png          label PNG, mode L, values 0..C-1, the input's size (what SEAN / CA2-SIS read)
    DIR/color/<name>.png    the same labels in the label set's colours (RGB)
    DIR/fig3_<parts>.png    generate, perturb: paper Fig. 3 (rows input / reconstruction / generation / perturbation)
    DIR/fig5_<parts>.png    interpolate: paper Fig. 5 (a row per pair: source, alpha = 0 .. 1, target)
    DIR/fig_swap_<parts>.png, DIR/fig_reconstruct.png: rows source / target / result, input / reconstruction
    DIR/manifest.csv        augment: one row per output (source, operation, parts, seed, ...)

Inputs are a label PNG or a folder of them (grayscale ids or colourised); files are taken in
sorted order, and file i is edited with seed `seed + i`, so a file's result does not depend on
how the folder is batched. Bad input raises `DataError` (one line, exit code 2 from the CLI).
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from semantic_vae.data.io import png_shape, read_label_png, resize_labels, write_color_png, write_label_png
from semantic_vae.edit import MaskEditor, draw_noise
from semantic_vae.edit_metrics import OPERATIONS, evaluate_editor, format_table
from semantic_vae.errors import DataError
from semantic_vae.labels import LabelSet
from semantic_vae.viz import rows_grid, save_rgb_png

FIGURE_COLUMNS = 8  # masks per figure row
AUGMENT_OPERATIONS = ("generate", "perturb", "swap", "interpolate")
AUGMENT_PARTS = "nose,mouth,u_lip,l_lip,l_eye,r_eye,l_brow,r_brow,hair"
EVAL_PARTS = "nose,mouth,l_eye,l_brow,hair"
HELDOUT_START = 10_000_000  # synthetic masks from this index on are never in a training split
MANIFEST_FIELDS = ("output", "color_output", "source", "operation", "parts", "seed", "scale", "alpha", "target")

Parts = str | list[str]


# -- files ------------------------------------------------------------------------------
def input_files(path: str, what: str = "input") -> list[Path]:
    """A PNG file, or the sorted PNGs of a folder; a DataError when there are none."""
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.glob("*.png") if f.is_file())
        if not files:
            raise DataError(f"--{what} {p}: no PNG files in the folder")
        return files
    if not p.exists():
        raise DataError(f"--{what} {p}: no such file or folder")
    return [p]


def read_masks(files: Sequence[Path], label_set: LabelSet) -> list[np.ndarray]:
    """(H, W) uint8 label maps in the model's label set; a file with other values is a DataError naming it."""
    return [read_label_png(f, label_set) for f in files]


def out_dir(path: str) -> Path:
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise DataError(f"--out {p}: exists and is not a folder")
    p.mkdir(parents=True, exist_ok=True)
    return p


def write_pair(out: Path, name: str, labels: np.ndarray, label_set: LabelSet, color: bool = True) -> Path:
    """The label PNG at out/name and, if `color`, its colourised copy at out/color/name."""
    path = out / name
    write_label_png(path, labels)
    if color:
        write_color_png(out / "color" / name, labels, label_set)
    return path


def parts_slug(editor: MaskEditor, parts: Parts) -> str:
    return "-".join(editor.class_names[i] for i in editor.part_ids(parts))


def pair_targets(sources: list[Path], targets: list[Path]) -> list[Path]:
    """One target per source: a single target serves all, otherwise sorted order pairs them."""
    if len(targets) == 1:
        return targets * len(sources)
    if len(targets) != len(sources):
        raise DataError(f"--target has {len(targets)} PNGs for {len(sources)} inputs; give 1 or {len(sources)}")
    return targets


def check_sizes(sources: list[Path], targets: list[Path], src: list[np.ndarray], tgt: list[np.ndarray]) -> None:
    for s_path, t_path, s, t in zip(sources, targets, src, tgt):
        if s.shape != t.shape:
            raise DataError(
                f"{s_path}: size {s.shape[0]}x{s.shape[1]} differs from its target {t_path} "
                f"({t.shape[0]}x{t.shape[1]}); interpolate and swap need masks of one size"
            )


# -- running the editor on masks of mixed sizes -------------------------------------------
def by_shape(masks: Sequence[np.ndarray]) -> dict[tuple[int, ...], list[int]]:
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, m in enumerate(masks):
        groups.setdefault(m.shape, []).append(i)
    return groups


def run_grouped(masks: Sequence[np.ndarray], fn: Callable[[np.ndarray, list[int]], np.ndarray], axis: int = 0) -> list[np.ndarray]:
    """fn(batch (b, H, W), indices) per group of equal-size masks; results back in input order.

    `axis` is the batch axis of fn's result (1 for interpolate's (A, b, H, W)).
    """
    out: list[np.ndarray | None] = [None] * len(masks)
    for shape, idx in by_shape(masks).items():
        result = fn(np.stack([masks[i] for i in idx]), idx)
        for j, i in enumerate(idx):
            out[i] = np.take(result, j, axis=axis)
    return out  # type: ignore[return-value]


# -- figures ----------------------------------------------------------------------------
def figure_side(editor: MaskEditor) -> int:
    """Cell side of the figures: the model's size, at least 128 px so small models stay legible."""
    return max(editor.image_size, 128)


def save_figure(path: Path, rows: Sequence[Sequence[np.ndarray]], editor: MaskEditor) -> Path:
    """Rows of label maps of any size -> one colourised grid (cells resized with nearest)."""
    side = figure_side(editor)
    cells = [[resize_labels(np.asarray(m), side) for m in row] for row in rows]
    return save_rgb_png(path, rows_grid(cells, editor.label_set))


def fig3_rows(editor: MaskEditor, masks: list[np.ndarray], parts: Parts, seed: int, scale: float) -> list[list[np.ndarray]]:
    """Paper Fig. 3: rows input / reconstruction / generation / perturbation, a column per mask (seed + i)."""
    masks = masks[:FIGURE_COLUMNS]
    recon = run_grouped(masks, lambda b, idx: editor.reconstruct(b))
    gen = run_grouped(masks, lambda b, idx: editor.generate(b, parts, seed=[seed + i for i in idx]))
    pert = run_grouped(masks, lambda b, idx: editor.perturb(b, parts, scale=scale, seed=[seed + i for i in idx]))
    return [list(masks), recon, gen, pert]


def fig5_rows(sources: list[np.ndarray], targets: list[np.ndarray], steps: list[np.ndarray]) -> list[list[np.ndarray]]:
    """Paper Fig. 5: a row per pair: source, alpha = 0 .. 1, target."""
    return [[s, *path, t] for s, t, path in zip(sources, targets, steps)][:FIGURE_COLUMNS]


# -- edit commands ----------------------------------------------------------------------
def _load(ckpt: str, input: str, device: str | None, batch_size: int) -> tuple[MaskEditor, list[Path], list[np.ndarray]]:
    files = input_files(input)  # input errors first: no model load for a wrong path
    editor = MaskEditor.from_checkpoint(ckpt, device=device, batch_size=batch_size)
    return editor, files, read_masks(files, editor.label_set)


def reconstruct(ckpt: str, input: str, out: str, figure: bool = True, device: str | None = None, batch_size: int = 64) -> None:
    """Reconstruct label maps (encode with mu, mix, decode).

    Args:
        ckpt: a Semantic-VAE checkpoint (.ckpt from `semantic-vae fit`).
        input: a label PNG (grayscale ids or colourised) or a folder of them.
        out: output folder: <name>.png labels, color/<name>.png, fig_reconstruct.png.
        figure: write the figure grid (rows: input, reconstruction).
        device: cpu, cuda, cuda:1, ...; default: CUDA when available.
        batch_size: masks per forward pass.
    """
    editor, files, masks = _load(ckpt, input, device, batch_size)
    target = out_dir(out)
    recon = run_grouped(masks, lambda b, idx: editor.reconstruct(b))
    for f, r in zip(files, recon):
        write_pair(target, f.name, r, editor.label_set)
    if figure:
        save_figure(target / "fig_reconstruct.png", [masks[:FIGURE_COLUMNS], recon[:FIGURE_COLUMNS]], editor)
    print(f"reconstructed {len(files)} masks into {target}")


def _random_edit(op: str, ckpt: str, input: str, parts: Parts, out: str, seed: int, scale: float,
                 figure: bool, device: str | None, batch_size: int) -> None:
    editor, files, masks = _load(ckpt, input, device, batch_size)
    editor.part_ids(parts)  # an unknown part fails before anything is written
    target = out_dir(out)
    if op == "generate":
        edited = run_grouped(masks, lambda b, idx: editor.generate(b, parts, seed=[seed + i for i in idx]))
    else:
        edited = run_grouped(masks, lambda b, idx: editor.perturb(b, parts, scale=scale, seed=[seed + i for i in idx]))
    for f, e in zip(files, edited):
        write_pair(target, f.name, e, editor.label_set)
    slug = parts_slug(editor, parts)
    if figure:
        save_figure(target / f"fig3_{slug}.png", fig3_rows(editor, masks, parts, seed, scale), editor)
    print(f"{op}: {len(files)} masks, parts {slug}, seeds {seed}..{seed + len(files) - 1} -> {target}")


def generate(ckpt: str, input: str, parts: Parts, out: str, seed: int = 0, scale: float = 1.0,
             figure: bool = True, device: str | None = None, batch_size: int = 64) -> None:
    """Generate new parts: their embeddings replaced by draws from N(0, I) (paper §4).

    Args:
        ckpt: a Semantic-VAE checkpoint (.ckpt from `semantic-vae fit`).
        input: a label PNG (grayscale ids or colourised) or a folder of them.
        parts: parts to generate, by name or id: "nose" or "nose,mouth" (edited together).
        out: output folder: <name>.png labels, color/<name>.png, fig3_<parts>.png.
        seed: noise seed of the first file; file i in sorted order uses seed + i.
        scale: noise scale of the figure's perturbation row.
        figure: write the Fig. 3 grid (rows: input, reconstruction, generation, perturbation).
        device: cpu, cuda, cuda:1, ...; default: CUDA when available.
        batch_size: masks per forward pass.
    """
    _random_edit("generate", ckpt, input, parts, out, seed, scale, figure, device, batch_size)


def perturb(ckpt: str, input: str, parts: Parts, out: str, scale: float = 1.0, seed: int = 0,
            figure: bool = True, device: str | None = None, batch_size: int = 64) -> None:
    """Perturb parts: their embeddings plus scale * N(0, I) (paper §4).

    Args:
        ckpt: a Semantic-VAE checkpoint (.ckpt from `semantic-vae fit`).
        input: a label PNG (grayscale ids or colourised) or a folder of them.
        parts: parts to perturb, by name or id: "nose" or "nose,mouth" (edited together).
        out: output folder: <name>.png labels, color/<name>.png, fig3_<parts>.png.
        scale: standard deviation of the added noise.
        seed: noise seed of the first file; file i in sorted order uses seed + i.
        figure: write the Fig. 3 grid (rows: input, reconstruction, generation, perturbation).
        device: cpu, cuda, cuda:1, ...; default: CUDA when available.
        batch_size: masks per forward pass.
    """
    _random_edit("perturb", ckpt, input, parts, out, seed, scale, figure, device, batch_size)


def _load_pairs(ckpt: str, input: str, target: str, device: str | None, batch_size: int
                ) -> tuple[MaskEditor, list[Path], list[np.ndarray], list[np.ndarray]]:
    files = input_files(input)
    target_files = pair_targets(files, input_files(target, "target"))
    editor = MaskEditor.from_checkpoint(ckpt, device=device, batch_size=batch_size)
    masks = read_masks(files, editor.label_set)
    unique = sorted(set(target_files))
    cache = dict(zip(unique, read_masks(unique, editor.label_set)))
    targets = [cache[f] for f in target_files]
    check_sizes(files, target_files, masks, targets)
    return editor, files, masks, targets


def interpolate(ckpt: str, input: str, target: str, parts: Parts, out: str, steps: int = 5,
                figure: bool = True, device: str | None = None, batch_size: int = 64) -> None:
    """Interpolate parts from the input (alpha = 0) to the target (alpha = 1), paper Eq. 4.

    Writes <stem>_a<alpha>.png per alpha (e.g. 0_a0.50.png).

    Args:
        ckpt: a Semantic-VAE checkpoint (.ckpt from `semantic-vae fit`).
        input: source label PNG or folder.
        target: target label PNG (for every source) or a folder with one per source (sorted order).
        parts: parts to interpolate, by name or id: "nose" or "nose,mouth".
        out: output folder: labels, color/, fig5_<parts>.png.
        steps: number of alphas, evenly spaced from 0 to 1 (at least 2).
        figure: write the Fig. 5 grid (a row per pair: source, alpha 0 .. 1, target).
        device: cpu, cuda, cuda:1, ...; default: CUDA when available.
        batch_size: masks per forward pass.
    """
    if steps < 2:
        raise DataError(f"--steps must be at least 2, got {steps}")
    editor, files, masks, targets = _load_pairs(ckpt, input, target, device, batch_size)
    editor.part_ids(parts)
    alphas = np.linspace(0.0, 1.0, steps).tolist()
    dest = out_dir(out)
    results = run_grouped(  # per mask: (A, H, W)
        masks, lambda b, idx: editor.interpolate(b, np.stack([targets[i] for i in idx]), parts, alphas), axis=1
    )
    for f, path in zip(files, results):
        for alpha, labels in zip(alphas, path):
            write_pair(dest, f"{f.stem}_a{alpha:.2f}.png", labels, editor.label_set)
    slug = parts_slug(editor, parts)
    if figure:
        save_figure(dest / f"fig5_{slug}.png", fig5_rows(masks, targets, [list(r) for r in results]), editor)
    print(f"interpolate: {len(files)} pairs x {steps} alphas, parts {slug} -> {dest}")


def swap(ckpt: str, input: str, target: str, parts: Parts, out: str, figure: bool = True,
         device: str | None = None, batch_size: int = 64) -> None:
    """Swap parts in from the target (interpolation at alpha = 1).

    Args:
        ckpt: a Semantic-VAE checkpoint (.ckpt from `semantic-vae fit`).
        input: source label PNG or folder.
        target: target label PNG (for every source) or a folder with one per source (sorted order).
        parts: parts to take from the target, by name or id: "nose" or "nose,mouth".
        out: output folder: <name>.png labels, color/<name>.png, fig_swap_<parts>.png.
        figure: write the grid (rows: source, target, result).
        device: cpu, cuda, cuda:1, ...; default: CUDA when available.
        batch_size: masks per forward pass.
    """
    editor, files, masks, targets = _load_pairs(ckpt, input, target, device, batch_size)
    editor.part_ids(parts)
    dest = out_dir(out)
    swapped = run_grouped(masks, lambda b, idx: editor.swap(b, np.stack([targets[i] for i in idx]), parts))
    for f, labels in zip(files, swapped):
        write_pair(dest, f.name, labels, editor.label_set)
    slug = parts_slug(editor, parts)
    if figure:
        n = FIGURE_COLUMNS
        save_figure(dest / f"fig_swap_{slug}.png", [masks[:n], targets[:n], swapped[:n]], editor)
    print(f"swap: {len(files)} masks, parts {slug} -> {dest}")


# -- augment ----------------------------------------------------------------------------
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
                    raise DataError(f"{f}: {op} needs another input of the same size as a target")
                target = partners[int(rng.integers(len(partners)))]
                alpha = 1.0 if op == "swap" else round(float(rng.uniform(0.25, 1.0)), 3)
            plan.append(Variant(i, v, op, chosen, noise_seed, target, alpha))
    return plan


def variant_latents(editor: MaskEditor, plan: list[Variant], mu: dict[int, torch.Tensor], scale: float) -> torch.Tensor:
    """(V, C, D) edited embeddings, computed exactly as the MaskEditor methods compute them."""
    rows = []
    for var in plan:
        z = mu[var.source].clone()  # (C, D)
        ids = list(var.parts)
        if var.operation == "generate":
            z[ids] = draw_noise((len(ids), editor.latent_dim), var.seed).to(z.device)
        elif var.operation == "perturb":
            z[ids] += scale * draw_noise((len(ids), editor.latent_dim), var.seed).to(z.device)
        else:
            alpha = float(var.alpha)
            z[ids] = alpha * mu[var.target][ids] + (1.0 - alpha) * mu[var.source][ids]
        rows.append(z)
    return torch.stack(rows)


def _split(value: str | list[str]) -> list[str]:
    items = value.split(",") if isinstance(value, str) else list(value)
    return [s.strip() for s in items if s.strip()]


def augment(ckpt: str, input: str, out: str, parts: Parts = AUGMENT_PARTS, operations: str | list[str] = "generate,perturb",
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
    ops = _split(operations)
    unknown = [op for op in ops if op not in AUGMENT_OPERATIONS]
    if unknown or not ops:
        raise DataError(f"--operations: unknown '{','.join(unknown)}'; choose from {', '.join(AUGMENT_OPERATIONS)}")
    if variants < 1:
        raise DataError(f"--variants must be at least 1, got {variants}")
    files = input_files(input)
    editor = MaskEditor.from_checkpoint(ckpt, device=device, batch_size=batch_size)
    part_ids = editor.part_ids(parts)
    if not 1 <= parts_per_variant <= len(part_ids):
        raise DataError(f"--parts_per_variant must be in 1..{len(part_ids)}, got {parts_per_variant}")
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
    _write_text(path, buffer.getvalue())


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


# -- evaluation -------------------------------------------------------------------------
def load_eval_masks(editor: MaskEditor, data: str | None, count: int) -> np.ndarray:
    """(N, H, W): the first `count` PNGs of `data` (resized with nearest to the first one's size),
    or `count` held-out synthetic masks at the model's size."""
    if data is None:
        from semantic_vae.data.synthetic import generate_masks

        if editor.num_classes != 19:
            raise DataError("--data: the synthetic masks have CelebAMask-HQ's 19 classes; give real masks for this model")
        return generate_masks(0, HELDOUT_START, count, editor.image_size)
    files = input_files(data, "data")[:count]
    masks = read_masks(files, editor.label_set)
    return np.stack([resize_labels(m, masks[0].shape) for m in masks])


def evaluate_edits(ckpt: str, data: str | None = None, parts: Parts = EVAL_PARTS, operations: str | list[str] = ",".join(OPERATIONS),
                   count: int = 64, seeds: int = 4, scale: float = 1.0, alpha: float = 0.5, radius: int = 3, seed: int = 0,
                   out: str = "outputs/edit_metrics.json", device: str | None = None, batch_size: int = 64) -> None:
    """Measure the edits: locality, validity, realism and diversity, per operation and part.

    Args:
        ckpt: a Semantic-VAE checkpoint (.ckpt from `semantic-vae fit`).
        data: a folder of real test label PNGs (or one PNG); default: held-out synthetic masks
            (indices from 10,000,000 of stream 0, never in a training split) at the model's size.
        parts: parts to edit, one at a time ("nose,mouth,hair").
        operations: generate, perturb, swap, interpolate (swap/interpolate: mask i-1 is the target of mask i).
        count: number of masks (at least 2).
        seeds: seeds per mask for generate and perturb (diversity needs 2 or more).
        scale: perturb noise scale.
        alpha: interpolation weight of the target.
        radius: dilation of the part's region, in pixels, for locality.
        seed: first noise seed.
        out: JSON file for the results.
        device: cpu, cuda, cuda:1, ...; default: CUDA when available.
        batch_size: masks per forward pass.
    """
    ops = _split(operations)
    unknown = [op for op in ops if op not in OPERATIONS]
    if unknown or not ops:
        raise DataError(f"--operations: unknown '{','.join(unknown)}'; choose from {', '.join(OPERATIONS)}")
    if count < 2:
        raise DataError(f"--count must be at least 2, got {count}")
    if seeds < 1:
        raise DataError(f"--seeds must be at least 1, got {seeds}")
    editor = MaskEditor.from_checkpoint(ckpt, device=device, batch_size=batch_size)
    part_ids = editor.part_ids(parts)
    masks = load_eval_masks(editor, data, count)
    if len(masks) < 2:
        raise DataError(f"--data {data}: the edit metrics need at least 2 masks, found {len(masks)}")
    results = evaluate_editor(editor, masks, part_ids, tuple(ops), seeds=seeds, seed=seed, scale=scale, alpha=alpha, radius=radius)
    results = {"checkpoint": str(ckpt), "data": data or "synthetic (held out)", **results}
    _write_text(Path(out), json.dumps(results, indent=2) + "\n")
    print(format_table(results))
    print(f"wrote {out}")


# -- make demo --------------------------------------------------------------------------
def demo_edits(editor: MaskEditor, masks: np.ndarray, out_dir: str | Path) -> dict:
    """`make demo`: a Fig. 3-style grid, a Fig. 5-style grid and edit_metrics.json in out_dir.

    Fig. 3 rows: input, reconstruction, generation, perturbation of the nose (the first 8 masks,
    seeds 0..7); Fig. 5: each mask's nose interpolated towards the next mask's. The metrics use
    every mask (>= 2) with 3 seeds. Returns a compact summary for printing.
    """
    dest = Path(out_dir)
    masks = np.asarray(masks)
    wanted = [p for p in ("nose", "hair", "mouth") if p in editor.class_names] or [editor.class_names[1]]
    figure_part = wanted[0]
    fig3 = save_figure(dest / f"fig3_{figure_part}.png", fig3_rows(editor, list(masks), figure_part, 0, 1.0), editor)
    n = min(len(masks), FIGURE_COLUMNS)
    targets = np.roll(masks, -1, axis=0)[:n]
    steps = editor.interpolate(masks[:n], targets, figure_part, np.linspace(0.0, 1.0, 5).tolist())  # (5, n, H, W)
    fig5 = save_figure(dest / f"fig5_{figure_part}.png", fig5_rows(list(masks[:n]), list(targets), list(steps.transpose(1, 0, 2, 3))), editor)
    results = evaluate_editor(editor, masks, editor.part_ids(wanted), seeds=3)
    metrics_path = dest / "edit_metrics.json"
    _write_text(metrics_path, json.dumps(results, indent=2) + "\n")
    _write_text(dest / "edit_metrics.txt", format_table(results) + "\n")

    def short(v: float | None) -> float | None:
        return None if v is None else round(v, 4)

    return {
        "figures": [str(fig3), str(fig5)],
        "metrics": str(metrics_path),
        "reconstruction_fd": short(results["reconstruct"]["fd"]),
        "edits": {
            f"{op}/{part}": {k: short(m[k]) for k in ("locality", "fd", "diversity")}
            for op, per_part in results["operations"].items()
            for part, m in per_part.items()
        },
    }


EDIT_COMMANDS = [reconstruct, generate, perturb, interpolate, swap, augment]
