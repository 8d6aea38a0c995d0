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
how the folder is batched. Bad input raises `UserError` (one line, exit code 2 from the CLI).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from semantic_vae.data.io import resize_labels
from semantic_vae.edit.augment import augment
from semantic_vae.edit.editor import KEEP_RADIUS, MaskEditor, PartSpec, Prior, part_units
from semantic_vae.edit.figures import FIGURE_COLUMNS, fig3_rows, fig5_rows, save_figure
from semantic_vae.edit.io import (
    check_sizes,
    choices,
    input_files,
    out_dir,
    pair_targets,
    read_masks,
    run_grouped,
    write_pair,
)
from semantic_vae.edit.metrics import METRIC_RADIUS, OPERATIONS, EditSettings, evaluate_editor, format_table
from semantic_vae.edit.region import Keep
from semantic_vae.errors import UserError
from semantic_vae.files import write_json_atomic

EVAL_PARTS = "nose,lips,eyes,brows,hair"
HELDOUT_START = 10_000_000  # synthetic masks from this index on are never in a training split


def parts_slug(editor: MaskEditor, parts: PartSpec) -> str:
    return "-".join(editor.class_names[i] for i in editor.part_ids(parts))


def _load(
    ckpt: str, input: str, device: str | None, batch_size: int
) -> tuple[MaskEditor, list[Path], list[np.ndarray]]:
    files = input_files(input)  # input errors first: no model load for a wrong path
    editor = MaskEditor.from_checkpoint(ckpt, device=device, batch_size=batch_size)
    return editor, files, read_masks(files, editor.label_set)


def reconstruct(
    ckpt: str, input: str, out: str, figure: bool = True, device: str | None = None, batch_size: int = 64
) -> None:
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
        rows = [masks[:FIGURE_COLUMNS], recon[:FIGURE_COLUMNS]]
        save_figure(target / "fig_reconstruct.png", rows, editor, ["input", "reconstruction"])
    print(f"reconstructed {len(files)} masks into {target}")


def _random_edit(
    op: str,
    ckpt: str,
    input: str,
    parts: PartSpec,
    out: str,
    options: dict,
    figure: bool,
    device: str | None,
    batch_size: int,
) -> None:
    """generate or perturb every input; `options` holds seed, scale, keep, radius (and prior for generate)."""
    editor, files, masks = _load(ckpt, input, device, batch_size)
    editor.part_ids(parts)  # an unknown part fails before anything is written
    edit = editor.generate if op == "generate" else editor.perturb
    kwargs = {k: v for k, v in options.items() if k != "seed" and (op == "perturb" or k != "scale")}
    seed = options["seed"]
    edit(masks[0], parts, seed=seed, **kwargs)  # bad options fail before anything is written
    target = out_dir(out)
    edited = run_grouped(masks, lambda b, idx: edit(b, parts, seed=[seed + i for i in idx], **kwargs))
    for f, e in zip(files, edited):
        write_pair(target, f.name, e, editor.label_set)
    slug = parts_slug(editor, parts)
    if figure:
        rows, labels = fig3_rows(editor, masks, parts, seed, options)
        save_figure(target / f"fig3_{slug}.png", rows, editor, labels)
    print(
        f"{op}: {len(files)} masks, parts {slug}, seeds {seed}..{seed + len(files) - 1}, keep={options['keep']} -> {target}"
    )


