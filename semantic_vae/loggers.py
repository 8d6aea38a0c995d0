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

import netrc
import os
import uuid
from pathlib import Path
from urllib.parse import urlparse

from lightning.pytorch.loggers import CSVLogger, Logger, WandbLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

from semantic_vae.compat import continuing_writer, without_anonymous
from semantic_vae.files import write_text_atomic

PROJECT = "semantic-vae"


def wandb_has_credentials() -> bool:
    """Whether W&B would log in without asking: an API key in the environment, or a .netrc entry for its host
    (the server of `wandb login [--host]`, from W&B's settings)."""
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    import wandb

    host = urlparse(wandb.setup().settings.base_url).hostname
    path = Path(os.environ.get("NETRC") or Path.home() / ".netrc")
    if not host or not path.is_file():
        return False
    try:
        return netrc.netrc(str(path)).authenticators(host) is not None
    except (netrc.NetrcParseError, OSError):  # a .netrc we cannot read: W&B itself will say what is wrong
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


class RunCSVLogger(CSVLogger):
    """`<save_dir>/csv/metrics.csv`: one file for the whole run folder (fit, resumes, validate, test)."""

    def __init__(self, save_dir: str) -> None:
        super().__init__(save_dir=save_dir, name="csv", version="")

    @property
    def experiment(self) -> ExperimentWriter:
        return continuing_writer(self)


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
        loggers.append(
            without_anonymous(WandbLogger(project=PROJECT, name=name, save_dir=root, id=run, resume="allow", **extra))
        )
    loggers.append(RunCSVLogger(save_dir=root))
    return loggers
