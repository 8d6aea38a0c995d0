"""W&B dashboard media: reconstructions with segmentation-mask overlays, and per-class IoU bars.

Rank 0 only, and nothing at all without a WandbLogger. The reconstructions are recomputed on rank 0
with the bare network (`pl_module.vae`, not the DDP wrapper), so no collective call runs on one rank
alone; evaluation mode uses the posterior mean, so no random numbers are drawn and training resumes
exactly as without this callback.
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import WandbLogger

from semantic_vae.labels import LabelSet, default_palette
from semantic_vae.model import one_hot


def _wandb_logger(trainer: L.Trainer) -> WandbLogger | None:
    return next((lg for lg in trainer.loggers if isinstance(lg, WandbLogger)), None)


class WandbMedia(L.Callback):
    """Logs `val/reconstructions` at each validation end and `test/iou_chart` at test end.

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

    def _active(self, trainer: L.Trainer) -> WandbLogger | None:
        return _wandb_logger(trainer) if trainer.is_global_zero and self.num_images > 0 else None

    # -- reconstructions ---------------------------------------------------------------------
    def on_validation_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if batch_idx != 0 or dataloader_idx != 0 or trainer.sanity_checking or self._active(trainer) is None:
            return
        labels = batch[: self.num_images]
        with torch.no_grad():
            logits, _, _ = pl_module.vae(one_hot(labels, pl_module.hparams.num_classes))
        self._pending = (labels.cpu().numpy().astype(np.uint8), logits.argmax(1).cpu().numpy().astype(np.uint8))

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
        captions = [f"epoch {trainer.current_epoch}, mask {i}" for i in range(len(images))]
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
        logger.experiment.log({"test/iou_chart": wandb.plot.bar(table, "class", "IoU", title=title)})
