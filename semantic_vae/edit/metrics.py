"""Edit metrics: what the paper only shows in figures, measured (locality, validity, realism, diversity).

All functions take integer label maps, (H, W) or (N, H, W) numpy arrays, and are exact
functions of them (no model, no randomness), so they can be checked by hand. A part is one
class id or several edited together (the "lips" group: u_lip, l_lip, mouth).

Each edit is compared with its baseline: the input for keep="input" or "changes", otherwise the model's
reconstruction (what the raw edit would be without the edit).

* Locality: of the pixels an edit changes, the share inside the part's neighbourhood (the part
  in the baseline or the edit, dilated by a distance). Higher is more local.
* Part change: 1 - IoU of the part before and after. Higher: the edit acts on the part.
* Validity: connected components (8-connectivity) per class, stray islands per mask, and the
  islands an edit adds to its baseline.
* Realism: a Fréchet distance between per-mask geometric feature vectors of two mask sets.
* Diversity: mean pairwise IoU of the edited part across seeds. Lower is more diverse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import combinations
from typing import TYPE_CHECKING

import numpy as np

from semantic_vae.console import Progress
from semantic_vae.edit import placement
from semantic_vae.edit.attributes import measure_all
from semantic_vae.edit.edit import REGISTRY, Edit, Template
from semantic_vae.edit.region import DEFAULT_KEEP, KEEP_RADIUS, part_region, scaled_radius
from semantic_vae.mask_geometry import (
    as_batch,
    frechet_distance,
    geometric_features,
    iou,
    stray_islands,
    validity,
)

if TYPE_CHECKING:
    from semantic_vae.edit.editor import MaskEditor

METRIC_DISTANCE = 4  # pixels around a part (at the compared masks' size) that count as its neighbourhood

Part = int | Sequence[int]


def _ids(part: Part) -> list[int]:
    return [int(part)] if isinstance(part, (int, np.integer)) else [int(p) for p in part]


# -- locality ---------------------------------------------------------------------------
def neighbourhood(before: np.ndarray, after: np.ndarray, part: Part, distance: int = METRIC_DISTANCE) -> np.ndarray:
    """(H, W) bool: the part's pixels in `before` or `after`, dilated by `distance` pixels (`region.part_region`)."""
    return part_region(before, after, _ids(part), distance)


def locality_counts(
    before: np.ndarray, after: np.ndarray, part: Part, distance: int = METRIC_DISTANCE
) -> tuple[int, int]:
    """(changed pixels, changed pixels inside the part's neighbourhood), summed over a batch."""
    changed_total = inside_total = 0
    for b, a in zip(as_batch(before), as_batch(after), strict=True):
        changed = b != a
        changed_total += int(changed.sum())
        inside_total += int((changed & neighbourhood(b, a, part, distance)).sum())
    return changed_total, inside_total


def locality(before: np.ndarray, after: np.ndarray, part: Part, distance: int = METRIC_DISTANCE) -> float:
    """Share of changed pixels inside the part's neighbourhood, pooled over the batch; NaN if nothing changed."""
    changed, inside = locality_counts(before, after, part, distance)
    return inside / changed if changed else float("nan")


def part_change(before: np.ndarray, after: np.ndarray, part: Part) -> float:
    """Mean over the batch of 1 - IoU of the part's region before and after."""
    ids = _ids(part)
    return float(
        np.mean([1.0 - iou(np.isin(b, ids), np.isin(a, ids)) for b, a in zip(as_batch(before), as_batch(after))])
    )


# -- validity ---------------------------------------------------------------------------
def islands_added(before: np.ndarray, after: np.ndarray, num_classes: int) -> float:
    """Mean over the batch of the stray islands `after` has beyond those of `before` (0 when it has fewer)."""
    pairs = zip(as_batch(before), as_batch(after), strict=True)
    return float(np.mean([max(0, stray_islands(a, num_classes) - stray_islands(b, num_classes)) for b, a in pairs]))


# -- diversity --------------------------------------------------------------------------
def pairwise_part_iou(variants: np.ndarray, part: Part) -> float:
    """Mean IoU of the part's region over all pairs of K >= 2 edits (K, H, W) of one input."""
    regions = [np.isin(v, _ids(part)) for v in variants]
    if len(regions) < 2:
        raise ValueError("diversity needs at least 2 variants")
    return float(np.mean([iou(x, y) for x, y in combinations(regions, 2)]))


