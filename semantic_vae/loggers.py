"""W&B logging that works with no server: offline unless the user is logged in."""

from __future__ import annotations

import netrc
import os
from pathlib import Path

from lightning.pytorch.loggers import WandbLogger as _WandbLogger


def wandb_logged_in() -> bool:
    """True when W&B can reach a server: WANDB_MODE is not offline and an API key is known."""
    if os.environ.get("WANDB_MODE", "").lower() in {"offline", "disabled", "dryrun"}:
        return False
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        hosts = netrc.netrc(os.environ.get("NETRC", Path.home() / ".netrc")).hosts
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False
    return any("wandb" in host for host in hosts)


class WandbLogger(_WandbLogger):
    """Lightning's WandbLogger; `offline=None` (default) picks offline when not logged in."""

    def __init__(self, *args, offline: bool | None = None, **kwargs) -> None:
        if offline is None:
            offline = not wandb_logged_in()
        save_dir = kwargs.get("save_dir")
        if save_dir:
            Path(save_dir).mkdir(parents=True, exist_ok=True)
        super().__init__(*args, offline=offline, **kwargs)
