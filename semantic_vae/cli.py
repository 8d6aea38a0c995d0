"""Command line: LightningCLI for fit/validate/test/predict, plus the data, edit and app tools.

semantic-vae fit --config experiments/base.yaml --config experiments/small.yaml
semantic-vae data preview --source synthetic --n 16 --out preview.png
semantic-vae edit generate --ckpt run/last.ckpt --input masks/ --parts nose --out edited/
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from argparse import ArgumentError
from pathlib import Path
from typing import Any

from lightning.pytorch.cli import LightningCLI, SaveConfigCallback

from semantic_vae import __version__
from semantic_vae.data.datamodule import FaceMaskDataModule
from semantic_vae.errors import UserError
from semantic_vae.files import FolderLock, ensure_dir
from semantic_vae.lit import SemanticVAEModule
from semantic_vae.runtime import quiet_library_notices

# Tools other than the LightningCLI: subcommand -> "module:attribute" holding a list of functions
# (or one function) that jsonargparse.CLI turns into commands.
TOOLS: dict[str, str] = {
    "data": "semantic_vae.data.commands:COMMANDS",
    "edit": "semantic_vae.edit.commands:EDIT_COMMANDS",
    "evaluate-edits": "semantic_vae.edit.commands:evaluate_edits",
    "app": "semantic_vae.app.ui:app",
}
# Every command with one line, for `semantic-vae --help`.
COMMANDS: dict[str, str] = {
    "fit": "train a model (LightningCLI; --config files stack, `fit --print_config` lists every option)",
    "validate": "run the validation split on a checkpoint (--ckpt_path)",
    "test": "test a checkpoint on the test split (--ckpt_path); writes metrics.json in the run folder",
    "predict": "reconstruct label PNGs (--data.predict_root, --prediction_writer.output_dir)",
    "data": "merge | prepare | preview | compare: CelebAMask-HQ readers, the training cache, mask previews, synthetic vs real",
    "edit": "reconstruct | generate | perturb | interpolate | swap | augment | replay: part-level editing of label PNGs",
    "evaluate-edits": "measure edits: locality, part change, validity, realism, diversity",
    "app": "the interactive mask editor in the browser (needs the app extra: pip install -e '.[app]')",
}
SWEEP_ID_VARIABLES = ("WANDB_SWEEP_ID", "SEMANTIC_VAE_SWEEP_ID")  # a W&B agent's, or `make ablation`'s local one


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
    """Saves config.yaml beside the run and logs the resolved config once, nested as in the YAML.

    Besides the config: the network's full sizes (including the values linked from the data),
    the config files given (the Table 1 row, the setting), the code version and the sweep id.
    """

    def save_config(self, trainer, pl_module, stage: str) -> None:
        config = json.loads(self.parser.dump(self.config, skip_unset=False, format="json"))
        config.pop("config", None)
        config["model"]["net"] = dict(pl_module.hparams["net"])
        config["config_files"] = [str(p) for p in self.config.get("config") or []]
        config["code_version"] = code_version()
        sweep = next((os.environ[v] for v in SWEEP_ID_VARIABLES if os.environ.get(v)), None)
        if sweep:
            config["sweep_id"] = sweep
        for logger in trainer.loggers:
            logger.log_hyperparams(config)


# Each refresh of the progress bar reads its metrics with `.item()`: a host-device sync on CUDA.
PROGRESS_BAR_REFRESH_STEPS = 20


class SemanticVAECLI(LightningCLI):
    """Every run lives in `trainer.default_root_dir`: config.yaml, checkpoints/, wandb/, csv/.

    Without a `trainer.logger` setting the loggers are W&B and CSV in that directory
    (`semantic_vae.loggers`), and checkpoints go to `<root>/checkpoints` so `--ckpt_path last`
    finds them again. Always added: RNG states in checkpoints (exact resume) and, with loggers, the
    learning rate. Without a progress-bar callback the bar refreshes every PROGRESS_BAR_REFRESH_STEPS
    steps; with the bar switched off, one line per epoch is printed instead.
    """

    def _instantiate_trainer(self, config: dict, callbacks: list):
        from lightning.pytorch.callbacks import LearningRateMonitor, ProgressBar, TQDMProgressBar

        from semantic_vae.callbacks import EpochLog, RNGStateCheckpoint, RunFolderLock
        from semantic_vae.loggers import run_loggers

        root = run_root(config)
        ensure_dir(root, "run folder (trainer.default_root_dir)")
        config = {**config, "default_root_dir": root}
        if self._run_lock is not None:
            callbacks = [*callbacks, RunFolderLock(self._run_lock)]
        if config.get("logger") in (None, True):
            config["logger"] = run_loggers(root, self.subcommand)
        configured = config.get("callbacks") or []
        configured = [*(configured if isinstance(configured, list) else [configured]), *callbacks]

        def missing(kind: type) -> bool:
            return not any(isinstance(c, kind) for c in configured)

        if config.get("enable_progress_bar") is False:
            callbacks = [*callbacks, EpochLog()] if missing(EpochLog) else callbacks
        elif missing(ProgressBar):
            callbacks = [*callbacks, TQDMProgressBar(refresh_rate=PROGRESS_BAR_REFRESH_STEPS)]
        if missing(RNGStateCheckpoint):
            callbacks = [*callbacks, RNGStateCheckpoint()]  # exact resume, whatever the config's callbacks
        if config["logger"] and self.subcommand == "fit" and missing(LearningRateMonitor):
            callbacks = [*callbacks, LearningRateMonitor(logging_interval="step")]  # the schedule is ours
        trainer = super()._instantiate_trainer(config, callbacks)
        for checkpoint in trainer.checkpoint_callbacks:
            if checkpoint.dirpath is None:
                checkpoint.dirpath = str(Path(root) / "checkpoints")
        return trainer

    _run_lock: FolderLock | None = None

    def _set_seed(self) -> None:
        """Before anything is seeded, built or written: a second run in the same folder is refused at once."""
        subcommand = self.config.get("subcommand")
        if subcommand in ("fit", "validate", "test") and is_first_process():
            root = run_root(self.config[subcommand].get("trainer") or {})
            ensure_dir(root, "run folder (trainer.default_root_dir)")
            self._run_lock = FolderLock(root, "run folder (trainer.default_root_dir)").acquire()
        super()._set_seed()

    def _parse_ckpt_path(self) -> None:
        """Before LightningCLI reads a checkpoint's hyperparameters: a checkpoint file given with --ckpt_path
        is ours and loads with weights_only=True, or one line says why."""
        subcommand = self.config.get("subcommand")
        path = self.config[subcommand].get("ckpt_path") if subcommand else None
        named = path in ("last", "best", "hpc", "registry") or str(path).startswith(("http://", "https://"))
        if path and not named:
            from semantic_vae.edit.editor import read_checkpoint

            net = read_checkpoint(path)["hyper_parameters"].get("net", {})
            size = self.config[subcommand].get("data", {}).get("image_size")
            if net.get("image_size") and size and net["image_size"] != size:
                raise UserError(
                    f"{path}: the model was trained on {net['image_size']}x{net['image_size']} masks but "
                    f"data.image_size is {size}; give --data.image_size={net['image_size']}"
                )
        super()._parse_ckpt_path()

    def _prepare_subcommand_parser(self, klass: type, subcommand: str, **kwargs: Any):
        """Lightning adds the trainer methods' arguments here; checkpoints never unpickle arbitrary objects."""
        parser = super()._prepare_subcommand_parser(klass, subcommand, **kwargs)
        if "weights_only" in self._subcommand_method_arguments[subcommand]:
            parser.set_defaults(weights_only=True)
        return parser

    def add_arguments_to_parser(self, parser) -> None:
        from semantic_vae.callbacks import MaskPredictionWriter, MetricsFile

        parser.add_lightning_class_args(MetricsFile, "metrics_file")
        parser.add_lightning_class_args(MaskPredictionWriter, "prediction_writer")
        parser.link_arguments("data.image_size", "model.net.image_size")
        parser.link_arguments("data.num_classes", "model.net.num_classes", apply_on="instantiate")
        parser.link_arguments("data.class_names", "model.class_names", apply_on="instantiate")


