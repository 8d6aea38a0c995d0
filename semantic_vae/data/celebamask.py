"""CelebAMask-HQ readers: the raw per-part release, folders of merged label maps, the paper split.

Two layouts are understood (see `open_root`):

- raw: ``CelebAMask-HQ-mask-anno/<k>/<idx:05d>_<part>.png``, one binary PNG per present part,
  merged into a label map in the official order (later parts overwrite earlier ones);
- merged: a folder of label PNGs, one per mask (grayscale ids, palette indices, or colourised).

Masks are read in parallel processes, in order, a chunk at a time. A bad file either stops the
read with a `UserError` naming it, or (``skip_bad=True``) is skipped and listed in a
`ReadSummary`. Masks whose size differs from the first mask's are resized with
nearest-neighbour and reported in one warning line.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import multiprocessing
import os
import shutil
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from semantic_vae.console import Progress
from semantic_vae.data.io import (
    encode_png,
    png_shape,
    read_binary_png,
    read_label_png,
    resize_labels,
    write_label_png,
)
from semantic_vae.errors import UserError
from semantic_vae.files import FolderLock, ensure_dir, remove_dead_work_folders, work_folder
from semantic_vae.labels import CELEBAMASK_HQ, CELEBAMASK_HQ_NAMES, LabelSet

RAW_DIR = "CelebAMask-HQ-mask-anno"
MERGED_DIR = "CelebAMask-HQ-mask"
RAW_FOLDER_SIZE = 2000  # masks per numbered folder of the raw release: k = idx // 2000
PART_IDS: dict[str, int] = {name: i for i, name in enumerate(CELEBAMASK_HQ_NAMES) if i > 0}
PAPER_TEST_START = 28_000  # indices 0..27,999 train, 28,000..29,999 test
TEST_FRACTION = 1 / 15  # 2,000 of 30,000: the test share when file names are not indices


@dataclass(frozen=True)
class RawMask:
    """One mask of the raw release: its part PNGs, merged on reading."""

    name: str  # the image index as text, e.g. "29980"
    parts: tuple[tuple[int, str], ...]  # (class id, part PNG path), in id order


@dataclass(frozen=True)
class MergedMask:
    """One label PNG of a merged folder."""

    name: str  # the file stem
    path: str


MaskItem = RawMask | MergedMask


@dataclass(frozen=True)
class MaskFolder:
    """The masks found under a root, in order, and a fingerprint of the files they come from."""

    kind: Literal["raw", "merged"]
    folder: Path  # the CelebAMask-HQ-mask-anno folder, or the folder of merged PNGs
    items: tuple[MaskItem, ...]
    fingerprint: str  # hash of the sorted file names, sizes and mtimes
    stray: tuple[str, ...] = ()  # one line per bad PNG of the raw layout: misnamed, or a part given twice

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(item.name for item in self.items)


# ----------------------------------------------------------------------------- discovery


def _fingerprint(stats: list[tuple[str, int, int]]) -> str:
    digest = hashlib.sha256()
    for rel, size, mtime in sorted(stats):
        digest.update(f"{rel}\0{size}\0{mtime}\n".encode())
    return digest.hexdigest()


def _natural_key(stem: str) -> tuple[int, int, str]:
    """Integer stems first, in numeric order (2 before 10), then the others by name."""
    return (0, int(stem), stem) if stem.isdigit() else (1, 0, stem)


def scan_raw(anno_dir: str | Path) -> MaskFolder:
    """Index the raw layout by listing each numbered folder once (no per-part path probing)."""
    anno_dir = Path(anno_dir)
    parts: dict[int, list[tuple[int, str]]] = {}
    stats: list[tuple[str, int, int]] = []
    stray: list[str] = []
    seen: dict[tuple[int, int], str] = {}
    with os.scandir(anno_dir) as top:
        subdirs = sorted((e for e in top if e.is_dir()), key=lambda e: _natural_key(e.name))
    for sub in subdirs:
        with os.scandir(sub.path) as entries:
            for entry in entries:
                if entry.name.startswith(".") or not entry.name.lower().endswith(".png"):
                    continue
                st = entry.stat()
                stats.append((f"{sub.name}/{entry.name}", st.st_size, st.st_mtime_ns))
                index, _, part = entry.name[:-4].partition("_")
                if not index.isdigit() or part not in PART_IDS:
                    stray.append(
                        f"{entry.path}: not a CelebAMask-HQ part file (expected <index>_<part>.png with a known part)"
                    )
                    continue
                key = (int(index), PART_IDS[part])
                if key in seen:  # e.g. the same mask's part in two numbered folders: which one is right?
                    stray.append(f"{entry.path}: part '{part}' of mask {int(index)} is given twice (also {seen[key]})")
                    continue
                seen[key] = entry.path
                parts.setdefault(int(index), []).append((PART_IDS[part], entry.path))
    items = tuple(RawMask(str(i), tuple(sorted(parts[i]))) for i in sorted(parts))
    return MaskFolder("raw", anno_dir, items, _fingerprint(stats), tuple(sorted(stray)))


def scan_merged(folder: str | Path) -> MaskFolder:
    """Index a folder of label PNGs (any names; integer names in numeric order; dot-files skipped)."""
    folder = Path(folder)
    found: list[tuple[str, str]] = []
    stats: list[tuple[str, int, int]] = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(".") or not entry.name.lower().endswith(".png") or not entry.is_file():
                continue
            st = entry.stat()
            stats.append((entry.name, st.st_size, st.st_mtime_ns))
            found.append((entry.name[:-4], entry.path))
    found.sort(key=lambda f: _natural_key(f[0]))
    items = tuple(MergedMask(stem, path) for stem, path in found)
    return MaskFolder("merged", folder, items, _fingerprint(stats))


def _has_png(folder: Path) -> bool:
    with os.scandir(folder) as entries:
        return any(e.name.lower().endswith(".png") and not e.name.startswith(".") for e in entries)


def open_root(root: str | Path) -> MaskFolder:
    """Find the masks under `root`.

    `root/CelebAMask-HQ-mask-anno/` (or root being that folder) -> raw layout; otherwise a folder
    of PNGs, the root itself or its `CelebAMask-HQ-mask/` subfolder -> merged label maps.
    """
    path = Path(root).expanduser()
    if not path.exists():
        raise UserError(f"{root}: CelebAMask-HQ root not found")
    if not path.is_dir():
        raise UserError(f"{root}: not a folder (give the CelebAMask-HQ folder or a folder of label PNGs)")
    if (path / RAW_DIR).is_dir():
        found = scan_raw(path / RAW_DIR)
    elif path.name == RAW_DIR:
        found = scan_raw(path)
    elif _has_png(path):
        found = scan_merged(path)
    elif (path / MERGED_DIR).is_dir():
        found = scan_merged(path / MERGED_DIR)
    else:
        raise UserError(f"{root}: no label PNGs found (expected {RAW_DIR}/, {MERGED_DIR}/ or *.png files)")
    if not found.items:
        raise UserError(f"{found.folder}: no masks found")
    return found


# ----------------------------------------------------------------------------- the split


def paper_test_mask(names: Sequence[str]) -> np.ndarray:
    """(N,) bool, True for test masks, over names in dataset order.

    When every name is an integer (an image index) the paper's split applies: indices
    0..27,999 train, 28,000..29,999 test. Otherwise the last round(N / 15) names in dataset
    order (integer names numerically, then the rest by name) are test — the paper's
    2,000-of-30,000 share.
    """
    if all(n.isdigit() for n in names):
        return np.array([int(n) >= PAPER_TEST_START for n in names], dtype=bool)
    test = np.zeros(len(names), dtype=bool)
    n_test = round(len(names) * TEST_FRACTION)
    if n_test:
        test[-n_test:] = True
    return test


# ----------------------------------------------------------------------------- reading one mask


def merge_parts(
    parts: Iterable[tuple[int, str | Path]], shape: tuple[int, int] | None = None
) -> tuple[np.ndarray, bool]:
    """Merge binary part PNGs into one label map, as the official script does.

    Start from zeros and, for each part in id order, set its non-zero pixels to its id, so later
    parts overwrite earlier ones (hair over skin, cloth over neck). Parts are resized to `shape`
    (default: the first part's) with nearest-neighbour; the flag says whether any was.
    """
    labels: np.ndarray | None = None
    resized = False
    for class_id, path in sorted(parts, key=lambda part: part[0]):
        part = read_binary_png(path)
        if shape is None:
            shape = part.shape
        if part.shape != shape:
            part = resize_labels(part.view(np.uint8), shape).view(bool)
            resized = True
        if labels is None:
            labels = np.zeros(shape, dtype=np.uint8)
        np.copyto(labels, np.uint8(class_id), where=part)
    if labels is None:
        raise UserError("merge_parts: no part files given")
    return labels, resized


def read_item(
    item: MaskItem, label_set: LabelSet = CELEBAMASK_HQ, shape: tuple[int, int] | None = None
) -> tuple[np.ndarray, bool]:
    """(H, W) uint8 labels of one mask at its own size, or resized to `shape` (flag: it was)."""
    if isinstance(item, RawMask):
        return merge_parts(item.parts, shape)
    labels = read_label_png(item.path, label_set)
    if shape is None or labels.shape == shape:
        return labels, False
    return resize_labels(labels, shape), True


# ----------------------------------------------------------------------------- reading many


@dataclass(frozen=True)
class _Job:
    """What a worker does with each mask (picklable: it travels to the worker processes)."""

    label_set: LabelSet  # the ids stored in the files
    reference: tuple[int, int] | None  # masks of another size are resized to it and flagged
    lut: np.ndarray | None = None  # applied after reading (a merge map)
    size: int | None = None  # final size×size, nearest-neighbour
    num_classes: int | None = None  # count pixels per class when set
    out_dir: str | None = None  # write <name>.png there instead of returning the labels


@dataclass(frozen=True)
class MaskResult:
    name: str
    labels: np.ndarray | None  # (H, W) uint8; None when written to disk or on error
    counts: np.ndarray | None  # (C,) int64 pixels per class, when asked for
    resized: bool  # its size differed from the reference size
    error: str | None = None


def _process(job: _Job, item: MaskItem) -> MaskResult:
    try:
        labels, resized = read_item(item, job.label_set, job.reference)
    except UserError as err:
        return MaskResult(item.name, None, None, False, str(err))
    if job.lut is not None:
        labels = job.lut[labels]
    if job.size is not None:
        labels = resize_labels(labels, job.size)
    counts = None
    if job.num_classes is not None:
        counts = np.bincount(labels.ravel(), minlength=job.num_classes).astype(np.int64)
    if job.out_dir is not None:
        write_label_png(Path(job.out_dir) / f"{item.name}.png", labels)
        labels = None
    return MaskResult(item.name, labels, counts, resized)


def _process_chunk(job: _Job, items: Sequence[MaskItem]) -> list[MaskResult]:
    return [_process(job, item) for item in items]


def _init_worker() -> None:
    cv2.setNumThreads(1)  # one process per core already; OpenCV threads would oversubscribe


def _pool_context() -> multiprocessing.context.BaseContext:
    # forkserver/spawn: forking a parent that already runs threads (torch, OpenCV) can deadlock.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def ordered_map(fn: Callable[[Sequence], list], chunks: Sequence[Sequence], workers: int) -> Iterator[list]:
    """fn(chunk) for each chunk, in order, over `workers` processes (in-process when 1).

    At most 2 × workers chunks are in flight, so results never pile up in memory. Workers start
    with forkserver (spawn elsewhere), so a script calling this needs the usual
    ``if __name__ == "__main__":`` guard.
    """
    workers = max(1, min(workers, len(chunks)))
    if workers == 1:
        for chunk in chunks:
            yield fn(chunk)
        return
    with ProcessPoolExecutor(workers, mp_context=_pool_context(), initializer=_init_worker) as pool:
        pending: deque[Future] = deque()
        try:
            for chunk in chunks:
                pending.append(pool.submit(fn, chunk))
                if len(pending) >= 2 * workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


@dataclass
class ReadSummary:
    """What a whole-dataset read found besides the masks."""

    folder: str = ""
    read: int = 0
    bad: list[str] = field(default_factory=list)  # one line each, naming the file
    resized: list[str] = field(default_factory=list)  # masks whose size differed from the first's
    reference: tuple[int, int] | None = None

    def resized_message(self) -> str | None:
        if not self.resized:
            return None
        h, w = self.reference or (0, 0)
        return (
            f"{self.folder}: {len(self.resized)} masks were not {h}x{w} like the first one and were "
            f"resized with nearest-neighbour (first: {self.resized[0]})"
        )


def _reference_shape(found: MaskFolder) -> tuple[int, int] | None:
    """The first readable PNG header's size: the size every mask is brought to."""
    for item in found.items[:100]:
        path = item.parts[0][1] if isinstance(item, RawMask) else item.path
        shape = png_shape(path)
        if shape is not None:
            return shape
    return None


def _chunks(items: Sequence[MaskItem], workers: int) -> list[Sequence[MaskItem]]:
    size = max(1, min(32, len(items) // (8 * max(1, workers)) or 1))
    return [items[i : i + size] for i in range(0, len(items), size)]


def _run(
    found: MaskFolder,
    job: _Job,
    summary: ReadSummary,
    *,
    skip_bad: bool,
    workers: int,
    progress: bool,
    limit: int | None,
) -> Iterator[MaskResult]:
    for message in found.stray:
        if not skip_bad:
            raise UserError(message)
        summary.bad.append(message)
    items = found.items[:limit] if limit is not None else found.items
    chunks = ordered_map(functools.partial(_process_chunk, job), _chunks(items, workers), workers)
    with Progress(len(items), "reading masks", enabled=progress) as bar, contextlib.closing(chunks) as results:
        for chunk in results:
            for result in chunk:
                bar.update()
                if result.error is not None:
                    if not skip_bad:
                        raise UserError(result.error)
                    summary.bad.append(result.error)
                    continue
                if result.resized:
                    summary.resized.append(result.name)
                summary.read += 1
                yield result
    message = summary.resized_message()
    if message:
        warnings.warn(message, stacklevel=2)


def read_masks(
    found: MaskFolder,
    *,
    label_set: LabelSet = CELEBAMASK_HQ,
    lut: np.ndarray | None = None,
    size: int | None = None,
    num_classes: int | None = None,
    skip_bad: bool = False,
    workers: int = 1,
    progress: bool = False,
    limit: int | None = None,
    summary: ReadSummary | None = None,
) -> Iterator[MaskResult]:
    """Every mask of `found`, in order, as (H, W) uint8 labels.

    label_set: the ids the files hold (raw layouts always hold CelebAMask-HQ's 19).
    lut: a lookup table applied after reading, e.g. a merge map's.
    size: resize every mask to size×size (nearest-neighbour); default: the first mask's size.
    num_classes: also count pixels per class (into `MaskResult.counts`).
    skip_bad: skip unreadable files and list them in `summary.bad` instead of raising.
    summary: filled in as the masks are read (bad files, resized masks).
    """
    if workers < 1:
        raise UserError(f"workers must be at least 1, got {workers}")
    summary = summary if summary is not None else ReadSummary()
    summary.folder, summary.reference = str(found.folder), _reference_shape(found)
    job = _Job(label_set, summary.reference, lut, size, num_classes)
    yield from _run(found, job, summary, skip_bad=skip_bad, workers=workers, progress=progress, limit=limit)


def write_merged(
    found: MaskFolder, out_dir: str | Path, *, skip_bad: bool = False, workers: int = 1, progress: bool = False
) -> ReadSummary:
    """Write each mask as `<out_dir>/<name>.png` (mode L, ids 0..18, the masks' own size: 512×512
    for the release), merging raw parts in the workers so no label map crosses processes.

    The files are written into a hidden `.merging-<host>@<pid>-*` folder inside `out_dir` and moved
    out only when every mask is merged: a failed or killed merge adds nothing to `out_dir` (a rerun
    clears a killed merge's folder).
    """
    if workers < 1:
        raise UserError(f"workers must be at least 1, got {workers}")
    out = ensure_dir(out_dir, "output folder")
    with FolderLock(out, "output folder"):  # the rule of every output folder: one writer at a time
        remove_dead_work_folders(out, ".merging-")
        partial = work_folder(out, ".merging-")
        try:
            summary = ReadSummary(folder=str(found.folder), reference=_reference_shape(found))
            job = _Job(CELEBAMASK_HQ, summary.reference, out_dir=str(partial))
            for _ in _run(found, job, summary, skip_bad=skip_bad, workers=workers, progress=progress, limit=None):
                pass
            for path in partial.iterdir():
                os.replace(path, out / path.name)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    return summary


# ----------------------------------------------------------------------------- test fixtures, benchmarks


def make_raw_layout(
    labels: np.ndarray, out_root: str | Path, start_index: int = 0, *, overlap: bool = False, channels: int = 1
) -> Path:
    """Split merged (N, H, W) CelebAMask-HQ label maps into the release's per-part layout.

    Writes `out_root/CelebAMask-HQ-mask-anno/<k>/<idx:05d>_<part>.png` (255 = part) for every
    part present, idx = start_index + n, k = idx // 2000, and returns `out_root`.
    overlap: each part also covers the pixels of later parts inside its bounding box, as the
    hand annotations do (skin under the eyes, neck under the cloth); only the official merge
    order then gives the original maps back.
    channels: 1 for grayscale part PNGs, 3 for RGB ones.
    """
    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise UserError(f"make_raw_layout: expected (N, H, W) label maps, got shape {labels.shape}")
    out_root = Path(out_root)
    for n, label_map in enumerate(labels):
        idx = start_index + n
        folder = out_root / RAW_DIR / str(idx // RAW_FOLDER_SIZE)
        folder.mkdir(parents=True, exist_ok=True)
        for part, class_id in PART_IDS.items():
            region = label_map == class_id
            if not region.any():
                continue
            if overlap:
                ys, xs = np.nonzero(region)
                box = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
                region[box] |= label_map[box] > class_id
            image = region.astype(np.uint8) * 255
            if channels == 3:
                image = np.repeat(image[..., None], 3, axis=2)
            (folder / f"{idx:05d}_{part}.png").write_bytes(encode_png(image, folder))
    return out_root
