"""The places where this project relies on a library's private names, each because no public hook exists.

Everything else uses public API only. Each entry names the gap; `tests/test_compat.py` fails if the library
changes the behaviour relied on, so an upgrade that breaks one is caught by the suite, not by a user.
"""

from __future__ import annotations

import csv
import os
from typing import Any

from lightning.fabric.connector import _PRECISION_INPUT
from lightning.pytorch.loggers import CSVLogger, WandbLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

# The precisions Lightning's Trainer accepts, as the type it checks them against.
# Gap: Lightning exports no public name for it; `lit_cli.Trainer` adds "auto" to it for the config's parser.
PRECISION_INPUT = _PRECISION_INPUT


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


def cpu_bf16_units() -> list[str]:
    """The bf16 units of this CPU that oneDNN uses: "amx_bf16" and/or "avx512_bf16" (empty: none).

    Gap: torch has no public query for them (`torch.cuda.is_bf16_supported` is CUDA's); `torch.cpu` holds the
    private `_is_amx_tile_supported` and `_is_avx512_bf16_supported`, read from cpuinfo as oneDNN reads them.
    """
    import torch

    units = []
    if getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)():
        units.append("amx_bf16")
    if getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)():
        units.append("avx512_bf16")
    return units
