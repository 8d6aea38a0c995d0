"""The LightningModule: owns the losses, metrics, logging and optimiser of the Semantic-VAE."""

from __future__ import annotations

import json
import os
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.fabric.utilities.seed import _collect_rng_states, _set_rng_states

from semantic_vae.labels import CELEBAMASK_HQ_NAMES
from semantic_vae.losses import kl_divergence, weighted_cross_entropy
from semantic_vae.metrics import SegmentationScores
from semantic_vae.model import SemanticVAE, one_hot


class SemanticVAEModule(L.LightningModule):
    """Training and evaluation of the Semantic-VAE; every Table 1 switch is a named argument.

    Args:
        num_classes: classes of the label set (linked from the DataModule).
        class_names: names in id order (linked from the DataModule), for logs and metrics.json.
        image_size: mask side (32..256, 16 times a power of two).
        latent_dim: per-class latent size; 256 = 16x16 in the paper.
        encoder_hidden: widths of the shared MLP (paper: 256, 256, 256; reference code: 1024, 512, 256).
        encoder_input_size: resize each channel to this before the MLP (reference code: 128); None keeps it.
        lstm_layers: LSTM layers of the mixer; 0 is Table 1's "w/o LSTM block".
        bidirectional: bidirectional LSTM layers.
        lstm_hidden: LSTM hidden size.
        ffn_hidden: inner width of the mixer's feed-forward block.
        decoder_width: decoder base width (64 at full size); block widths halve from 8x this.
        weighted_ce: Eq. 2 class-frequency weights; False is plain cross-entropy.
        kl_weight: lambda of Eq. 3.
        lr: Adam learning rate (reference code: 2e-4).
        betas: Adam betas (reference code: 0.5, 0.999).
        decay_start: fraction of training at a constant rate before a linear decay to zero.
        channels_last: run the decoder's convolutions in channels-last memory format (CUDA only).
        compile: `torch.compile` the network in place.
        metrics_path: where `test` writes metrics.json (default: the trainer's root dir).
        predict_dir: where `predict` writes reconstructed label PNGs.
    """

    def __init__(
        self,
        num_classes: int = 19,
        class_names: list[str] | None = None,
        image_size: int = 256,
        latent_dim: int = 256,
        encoder_hidden: tuple[int, ...] = (256, 256, 256),
        encoder_input_size: int | None = None,
        lstm_layers: int = 3,
        bidirectional: bool = True,
        lstm_hidden: int = 256,
        ffn_hidden: int = 1024,
        decoder_width: int = 64,
        weighted_ce: bool = True,
        kl_weight: float = 5e-4,
        lr: float = 2e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        decay_start: float = 0.5,
        channels_last: bool = False,
        compile: bool = False,
        metrics_path: str | None = None,
        predict_dir: str = "outputs/predict",
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.class_names = list(class_names) if class_names else list(CELEBAMASK_HQ_NAMES[:num_classes])
        if len(self.class_names) != num_classes:
            raise ValueError(f"model.class_names has {len(self.class_names)} names for num_classes={num_classes}")
        self.vae = SemanticVAE(
            num_classes=num_classes,
            image_size=image_size,
            latent_dim=latent_dim,
            encoder_hidden=tuple(encoder_hidden),
            encoder_input_size=encoder_input_size,
            lstm_layers=lstm_layers,
            bidirectional=bidirectional,
            lstm_hidden=lstm_hidden,
            ffn_hidden=ffn_hidden,
            decoder_width=decoder_width,
        )
        if compile:
            self.vae.compile()  # in place: checkpoint keys keep their names
        # Eq. 1 weights; set from the DataModule at fit time, then stored in every checkpoint.
        self.register_buffer("class_weights", torch.ones(num_classes))
        self.val_scores = SegmentationScores(num_classes)
        self.test_scores = SegmentationScores(num_classes)

    # -- data-dependent state -------------------------------------------------------------
    def setup(self, stage: str) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        if self.hparams.channels_last and self.device.type == "cuda":
            # CUDA only: CPU GroupNorm on channels-last input rounds far worse (see BENCHMARKS.md)
            self.use_channels_last()
        if stage == "fit" and datamodule is not None and hasattr(datamodule, "class_weights"):
            self.class_weights.copy_(datamodule.class_weights)

    def use_channels_last(self) -> None:
        """Decoder convolutions in channels-last memory format (their outputs follow)."""
        self.vae.decoder.to(memory_format=torch.channels_last)

    # -- exact resume: Lightning checkpoints do not store RNG states ------------------------
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        states = _collect_rng_states(include_cuda=torch.cuda.is_available())
        name, keys, pos, has_gauss, cached = states["numpy"]
        states["numpy"] = (name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached)  # weights_only-safe
        checkpoint["rng_states"] = states

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if "rng_states" in checkpoint and self._trainer is not None and self.trainer.state.fn == "fit":
            states = dict(checkpoint["rng_states"])
            name, keys, pos, has_gauss, cached = states["numpy"]
            states["numpy"] = (name, keys.numpy().astype(np.uint32), pos, has_gauss, cached)
            _set_rng_states(states)  # the reparameterisation noise continues as it would have

    # -- shared step ----------------------------------------------------------------------
    def _forward(self, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = one_hot(labels, self.hparams.num_classes)  # (B, C, H, W) built on the device
        return self.vae(x)

    def _losses(self, labels: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        logits, mu, logvar = self._forward(labels)
        weight = self.class_weights if self.hparams.weighted_ce else None
        ce = weighted_cross_entropy(logits, labels, weight)
        kl = kl_divergence(mu, logvar)
        loss = ce + self.hparams.kl_weight * kl
        return {"loss": loss, "ce": ce, "kl": kl}, logits

    def training_step(self, labels: torch.Tensor, batch_idx: int) -> torch.Tensor:
        losses, _ = self._losses(labels)
        batch = labels.shape[0]
        self.log("train/loss", losses["loss"], prog_bar=True, batch_size=batch)
        self.log_dict({"train/ce": losses["ce"], "train/kl": losses["kl"]}, batch_size=batch)
        return losses["loss"]

    def validation_step(self, labels: torch.Tensor, batch_idx: int) -> None:
        losses, logits = self._losses(labels)
        self.val_scores.update(logits.argmax(1), labels.long())
        # unequal batch counts per rank are possible (unpadded sampler): no per-step sync
        self.log("val/loss", losses["loss"], batch_size=labels.shape[0])

    def test_step(self, labels: torch.Tensor, batch_idx: int) -> None:
        logits, _, _ = self._forward(labels)
        self.test_scores.update(logits.argmax(1), labels.long())

    def on_validation_epoch_end(self) -> None:
        scores = self.val_scores.compute()  # summed across ranks once
        self.log_dict({"val/mIoU": scores["miou"], "val/acc": scores["acc"]}, prog_bar=True, sync_dist=False)
        self.val_scores.reset()

    def on_test_epoch_end(self) -> None:
        scores = self.test_scores.compute()
        per_class = {f"test/iou/{name}": scores["iou"][i] for i, name in enumerate(self.class_names)}
        self.log_dict({"test/mIoU": scores["miou"], "test/acc": scores["acc"]})
        self.log_dict({k: v for k, v in per_class.items() if not torch.isnan(v)})
        self.test_results = {
            "test/mIoU": float(scores["miou"]),
            "test/acc": float(scores["acc"]),
            "iou": {name: float(scores["iou"][i]) for i, name in enumerate(self.class_names)},
        }
        self.test_scores.reset()
        if self.trainer.is_global_zero:
            self._write_metrics(self.test_results)

    def _write_metrics(self, results: dict) -> None:
        path = Path(self.hparams.metrics_path or Path(self.trainer.default_root_dir) / "metrics.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(results, indent=2, allow_nan=True) + "\n")
        os.replace(tmp, path)

    # -- prediction -----------------------------------------------------------------------
    def predict_step(self, batch: tuple[torch.Tensor, list[str]], batch_idx: int) -> torch.Tensor:
        from semantic_vae.data.io import write_label_png

        labels, names = batch
        logits, _, _ = self._forward(labels)
        pred = logits.argmax(1).to(torch.uint8).cpu().numpy()
        out = Path(self.hparams.predict_dir)
        out.mkdir(parents=True, exist_ok=True)
        for mask, name in zip(pred, names):
            write_label_png(out / name, mask)
        return torch.from_numpy(pred)

    # -- optimisation ---------------------------------------------------------------------
    def configure_optimizers(self):
        fused = self.device.type == "cuda"
        optimizer = torch.optim.Adam(self.parameters(), lr=self.hparams.lr, betas=tuple(self.hparams.betas), fused=fused)
        schedule: dict[str, int] = {}

        def constant_then_linear(step: int) -> float:
            if step == 0:  # LambdaLR's call at construction: 1.0 whatever the length
                return 1.0
            if not schedule:
                # Read the length at the first step, not here: `estimated_stepping_batches` builds the
                # train loader, and built before a checkpoint is restored its first iterator (with
                # workers) would prefetch epoch 0's order (Lightning issue #21938).
                total = max(1, int(self.trainer.estimated_stepping_batches))
                schedule.update(total=total, start=int(total * self.hparams.decay_start))
            total, start = schedule["total"], schedule["start"]
            return 1.0 if step < start else max(0.0, (total - step) / max(1, total - start))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, constant_then_linear)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