def diversity(variants: np.ndarray, part: Part) -> float:
    """(K, N, H, W): K seeds of the same N inputs -> mean over inputs of the mean pairwise part IoU."""
    variants = np.asarray(variants)
    if variants.ndim == 3:
        variants = variants[:, None]
    return float(np.mean([pairwise_part_iou(variants[:, i], part) for i in range(variants.shape[1])]))


# -- the evaluation protocol of `semantic-vae evaluate-edits` ---------------------------
EDIT_OPERATIONS: tuple[str, ...] = tuple(n for n, kind in REGISTRY.items() if kind.measured_by == "edits")


def _nan_to_none(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


@dataclass(frozen=True)
class EditMetricSettings:
    """How `evaluate_editor` measures: seeds per mask, the first seed, and the locality neighbourhood's distance."""

    seeds: int = 4
    seed: int = 0
    distance: int = METRIC_DISTANCE


def _edit_set(
    editor: MaskEditor, edit: Edit, masks: np.ndarray, targets: np.ndarray, settings: EditMetricSettings
) -> np.ndarray:
    """(K, N, H, W) edits of the N masks: K = `settings.seeds` for the operations that draw noise, 1 otherwise.

    The K copies go through the model as one batch (few large forward passes are much faster
    than many small ones, the LSTM above all); copy k of mask i has its own seed, seed + k*N + i.
    """
    n, k = len(masks), settings.seeds
    if edit.draws_noise:
        copies = np.concatenate([masks] * k)  # (K*N, H, W)
        edits = editor.apply(edit, copies, seeds=[settings.seed + i for i in range(k * n)])
        return edits.reshape(k, *masks.shape)
    return editor.apply(edit, masks, targets)[None]


def evaluate_editor(
    editor: MaskEditor,
    masks: np.ndarray,
    parts: dict[str, list[int]],
    operations: tuple[str, ...] = EDIT_OPERATIONS,
    edit: Template = Template(),
    settings: EditMetricSettings = EditMetricSettings(),
    progress: bool = False,
) -> dict:
    """Every edit metric for each operation and part on N >= 2 masks (N, H, W); JSON-ready (NaN -> None).

    `parts` maps a name to the class ids edited together ({"nose": [2], "lips": [10, 11, 12]}). `edit` is the
    template of every edit (its scale, alpha, prior, keep and radius; operation and parts are set here).
    generate / perturb run K = `settings.seeds` times per mask (diversity over those K); swap and
    interpolate take mask i-1 as the target of mask i. Each edit is compared with its
    baseline: the input for keep="input" or "changes", otherwise the reconstruction. Realism compares against
    the input masks themselves (the real test masks); the reconstruction's distance is the floor.
    `progress`: a bar over the (operation, part) pairs on a terminal.
    """
    masks = as_batch(masks)
    n, h, w = masks.shape
    if n < 2:
        raise ValueError(f"the edit metrics need at least 2 masks, got {n}")
    c = editor.num_classes
    recon = editor.reconstruct(masks)  # (N, H, W)
    baseline = masks if edit.keep in ("input", "changes") else recon
    real_features = geometric_features(masks, c)
    real_validity = validity(masks, c)
    recon_validity = validity(recon, c)
    results: dict = {
        "count": n,
        "size": [h, w],
        "edit": edit.to_dict(),
        **asdict(settings),
        "real": {k: real_validity[k] for k in ("fragments", "stray_islands_per_mask")},
        "reconstruct": {
            "pixel_accuracy": float((recon == masks).mean()),
            "fragments": recon_validity["fragments"],
            "stray_islands_per_mask": recon_validity["stray_islands_per_mask"],
            "fd": frechet_distance(geometric_features(recon, c), real_features),
        },
        "operations": {},
    }
    targets = np.roll(masks, 1, axis=0)
    with Progress(len(operations) * len(parts), "edit metrics", enabled=progress, unit="edit") as bar:
        for op in operations:
            per_part: dict = {}
            for name, part in parts.items():
                bar.describe(f"edit metrics: {op} {name}")
                step = edit.edit(op, [str(i) for i in part])
                edits = _edit_set(editor, step, masks, targets, settings)  # (K, N, H, W)
                flat = edits.reshape(-1, h, w)
                before = np.broadcast_to(baseline, edits.shape).reshape(-1, h, w)
                edit_validity = validity(flat, c)
                per_part[name] = {
                    "locality": _nan_to_none(locality(before, flat, part, settings.distance)),
                    "changed": float(np.count_nonzero(before != flat)) / flat.size,
                    "part_change": part_change(before, flat, part),
                    "fragments": edit_validity["fragments"],
                    "stray_islands_per_mask": edit_validity["stray_islands_per_mask"],
                    "islands_added": islands_added(before, flat, c),
                    "fd": frechet_distance(geometric_features(flat, c), real_features),
                    "diversity": diversity(edits, part) if len(edits) >= 2 else None,
                }
                bar.update()
            results["operations"][op] = per_part
    return results


def format_table(results: dict) -> str:
    """The results of `evaluate_editor` as a fixed-width text table."""

    def cell(value: float | None, fmt: str = "{:.3f}") -> str:
        return "-" if value is None else fmt.format(value)

    columns = ("locality", "changed", "part chg", "frag/cls", "stray/mask", "+islands", "FD", "div IoU")
    header = f"{'operation':<12}{'part':<9}" + "".join(f"{c:>11}" for c in columns)
    lines = [
        f"keep={results['edit']['keep']} (radius {results['edit']['radius']}), prior={results['edit']['prior']}, "
        f"{results['count']} masks at {results['size'][0]}x{results['size'][1]}, {results['seeds']} seeds",
        header,
        "-" * len(header),
    ]
    real, recon = results["real"], results["reconstruct"]
    lines.append(
        f"{'real':<12}{'':<9}{'-':>11}{'-':>11}{'-':>11}{real['fragments']:>11.3f}{real['stray_islands_per_mask']:>11.2f}"
        f"{'-':>11}{'0':>11}{'-':>11}"
    )
    lines.append(
        f"{'reconstruct':<12}{'':<9}{'-':>11}{1 - recon['pixel_accuracy']:>11.3f}{'-':>11}{recon['fragments']:>11.3f}"
        f"{recon['stray_islands_per_mask']:>11.2f}{'-':>11}{recon['fd']:>11.4f}{'-':>11}"
    )
    for op, per_part in results["operations"].items():
        for part, m in per_part.items():
            lines.append(
                f"{op:<12}{part:<9}{cell(m['locality']):>11}{m['changed']:>11.3f}{m['part_change']:>11.3f}"
                f"{m['fragments']:>11.3f}{m['stray_islands_per_mask']:>11.2f}{m['islands_added']:>11.2f}"
                f"{m['fd']:>11.4f}{cell(m['diversity']):>11}"
            )
    lines.append(
        f"locality: share of changed pixels within {results['distance']} px of the part (higher = more local); "
        "changed: share of pixels changed vs the baseline (the input for keep=input or changes, else the reconstruction; "
        "for 'reconstruct': vs the input); part chg: 1 - IoU of the part before and after; +islands: stray "
        "islands added to the baseline per edit; FD: Fréchet distance of geometric features to the real masks; "
        "div IoU: mean pairwise IoU of the part across seeds (lower = more diverse)"
    )
    return "\n".join(lines)


# -- steer, add, remove ------------------------------------------------------------------
STEERING_OPERATIONS: tuple[str, ...] = tuple(
    n for n, k in REGISTRY.items() if k.measured_by in ("steering", "presence")
)
STEER_AMOUNTS: tuple[float, ...] = (-2.0, -1.0, 0.0, 1.0, 2.0)
PRESENCE_PARTS: tuple[str, ...] = ("eye_g", "hat", "ear_r", "neck_l", "mouth", "l_ear", "r_ear")  # what add/remove try
FREQUENT = 0.3  # a part in at least this share of the masks is frequent: steering is measured (and the ablation reports KL and active units) on those


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation (ties get their mean rank); NaN when either side is constant.

    Not torchmetrics' `spearman_corrcoef`: it adds an epsilon to the denominator (about 1e-6 off in float64) and
    gives 0 for a constant side, where nothing is correlated or not; tests/test_edit_metrics.py holds the two side by
    side, ties included."""

    def ranks(v: np.ndarray) -> np.ndarray:
        order = np.argsort(v, kind="stable")
        r = np.empty(len(v))
        r[order] = np.arange(len(v), dtype=np.float64)
        for value in np.unique(v):  # average the ranks of ties
            same = v == value
            r[same] = r[same].mean()
        return r

    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(np.corrcoef(ranks(x), ranks(y))[0, 1])


def _median(values: list[float] | np.ndarray) -> float | None:
    values = np.asarray(values, np.float64)
    values = values[np.isfinite(values)]
    return float(np.median(values)) if values.size else None


def _adds_a_class(before: np.ndarray, after: np.ndarray, part_ids: Sequence[int], pixels: int = 4) -> np.ndarray:
    """Per mask: whether `after` draws more than `pixels` of a class that `before` lacks (the part's own aside)."""
    flat_before, flat_after = before.reshape(len(before), -1), after.reshape(len(after), -1)
    classes = [c for c in range(int(max(before.max(), after.max())) + 1) if c not in part_ids]
    return np.array(
        [any(not (b == c).any() and (a == c).sum() > pixels for c in classes) for b, a in zip(flat_before, flat_after)]
    )


def evaluate_steering(
    editor: MaskEditor,
    masks: np.ndarray,
    keep: str = DEFAULT_KEEP,
    amounts: Sequence[float] = STEER_AMOUNTS,
    parts: Sequence[str] | None = None,
    progress: bool = False,
) -> dict:
    """For each part in >= FREQUENT of the masks and each of its attributes whose direction has held-out R^2 >= 0.3:

    moved (share of the +-1 edits that move the attribute the asked way), ratio (median achieved / asked over the
    +-1 edits), spearman (asked against achieved over every amount and mask), own_other (median |change| of the
    part's other attributes at +-1, held) and other_parts (median |change| of the other parts' attributes at +-1
    against the input), parts_added (share of the edits at amounts other than 0 that draw more than 4 pixels of a
    class the input lacks, the part's own aside). Changes are in standard deviations of the training split; the
    achieved change of an amount is against the same edit at amount 0 (the part as the model draws it unsteered),
    on the masks that have it.
    """
    steering = editor.require_steering("steer metrics")
    masks = as_batch(masks)
    label_set = editor.label_set
    if 0.0 not in amounts:
        amounts = (0.0, *amounts)
    results: dict = {}
    chosen_parts = {p: a for p, a in steering.directions.items() if parts is None or p in parts}
    total = steering.steerable_count(chosen_parts)
    with Progress(total, "steer metrics", enabled=progress, unit="direction") as bar:
        for part, attrs in chosen_parts.items():
            ids = label_set.ids_of(part)
            has = np.stack([(masks == c).reshape(len(masks), -1).any(1) for c in ids]).all(0)
            if has.mean() < FREQUENT or has.sum() < 2:
                bar.update(steering.steerable_count([part]))
                continue
            chosen = masks[has]
            given = steering.normalised(measure_all(chosen, label_set))
            for name, direction in attrs.items():
                if not direction.steerable:
                    continue
                bar.describe(f"steer metrics: {part} {name}")
                edits = [Edit("steer", part, attribute=name, amount=a, keep=keep) for a in amounts]
                outs = dict(zip(amounts, editor.apply_many(edits, chosen)))
                values = {a: steering.normalised(measure_all(out, label_set)) for a, out in outs.items()}
                zero = values[0.0]
                added = [_adds_a_class(chosen, out, ids) for a, out in outs.items() if a != 0.0]
                asked, achieved, own, others = [], [], [], []
                for amount in amounts:
                    change = values[amount][(part, name)] - zero[(part, name)]
                    asked.append(np.full(len(change), amount))
                    achieved.append(change)
                    if abs(amount) == 1.0:
                        after = values[amount]
                        own += [np.abs(after[k] - zero[k]) for k in after if k[0] == part and k[1] != name]
                        others += [np.abs(after[k] - given[k]) for k in after
                                   if k[0] != part and not set(label_set.ids_of(k[0])) & set(ids)]  # fmt: skip
                asked_all, achieved_all = np.concatenate(asked), np.concatenate(achieved)
                ok = np.isfinite(achieved_all)
                unit = ok & (np.abs(asked_all) == 1.0)
                results.setdefault(part, {})[name] = {
                    "r2": direction.r2,
                    "gain": direction.gain,
                    "moved": float((np.sign(achieved_all[unit]) == np.sign(asked_all[unit])).mean())
                    if unit.any()
                    else None,
                    "ratio": _median(achieved_all[unit] / asked_all[unit]) if unit.any() else None,
                    "spearman": _nan_to_none(spearman(asked_all[ok], achieved_all[ok])),
                    "own_other": _median(np.concatenate(own)) if own else None,
                    "other_parts": _median(np.concatenate(others)) if others else None,
                    "parts_added": float(np.concatenate(added).mean()) if added else None,
                    "masks": int(has.sum()),
                }
                bar.update()
    return results


def evaluate_presence(
    editor: MaskEditor,
    masks: np.ndarray,
    parts: Sequence[str] = PRESENCE_PARTS,
    keep: str = DEFAULT_KEEP,
    seed: int = 0,
    progress: bool = False,
) -> dict:
    """add on the masks that lack each part and remove on those that have it:

    add: present (share where the part is there after), in_place (share placed by `placement.added_in_place`),
    clean (share with no stray island added); remove: absent (share without the part after), outside_kept (share
    where nothing changed outside the part's neighbourhood), plausible_fill (share where only classes that bordered
    the part fill its place).
    """
    steering = editor.require_steering("presence metrics")
    masks = as_batch(masks)
    label_set = editor.label_set
    results: dict = {}
    chosen = [p for p in parts if p in label_set.names and label_set.names.index(p) in steering.presence]
    with Progress(len(chosen), "add/remove metrics", enabled=progress, unit="part") as bar:
        for part in chosen:
            bar.describe(f"add/remove metrics: {part}")
            c = label_set.names.index(part)
            has = (masks == c).reshape(len(masks), -1).any(1)
            entry: dict = {}
            if (~has).any():
                before = masks[~has]
                after = editor.apply(Edit("add", part, keep=keep), before, seeds=[seed + i for i in range(len(before))])
                entry["add"] = {
                    "masks": len(before),
                    "present": float((after == c).reshape(len(after), -1).any(1).mean()),
                    "in_place": float(np.mean(placement.added_in_place(before, after, part, label_set))),
                    "clean": float(np.mean(np.asarray(placement.stray_islands_added(before, after, label_set)) == 0)),
                }
            if has.any():
                before = masks[has]
                after = editor.apply(Edit("remove", part, keep=keep), before)
                radius = scaled_radius(KEEP_RADIUS, before.shape, editor.image_size)
                entry["remove"] = {
                    "masks": len(before),
                    "absent": float(1.0 - (after == c).reshape(len(after), -1).any(1).mean()),
                    "outside_kept": float(
                        np.mean(np.asarray(placement.changed_outside(before, after, [c], radius)) == 0)
                    ),
                    "plausible_fill": float(np.mean(placement.plausible_fill(before, after, [c]))),
                }
            if entry:
                results[part] = entry
            bar.update()
    return results


def format_steering(results: dict) -> str:
    """The steering and presence results of `evaluate-edits` as text tables."""

    def cell(value: float | None, fmt: str = "{:.2f}") -> str:
        return "-" if value is None else fmt.format(value)

    lines = []
    if results.get("steering"):
        header = f"{'steer':<8}{'attribute':<12}" + "".join(
            f"{c:>11}" for c in ("R2", "moved", "ratio", "spearman", "own other", "others", "adds part")
        )
        lines += [header, "-" * len(header)]
        for part, attrs in results["steering"].items():
            for name, m in attrs.items():
                lines.append(
                    f"{part:<8}{name:<12}{m['r2']:>11.2f}"
                    + "".join(
                        f"{cell(m[k]):>11}"
                        for k in ("moved", "ratio", "spearman", "own_other", "other_parts", "parts_added")
                    )
                )
        lines.append(
            "moved: share of the +-1 sd edits that move the attribute the asked way; ratio: median achieved / "
            "asked; spearman: asked vs achieved over -2..2 sd; own other / others: median |change| (sd) of "
            "the part's other attributes (held) / of the other parts' attributes; adds part: share of the edits "
            "at amounts other than 0 that draw a class the input lacks"
        )
    if results.get("presence"):
        header = f"{'part':<8}" + "".join(
            f"{c:>15}" for c in ("add present", "in place", "clean", "remove absent", "outside kept", "plausible")
        )
        lines += [header, "-" * len(header)]
        for part, m in results["presence"].items():
            a, r = m.get("add", {}), m.get("remove", {})
            lines.append(
                f"{part:<8}"
                + "".join(
                    f"{cell(v):>15}"
                    for v in (
                        a.get("present"),
                        a.get("in_place"),
                        a.get("clean"),
                        r.get("absent"),
                        r.get("outside_kept"),
                        r.get("plausible_fill"),
                    )
                )
            )
    return "\n".join(lines)
