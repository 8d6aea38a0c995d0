"""The LightningCLI of this project: `semantic-vae fit | validate | test | predict`.

Every run lives in `trainer.default_root_dir`: config.yaml, checkpoints/, wandb/, csv/, metrics.json.
What this class adds to LightningCLI, through its public hooks only (`parse_arguments`,
`instantiate_trainer`, `before_fit`):

- the command line is checked before anything is built (`check_run`): the seed's range, a checkpoint
  that exists, is ours, and fits the data's label set and size; options given on resume that the
  checkpoint would silently replace; a finished run folder that `fit` would overwrite;
- the run folder is locked, so a second process never writes into it;
- the loggers (W&B by W&B's rules, one CSV) and checkpoints go into the run folder;
- RNG states in every checkpoint (exact resume), the learning rate with loggers, a progress bar
  that refreshes every PROGRESS_BAR_REFRESH_STEPS steps (or one line per epoch without it);
- checkpoints load with `weights_only=True` unless the command line says otherwise, and a weights file
  (`semantic-vae convert`) given to `fit --ckpt_path` starts a new training from its weights, not a resume.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Literal

import lightning as L
from lightning.pytorch.cli import LightningCLI, SaveConfigCallback
from lightning.pytorch.utilities import rank_zero_info

from semantic_vae.callbacks import EpochLog, MaskPredictionWriter, MetricsFile, RNGStateCheckpoint, RunFolderLock
from semantic_vae.checks import MAX_SEED
from semantic_vae.compat import PRECISION_INPUT
from semantic_vae.data.datamodule import FaceMaskDataModule
from semantic_vae.errors import UserError
from semantic_vae.fast_path import AUTO, auto_precision
from semantic_vae.files import FolderLock, ensure_dir
from semantic_vae.labels import resolve_label_set
from semantic_vae.lit import SemanticVAEModule
from semantic_vae.loggers import run_loggers
from semantic_vae.machine import code_version
from semantic_vae.model.loading import load_state, network_state, read_checkpoint

SWEEP_ID_VARIABLES = ("WANDB_SWEEP_ID", "SEMANTIC_VAE_SWEEP_ID")  # a W&B agent's, or `make ablation`'s local one
# Each refresh of the progress bar reads its metrics with `.item()`: a host-device sync on CUDA.
PROGRESS_BAR_REFRESH_STEPS = 20
NAMED_CHECKPOINTS = ("last", "best", "hpc", "registry")  # Lightning's names for a ckpt_path
RUN_OUTPUTS = ("checkpoints", "csv", "metrics.json", "edit_metrics.json", "wandb/run_id")  # replaced by --overwrite
# Model options a resume does not compare: run-time choices (they do not alter what is trained) and the values
# linked from the data when the classes are built (not yet known when the command line is checked).
RESUME_FREE_OPTIONS = frozenset({"channels_last", "compile", "class_names"})
LINKED_NET_OPTIONS = frozenset({"num_classes"})


class Trainer(L.Trainer):
    """Lightning's Trainer with one more precision, "auto" (the default of experiments/base.yaml): bf16-mixed where
    the device computes bf16 natively, 32-true elsewhere (`fast_path.auto_precision`), said in one line."""

    def __init__(self, *args: Any, precision: PRECISION_INPUT | Literal["auto"] | None = AUTO, **kwargs: Any) -> None:
        if precision == AUTO:
            precision, why = auto_precision(kwargs.get("accelerator"))
            rank_zero_info(f"precision: {precision} (auto: {why})")
        super().__init__(*args, precision=precision, **kwargs)


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


def run_root(trainer_config: dict) -> str:
    return trainer_config.get("default_root_dir") or "outputs/runs/default"


def is_first_process() -> bool:
    """Rank 0 of a run: DDP's other ranks (started by Lightning or torchrun) carry their ranks in the environment."""
    return all(int(os.environ.get(name, "0")) == 0 for name in ("LOCAL_RANK", "NODE_RANK", "RANK"))


def checkpoint_path(subcommand: str, config: Any) -> Path | None:
    """The checkpoint file `--ckpt_path` names (`last` resolved in the run folder), checked to exist.

    None when no file is named: no ckpt_path, or `fit --ckpt_path last` in a folder without one (Lightning
    then starts from scratch, as a resumable command should).
    """
    path = config.get("ckpt_path")
    if not path:
        return None
    path = str(path)
    if path.startswith(("http://", "https://")):
        return None  # Lightning downloads it
    if path in NAMED_CHECKPOINTS:
        if path != "last":
            if subcommand != "fit":
                raise UserError(
                    f"--ckpt_path {path}: only a training in the same process knows its '{path}' checkpoint; "
                    "give a checkpoint file or 'last'"
                )
            return None
        last = Path(run_root(config.get("trainer") or {})) / "checkpoints" / "last.ckpt"
        if last.is_file():
            return last
        if subcommand == "fit":
            return None
        raise UserError(f"--ckpt_path last: {last} does not exist (no training has saved one in this run folder)")
    if not Path(path).is_file():
        raise UserError(f"--ckpt_path {path}: checkpoint not found")
    return Path(path)