def run_root(trainer_config: dict) -> str:
    return trainer_config.get("default_root_dir") or "outputs/runs/default"


def is_first_process() -> bool:
    """Rank 0 of a run: DDP's other ranks (started by Lightning or torchrun) carry their ranks in the environment."""
    return all(int(os.environ.get(name, "0")) == 0 for name in ("LOCAL_RANK", "NODE_RANK", "RANK"))


def cli_main(args: list[str] | None = None, run: bool = True) -> SemanticVAECLI:
    """The LightningCLI; `args=None` reads the command line."""
    return SemanticVAECLI(
        SemanticVAEModule,
        FaceMaskDataModule,
        args=args,
        run=run,
        save_config_callback=LoggedSaveConfigCallback,
        save_config_kwargs={"overwrite": True},  # a resumed run rewrites its own config
        # argument errors reach `main`, which prints one line; no abbreviations (a typo must not pass as a prefix)
        parser_kwargs={"exit_on_error": False, "allow_abbrev": False},
    )


def run_tool(name: str, args: list[str]) -> None:
    from jsonargparse import CLI

    module_name, attribute = TOOLS[name].split(":")
    functions = getattr(importlib.import_module(module_name), attribute)
    CLI(functions, args=args, prog=f"semantic-vae {name}", as_positional=False, exit_on_error=False, allow_abbrev=False)


def overview() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"semantic-vae {__version__}: part-level editing and generation of face segmentation masks", "",
             "usage: semantic-vae COMMAND [options]   (semantic-vae COMMAND --help for its options)", "", "commands:"]  # fmt: skip
    lines += [f"  {name:<{width}}  {text}" for name, text in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """The `semantic-vae` entry point: one line and exit code 2 for a user's mistake."""
    args = list(sys.argv[1:] if argv is None else argv)
    quiet_library_notices()
    try:
        if not args or args[0] in ("-h", "--help"):
            print(overview())
        elif args[0] in ("-V", "--version"):
            print(f"semantic-vae {code_version()}")
        elif args[0] in TOOLS:
            run_tool(args[0], args[1:])
        else:
            cli_main(None if argv is None else args)  # None: LightningCLI reads sys.argv itself
    except (UserError, ArgumentError) as err:
        print(f"semantic-vae: error: {one_line(err)}", file=sys.stderr)
        raise SystemExit(2) from None
    except OSError as err:  # the machine's side: a full disk, a folder made read-only; outputs so far are whole
        where = f"{err.filename}: " if err.filename else ""
        print(f"semantic-vae: error: {where}{err.strerror or one_line(err)}", file=sys.stderr)
        raise SystemExit(1) from None


def one_line(err: BaseException) -> str:
    """An error message on one line (argument parsers write theirs over several)."""
    return "; ".join(line.strip() for line in str(err).splitlines() if line.strip()) or type(err).__name__
