"""Lightning callbacks: everything a run writes besides checkpoints and logs.

- `MetricsFile`: metrics.json at the end of `test` (rank 0, atomic);
- `MaskPredictionWriter`: predicted label PNGs (`predict`), a `BasePredictionWriter`;
- `RNGStateCheckpoint`: random-number states in every checkpoint, restored on resume, so a
  resumed `fit` ends with the same weights as an uninterrupted one;
- `TestAfterFit`: `test` on the best checkpoint at the end of `fit` (each sweep run);
- `EditMetrics`: the edit metrics of `generate` on test masks, after `test` (each sweep run);
- `FitSteering`: steering directions and presence priors for the best and last checkpoints when `fit` ends;
- `EpochLog`: one line per epoch (losses, val mIoU, time left) where no progress bar runs;
- `WandbMedia`: W&B reconstructions with mask overlays and a per-class IoU chart.
"""

from __future__ import annotations

import math
import random
import time
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from lightning.pytorch.loggers import WandbLogger

from semantic_vae.console import format_seconds
from semantic_vae.data.io import write_label_png
from semantic_vae.edit.calibration import fit_for
from semantic_vae.edit.edit import DEFAULT_PARTS, Template
from semantic_vae.edit.editor import MaskEditor
from semantic_vae.edit.latent_use import evaluate_latent_use
from semantic_vae.edit.metrics import EditMetricSettings, evaluate_editor
from semantic_vae.files import OutputFolder, write_json_atomic
from semantic_vae.labels import LabelSet, default_palette
from semantic_vae.model.loading import network_state, read_checkpoint, replace_network_state
from semantic_vae.model.vae import class_map


class MetricsFile(L.Callback):
    """Writes the test results (mIoU, pixel accuracy, IoU per class) as JSON when `test` ends.

    Args:
        path: the file; default `<trainer.default_root_dir>/metrics.json`.
    """

    def __init__(self, path: str | None = None) -> None:
        self.path = path

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        results = getattr(pl_module, "test_results", None)
        if trainer.is_global_zero and results:
            write_json_atomic(self.path or Path(trainer.default_root_dir) / "metrics.json", results)


class MaskPredictionWriter(BasePredictionWriter):
    """`predict` writes each reconstructed mask as a label PNG (mode L, ids) named like its input, at the input's
    size; the folder follows the rule of every output folder (`files.OutputFolder`): locked while written, cleared
    of an interrupted run's temporaries, and `manifest.csv` (output, source) written last.

    Args:
        output_dir: the folder for the PNGs.
    """

    FIELDS = ("output", "source")

    def __init__(self, output_dir: str = "outputs/predict") -> None:
        super().__init__(write_interval="batch")
        self.output_dir = output_dir
        self._folder: OutputFolder | None = None
        self._rows: list[dict] = []

    def on_predict_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            self._folder = OutputFolder(self.output_dir, "prediction_writer.output_dir").__enter__()
            self._rows = []

    def write_on_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, prediction: Any, batch_indices: Any,
        batch: Any, batch_idx: int, dataloader_idx: int,
    ) -> None:  # fmt: skip

        for mask, item in zip(prediction, batch.items):
            write_label_png(Path(self.output_dir) / item.name, mask)
            self._rows.append({"output": item.name, "source": str(item.path)})

    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._folder is not None:
            self._folder.finish(sorted(self._rows, key=lambda r: r["output"]), self.FIELDS)
            self._folder.__exit__(None, None, None)
            self._folder = None

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if self._folder is not None:
            self._folder.__exit__(None, None, None)  # no manifest: the folder stays marked unfinished
            self._folder = None


