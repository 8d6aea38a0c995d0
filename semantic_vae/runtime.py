"""What the machine offers: usable cores, the compute device, and progress reporting."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import warnings
from collections.abc import Iterable, Iterator, Sized
from pathlib import Path
from types import TracebackType
from typing import IO, TypeVar

import torch

from semantic_vae import __version__
from semantic_vae.errors import UserError

T = TypeVar("T", bound=Sized)


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
    """A tqdm bar on stderr for work that takes a while: shown only where stderr is a terminal (tqdm's own check) and
    unless `enabled` is False (a command's `--quiet`). It is erased when the work ends or an error stops it, so the
    command's closing lines and its one-line error stand alone.
    """

    def __init__(self, total: int, what: str, enabled: bool = True, unit: str = "mask", file: IO[str] | None = None):
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc=what, unit=unit, disable=None if enabled else True, leave=False,
                        dynamic_ncols=True, file=file or sys.stderr)  # fmt: skip

    def update(self, n: int = 1) -> None:
        self.bar.update(n)

    def describe(self, what: str) -> None:
        """Name the work now under way."""
        self.bar.set_description_str(what)

    def each(self, batches: Iterable[T]) -> Iterator[T]:
        """The batches, counting `len(batch)` of each as done once it has been used."""
        for batch in batches:
            yield batch
            self.update(len(batch))

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


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
    - Lightning's note that a checkpoint from another run folder does not bring its best-k list along;
    - Lightning's note that a new WandbLogger reuses the W&B run in progress: a `test` after a `fit` in one process
      (`make demo`) logs into the training's run, as every stage of a run folder does (`semantic_vae.loggers`);
    - Lightning's note that the checkpoint folder is not empty: `fit` reaches a folder with checkpoints only to
      resume it (a fresh run there is refused, and `--overwrite` empties it first);
    - the model summary's note that it cannot size a mixed precision: the weights of a mixed precision stay in
      32 bits, which is what it then counts.
    Each is matched exactly; every other warning still shows.
    """
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_DropTips())
    warnings.filterwarnings(
        "ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated", category=FutureWarning
    )
    warnings.filterwarnings("ignore", message=r"The dirpath has changed from .* won't be reloaded")
    warnings.filterwarnings(
        "ignore", message=r"There is a wandb run already in progress and newly created instances of `WandbLogger`"
    )
    warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty\.$")
    warnings.filterwarnings("ignore", message=r"Precision \S+-mixed is not supported by the model summary\.")


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
