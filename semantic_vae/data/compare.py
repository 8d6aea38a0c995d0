"""`semantic-vae data compare`: how far the synthetic masks are from real ones, in numbers and figures.

Both sets are measured at one size with the same functions: per class the pixel share, the
presence, the pieces, the position and extent, and two contour measures of smoothness; overall
the realism Fréchet distance of `semantic_vae.shapes` (the edit metrics' measure). With a
checkpoint, the model's reconstruction mIoU on each set shows what the gap costs a model.

Contour measures, per class region of one mask (`cv2.findContours`, outer contours, every pixel):

* perimeter² / area: the summed contour lengths squared over the summed contour areas, both
  through pixel centres (an axis-aligned square gives exactly 16, a disc about 4π, a ragged or
  elongated region more); averaged over the masks where the class is present.
* turning angle: each contour is walked every `turning_step(size)` pixels (1/64 of the image side,
  so sizes compare) and the absolute angle between successive chords is averaged, in degrees, over
  every vertex of the set. A convex outline of the same length turns 360° in all; wiggles, notches
  and staircases add to it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from semantic_vae.checks import check_seed
from semantic_vae.errors import UserError
from semantic_vae.labels import CELEBAMASK_HQ
from semantic_vae.runtime import Progress

HELDOUT_START = 10_000_000  # as semantic_vae.edit.commands: synthetic masks from here on are never trained on
SHARE_RATIO_MIN_SHARE = 0.005  # share ratios are reported for classes with at least 0.5% of the real pixels
FIGURE_COLUMNS = 8
FIGURE_ROWS = 2  # per set
SYNTHETIC_CHUNK = 64  # masks generated at a time


def turning_step(size: int) -> int:
    """Contour points between two vertices of the turning-angle walk: 1/64 of the side, at least 1."""
    return max(1, size // 64)


@dataclass
class MaskStatistics:
    """Per mask (N) and class (C) measurements of a mask set, the raw material of `summarise`."""

    size: int
    pixels: np.ndarray  # (N, C) pixel counts
    fragments: np.ndarray  # (N, C) connected pieces (8-connectivity, as shapes.fragments_per_class)
    centroid: np.ndarray  # (N, C, 2) (y, x) of the pixel centres, fraction of the side; NaN when absent
    extent: np.ndarray  # (N, C, 2) bounding-box (height, width), fraction of the side; NaN when absent
    perimeter: np.ndarray  # (N, C) summed outer contour length, pixels
    contour_area: np.ndarray  # (N, C) summed outer contour area, pixels²
    turn_sum: np.ndarray  # (N, C) summed absolute turning angles, degrees
    turn_count: np.ndarray  # (N, C) vertices those angles were taken at


def _turning(contour: np.ndarray, step: int) -> tuple[float, int]:
    """Summed absolute turning angle (degrees) and vertex count of one closed contour walked every `step` points."""
    points = contour[::step, 0, :].astype(np.float64)
    if len(points) < 3:
        return 0.0, 0
    chords = np.roll(points, -1, axis=0) - points  # chord i runs from vertex i to vertex i + 1
    before = np.roll(chords, 1, axis=0)
    cross = before[:, 0] * chords[:, 1] - before[:, 1] * chords[:, 0]
    dot = (before * chords).sum(1)
    return float(np.degrees(np.abs(np.arctan2(cross, dot))).sum()), len(points)


def measure(
    masks: np.ndarray, num_classes: int = CELEBAMASK_HQ.num_classes, progress: Progress | None = None
) -> MaskStatistics:
    """Measure (N, H, W) square label maps class by class (`progress` counts the masks)."""
    masks = np.asarray(masks)
    n, size, _ = masks.shape
    step = turning_step(size)
    stats = MaskStatistics(
        size=size,
        pixels=np.zeros((n, num_classes), np.int64),
        fragments=np.zeros((n, num_classes), np.int64),
        centroid=np.full((n, num_classes, 2), np.nan),
        extent=np.full((n, num_classes, 2), np.nan),
        perimeter=np.zeros((n, num_classes)),
        contour_area=np.zeros((n, num_classes)),
        turn_sum=np.zeros((n, num_classes)),
        turn_count=np.zeros((n, num_classes), np.int64),
    )
    for i, mask in enumerate(masks):
        for c in np.unique(mask):
            if c >= num_classes:
                continue
            region = (mask == c).astype(np.uint8)
            count, _, boxes, centres = cv2.connectedComponentsWithStats(region, connectivity=8)
            boxes, centres = boxes[1:], centres[1:]  # component 0 is everything else
            areas = boxes[:, cv2.CC_STAT_AREA]
            top, left = boxes[:, cv2.CC_STAT_TOP], boxes[:, cv2.CC_STAT_LEFT]
            bottom, right = top + boxes[:, cv2.CC_STAT_HEIGHT], left + boxes[:, cv2.CC_STAT_WIDTH]
            stats.pixels[i, c] = areas.sum()
            stats.fragments[i, c] = count - 1
            mean_xy = (centres * areas[:, None]).sum(0) / areas.sum()
            stats.centroid[i, c] = (mean_xy[1] + 0.5) / size, (mean_xy[0] + 0.5) / size
            stats.extent[i, c] = (bottom.max() - top.min()) / size, (right.max() - left.min()) / size
            contours, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
            for contour in contours:
                stats.perimeter[i, c] += cv2.arcLength(contour, True)
                stats.contour_area[i, c] += cv2.contourArea(contour)
                turned, vertices = _turning(contour, step)
                stats.turn_sum[i, c] += turned
                stats.turn_count[i, c] += vertices
        if progress is not None:
            progress.update()
    return stats


def _mean_std(values: np.ndarray) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if not len(values):
        return math.nan, math.nan
    return float(values.mean()), float(values.std())


def summarise(stats: MaskStatistics, names: tuple[str, ...] = CELEBAMASK_HQ.names) -> dict[str, dict[str, float]]:
    """Per class name: pixel share, presence, fragments where present, centroid and extent mean/std, smoothness.

    Positions and extents are fractions of the image side, over the masks that hold the class;
    NaN where no mask does.
    """
    total = stats.pixels.sum()
    present = stats.pixels > 0
    out = {}
    for c, name in enumerate(names):
        here = present[:, c]
        with np.errstate(invalid="ignore", divide="ignore"):
            roundness = stats.perimeter[here, c] ** 2 / stats.contour_area[here, c]
        roundness = roundness[np.isfinite(roundness)]  # one-pixel-wide regions enclose no area
        turns = stats.turn_count[here, c].sum()
        cy, cy_std = _mean_std(stats.centroid[:, c, 0])
        cx, cx_std = _mean_std(stats.centroid[:, c, 1])
        h, h_std = _mean_std(stats.extent[:, c, 0])
        w, w_std = _mean_std(stats.extent[:, c, 1])
        out[name] = {
            "pixel_share": float(stats.pixels[:, c].sum() / total) if total else math.nan,
            "presence": float(here.mean()) if len(here) else math.nan,
            "fragments": float(stats.fragments[here, c].mean()) if here.any() else math.nan,
            "centroid_y": cy,
            "centroid_y_std": cy_std,
            "centroid_x": cx,
            "centroid_x_std": cx_std,
            "height": h,
            "height_std": h_std,
            "width": w,
            "width_std": w_std,
            "perimeter2_per_area": float(roundness.mean()) if len(roundness) else math.nan,
            "turning_angle_deg": float(stats.turn_sum[here, c].sum() / turns) if turns else math.nan,
        }
    return out


def reconstruction_miou(editor, masks: np.ndarray, progress: Progress | None = None) -> float:
    """mIoU of the editor's reconstructions of `masks`: per-class IoU over the whole set, mean over
    the classes present in the ground truth (`semantic_vae.metrics.scores_from_confusion`)."""
    import torch

    from semantic_vae.metrics import scores_from_confusion

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
    from semantic_vae.data.synthetic import generate_masks

    chunks = []
    for start in range(0, n, SYNTHETIC_CHUNK):
        chunks.append(generate_masks(seed, HELDOUT_START + start, min(SYNTHETIC_CHUNK, n - start), size))
        progress.update(len(chunks[-1]))
    return np.concatenate(chunks)


def _mask_figure(synthetic: np.ndarray, real: np.ndarray, path: Path) -> None:
    """Up to FIGURE_ROWS rows of each set, synthetic above real; the footer says how many are left out."""
    from semantic_vae.viz import GridRow, MaskGrid, save_grid, subset_note

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
    from semantic_vae import shapes
    from semantic_vae.data.io import read_label_png
    from semantic_vae.data.synthetic import GENERATOR_VERSION
    from semantic_vae.files import ensure_dir, write_json_atomic
    from semantic_vae.viz import class_chart

    if n < 2:
        raise UserError(f"n must be at least 2 (the Fréchet distance needs two masks per set), got {n}")
    if size < 1:
        raise UserError(f"size must be positive, got {size}")
    check_seed(seed, "--seed")
    editor = None
    if ckpt is not None:
        from semantic_vae.edit import MaskEditor

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
        fd = shapes.frechet_distance(
            shapes.geometric_features(synthetic_masks, num_classes), shapes.geometric_features(real_masks, num_classes)
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