class RNGStateCheckpoint(L.Callback):
    """Stores the torch, CUDA, numpy and Python random states in each checkpoint; `fit` restores them.

    Lightning checkpoints do not hold RNG states, so without this a resumed run would draw other
    reparameterisation noise than an uninterrupted one. Stored as tensors and plain tuples, so
    checkpoints still load with `torch.load(weights_only=True)`.
    """

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        name, keys, pos, has_gauss, cached = np.random.get_state()
        checkpoint["rng_states"] = {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": (name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached),
            "python": random.getstate(),
        }

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        states = checkpoint.get("rng_states")
        if not states or trainer.state.fn != "fit":
            return
        torch.set_rng_state(states["torch"])
        if states["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(states["cuda"])
        name, keys, pos, has_gauss, cached = states["numpy"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
        version, internal, gauss = states["python"]
        random.setstate((version, tuple(internal), gauss))


class RunFolderLock(L.Callback):
    """Holds a `FolderLock` on the run folder for the life of the Trainer's stages; drops it at their end.

    The CLI takes the lock before anything is written to the folder (rank 0 only) and hands it here.
    Nested stages (the `test` that `TestAfterFit` runs inside `fit`) keep it until the outer one ends.
    """

    def __init__(self, lock) -> None:
        self.lock = lock
        self.depth = 0

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.depth += 1

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.depth -= 1
        if self.depth <= 0:
            self.lock.release()

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self.lock.release()


class EditMetrics(L.Callback):
    """Measures `generate` on the first test masks when `test` ends: locality, part change, added islands
    and diversity per part, for the raw edit (keep="none", the paper's) and keep="input"; and latent use
    (`edit.latent_use`: transfer, generate change).

    Writes `<default_root_dir>/edit_metrics.json` and logs `edit/<keep>/<part>/<metric>` and
    `latent_use/<part>/<metric>` (rank 0).

    Args:
        parts: part units measured one at a time (classes or groups of `semantic_vae.labels`).
        count: test masks edited.
        seeds: draws per mask (diversity needs 2 or more).
        keeps: the keep modes measured.
    """

    METRICS = ("locality", "part_change", "islands_added", "diversity")

    def __init__(
        self, parts: str = DEFAULT_PARTS, count: int = 64, seeds: int = 4, keeps: list[str] | None = None
    ) -> None:
        self.parts, self.count, self.seeds = parts, count, seeds
        self.keeps = keeps or ["none", "input"]

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero or trainer.datamodule is None:
            return

        editor = MaskEditor(pl_module.vae, trainer.datamodule.label_set, device=pl_module.device)
        masks = trainer.datamodule.split_masks("test", self.count)
        units = editor.part_units(self.parts)
        settings = EditMetricSettings(seeds=self.seeds)
        results = {}
        for keep in self.keeps:
            template = Template(keep=keep, prior="normal")  # the paper's N(0, I), as every sweep row measured it
            results[keep] = evaluate_editor(editor, masks, units, ("generate",), template, settings)["operations"][
                "generate"
            ]
        use = evaluate_latent_use(editor, masks, units, seeds=max(2, self.seeds))
        write_json_atomic(Path(trainer.default_root_dir) / "edit_metrics.json", {**results, "latent_use": use})
        flat = {
            f"edit/{keep}/{part}/{name}": value
            for keep, per_part in results.items()
            for part, metrics in per_part.items()
            for name, value in metrics.items()
            if name in self.METRICS and value is not None
        }
        flat.update({f"latent_use/{part}/{name}": m[name] for part, m in use["parts"].items()
                     for name in ("transfer", "generate_change") if m[name] is not None})  # fmt: skip
        for logger in trainer.loggers:
            logger.log_metrics(flat, step=trainer.global_step)


class FitSteering(L.Callback):
    """When `fit` ends: the steering directions and presence priors of steer, add and remove (`edit.steering`),
    fitted for the weights of the best and of the last checkpoint on training masks and written into those files,
    so every checkpoint an edit loads carries directions fitted for its own weights. W&B (and every logger) get
    each direction's held-out R^2 as `steer/r2/<part>/<attribute>`.

    Args:
        masks: training masks the directions are fitted on.
    """

    def __init__(self, masks: int = 1000) -> None:
        self.masks = masks

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero or trainer.interrupted or trainer.datamodule is None or self.masks <= 0:
            return
        import copy

        masks = trainer.datamodule.split_masks("train", self.masks)
        paths = {Path(c.best_model_path) for c in trainer.checkpoint_callbacks if c.best_model_path}
        paths |= {Path(c.last_model_path) for c in trainer.checkpoint_callbacks if getattr(c, "last_model_path", "")}
        fitted: dict[int, Any] = {}  # one fit per training step saved (best and last are often the same epoch)
        for path in sorted(p for p in paths if p.is_file()):
            checkpoint = read_checkpoint(path)
            key = int(checkpoint.get("global_step", -1))
            vae = copy.deepcopy(pl_module.vae).cpu()
            vae.load_state_dict(network_state(checkpoint))
            if key not in fitted:
                fitted[key] = fit_for(MaskEditor(vae, trainer.datamodule.label_set, device="cpu"), masks)
            replace_network_state(path, path, vae, {"steering": fitted[key].to_dict()}, checkpoint)
        if fitted:
            steering = list(fitted.values())[-1]
            flat = {f"steer/r2/{part}/{name}": r2 for part, attrs in steering.r2_table().items()
                    for name, r2 in attrs.items() if math.isfinite(r2)}  # fmt: skip
            for logger in trainer.loggers:
                logger.log_metrics(flat, step=trainer.global_step)


class EpochLog(L.Callback):
    """Prints one line per training epoch: its metrics, its time, and an estimate of what is left.

    For runs whose output goes to a log file (`make ablation`), where a progress bar would be noise: what such a
    run shows instead of Lightning's bar (`console.Progress` is off there too).
    """

    KEYS = ("train/loss", "val/loss", "val/mIoU", "val/acc")

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = self._epoch_start = time.monotonic()
        self._first_epoch = trainer.current_epoch

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._epoch_start = time.monotonic()

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero or trainer.state.fn != "fit":
            return
        now = time.monotonic()
        done = trainer.current_epoch + 1 - self._first_epoch
        left = (trainer.max_epochs - trainer.current_epoch - 1) * (now - self._start) / max(1, done)
        metrics = trainer.callback_metrics
        shown = ", ".join(f"{k} {float(metrics[k]):.4f}" for k in self.KEYS if k in metrics)
        print(
            f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}: {shown} "
            f"({format_seconds(now - self._epoch_start)}; about {format_seconds(left)} left)",
            flush=True,
        )


class TestAfterFit(L.Callback):
    """Runs `trainer.test` at the end of `fit`, on the best checkpoint (the final weights if none).

    Every DDP rank runs it (the test loop shards the split without padding), and the best path is
    the same on all ranks (ModelCheckpoint broadcasts it). A resumed run whose training had already
    finished goes straight to this test.

    Args:
        ckpt_path: "best" (the best of `trainer.checkpoint_callback`, the first ModelCheckpoint: in
            base.yaml the one monitoring val/mIoU), "last", or a path.
    """

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, ckpt_path: str = "best") -> None:
        self.ckpt_path = ckpt_path

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.interrupted:
            return
        ckpt: str | None = self.ckpt_path
        if ckpt == "best":  # the first ModelCheckpoint's (the monitored one), named to say so
            ckpt = getattr(trainer.checkpoint_callback, "best_model_path", "") or None  # None: weights in memory
        trainer.test(pl_module, datamodule=trainer.datamodule, ckpt_path=ckpt, verbose=False)