def generate(
    ckpt: str,
    input: str,
    parts: PartSpec,
    out: str,
    seed: int = 0,
    prior: Prior | None = None,
    keep: Keep = "input",
    radius: int = KEEP_RADIUS,
    scale: float = 1.0,
    figure: bool = True,
    device: str | None = None,
    batch_size: int = 64,
) -> None:
    """Generate new parts: their embeddings replaced by draws from the prior (paper §4).

    Args:
        ckpt: a Semantic-VAE checkpoint (.ckpt from `semantic-vae fit`).
        input: a label PNG (grayscale ids or colourised) or a folder of them.
        parts: parts to generate, by name, id or group: "nose", "lips" or "nose,mouth" (edited together).
        out: output folder: <name>.png labels, color/<name>.png, fig3_<parts>.png.
        seed: noise seed of the first file; file i in sorted order uses seed + i.
        prior: "normal" draws from N(0, I) as the paper; "data" from the Gaussian fitted on the training latents;
            default: "data" when the checkpoint holds one, else "normal".
        keep: outside the parts' neighbourhood keep the "input", the "reconstruction", or "none" (the raw model output).
        radius: the neighbourhood's width in the model's pixels (scaled to the input's size).
        scale: noise scale of the figure's perturbation row.
        figure: write the Fig. 3 grid (rows: input, reconstruction, generation, perturbation).
        device: cpu, cuda, cuda:1, ...; default: CUDA when available.
        batch_size: masks per forward pass.
    """
    options = {"seed": seed, "prior": prior, "keep": keep, "radius": radius, "scale": scale}  # prior None: resolved
    _random_edit("generate", ckpt, input, parts, out, options, figure, device, batch_size)


def perturb(
    ckpt: str,
    input: str,
    parts: PartSpec,
    out: str,
    scale: float = 1.0,
    seed: int = 0,
    keep: Keep = "input",
    radius: int = KEEP_RADIUS,
    figure: bool = True,
    device: str | None = None,
    batch_size: int = 64,
) -> None:
    """Perturb parts: their embeddings plus scale * N(0, I) (paper §4).

    Args:
        ckpt: a Semantic-VAE checkpoint (.ckpt from `semantic-vae fit`).
        input: a label PNG (grayscale ids or colourised) or a folder of them.
        parts: parts to perturb, by name, id or group: "nose", "lips" or "nose,mouth" (edited together).
        out: output folder: <name>.png labels, color/<name>.png, fig3_<parts>.png.
        scale: standard deviation of the added noise.
        seed: noise seed of the first file; file i in sorted order uses seed + i.
        keep: outside the parts' neighbourhood keep the "input", the "reconstruction", or "none" (the raw model output).
        radius: the neighbourhood's width in the model's pixels (scaled to the input's size).
        figure: write the Fig. 3 grid (rows: input, reconstruction, generation, perturbation).
        device: cpu, cuda, cuda:1, ...; default: CUDA when available.
        batch_size: masks per forward pass.
    """
    options = {"seed": seed, "scale": scale, "keep": keep, "radius": radius}
    _random_edit("perturb", ckpt, input, parts, out, options, figure, device, batch_size)


