"""What a command shows on the console: a progress bar for long work, durations in words, and no library notices a
user cannot act on."""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Iterable, Iterator, Sized
from types import TracebackType
from typing import IO, TypeVar

from tqdm import tqdm

T = TypeVar("T", bound=Sized)


class Progress:
    """A tqdm bar on stderr for work that takes a while: shown only where stderr is a terminal (tqdm's own check) and
    unless `enabled` is False (a command's `--quiet`). It is erased when the work ends or an error stops it, so the
    command's closing lines and its one-line error stand alone.
    """

    def __init__(self, total: int, what: str, enabled: bool = True, unit: str = "mask", file: IO[str] | None = None):
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
