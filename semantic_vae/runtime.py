"""What the machine offers: usable cores, the compute device, and progress reporting."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path
from types import TracebackType

import torch

from semantic_vae import __version__
from semantic_vae.errors import UserError


def cpu_count() -> int:
    """Cores this process may use (the container's share, not the host's)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """The given device ("cpu", "cuda", "cuda:1", "auto"/None: CUDA when available); a UserError for one this machine lacks."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(device, bool) or not isinstance(device, (str, int, torch.device)):
        raise UserError(f"device: expected a name such as 'cpu', 'cuda' or 'cuda:1', got {device!r}")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise UserError(f"device '{device}': {str(err).strip().splitlines()[0]}") from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"device '{device}': CUDA is not available on this machine")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise UserError(f"device '{device}': this machine has {torch.cuda.device_count()} CUDA device(s)")
    return resolved


class Progress:
    """Counts work done: a tqdm bar on a terminal, otherwise one line every `interval_s` seconds on stderr.

    The lines carry the count, the share, the elapsed time and an estimate of what remains, so a
    log file of a long job (a cache build in a sweep run) shows that it is moving.
    """

    def __init__(self, total: int, what: str, enabled: bool = True, interval_s: float = 30.0) -> None:
        self.total, self.what, self.interval_s = total, what, interval_s
        self.done = 0
        self.enabled = enabled and total > 0
        self._bar = None
        self._start = self._last = time.monotonic()
        if self.enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=what, unit="mask", dynamic_ncols=True)

    def update(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
            return
        now = time.monotonic()
        long_job = now - self._start >= self.interval_s  # a short job prints nothing at all
        if self.enabled and long_job and (now - self._last >= self.interval_s or self.done >= self.total):
            self._last = now
            print(self.line(now - self._start), file=sys.stderr, flush=True)

    def line(self, elapsed: float) -> str:
        share = self.done / self.total
        left = elapsed / share - elapsed if share > 0 else float("nan")
        return (
            f"{self.what}: {self.done}/{self.total} ({share:.0%}) in {format_seconds(elapsed)}, "
            f"about {format_seconds(left)} left"
        )

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.close()


def format_seconds(seconds: float) -> str:
    """'42 s', '3.5 min', '2.1 h'."""
    if seconds != seconds:  # NaN
        return "?"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class _DropTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("💡 Tip")


def quiet_library_notices() -> None:
    """Silence notices of our libraries that a user of this project cannot act on.

    - Lightning's "Tip: try installing litlogger" advertisement at every Trainer;
    - torch's FutureWarning about `LeafSpec`, triggered inside Lightning's own code (not ours);
    - Lightning's note that a checkpoint from another run folder does not bring its best-k list along.
    Each is matched exactly; every other warning still shows.
    """
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_DropTips())
    warnings.filterwarnings(
        "ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated", category=FutureWarning
    )
    warnings.filterwarnings("ignore", message=r"The dirpath has changed from .* won't be reloaded")


def code_version() -> str:
    """Package version plus the git commit when run from a checkout."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{__version__}+{commit}" if commit else __version__