def is_weights_file(checkpoint: dict) -> bool:
    """A checkpoint without optimiser and loop state (`semantic-vae convert`, `fit-prior`): weights to start from."""
    return "optimizer_states" not in checkpoint or "loops" not in checkpoint


def check_run(subcommand: str, config: Any) -> dict | None:
    """The checks of one command line before anything is built; returns the checkpoint it names, read."""
    seed = config.get("seed_everything")
    if not isinstance(seed, bool) and seed is not None and not (isinstance(seed, int) and 0 <= seed <= MAX_SEED):
        raise UserError(f"--seed_everything must be a whole number in 0..{MAX_SEED}, true or false, got {seed!r}")
    path = checkpoint_path(subcommand, config)
    data = config.get("data") or {}
    if path is None:
        return None
    checkpoint = read_checkpoint(path)
    hyper_parameters = checkpoint["hyper_parameters"]
    net = hyper_parameters.get("net") or {}
    label_set, _ = resolve_label_set(data.get("label_set"), data.get("merge_map"))
    names = list(hyper_parameters.get("class_names") or [])
    if names and names != list(label_set.names):
        raise UserError(
            f"--ckpt_path {path}: the model's label set ({len(names)} classes: {', '.join(names[:4])}, ...) differs "
            f"from the data's '{label_set.name}' ({label_set.num_classes} classes: {', '.join(label_set.names[:4])}, "
            "...); give the data's --data.label_set / --data.merge_map of the training"
        )
    size = data.get("image_size")
    if net.get("image_size") and size and net["image_size"] != size:
        raise UserError(
            f"--ckpt_path {path}: the model was trained on {net['image_size']}x{net['image_size']} masks but "
            f"data.image_size is {size}; give --data.image_size={net['image_size']}"
        )
    if subcommand == "fit" and not is_weights_file(checkpoint):
        check_resume_options(path, hyper_parameters, config.get("model") or {})
    return checkpoint


def check_fresh_run_folder(config: Any) -> None:
    """A `fit` without --ckpt_path into a folder that holds a run's checkpoints is refused unless --overwrite."""
    root = Path(run_root(config.get("trainer") or {}))
    saved = sorted((root / "checkpoints").glob("*.ckpt")) if (root / "checkpoints").is_dir() else []
    if saved and not config.get("overwrite"):
        raise UserError(
            f"{root} holds a run ({saved[0].name}): resume it with --ckpt_path last, start over with "
            "--overwrite true, or give another --trainer.default_root_dir"
        )


def check_resume_options(path: Path, saved: dict, given: Any) -> None:
    """Resuming keeps the checkpoint's model settings (LightningCLI lays them over the command line's): a given
    value that differs would be dropped without a word, so it is refused."""
    for key, value in saved.items():
        if key.startswith("_") or key in RESUME_FREE_OPTIONS or key not in given:
            continue
        mine = given[key]
        mine = mine.as_dict() if hasattr(mine, "as_dict") else mine
        if key == "net":
            mine = {k: v for k, v in dict(mine).items() if k in value and k not in LINKED_NET_OPTIONS}
            value = {k: v for k, v in value.items() if k not in LINKED_NET_OPTIONS}
        if _plain(mine) != _plain(value):
            raise UserError(
                f"--model.{key}: this command line gives {_plain(mine)!r}, the run in {path} was trained with "
                f"{_plain(value)!r}; a resumed run keeps its checkpoint's settings: give the configs of the training, "
                "or start a new run in another --trainer.default_root_dir"
            )