def _wandb_logger(trainer: L.Trainer) -> WandbLogger | None:
    return next((lg for lg in trainer.loggers if isinstance(lg, WandbLogger)), None)


class WandbMedia(L.Callback):
    """Logs `val/reconstructions` at each validation end; `test/iou_chart`, `test/kl_chart` and
    `test/active_units_chart` at test end (KL and active units per class are also scalars:
    `val/kl/<class>`, `val/active_units/<class>`, logged by the module).

    Each reconstruction is a `wandb.Image` of the colourised ground truth carrying two overlays,
    `predictions` and `ground_truth`, with the label set's class names, so the W&B UI can toggle
    classes. The IoU chart is a W&B bar chart of the per-class test IoU (classes absent from the
    split and never predicted are left out, as in `test/iou/<class>`).

    Args:
        num_images: masks from the first validation batch to reconstruct.
    """

    def __init__(self, num_images: int = 4) -> None:
        self.num_images = num_images
        self._pending: tuple[np.ndarray, np.ndarray] | None = None
        self._checkpoint_epoch: int | None = None  # the epoch of the weights `validate`/`test` loaded

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        self._checkpoint_epoch = checkpoint.get("epoch")

    def _epoch(self, trainer: L.Trainer) -> int:
        """The training epoch the shown weights come from: the trainer's while fitting, else the checkpoint's."""
        if trainer.state.fn == "fit" or self._checkpoint_epoch is None:
            return trainer.current_epoch
        return self._checkpoint_epoch

    def _active(self, trainer: L.Trainer) -> WandbLogger | None:
        return _wandb_logger(trainer) if trainer.is_global_zero and self.num_images > 0 else None

    # -- reconstructions ---------------------------------------------------------------------
    def on_validation_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if batch_idx != 0 or dataloader_idx != 0 or trainer.sanity_checking or self._active(trainer) is None:
            return
        labels = batch[: self.num_images]
        with torch.no_grad():
            logits = pl_module(labels).logits
        self._pending = (labels.cpu().numpy().astype(np.uint8), class_map(logits).cpu().numpy().astype(np.uint8))

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        logger = self._active(trainer)
        if logger is None or self._pending is None:
            return
        truth, pred = self._pending
        self._pending = None
        class_labels = dict(enumerate(pl_module.class_names))
        names = tuple(pl_module.class_names)
        label_set = getattr(trainer.datamodule, "label_set", None) or LabelSet(names, default_palette(len(names)))
        images = [label_set.colorize(t) for t in truth]
        masks = [
            {
                "predictions": {"mask_data": p, "class_labels": class_labels},
                "ground_truth": {"mask_data": t, "class_labels": class_labels},
            }
            for t, p in zip(truth, pred)
        ]
        captions = [f"epoch {self._epoch(trainer)}, mask {i}" for i in range(len(images))]
        logger.log_image("val/reconstructions", images, step=trainer.global_step, masks=masks, caption=captions)

    # -- per-class IoU -----------------------------------------------------------------------
    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        logger = _wandb_logger(trainer) if trainer.is_global_zero else None
        results = getattr(pl_module, "test_results", None)
        if logger is None or not results:
            return
        import wandb

        rows = [[name, value] for name, value in results["iou"].items() if not math.isnan(value)]
        table = wandb.Table(data=rows, columns=["class", "IoU"])
        title = f"Test IoU per class (mIoU {results['test/mIoU']:.4f})"
        charts = {"test/iou_chart": wandb.plot.bar(table, "class", "IoU", title=title)}
        if "kl" in results:  # which parts' latents are alive, at a glance
            rows = [[name, results["kl"][name], results["active_units"][name]] for name in results["kl"]]
            latents = wandb.Table(data=rows, columns=["class", "KL (nats)", "active units"])
            charts["test/kl_chart"] = wandb.plot.bar(latents, "class", "KL (nats)", title="Test KL per part latent")
            charts["test/active_units_chart"] = wandb.plot.bar(
                latents, "class", "active units", title="Test active units per part latent"
            )
        logger.experiment.log(charts)
