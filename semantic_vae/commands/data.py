"""`semantic-vae data merge|prepare|preview|compare`: plain typed functions that jsonargparse.CLI exposes.

They print their results and raise `UserError` on bad input; no argument parsing here. `compare` measures how far
the synthetic masks are from real ones, in numbers and figures (`semantic_vae.data.compare` measures both sets); with
a checkpoint, the model's reconstruction mIoU on each set shows what the gap costs a model.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from semantic_vae import mask_geometry
from semantic_vae.checks import check_seed
from semantic_vae.console import Progress
from semantic_vae.data.cache import CacheSpec, load_or_build_cache
from semantic_vae.data.celebamask import open_root, read_masks, write_merged
from semantic_vae.data.compare import measure, summarise
from semantic_vae.data.io import check_png_name, read_label_png, write_rgb_png
from semantic_vae.data.synthetic import GENERATOR_VERSION, HELDOUT_START, generate_masks
from semantic_vae.edit.editor import MaskEditor
from semantic_vae.entry import function_cli
from semantic_vae.errors import UserError
from semantic_vae.files import ensure_dir, write_json_atomic
from semantic_vae.labels import CELEBAMASK_HQ, LabelSet, load_label_set, resolve_label_set
from semantic_vae.losses import class_weights
from semantic_vae.machine import cpu_count
from semantic_vae.metrics import scores_from_confusion
from semantic_vae.model.config import check_image_size
from semantic_vae.viz import GridRow, MaskGrid, class_chart, mask_grid, save_grid, subset_note

SHARE_RATIO_MIN_SHARE = 0.005  # share ratios are reported for classes with at least 0.5% of the real pixels
FIGURE_COLUMNS = 8
FIGURE_ROWS = 2  # per set
SYNTHETIC_CHUNK = 64  # masks generated at a time

DEFAULT_WORKERS = cpu_count()


def merge(root: str, out: str, workers: int = DEFAULT_WORKERS, skip_bad: bool = False, quiet: bool = False) -> None:
    """Merge CelebAMask-HQ's per-part annotations into label PNGs, as the official script does.

    Writes `<out>/<index>.png`: mode L, 512×512, values 0..18, later parts over earlier ones
    (hair over skin, cloth over neck). A folder of merged or colourised maps is rewritten as
    grayscale ids.

    Args:
        root: the CelebAMask-HQ folder (holding CelebAMask-HQ-mask-anno/), or a folder of label PNGs.
        out: folder for the merged label PNGs (created if missing; files are overwritten).
        workers: processes merging in parallel (default: every core).
        skip_bad: skip unreadable files and list them at the end instead of stopping at the first.
        quiet: no progress bar (it shows only on a terminal).
    """
    found = open_root(root)
    started = time.perf_counter()
    summary = write_merged(found, out, skip_bad=skip_bad, workers=workers, progress=not quiet)
    seconds = time.perf_counter() - started
    rate = summary.read / seconds if seconds > 0 else float("inf")
    print(
        f"merged {summary.read} masks ({found.kind} layout, {found.folder}) into {out} "
        f"in {seconds:.1f} s: {rate:.0f} masks/s with {min(workers, len(found.items))} workers"
    )
    _print_problems(summary.bad, summary.resized_message())


def _print_problems(bad: list[str], resized: str | None, shown: int = 10) -> None:
    if bad:
        print(f"skipped {len(bad)} bad files:")
        for line in bad[:shown]:
            print(f"  {line}")
        if len(bad) > shown:
            print(f"  ... and {len(bad) - shown} more")
    if resized:
        print(f"warning: {resized}")


def prepare(
    root: str,
    size: int = 256,
    cache_dir: str = "data_cache",
    label_set: str | None = None,
    merge_map: str | None = None,
    skip_bad: bool = False,
    workers: int = 1,
    quiet: bool = False,
) -> None:
    """Build the training cache for a CelebAMask-HQ folder and print what it holds.

    Args:
        root: the CelebAMask-HQ folder (raw per-part layout or merged label PNGs).
        size: the training resolution (masks are resized with nearest-neighbour).
        cache_dir: where caches live; an up-to-date cache is loaded, not rebuilt.
        label_set: YAML label set of the files (default: CelebAMask-HQ's 19 classes).
        merge_map: YAML merge map folding the 19 classes into fewer.
        skip_bad: skip unreadable files and list them instead of stopping at the first.
        workers: processes reading masks in parallel.
        quiet: no progress bar (it shows only on a terminal).
    """
    check_image_size(size, what="--size")  # a cache `fit` can train on
    labels, merge = resolve_label_set(label_set, merge_map)
    spec = CacheSpec(
        source="celebamask",
        root=root,
        image_size=size,
        label_set=labels,
        merge_map=merge,
        skip_bad=skip_bad,
        workers=workers,
    )
    cache = load_or_build_cache(spec, cache_dir, progress=not quiet)
    manifest = cache.manifest
    n_test = int(cache.test.sum())
    print(f"cache: {cache.directory}")
    print(
        f"masks: {len(cache.names)} (train {len(cache.names) - n_test}, test {n_test}), "
        f"{size}x{size}, {manifest.get('layout')} layout, label set '{labels.name}'"
    )
    train = cache.class_counts[~cache.test]
    counts = train if len(train) else cache.class_counts
    totals = counts.sum(axis=0)
    shares = totals / max(1, int(totals.sum()))
    present = (counts > 0).mean(axis=0) if len(counts) else np.zeros(len(totals))
    weights = class_weights(counts)
    width = max(len(n) for n in labels.names)
    print(f"class shares ({'train' if len(train) else 'all'} split):")
    print(f"  {'id':>3}  {'class':<{width}}  {'pixels':>8}  {'in masks':>8}  {'weight':>7}")
    for i, name in enumerate(labels.names):
        print(f"  {i:>3}  {name:<{width}}  {shares[i]:>8.2%}  {present[i]:>8.1%}  {weights[i]:>7.4f}")
    _print_problems(manifest.get("bad_files", []), None)
    if manifest.get("resized"):
        h, w = manifest.get("reference_size") or (0, 0)
        print(
            f"warning: {manifest['resized']} masks were not {h}x{w} like the first one "
            "and were resized with nearest-neighbour"
        )


def _preview_masks(source: str, root: str | None, n: int, size: int, seed: int, labels: LabelSet) -> np.ndarray:
    if source == "synthetic":
        if root:
            raise UserError("root: only for source 'celebamask' (this preview is of synthetic masks)")
        if labels.names != CELEBAMASK_HQ.names:
            raise UserError(f"label_set: synthetic masks hold CelebAMask-HQ's classes, not '{labels.name}'")
        return generate_masks(seed, 0, n, size)
    if not root:
        raise UserError("root: source 'celebamask' needs the path of a CelebAMask-HQ folder")
    found = open_root(root)
    masks = [r.labels for r in read_masks(found, label_set=labels, size=size, limit=n)]
    return np.stack(masks)


def preview(
    source: Literal["synthetic", "celebamask"] = "synthetic",
    root: str | None = None,
    n: int = 16,
    size: int = 256,
    seed: int = 0,
    out: str = "preview.png",
    label_set: str | None = None,
) -> None:
    """Write a colourised grid of masks to look at.

    Args:
        source: "synthetic" (the embedded generator) or "celebamask" (needs `root`).
        root: a CelebAMask-HQ folder (raw per-part layout or merged label PNGs); its first n masks are shown.
        n: how many masks.
        size: side of each mask in pixels.
        seed: seed of the synthetic masks.
        out: the PNG to write.
        label_set: YAML label set of the files in `root` (default: CelebAMask-HQ).
    """
    check_png_name(out)
    if source not in ("synthetic", "celebamask"):
        raise UserError(f"source must be 'synthetic' or 'celebamask', got '{source}'")
    if n < 1:
        raise UserError(f"n must be at least 1, got {n}")
    if size < 1:
        raise UserError(f"size must be positive, got {size}")
    check_seed(seed, "--seed")
    labels = load_label_set(label_set) if label_set else CELEBAMASK_HQ
    masks = _preview_masks(source, root, n, size, seed, labels)
    grid = mask_grid(masks, labels)
    write_rgb_png(out, grid)
    print(f"wrote {out}: {len(masks)} {source} masks, {grid.shape[1]}x{grid.shape[0]} px")


def reconstruction_miou(editor, masks: np.ndarray, progress: Progress | None = None) -> float:
    """mIoU of the editor's reconstructions of `masks`: per-class IoU over the whole set, mean over
    the classes present in the ground truth (`semantic_vae.metrics.scores_from_confusion`)."""
    c = editor.num_classes
    confusion = np.zeros(c * c, np.int64)
    for start in range(0, len(masks), editor.batch_size):
        batch = masks[start : start + editor.batch_size]
        recon = np.asarray(editor.reconstruct(batch))
        confusion += np.bincount((batch.astype(np.int64) * c + recon).ravel(), minlength=c * c)
        if progress is not None:
            progress.update(len(batch))
    return float(scores_from_confusion(torch.from_numpy(confusion.reshape(c, c)))["miou"])


EDITED_PARTS = ("nose", "l_eye", "r_eye", "l_brow", "r_brow", "u_lip", "l_lip", "hair")


def edited_smoothness(
    editor, masks: np.ndarray, reference: dict[str, dict[str, float]], progress: Progress | None = None
) -> dict[str, dict]:
    """Contour smoothness of parts the editor regenerated in `masks` (each part of EDITED_PARTS alone: `generate`,
    seed 0, keep="input", at the masks' size), with the model's logits brought to that size bilinearly (this
    project's default) and as a nearest-neighbour resized label map (the staircases), against the same class in
    `reference` (`summarise` of real masks): per part, perimeter² / area and the mean turning angle, each with its
    ratio to the real one. Perimeter² / area also grows with elongation; the turning angle sees staircases. "drawn" is
    the share of the edited masks that have the part: where it is 0 the model did not draw it and there is no ratio."""
    out: dict[str, dict] = {}
    before = editor.upsample
    try:
        for mode in ("nearest", "bilinear"):
            editor.upsample = mode
            per_part = {}
            for part in EDITED_PARTS:
                edited = np.asarray(editor.generate(masks, parts=part, seed=0, keep="input"))
                stats, real = summarise(measure(edited))[part], reference[part]
                per_part[part] = {
                    "drawn": stats["presence"],  # share of the edited masks that have the part (0: never drawn)
                    "perimeter2_per_area": stats["perimeter2_per_area"],
                    "ratio_to_real": stats["perimeter2_per_area"] / real["perimeter2_per_area"],
                    "turning_angle_deg": stats["turning_angle_deg"],
                    "turning_ratio_to_real": stats["turning_angle_deg"] / real["turning_angle_deg"],
                }
                if progress is not None:
                    progress.update(len(masks))
            out[mode] = per_part
    finally:
        editor.upsample = before
    return out


def _real_files(real: str) -> list[Path]:
    folder = Path(real)
    if not folder.is_dir():
        raise UserError(f"real: {folder} is not a folder of label PNGs")
    try:
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png" and p.is_file())
    except OSError as err:
        raise UserError(f"real: cannot read the folder {folder} ({err.strerror or type(err).__name__})") from None
    if len(files) < 2:
        found = "no PNG files" if not files else "only one PNG file"
        raise UserError(f"real: {found} in {folder}; the comparison needs at least 2 label PNGs")
    return files


def _synthetic(seed: int, n: int, size: int, progress: Progress) -> np.ndarray:
    """n held-out synthetic masks, generated in chunks (a mask depends on its index alone) to count progress."""
    chunks = []
    for start in range(0, n, SYNTHETIC_CHUNK):
        chunks.append(generate_masks(seed, HELDOUT_START + start, min(SYNTHETIC_CHUNK, n - start), size))
        progress.update(len(chunks[-1]))
    return np.concatenate(chunks)


def _mask_figure(synthetic: np.ndarray, real: np.ndarray, path: Path) -> None:
    """Up to FIGURE_ROWS rows of each set, synthetic above real; the footer says how many are left out."""
    shown = FIGURE_COLUMNS * FIGURE_ROWS
    rows = []
    for name, masks in (("synthetic", synthetic[:shown]), ("real", real[:shown])):
        for start in range(0, len(masks), FIGURE_COLUMNS):
            stop = min(len(masks), start + FIGURE_COLUMNS)
            rows.append(GridRow(f"{name} {start + 1}–{stop}", list(masks[start:stop])))
    notes = (subset_note(min(shown, len(synthetic)), len(synthetic), "synthetic masks"),
             subset_note(min(shown, len(real)), len(real), "real masks"))  # fmt: skip
    save_grid(path, MaskGrid(rows, footer="; ".join(n for n in notes if n)), CELEBAMASK_HQ)


def _print_table(report: dict) -> None:
    names = list(report["real"]["classes"])
    syn, real = report["synthetic"]["classes"], report["real"]["classes"]
    width = max(len(n) for n in names)
    print(f"{'class':<{width}}  {'share syn/real':>17}  {'presence syn/real':>17}  {'P²/A syn/real':>13}")
    for name in names:
        s, r = syn[name], real[name]
        roundness = (_shown(v["perimeter2_per_area"], ">5.1f", "  n/a") for v in (s, r))  # n/a: no mask has the class
        print(
            f"{name:<{width}}  {s['pixel_share']:>7.2%} / {r['pixel_share']:>7.2%}  "
            f"{s['presence']:>7.1%} / {r['presence']:>7.1%}  {' / '.join(roundness)}"
        )
    ratios = report["share_ratios"]
    worst = max(ratios, key=lambda n: abs(math.log(ratios[n])) if ratios[n] > 0 else math.inf) if ratios else None
    print(f"realism Fréchet distance: {report['frechet_distance']:.4f}")
    if worst:
        print(f"share ratios (classes with >= 0.5% of real pixels): furthest {worst} ×{ratios[worst]:.2f}")
    if "reconstruction_miou" in report:
        miou = report["reconstruction_miou"]
        print(f"reconstruction mIoU: real {miou['real']:.2%}, synthetic {miou['synthetic']:.2%}")
    if "edited_smoothness" in report:
        for mode, parts in report["edited_smoothness"].items():
            ratios = ", ".join(f"{p} {_smoothness_text(v)}" for p, v in parts.items())
            print(f"edited parts over real parts, P²/A / turning angle ({mode} upsampling): {ratios}")


def _shown(value: float, spec: str, missing: str) -> str:
    return format(value, spec) if math.isfinite(value) else missing


def _smoothness_text(values: dict[str, float]) -> str:
    """'1.02/1.10', or why there is no ratio: the model did not draw the part, or no real mask has it."""
    ratios = (values["ratio_to_real"], values["turning_ratio_to_real"])
    if all(math.isfinite(r) for r in ratios):
        return f"{ratios[0]:.2f}/{ratios[1]:.2f}"
    if not values["drawn"]:
        return "not drawn by the model"
    if not math.isfinite(values["perimeter2_per_area"]):
        return "drawn too thin to measure"
    return "absent from the real masks"


def compare(
    real: str,
    n: int = 2000,
    size: int = 256,
    seed: int = 0,
    out: str = "outputs/compare",
    ckpt: str | None = None,
    quiet: bool = False,
) -> None:
    """Compare held-out synthetic masks with real label maps: class statistics, shapes, realism.

    Writes `<out>/compare.json`, `<out>/masks.png` (synthetic rows above real rows) and
    `<out>/classes.png` (pixel share and presence per class), and prints a short table.

    Args:
        real: a folder of real label PNGs with CelebAMask-HQ's 19 ids (grayscale or colourised).
        n: synthetic masks to generate (held out: indices from 10,000,000 on).
        size: side in pixels at which both sets are measured (real masks resized with nearest-neighbour).
        seed: seed of the synthetic masks.
        out: folder for the JSON and the figures (created if missing; files are overwritten).
        ckpt: a Semantic-VAE checkpoint of CelebAMask-HQ's 19 classes: also its reconstruction mIoU on both sets, and
            the contour smoothness of parts it regenerates in the real masks (`edited_smoothness`).
        quiet: no progress bar (it shows only on a terminal).
    """
    if n < 2:
        raise UserError(f"n must be at least 2 (the Fréchet distance needs two masks per set), got {n}")
    if size < 1:
        raise UserError(f"size must be positive, got {size}")
    check_seed(seed, "--seed")
    editor = None
    if ckpt is not None:
        editor = MaskEditor.from_checkpoint(ckpt)
        if tuple(editor.class_names) != CELEBAMASK_HQ.names:
            raise UserError(f"ckpt: {ckpt} has {editor.num_classes} classes, not CelebAMask-HQ's 19")
    files = _real_files(real)
    count = len(files)
    work = 2 * (n + count) + (n + count + 2 * len(EDITED_PARTS) * count if editor is not None else 0)  # masks
    with Progress(work, "data compare", enabled=not quiet) as bar:
        bar.describe("data compare: reading the real masks")
        real_masks = []
        for path in files:
            real_masks.append(read_label_png(path, CELEBAMASK_HQ, size=size))
            bar.update()
        real_masks = np.stack(real_masks)
        target = ensure_dir(out, "output folder")
        bar.describe("data compare: generating synthetic masks")
        synthetic_masks = _synthetic(seed, n, size, bar)

        bar.describe("data compare: measuring")
        num_classes = CELEBAMASK_HQ.num_classes
        summaries = {
            "synthetic": summarise(measure(synthetic_masks, progress=bar)),
            "real": summarise(measure(real_masks, progress=bar)),
        }
        fd = mask_geometry.frechet_distance(
            mask_geometry.geometric_features(synthetic_masks, num_classes),
            mask_geometry.geometric_features(real_masks, num_classes),
        )
        ratios = {
            name: summaries["synthetic"][name]["pixel_share"] / stats["pixel_share"]
            for name, stats in summaries["real"].items()
            if stats["pixel_share"] >= SHARE_RATIO_MIN_SHARE
        }
        report = {
            "size": size,
            "synthetic": {
                "generator_version": GENERATOR_VERSION,
                "seed": seed,
                "start": HELDOUT_START,
                "count": n,
                "classes": summaries["synthetic"],
            },
            "real": {"folder": str(real), "count": count, "classes": summaries["real"]},
            "frechet_distance": fd,
            "share_ratios": ratios,
        }
        if editor is not None:
            bar.describe("data compare: reconstructing")
            report["reconstruction_miou"] = {
                "checkpoint": str(ckpt),
                "real": reconstruction_miou(editor, real_masks, bar),
                "synthetic": reconstruction_miou(editor, synthetic_masks, bar),
            }
            bar.describe("data compare: regenerating parts")
            report["edited_smoothness"] = edited_smoothness(editor, real_masks, summaries["real"], bar)
    write_json_atomic(target / "compare.json", report)
    _mask_figure(synthetic_masks, real_masks, target / "masks.png")
    class_chart(summaries["synthetic"], summaries["real"], target / "classes.png")
    _print_table(report)
    print(f"wrote {target / 'compare.json'}, masks.png, classes.png ({n} synthetic, {count} real, {size}x{size})")


COMMANDS = [merge, prepare, preview, compare]


def main(args: list[str] | None = None) -> None:
    """`semantic-vae data COMMAND ...`."""
    function_cli(COMMANDS, args, "semantic-vae data")
