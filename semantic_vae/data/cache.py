"""The preprocessed mask cache: uint8 label maps at the training size, so training never decodes PNGs.

A cache is one folder, ``<cache_dir>/<key>/``::

    masks.npy          (N, H, W) uint8   label maps, nearest-neighbour resized (memory-mapped on load)
    class_counts.npy   (N, C) int64      pixels per mask per class: class weights of any subset
                                         are an exact integer sum
    test.npy           (N,) bool         the paper's test split
    names.json         source id of each mask (image index or file stem)
    manifest.json      what was built from what; written last

The key hashes everything the content depends on (source files or generator, resolution,
label set, merge map), so a change builds a new cache. A build goes into a temporary folder
beside it that is renamed into place when complete: an interrupted build never leaves a folder
that loads, and when two processes build at once (DDP ranks) the second rename loses and that
process loads the winner's cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from semantic_vae.console import Progress
from semantic_vae.data import synthetic  # the module: its GENERATOR_VERSION is read when a cache is named
from semantic_vae.data.celebamask import MaskFolder, ReadSummary, open_root, paper_test_mask, read_masks
from semantic_vae.errors import UserError
from semantic_vae.files import ensure_dir, remove_dead_work_folders, work_folder, write_json_atomic
from semantic_vae.labels import CELEBAMASK_HQ, LabelSet, MergeMap

CACHE_FORMAT = 1  # bump when the layout or the preprocessing changes
SYNTHETIC_CHUNK = 512  # masks generated per call
STALE_PARTIAL_S = 24 * 3600  # a partial build this old was abandoned (its process died)


@dataclass(frozen=True)
class CacheSpec:
    """What to cache. Only fields that change the content enter the key (not `workers`)."""

    source: str  # "synthetic" | "celebamask"
    root: str | None = None  # for celebamask
    image_size: int = 256
    label_set: LabelSet = CELEBAMASK_HQ  # the label set of the cached values
    merge_map: MergeMap | None = None  # applied after reading 19-class maps (then label_set must be merge_map.target)
    seed: int = 0  # synthetic
    synthetic_count: int = 30000
    synthetic_test: int = 2000  # the last N synthetic masks are the test split
    skip_bad: bool = False
    workers: int = 1


@dataclass(frozen=True)
class MaskCache:
    directory: Path
    masks: np.ndarray  # (N, H, W) uint8 memmap
    class_counts: np.ndarray  # (N, C) int64
    names: tuple[str, ...]
    test: np.ndarray  # (N,) bool
    manifest: dict


# ----------------------------------------------------------------------------- the key


def _check_spec(spec: CacheSpec) -> LabelSet:
    """Validate the spec; returns the label set the source files hold."""
    if spec.source not in ("synthetic", "celebamask"):
        raise UserError(f"source must be 'synthetic' or 'celebamask', got '{spec.source}'")
    if spec.source == "celebamask" and not spec.root:
        raise UserError("root: source 'celebamask' needs the path of a CelebAMask-HQ folder")
    if spec.image_size < 1:
        raise UserError(f"image_size must be positive, got {spec.image_size}")
    if spec.workers < 1:
        raise UserError(f"workers must be at least 1, got {spec.workers}")
    if spec.source == "synthetic" and (
        spec.synthetic_count < 1 or not 0 <= spec.synthetic_test <= spec.synthetic_count
    ):
        raise UserError(
            f"synthetic_count {spec.synthetic_count} / synthetic_test {spec.synthetic_test}: "
            "need count >= 1 and 0 <= test <= count"
        )
    if spec.merge_map is not None:
        target = spec.merge_map.target
        if (spec.label_set.names, spec.label_set.palette) != (target.names, target.palette):
            raise UserError(
                f"label set '{spec.label_set.name}' is not the merge map's target '{target.name}' "
                f"({', '.join(target.names)})"
            )
        return CELEBAMASK_HQ
    return spec.label_set


def _identity(spec: CacheSpec, found: MaskFolder | None) -> dict:
    """Everything the cached content depends on (hashed into the key)."""
    identity: dict = {
        "format": CACHE_FORMAT,
        "source": spec.source,
        "image_size": spec.image_size,
        "label_set": {"names": list(spec.label_set.names), "palette": [list(c) for c in spec.label_set.palette]},
        "merge_lut": None if spec.merge_map is None else [int(v) for v in spec.merge_map.lut],
    }
    if found is not None:
        identity |= {"layout": found.kind, "fingerprint": found.fingerprint, "skip_bad": spec.skip_bad}
    else:
        identity |= {
            "generator_version": synthetic.GENERATOR_VERSION,
            "seed": spec.seed,
            "count": spec.synthetic_count,
            "test": spec.synthetic_test,
        }
    return identity


def _key(spec: CacheSpec, identity: dict) -> str:
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    return f"{spec.source}-{spec.image_size}-{digest}"


# ----------------------------------------------------------------------------- loading


def _load(directory: Path, key: str) -> MaskCache | None:
    """The cache in `directory` if it is complete and built for `key`; None otherwise."""
    try:
        manifest = json.loads((directory / "manifest.json").read_text())
        if not isinstance(manifest, dict) or manifest.get("key") != key or manifest.get("format") != CACHE_FORMAT:
            return None
        masks = np.load(directory / "masks.npy", mmap_mode="r")
        counts = np.load(directory / "class_counts.npy")
        test = np.load(directory / "test.npy")
        names = tuple(json.loads((directory / "names.json").read_text()))
    except (OSError, ValueError):  # missing or truncated files, bad JSON: an incomplete cache
        return None
    n, size, classes = manifest.get("count"), manifest.get("image_size"), len(manifest.get("label_names", ()))
    if masks.shape != (n, size, size) or counts.shape != (n, classes) or test.shape != (n,) or len(names) != n:
        return None
    return MaskCache(directory, masks, counts, names, test, manifest)


# ----------------------------------------------------------------------------- building


def _build_synthetic(spec: CacheSpec, tmp: Path, progress: bool) -> dict:
    n, size, lut = spec.synthetic_count, spec.image_size, None if spec.merge_map is None else spec.merge_map.lut
    masks = allocate_npy(tmp / "masks.npy", (n, size, size))
    counts = np.zeros((n, spec.label_set.num_classes), dtype=np.int64)
    with Progress(n, "generating masks", enabled=progress) as bar:
        for start in range(0, n, SYNTHETIC_CHUNK):
            stop = min(n, start + SYNTHETIC_CHUNK)
            chunk = synthetic.generate_masks(spec.seed, start, stop - start, size, spec.workers)
            masks[start:stop] = chunk if lut is None else lut[chunk]
            counts[start:stop] = [np.bincount(m.ravel(), minlength=counts.shape[1]) for m in masks[start:stop]]
            bar.update(stop - start)
    masks.flush()
    del masks
    np.save(tmp / "class_counts.npy", counts)
    test = np.zeros(n, dtype=bool)
    test[n - spec.synthetic_test :] = True
    np.save(tmp / "test.npy", test)
    (tmp / "names.json").write_text(json.dumps([str(i) for i in range(n)]))
    return {"count": n, "test_count": spec.synthetic_test, "bad_files": [], "resized": 0}


def _build_celebamask(spec: CacheSpec, found: MaskFolder, file_labels: LabelSet, tmp: Path, progress: bool) -> dict:
    n_max, size, classes = len(found.items), spec.image_size, spec.label_set.num_classes
    masks = allocate_npy(tmp / "masks.npy", (n_max, size, size))
    counts = np.zeros((n_max, classes), dtype=np.int64)
    names: list[str] = []
    summary = ReadSummary()
    results = read_masks(
        found,
        label_set=file_labels,
        lut=None if spec.merge_map is None else spec.merge_map.lut,
        size=size,
        num_classes=classes,
        skip_bad=spec.skip_bad,
        workers=spec.workers,
        progress=progress,
        summary=summary,
    )
    for k, result in enumerate(results):
        masks[k] = result.labels
        counts[k] = result.counts
        names.append(result.name)
    n = len(names)
    if n == 0:
        raise UserError(f"{found.folder}: every mask was bad ({len(summary.bad)} skipped; first: {summary.bad[0]})")
    masks.flush()
    if n < n_max:  # bad files were skipped: keep only the rows written
        kept = allocate_npy(tmp / "masks.kept.npy", (n, size, size))
        for start in range(0, n, 1024):
            stop = min(n, start + 1024)
            kept[start:stop] = masks[start:stop]
        kept.flush()
        del kept
        os.replace(tmp / "masks.kept.npy", tmp / "masks.npy")
        counts = counts[:n]
    del masks
    if summary.bad:
        warnings.warn(
            f"{found.folder}: skipped {len(summary.bad)} bad files (listed in the cache manifest); "
            f"first: {summary.bad[0]}",
            stacklevel=3,
        )
    test = paper_test_mask(names)
    np.save(tmp / "class_counts.npy", counts)
    np.save(tmp / "test.npy", test)
    (tmp / "names.json").write_text(json.dumps(names))
    return {
        "count": n,
        "test_count": int(test.sum()),
        "layout": found.kind,
        "folder": str(found.folder.resolve()),
        "bad_files": summary.bad,
        "resized": len(summary.resized),
        "reference_size": list(summary.reference) if summary.reference else None,
    }


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def allocate_npy(path: Path, shape: tuple[int, ...]) -> np.memmap:
    """A uint8 .npy memmap whose disk blocks are reserved now: a full disk is an OSError here, not a
    SIGBUS later when a page of the memmap is first written."""
    array = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=shape)
    if hasattr(os, "posix_fallocate"):
        with open(path, "r+b") as f:
            os.posix_fallocate(f.fileno(), 0, os.fstat(f.fileno()).st_size)
    return array


def _publish(tmp: Path, final: Path, key: str) -> None:
    """Rename the finished build into place; if another process got there first, keep theirs."""
    for _ in range(3):
        try:
            os.rename(tmp, final)
            return
        except OSError:  # `final` exists (a finished cache, or debris that does not load)
            if _load(final, key) is not None:
                return  # another process won: the caller removes our copy
        stale = final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}.stale")
        try:
            os.rename(final, stale)
        except FileNotFoundError:
            continue  # another process moved it already
        _remove(stale)
    raise UserError(f"{final}: could not move the finished cache into place")


def load_or_build_cache(spec: CacheSpec, cache_dir: str | Path = "data_cache", progress: bool = True) -> MaskCache:
    """Load the cache for `spec` from `cache_dir`, building it first if it is missing or incomplete."""
    file_labels = _check_spec(spec)
    found = open_root(spec.root) if spec.source == "celebamask" else None  # type: ignore[arg-type]
    if (found is None or found.kind == "raw") and file_labels.names != CELEBAMASK_HQ.names:
        where = "synthetic masks" if found is None else f"the raw layout in {found.folder}"
        raise UserError(
            f"label set '{file_labels.name}': {where} hold CelebAMask-HQ's 19 classes; "
            "give a merge map to fold them into other classes"
        )
    identity = _identity(spec, found)
    key = _key(spec, identity)
    cache_dir = Path(cache_dir)
    final = cache_dir / key
    cache = _load(final, key)
    if cache is not None:
        return cache

    ensure_dir(cache_dir, "cache folder")
    remove_dead_work_folders(cache_dir, f".{key}.", ".partial", older_than_s=STALE_PARTIAL_S)
    tmp = work_folder(cache_dir, f".{key}.", ".partial")
    try:
        started = time.perf_counter()
        if found is None:
            built = _build_synthetic(spec, tmp, progress)
        else:
            built = _build_celebamask(spec, found, file_labels, tmp, progress)
        manifest = {
            "key": key,
            "format": CACHE_FORMAT,
            "source": spec.source,
            "root": None if spec.root is None else str(Path(spec.root).resolve()),
            "image_size": spec.image_size,
            "label_set": spec.label_set.name,
            "label_names": list(spec.label_set.names),
            "merge_map": spec.merge_map is not None,
            "fingerprint": identity.get("fingerprint"),
            "generator_version": identity.get("generator_version"),
            "seed": spec.seed if found is None else None,
            **built,
            "build_seconds": round(time.perf_counter() - started, 2),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        write_json_atomic(tmp / "manifest.json", manifest)  # last: a folder without it never loads
        _publish(tmp, final, key)
    except OSError as err:  # a full disk, a folder made read-only meanwhile: nothing half-built is kept
        raise UserError(f"{cache_dir}: cannot build the cache ({err.strerror or err})") from None
    finally:
        _remove(tmp)  # gone already when the rename succeeded
    cache = _load(final, key)
    if cache is None:
        raise UserError(f"{final}: the cache was built but does not load")
    return cache
