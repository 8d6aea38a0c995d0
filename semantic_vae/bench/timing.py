"""How the bench times and guards a measurement: device choice and synchronisation, peak memory,
the deterministic / cuDNN-autotune switches, warm-up + rounds timing, and the shared entry helpers
(`_skipped`, `_round`, `_first_line`)."""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench: --device cuda but CUDA is not available")
    return torch.device(name)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _free(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()


class PeakMemory:
    """Peak memory of a measurement: CUDA's allocator peak, or on CPU the process's peak RSS.

    On Linux the RSS high-water mark (VmHWM) is reset by writing 5 to /proc/self/clear_refs; the
    CPU figure is the whole process (interpreter, libraries, the allocator's retained memory).
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.kind = "cuda_max_memory_allocated" if device.type == "cuda" else "process_peak_rss"

    def reset(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            return
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            self.kind = "process_peak_rss_since_start"  # no reset possible: the lifetime peak

    def read(self) -> int | None:
        if self.device.type == "cuda":
            return int(torch.cuda.max_memory_allocated(self.device))
        with contextlib.suppress(OSError):
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        return None


@contextlib.contextmanager
def _deterministic(on: bool) -> Iterator[None]:
    """What Lightning's `deterministic="warn"` (experiments/base.yaml) sets, restored afterwards."""
    saved = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
             torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    if on:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[2], saved[3]


@contextlib.contextmanager
def _cudnn_benchmark(on: bool) -> Iterator[None]:
    saved = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = on or saved
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = saved


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0] if text else ''}"[:300]


@dataclass
class Timed:
    warmup_s: float
    rounds_s: list[float]

    def rate(self, items_per_round: int) -> tuple[float, float, float]:
        """(median rate, best rate, median seconds per round)."""
        median = statistics.median(self.rounds_s)
        return items_per_round / median, items_per_round / min(self.rounds_s), median


def time_rounds(fn: Callable[[], object], device: torch.device, warmup: int, rounds: int, steps: int) -> Timed:
    """`warmup` calls, then `rounds` x `steps` calls with one synchronisation per round."""
    _sync(device)
    begin = time.perf_counter()
    for _ in range(warmup):
        fn()
    _sync(device)
    warmup_s = time.perf_counter() - begin
    times = []
    for _ in range(rounds):
        begin = time.perf_counter()
        for _ in range(steps):
            fn()
        _sync(device)
        times.append(time.perf_counter() - begin)
    return Timed(warmup_s, times)


def _skipped(keys: tuple[str, ...], reason: str, **extra: Any) -> dict[str, Any]:
    return {**{k: None for k in keys}, **extra, "skipped": reason}


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else float(f"{value:.{digits}g}")