def _load_pairs(
    ckpt: str, input: str, target: str, device: str | None, batch_size: int
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


def interpolate(
    ckpt: str,
    input: str,
    target: str,
    parts: PartSpec,
    out: str,
    steps: int = 5,
    keep: Keep = "input",
    radius: int = KEEP_RADIUS,
    figure: bool = True,
    device: str | None = None,
    batch_size: int = 64,
) -> None:
    """Interpolate parts from the input (alpha = 0) to the target (alpha = 1), paper Eq. 4.

    Writes <stem>_a<alpha>.png per alpha (e.g. 0_a0.50.png).

    Args:
        ckpt: a Semantic-VAE checkpoint (.ckpt from `semantic-vae fit`).
        input: source label PNG or folder.
        target: target label PNG (for every source) or a folder with one per source (sorted order).
        parts: parts to interpolate, by name, id or group: "nose", "lips" or "nose,mouth".
        out: output folder: labels, color/, fig5_<parts>.png.
        steps: number of alphas, evenly spaced from 0 to 1 (at least 2).
        keep: outside the parts' neighbourhood keep the "input", the "reconstruction", or "none" (the raw model output).
        radius: the neighbourhood's width in the model's pixels (scaled to the input's size).
        figure: write the Fig. 5 grid (a row per pair: source, alpha 0 .. 1, target).
        device: cpu, cuda, cuda:1, ...; default: CUDA when available.
        batch_size: masks per forward pass.
    """
    if steps < 2:
        raise UserError(f"--steps must be at least 2, got {steps}")
    MaskEditor.check_options(keep, radius)
    editor, files, masks, targets = _load_pairs(ckpt, input, target, device, batch_size)
    editor.part_ids(parts)
    alphas = np.linspace(0.0, 1.0, steps).tolist()
    dest = out_dir(out)
    results = run_grouped(  # per mask: (A, H, W)
        masks,
        lambda b, idx: editor.interpolate(b, np.stack([targets[i] for i in idx]), parts, alphas, keep, radius),
        axis=1,
    )
    for f, path in zip(files, results):
        for alpha, labels in zip(alphas, path):
            write_pair(dest, f"{f.stem}_a{alpha:.2f}.png", labels, editor.label_set)
    slug = parts_slug(editor, parts)
    if figure:
        rows, labels = fig5_rows(files, masks, targets, [list(r) for r in results], alphas)
        save_figure(dest / f"fig5_{slug}.png", rows, editor, labels)
    print(f"interpolate: {len(files)} pairs x {steps} alphas, parts {slug}, keep={keep} -> {dest}")


def swap(
    ckpt: str,
    input: str,
    target: str,
    parts: PartSpec,
    out: str,
    keep: Keep = "input",
    radius: int = KEEP_RADIUS,
    figure: bool = True,
    device: str | None = None,
    batch_size: int = 64,
) -> None:
    """Swap parts in from the target (interpolation at alpha = 1).

    Args:
        ckpt: a Semantic-VAE checkpoint (.ckpt from `semantic-vae fit`).
        input: source label PNG or folder.
        target: target label PNG (for every source) or a folder with one per source (sorted order).
        parts: parts to take from the target, by name, id or group: "nose", "lips" or "nose,mouth".
        out: output folder: <name>.png labels, color/<name>.png, fig_swap_<parts>.png.
        keep: outside the parts' neighbourhood keep the "input", the "reconstruction", or "none" (the raw model output).
        radius: the neighbourhood's width in the model's pixels (scaled to the input's size).
        figure: write the grid (rows: source, target, result).
        device: cpu, cuda, cuda:1, ...; default: CUDA when available.
        batch_size: masks per forward pass.
    """
    MaskEditor.check_options(keep, radius)
    editor, files, masks, targets = _load_pairs(ckpt, input, target, device, batch_size)
    editor.part_ids(parts)
    dest = out_dir(out)
    swapped = run_grouped(
        masks, lambda b, idx: editor.swap(b, np.stack([targets[i] for i in idx]), parts, keep, radius)
    )
    for f, labels in zip(files, swapped):
        write_pair(dest, f.name, labels, editor.label_set)
    slug = parts_slug(editor, parts)
    if figure:
        n = FIGURE_COLUMNS
        rows = [masks[:n], targets[:n], swapped[:n]]
        save_figure(dest / f"fig_swap_{slug}.png", rows, editor, ["source", "target", f"swap {slug}"])
    print(f"swap: {len(files)} masks, parts {slug}, keep={keep} -> {dest}")


def replay(recipe: str, ckpt: str, out: str, check_checkpoint: bool = True, device: str | None = None) -> None:
    """Replay an edit recipe (as the web editor writes them): the identical label map.

    Writes <out>/<recipe stem>.png (mode L) and color/<recipe stem>.png.

    Args:
        recipe: the recipe JSON.
        ckpt: the checkpoint it was made with.
        out: output folder.
        check_checkpoint: refuse a checkpoint whose SHA-256 differs from the recipe's.
        device: cpu, cuda, cuda:1, ...; default: CUDA when available.
    """
    from semantic_vae.edit.recipe import Recipe, checkpoint_sha256

    path = Path(recipe)
    if not path.is_file():
        raise UserError(f"--recipe {path}: file not found")
    plan = Recipe.from_json(path.read_text(), str(path))
    editor = MaskEditor.from_checkpoint(ckpt, device=device)
    if check_checkpoint and checkpoint_sha256(ckpt) != plan.checkpoint_sha256:
        raise UserError(
            f"--ckpt {ckpt}: not the checkpoint of {path} (SHA-256 differs); --check_checkpoint false to go on"
        )
    labels = plan.replay(editor)
    written = write_pair(out_dir(out), f"{path.stem}.png", labels, editor.label_set)
    print(f"replayed {len(plan.steps)} edit(s) of {path} -> {written}")


# -- evaluation -------------------------------------------------------------------------
def load_eval_masks(editor: MaskEditor, data: str | None, count: int) -> np.ndarray:
    """(N, H, W): the first `count` PNGs of `data` (resized with nearest to the first one's size),
    or `count` held-out synthetic masks at the model's size."""
    if data is None:
        from semantic_vae.data.synthetic import generate_masks

        if editor.num_classes != 19:
            raise UserError(
                "--data: the synthetic masks have CelebAMask-HQ's 19 classes; give real masks for this model"
            )
        return generate_masks(0, HELDOUT_START, count, editor.image_size)
    files = input_files(data, "data")[:count]
    masks = read_masks(files, editor.label_set)
    return np.stack([resize_labels(m, masks[0].shape) for m in masks])


def evaluate_edits(
    ckpt: str,
    data: str | None = None,
    parts: PartSpec = EVAL_PARTS,
    operations: str | list[str] = ",".join(OPERATIONS),  # noqa: B008
    keep: Keep = "input",
    keep_radius: int = KEEP_RADIUS,
    prior: Prior | None = None,
    count: int = 64,
    seeds: int = 4,
    scale: float = 1.0,
    alpha: float = 0.5,
    radius: int = METRIC_RADIUS,
    seed: int = 0,
    out: str = "outputs/edit_metrics.json",
    device: str | None = None,
    batch_size: int = 64,
) -> None:
    """Measure the edits: locality, part change, validity, realism and diversity, per operation and part.

    Args:
        ckpt: a Semantic-VAE checkpoint (.ckpt from `semantic-vae fit`).
        data: a folder of real test label PNGs (or one PNG); default: held-out synthetic masks
            (indices from 10,000,000 of stream 0, never in a training split) at the model's size.
        parts: parts to edit, one unit at a time: classes or groups ("nose,lips,eyes,brows,hair").
        operations: generate, perturb, swap, interpolate (swap/interpolate: mask i-1 is the target of mask i).
        keep: what the edits keep outside the parts' neighbourhood: input, reconstruction, none (the paper's raw edit).
        keep_radius: that neighbourhood's width in the model's pixels.
        prior: generate from "normal" (N(0, I)) or "data" (the fitted per-part Gaussian); default: "data" when the
            checkpoint holds one, else "normal".
        count: number of masks (at least 2).
        seeds: seeds per mask for generate and perturb (diversity needs 2 or more).
        scale: perturb noise scale.
        alpha: interpolation weight of the target.
        radius: pixels around the part (at the masks' size) that count as its neighbourhood for locality.
        seed: first noise seed.
        out: JSON file for the results.
        device: cpu, cuda, cuda:1, ...; default: CUDA when available.
        batch_size: masks per forward pass.
    """
    ops = choices(operations, OPERATIONS, "--operations")
    if count < 2:
        raise UserError(f"--count must be at least 2, got {count}")
    if seeds < 1:
        raise UserError(f"--seeds must be at least 1, got {seeds}")
    if radius < 0:
        raise UserError(f"--radius must be 0 or more, got {radius}")
    MaskEditor.check_options(keep, keep_radius)
    editor = MaskEditor.from_checkpoint(ckpt, device=device, batch_size=batch_size)
    units = part_units(editor, parts)
    masks = load_eval_masks(editor, data, count)
    if len(masks) < 2:
        raise UserError(f"--data {data}: the edit metrics need at least 2 masks, found {len(masks)}")
    settings = EditSettings(seeds, seed, scale, alpha, editor.resolve_prior(prior), keep, keep_radius, radius)
    results = evaluate_editor(editor, masks, units, tuple(ops), settings)
    results = {"checkpoint": str(ckpt), "data": data or "synthetic (held out)", **results}
    write_json_atomic(out, results)
    print(format_table(results))
    print(f"wrote {out}")


EDIT_COMMANDS = [reconstruct, generate, perturb, interpolate, swap, augment, replay]
