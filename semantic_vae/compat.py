"""The places where this project relies on a library's private names, each because no public hook exists.

Everything else uses public API only. Each entry names the gap; `tests/test_compat.py` fails if the library
changes the behaviour relied on, so an upgrade that breaks one is caught by the suite, not by a user.
"""

from __future__ import annotations

import csv
import os
from typing import Any

from lightning.pytorch.loggers import CSVLogger, WandbLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter


class ContinuingExperimentWriter(ExperimentWriter):
    """Lightning's CSV writer, except that an existing metrics.csv is continued instead of deleted.

    Gap: `CSVLogger` has no append mode; its writer's `_check_log_dir_exists` removes metrics.csv when the
    folder is not empty, so a resumed `fit` or a `test` of the run would erase the training's log.
    """

    def _check_log_dir_exists(self) -> None:
        if os.path.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, newline="") as f:
                self.metrics_keys = next(csv.reader(f), [])


def continuing_writer(logger: CSVLogger) -> ExperimentWriter:
    """The logger's experiment writer, made once as a `ContinuingExperimentWriter`.

    Gap: `CSVLogger.experiment` builds the writer from its private `_experiment` and `_fs` attributes.
    """
    if logger._experiment is None:
        logger._fs.makedirs(logger.root_dir, exist_ok=True)
        logger._experiment = ContinuingExperimentWriter(log_dir=logger.log_dir)
    return logger._experiment


def without_anonymous(logger: WandbLogger) -> WandbLogger:
    """The logger, without the `anonymous` setting it always hands to `wandb.init`.

    Gap: `WandbLogger` passes `anonymous=None` to `wandb.init` whatever the caller says, and W&B warns on every
    run that the setting has no effect; its init arguments are only held in the private `_wandb_init`.
    """
    init: dict[str, Any] = logger._wandb_init
    init.pop("anonymous", None)
    return logger