def _plain(value: Any) -> Any:
    """Tuples as lists, so a YAML list and a checkpoint's tuple compare equal."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class SemanticVAECLI(LightningCLI):
    """LightningCLI with the run folder, the checks and the defaults of this project (module docstring)."""

    _run_lock: FolderLock | None = None
    _start_weights: tuple[str, dict] | None = None  # (path, checkpoint) of a weights file given to `fit --ckpt_path`

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_argument(
            "--overwrite",
            type=bool,
            default=False,
            help="fit: replace the run in trainer.default_root_dir (its checkpoints, logs and metrics) with a new one",
        )
        parser.add_lightning_class_args(MetricsFile, "metrics_file")
        parser.add_lightning_class_args(MaskPredictionWriter, "prediction_writer")
        parser.link_arguments("data.image_size", "model.net.image_size")
        parser.link_arguments("data.num_classes", "model.net.num_classes", apply_on="instantiate")
        parser.link_arguments("data.class_names", "model.class_names", apply_on="instantiate")

    def parse_arguments(self, parser, args) -> None:
        """Parsing, then `check_run` before LightningCLI reads a checkpoint's hyperparameters or builds anything."""
        super().parse_arguments(parser, args)
        subcommand = self.config.get("subcommand")
        if not subcommand:
            return
        config = self.config[subcommand]
        if "weights_only" in config and config["weights_only"] is None:
            config["weights_only"] = True  # checkpoints never unpickle arbitrary objects, unless asked
        checkpoint = check_run(subcommand, config)
        if subcommand == "fit" and checkpoint is not None and is_weights_file(checkpoint):
            # Not a resume: the model is built from this command line's config and starts from the file's weights.
            self._start_weights = (str(self.config[subcommand]["ckpt_path"]), checkpoint)
            self.config[subcommand]["ckpt_path"] = None
        self.lock_run_folder(subcommand, config)

    def lock_run_folder(self, subcommand: str, config: Any) -> None:
        """Before anything is seeded, built or written: a second run in the same folder is refused at once, and a
        `fit` without a checkpoint does not replace a run unless --overwrite says so."""
        if subcommand not in ("fit", "validate", "test") or not is_first_process():
            return
        root = Path(run_root(config.get("trainer") or {}))
        ensure_dir(root, "run folder (trainer.default_root_dir)")
        self._run_lock = FolderLock(root, "run folder (trainer.default_root_dir)").acquire()
        if subcommand != "fit" or config.get("ckpt_path"):
            return
        if not config.get("overwrite"):
            try:
                check_fresh_run_folder(config)
            except UserError:
                self._run_lock.release()
                raise
            return
        for name in RUN_OUTPUTS:
            target = root / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()

    def instantiate_trainer(self, **kwargs: Any):
        from lightning.pytorch.callbacks import LearningRateMonitor, ProgressBar, TQDMProgressBar

        section = self.config_init.get(str(self.subcommand), self.config_init)
        config = dict(section.get("trainer") or {})
        root = run_root(config)
        ensure_dir(root, "run folder (trainer.default_root_dir)")
        configured = config.get("callbacks") or []
        callbacks = list(configured if isinstance(configured, list) else [configured])
        # The callbacks below stay in code (`fit --print_config` lists the others: trainer.callbacks, metrics_file,
        # prediction_writer): the folder lock holds the lock taken while parsing, before anything is built; the RNG
        # states make every resume exact, whatever a config's callbacks list; the progress display follows
        # trainer.enable_progress_bar (Lightning refuses a bar where it is false, and a log file gets a line per
        # epoch instead); the learning-rate monitor needs a logger and a fit; the loggers follow W&B's own rules
        # (`semantic_vae.loggers`).
        if self._run_lock is not None:
            callbacks.append(RunFolderLock(self._run_lock))

        def missing(kind: type) -> bool:
            return not any(isinstance(c, kind) for c in callbacks)

        if config.get("enable_progress_bar") is False:
            callbacks += [EpochLog()] if missing(EpochLog) else []
        elif missing(ProgressBar):
            callbacks.append(TQDMProgressBar(refresh_rate=PROGRESS_BAR_REFRESH_STEPS))
        if missing(RNGStateCheckpoint):
            callbacks.append(RNGStateCheckpoint())
        logger = config.get("logger")
        if logger in (None, True):
            logger = run_loggers(root, self.subcommand)
        if logger and self.subcommand == "fit" and missing(LearningRateMonitor):
            callbacks.append(LearningRateMonitor(logging_interval="step"))  # the schedule is ours
        trainer = super().instantiate_trainer(default_root_dir=root, logger=logger, callbacks=callbacks, **kwargs)
        for checkpoint in trainer.checkpoint_callbacks:
            if checkpoint.dirpath is None:
                checkpoint.dirpath = str(Path(root) / "checkpoints")
        return trainer

    def before_fit(self) -> None:
        if self._start_weights is not None:
            path, checkpoint = self._start_weights
            load_state(self.model.vae, network_state(checkpoint), path)
            print(f"fit: a new training, starting from the weights of {path}", flush=True)


def cli_main(args: list[str] | None = None, run: bool = True) -> SemanticVAECLI:
    """The LightningCLI; `args=None` reads the command line."""
    return SemanticVAECLI(
        SemanticVAEModule,
        FaceMaskDataModule,
        trainer_class=Trainer,
        args=args,
        run=run,
        save_config_callback=LoggedSaveConfigCallback,
        save_config_kwargs={"overwrite": True},  # a resumed run rewrites its own config
        # argument errors reach `main`, which prints one line; no abbreviations (a typo must not pass as a prefix)
        parser_kwargs={"exit_on_error": False, "allow_abbrev": False},
    )
