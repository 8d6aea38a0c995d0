"""Command line: LightningCLI for fit/validate/test/predict, plus the data and edit tools.

    semantic-vae fit --config experiments/demo.yaml
    semantic-vae data preview --source synthetic --n 16 --out preview.png
    semantic-vae edit generate --ckpt run/last.ckpt --input masks/ --parts nose --out edited/
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

from lightning.pytorch.cli import LightningCLI, SaveConfigCallback

from semantic_vae import __version__
from semantic_vae.data.datamodule import FaceMaskDataModule
from semantic_vae.errors import UserError
from semantic_vae.lit import SemanticVAEModule

# Tools other than the LightningCLI: subcommand -> "module:attribute" holding a list of functions
# (or one function) that jsonargparse.CLI turns into commands.
TOOLS: dict[str, str] = {
    "data": "semantic_vae.data.commands:COMMANDS",
    "edit": "semantic_vae.edit.commands:EDIT_COMMANDS",
    "evaluate-edits": "semantic_vae.edit.commands:evaluate_edits",
}


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


class LoggedSaveConfigCallback(SaveConfigCallback):
    """Saves config.yaml beside the run and sends the resolved config to every logger (W&B)."""

    def save_config(self, trainer, pl_module, stage: str) -> None:
        config = self.parser.dump(self.config, skip_none=False, format="json")
        import json

        flat = json.loads(config)
        flat["code_version"] = code_version()
        flat["config_files"] = [str(p) for p in self.config.get("config") or []]  # the Table 1 row, the setting
        for logger in trainer.loggers:
            logger.log_hyperparams(flat)


def default_loggers(root: str) -> list:
    """W&B (offline unless logged in) and CSV, both inside the run directory."""
    from lightning.pytorch.loggers import CSVLogger

    from semantic_vae.loggers import WandbLogger

    name = Path(root).name
    return [
        WandbLogger(project="semantic-vae", name=name, save_dir=root, log_model=False),
        CSVLogger(save_dir=root, name="csv"),
    ]


# Each refresh of the progress bar reads its metrics with `.item()`: a host-device sync on CUDA.
PROGRESS_BAR_REFRESH_STEPS = 20


class SemanticVAECLI(LightningCLI):
    """Every run lives in `trainer.default_root_dir`: config.yaml, checkpoints/, wandb/, csv/.

    Without a `trainer.logger` setting the loggers are W&B and CSV in that directory, and
    checkpoints go to `<root>/checkpoints` so `--ckpt_path last` finds them again. Without a
    progress-bar callback the bar refreshes every PROGRESS_BAR_REFRESH_STEPS steps, not every step.
    """

    def _instantiate_trainer(self, config: dict, callbacks: list):
        from lightning.pytorch.callbacks import ProgressBar, TQDMProgressBar

        from semantic_vae.callbacks import RNGStateCheckpoint

        root = config.get("default_root_dir") or "outputs/runs/default"
        config = {**config, "default_root_dir": root}
        if config.get("logger") in (None, True):
            config["logger"] = default_loggers(root)
        configured = config.get("callbacks") or []
        configured = [*(configured if isinstance(configured, list) else [configured]), *callbacks]
        if config.get("enable_progress_bar") is not False and not any(isinstance(c, ProgressBar) for c in configured):
            callbacks = [*callbacks, TQDMProgressBar(refresh_rate=PROGRESS_BAR_REFRESH_STEPS)]
        if not any(isinstance(c, RNGStateCheckpoint) for c in configured):
            callbacks = [*callbacks, RNGStateCheckpoint()]  # exact resume, whatever the config's callbacks
        trainer = super()._instantiate_trainer(config, callbacks)
        for checkpoint in trainer.checkpoint_callbacks:
            if checkpoint.dirpath is None:
                checkpoint.dirpath = str(Path(root) / "checkpoints")
        return trainer

    def add_arguments_to_parser(self, parser) -> None:
        from semantic_vae.callbacks import MaskPredictionWriter, MetricsFile

        parser.add_lightning_class_args(MetricsFile, "metrics_file")
        parser.add_lightning_class_args(MaskPredictionWriter, "prediction_writer")
        parser.link_arguments("data.image_size", "model.net.image_size")
        parser.link_arguments("data.num_classes", "model.net.num_classes", apply_on="instantiate")
        parser.link_arguments("data.class_names", "model.class_names", apply_on="instantiate")


def cli_main(args: list[str] | None = None, run: bool = True) -> SemanticVAECLI:
    return SemanticVAECLI(
        SemanticVAEModule,
        FaceMaskDataModule,
        args=args,
        run=run,
        save_config_callback=LoggedSaveConfigCallback,
        save_config_kwargs={"overwrite": True},  # a resumed run rewrites its own config
    )


def run_tool(name: str, args: list[str]) -> None:
    from jsonargparse import CLI

    module_name, attribute = TOOLS[name].split(":")
    functions = getattr(importlib.import_module(module_name), attribute)
    CLI(functions, args=args, prog=f"semantic-vae {name}", as_positional=False)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in TOOLS:
            run_tool(argv[0], argv[1:])
        else:
            cli_main(argv)
    except UserError as err:
        print(f"semantic-vae: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
