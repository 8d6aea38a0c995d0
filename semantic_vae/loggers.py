"""The run's loggers: W&B, following W&B's own rules, and one CSV file per run folder.

- W&B: `WANDB_MODE` (online, offline, disabled) decides, as in every W&B project; when it is
  unset, W&B logs online if it holds credentials for its server (`wandb login`, `WANDB_API_KEY`,
  a self-hosted `--host` included) and offline otherwise, so a first run needs no account.
  `WANDB_MODE=disabled` creates no W&B run at all; the CSV log is still written.
- One training is one W&B run: its id is kept in `<run folder>/wandb/run_id`, and a resumed
  `fit`, a `validate` or a `test` of that folder log into the same run (resume="allow").
- CSV: `<run folder>/csv/metrics.csv`, continued (not replaced) by every later stage.
"""

from __future__ import annotations

import csv
import os
import uuid
from pathlib import Path

from lightning.pytorch.loggers import CSVLogger, Logger, WandbLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

from semantic_vae.files import write_text_atomic

PROJECT = "semantic-vae"


def wandb_has_credentials() -> bool:
    """Whether W&B would log in without asking: an API key in the environment or in .netrc for its host."""
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    try:  # W&B's own lookup: the host from its settings (`wandb login --host`), its .netrc entry
        import wandb
        from wandb.sdk.lib.wbauth.wbnetrc import read_netrc_auth

        return read_netrc_auth(host=wandb.setup().settings.base_url) is not None
    except Exception:  # an unreadable .netrc, or a W&B release that moved this: let W&B decide
        return True


def wandb_mode() -> str | None:
    """The W&B mode to ask for: the user's WANDB_MODE when set; else None (W&B's default) or "offline"."""
    chosen = os.environ.get("WANDB_MODE", "").strip().lower()
    if chosen:
        return chosen
    return None if wandb_has_credentials() else "offline"


def run_id(root: str | Path) -> str:
    """The W&B run id of the run folder, created on first use."""
    path = Path(root) / "wandb" / "run_id"
    if path.is_file() and path.read_text().strip():
        return path.read_text().strip()
    value = uuid.uuid4().hex[:8]
    write_text_atomic(path, value + "\n")
    return value


class _ContinuingWriter(ExperimentWriter):
    """Lightning's CSV writer, except that an existing metrics.csv is continued instead of deleted."""

    def _check_log_dir_exists(self) -> None:
        if os.path.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, newline="") as f:
                self.metrics_keys = next(csv.reader(f), [])


class RunCSVLogger(CSVLogger):
    """`<save_dir>/csv/metrics.csv`: one file for the whole run folder (fit, resumes, validate, test)."""

    def __init__(self, save_dir: str) -> None:
        super().__init__(save_dir=save_dir, name="csv", version="")

    @property
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _ContinuingWriter(log_dir=self.log_dir)
        return self._experiment


def run_loggers(root: str, subcommand: str | None) -> list[Logger]:
    """W&B (unless WANDB_MODE=disabled) and CSV in the run folder; none for `predict`, which logs nothing."""
    if subcommand == "predict":
        return []
    loggers: list[Logger] = []
    mode = wandb_mode()
    if mode != "disabled":
        Path(root).mkdir(parents=True, exist_ok=True)
        extra = {"mode": mode} if mode and "WANDB_MODE" not in os.environ else {}  # W&B reads a user's WANDB_MODE
        name, run = Path(root).name, run_id(root)
        wandb = WandbLogger(project=PROJECT, name=name, save_dir=root, id=run, resume="allow", **extra)
        wandb._wandb_init.pop("anonymous", None)  # Lightning passes it always; W&B warns that it has no effect
        loggers.append(wandb)
    loggers.append(RunCSVLogger(save_dir=root))
    return loggers
