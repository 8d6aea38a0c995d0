"""Data-path speed: the cache build, DataLoader rates (workers, pinned memory), batched memmap reads,
synthetic generation, and the raw CelebAMask-HQ part-PNG merge."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from semantic_vae.bench.core import Context, sig, skipped, sync

LOADER_KEYS = ("masks_per_s", "first_batch_s", "workers", "pin_memory")


def measure_loader(ctx: Context, cache_masks: np.ndarray, workers: int, pin: bool) -> dict[str, Any]:
    """Cache memmap -> MaskDataset -> DataLoader (the DataModule's sampler) -> device, one pass.

    The rate excludes the first batch (worker start-up, reported as `first_batch_s`).
    """
    from torch.utils.data import DataLoader

    from semantic_vae.data.datamodule import MaskDataset, collate_masks
    from semantic_vae.data.samplers import ShuffledShardSampler

    s = ctx.settings
    if pin and ctx.device.type != "cuda":
        return skipped(
            LOADER_KEYS, "pinned memory only speeds host-to-GPU copies; no GPU here", batch=s.loader_batch, masks=None
        )
    n = len(cache_masks)
    loader = DataLoader(
        MaskDataset(cache_masks, np.arange(n)),
        batch_size=s.loader_batch,
        sampler=ShuffledShardSampler(n, 0),
        collate_fn=collate_masks,
        num_workers=workers,
        pin_memory=pin,
        persistent_workers=False,
        drop_last=False,
        generator=torch.Generator().manual_seed(0),
    )
    begin = time.perf_counter()
    iterator = iter(loader)
    first = next(iterator).to(ctx.device, non_blocking=pin)
    sync(ctx.device)
    started = time.perf_counter()
    count = 0
    for batch in iterator:
        batch = batch.to(ctx.device, non_blocking=pin)
        count += batch.shape[0]
    sync(ctx.device)
    elapsed = time.perf_counter() - started
    del iterator, loader
    return {
        "masks_per_s": sig(count / elapsed) if count else None,
        "first_batch_s": sig(started - begin),
        "workers": workers,
        "pin_memory": pin,
        "batch": s.loader_batch,
        "masks": count + first.shape[0],
        "skipped": None if count else "one batch only: nothing after the first batch to time",
    }


def touch(masks: np.ndarray, chunk: int = 1024) -> None:
    """Read every mask once: the page cache warm, as from a training run's second epoch on."""
    for start in range(0, len(masks), chunk):
        np.asarray(masks[start : start + chunk]).max()


def batched_read_rate(masks: np.ndarray, batch: int) -> float:
    """Random batches read from the memmap with one fancy-index each, in one process, without a
    DataLoader: the ceiling for MaskDataset's batched `__getitems__`."""
    order = np.random.default_rng(0).permutation(len(masks))
    begin = time.perf_counter()
    for start in range(0, len(order), batch):
        torch.from_numpy(masks[order[start : start + batch]])
    return len(order) / (time.perf_counter() - begin)


def measure_data(ctx: Context, cache_dir: Path) -> dict[str, Any]:
    """The synthetic cache (built once, then reused), the loaders reading it, the bare batched read
    and synthetic generation; the same cache as `measure_train_lightning`'s DataModule."""
    from semantic_vae.data.cache import CacheSpec, load_or_build_cache
    from semantic_vae.data.synthetic import generation_rate

    s = ctx.settings
    begin = time.perf_counter()
    cache = load_or_build_cache(
        CacheSpec(
            source="synthetic",
            image_size=s.image_size,
            synthetic_count=s.data_count,
            synthetic_test=s.train_batch,
            workers=s.loader_workers,
        ),
        cache_dir,
        progress=False,
    )
    cache_s = time.perf_counter() - begin
    touch(cache.masks)  # the first pass would pay disk reads
    loaders = {
        "workers_0": measure_loader(ctx, cache.masks, 0, False),
        "workers_n": measure_loader(ctx, cache.masks, s.loader_workers, False),
        "workers_n_pinned": measure_loader(ctx, cache.masks, s.loader_workers, True),
    }
    return {
        "loader": loaders,
        "cache_masks": s.data_count,
        "cache_load_or_build_s": sig(cache_s),
        "cache_build_s": cache.manifest.get("build_seconds"),
        "batched_read_masks_per_s_per_process": sig(batched_read_rate(cache.masks, s.loader_batch)),
        "synthetic_masks_per_s_per_process": sig(generation_rate(s.image_size, s.synthetic_count)),
        "bytes_per_mask_uint8": s.image_size * s.image_size,
        "bytes_per_mask_onehot_fp32": s.image_size * s.image_size * ctx.net.num_classes * 4,
    }


def measure_merge(ctx: Context, work: Path) -> dict[str, Any]:
    """Raw CelebAMask-HQ layout (per-part 512x512 PNGs, overlapping like the hand annotations)
    -> merged label maps at the training size with class counts, as the cache build reads it,
    in one process."""
    from semantic_vae.data.celebamask import make_raw_layout, open_root, read_masks
    from semantic_vae.data.synthetic import generate_masks
    from semantic_vae.labels import CELEBAMASK_HQ

    s = ctx.settings
    keys = ("masks_per_s_per_process", "parts_per_mask")
    labels = generate_masks(seed=0, start=0, count=s.merge_count, size=s.merge_size)
    root = make_raw_layout(labels, work / "raw", overlap=True)
    found = open_root(root)
    parts = sum(len(item.parts) for item in found.items) / max(1, len(found.items))
    begin = time.perf_counter()
    merged = list(read_masks(found, size=s.image_size, num_classes=CELEBAMASK_HQ.num_classes, workers=1))
    elapsed = time.perf_counter() - begin
    if len(merged) != s.merge_count:
        return skipped(
            keys,
            f"read {len(merged)} of {s.merge_count} masks",
            masks=len(merged),
            source_size=s.merge_size,
            out_size=s.image_size,
        )
    return {
        "masks_per_s_per_process": sig(len(merged) / elapsed),
        "parts_per_mask": round(parts, 2),
        "masks": len(merged),
        "source_size": s.merge_size,
        "out_size": s.image_size,
        "skipped": None,
    }
