"""`semantic-vae data merge|prepare|preview`: plain typed functions that jsonargparse.CLI exposes.

They print their results and raise `UserError` on bad input; no argument parsing here.
"""

from __future__ import annotations

import time
from typing import Literal

import numpy as np

from semantic_vae.checks import check_seed
from semantic_vae.data.compare import compare
from semantic_vae.errors import UserError
from semantic_vae.labels import CELEBAMASK_HQ, LabelSet, load_label_set, resolve_label_set
from semantic_vae.runtime import cpu_count

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
    from semantic_vae.data.celebamask import open_root, write_merged

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
    from semantic_vae.data.cache import CacheSpec, load_or_build_cache
    from semantic_vae.losses import class_weights
    from semantic_vae.model.config import check_image_size

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
        from semantic_vae.data.synthetic import generate_masks

        return generate_masks(seed, 0, n, size)
    if not root:
        raise UserError("root: source 'celebamask' needs the path of a CelebAMask-HQ folder")
    from semantic_vae.data.celebamask import open_root, read_masks

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
    from semantic_vae.data.io import check_png_name, write_rgb_png

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
    from semantic_vae.viz import mask_grid

    grid = mask_grid(masks, labels)
    write_rgb_png(out, grid)
    print(f"wrote {out}: {len(masks)} {source} masks, {grid.shape[1]}x{grid.shape[0]} px")


COMMANDS = [merge, prepare, preview, compare]


def main(args: list[str] | None = None) -> None:
    """`semantic-vae data COMMAND ...`."""
    from semantic_vae.entry import function_cli

    function_cli(COMMANDS, args, "semantic-vae data")
