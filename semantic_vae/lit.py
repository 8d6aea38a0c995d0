"""The LightningModule: the paper's loss, the metrics and the optimiser around a `SemanticVAE`.

Side outputs (metrics.json, predicted PNGs, W&B media, RNG states for exact resume) are
callbacks in `semantic_vae.callbacks`; this module only trains and evaluates.
"""

from __future__ import annotations

import math
from typing import Any, Literal, NamedTuple

import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_info

from semantic_vae.data.predict import PredictBatch
from semantic_vae.errors import UserError
from semantic_vae.fast_path import AUTO, compile_choice
from semantic_vae.labels import CELEBAMASK_HQ_NAMES
from semantic_vae.losses import part_silhouette_loss, soft_dice_loss, vae_loss
from semantic_vae.metrics import LatentMoments, LatentStats, SegmentationScores
from semantic_vae.model import SemanticVAE, VAEConfig, one_hot
from semantic_vae.model.part_decoder import PartSilhouetteDecoder
from semantic_vae.model.vae import class_map, labels_at


class VAEOutput(NamedTuple):
    logits: torch.Tensor  # (B, C, H, W)
    mu: torch.Tensor  # (B, C, D)
    logvar: torch.Tensor  # (B, C, D)


class SemanticVAEModule(L.LightningModule):
    """Training and evaluation of the Semantic-VAE; every Table 1 switch is a named argument.

    Args:
        net: the network's sizes (`model.net.*`); its defaults are the paper's. `num_classes`
            and `image_size` are linked from the DataModule.
        class_names: names in id order (linked from the DataModule), for logs and metrics.json.
        weighted_ce: Eq. 2 class-frequency weights (Table 1); False is plain cross-entropy.
        class_weights: fixed weights of the weighted CE, one per class (the released network's training: its 19);
            default: Eq. 1 from the training split.
        kl_weight: lambda of Eq. 3 (paper: 0.0005).
        lr: Adam learning rate (reference code: 2e-4).
        betas: Adam betas (reference code: 0.5, 0.999).
        decay_start: fraction of training at a constant rate before a linear decay to zero (reference code: 0.5).
        free_bits: nats of KL per class latent (batch mean) that cost nothing (Kingma et al. 2016); 0 is the
            paper's loss. Keeps small parts' latents from collapsing onto the prior.
        kl_warmup_steps: optimiser steps over which the KL weight rises linearly from 0 to `kl_weight`
            (Bowman et al. 2016); 0 is the paper's constant weight.
        context_dropout: while training, each mask's latent of each class is replaced by an N(0, I) draw with this
            probability, and the pixels of the replaced classes leave the CE: the other parts must be drawn with
            part of their context missing, so from their own latents (beyond the paper; 0 is off).
        part_loss_weight: weight of a loss that decodes each part's silhouette from its own latent alone
            (`model.part_decoder`, training only), so every latent carries its part's shape (beyond the paper;
            0 is off).
        dice_weight: weight of a soft Dice loss of the decoded mask, in which every part present in a mask weighs
            the same however few its pixels: an eye's shape matters as much as the hair's, so the decoder draws it
            from the eye's latent (beyond the paper; 0 is off).
        channels_last: run the decoder's convolutions in channels-last memory format (applied on CUDA only).
        compile: `torch.compile` the network in place: true, false, or "auto" (when a training has enough steps
            to repay the compile; `semantic_vae.fast_path`). Without a C++ compiler the network runs eager.
    """

    def __init__(
        self,
        net: VAEConfig = VAEConfig(),
        class_names: list[str] | None = None,
        weighted_ce: bool = True,
        class_weights: list[float] | None = None,
        kl_weight: float = 5e-4,
        lr: float = 2e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        decay_start: float = 0.5,
        free_bits: float = 0.0,
        kl_warmup_steps: int = 0,
        context_dropout: float = 0.0,
        part_loss_weight: float = 0.0,
        dice_weight: float = 0.0,
        channels_last: bool = False,
        compile: bool | Literal["auto"] = "auto",
    ) -> None:
        super().__init__()
        net = VAEConfig.from_dict(net) if isinstance(net, dict) else net  # from a checkpoint's hyperparameters
        check_optimisation(lr, betas, kl_weight, decay_start, free_bits, kl_warmup_steps)
        check_part_settings(context_dropout, part_loss_weight, dice_weight)
        # Plain types in the checkpoint (loadable with weights_only=True); the logged config comes
        # from the CLI's SaveConfigCallback, so Lightning does not log these a second time. The speed
        # switches are left out: they are run-time choices, and LightningCLI lays a checkpoint's
        # hyperparameters over the command line's when it loads one.
        self.save_hyperparameters(ignore=["net", "channels_last", "compile"], logger=False)
        self.channels_last = channels_last
        self.hparams["net"] = net.to_dict()
        self.net_config = net
        self.class_names = list(class_names) if class_names else list(CELEBAMASK_HQ_NAMES[: net.num_classes])
        if len(self.class_names) != net.num_classes:
            raise ValueError(f"model.class_names has {len(self.class_names)} names for num_classes={net.num_classes}")
        self.vae = SemanticVAE(net)
        self.part_decoder = PartSilhouetteDecoder(net) if part_loss_weight > 0 else None
        self.compile_setting = compile
        self.compiled = False
        if compile is True:
            self.compile_network(None)
        # Eq. 1 weights; set from the DataModule at fit time (unless fixed), then stored in every checkpoint.
        if class_weights is not None and len(class_weights) != net.num_classes:
            raise UserError(f"model.class_weights has {len(class_weights)} weights for {net.num_classes} classes")
        fixed = torch.tensor(class_weights, dtype=torch.float32) if class_weights is not None else None
        self.register_buffer("class_weights", fixed if fixed is not None else torch.ones(net.num_classes))
        self.val_scores = SegmentationScores(net.num_classes)
        self.test_scores = SegmentationScores(net.num_classes)
        self.val_latents = LatentStats(net.latent_classes, net.latent_dim)
        self.test_latents = LatentStats(net.latent_classes, net.latent_dim)
        self.train_moments = LatentMoments(net.num_latents, net.latent_dim)  # the data prior's fit
        self.test_results: dict[str, Any] = {}

    @property
    def num_classes(self) -> int:
        return self.net_config.num_classes

    # -- data-dependent state -------------------------------------------------------------
    def setup(self, stage: str) -> None:
        if self.channels_last and self.device.type == "cuda":
            # CUDA only: CPU GroupNorm on channels-last input rounds far worse (see BENCHMARKS.md)
            self.use_channels_last()
        datamodule = getattr(self.trainer, "datamodule", None)
        self._check_data(datamodule)
        weights = getattr(datamodule, "train_class_weights", None)
        if stage == "fit" and weights is not None and self.hparams.class_weights is None:
            self.class_weights.copy_(weights())

    def _check_data(self, datamodule: L.LightningDataModule | None) -> None:
        """The data must be what the network was built for (a checkpoint of another setting, say)."""
        if datamodule is None:
            return
        names = getattr(datamodule, "class_names", None)
        if names is not None and list(names) != self.class_names:
            raise UserError(
                f"the data has {len(names)} classes ({', '.join(names[:4])}, ...), the model {self.num_classes} "
                f"({', '.join(self.class_names[:4])}, ...): a checkpoint of another label set?"
            )
        size = datamodule.hparams.get("image_size")
        if size is not None and size != self.net_config.image_size:
            raise UserError(
                f"data.image_size is {size} but the model was built for {self.net_config.image_size}x"
                f"{self.net_config.image_size} masks: a checkpoint of another resolution?"
            )

    def compile_network(self, steps_left: int | None) -> None:
        """`torch.compile` in place, module by module (checkpoint keys keep their names, and every entry point is
        covered), when `fast_path.compile_choice` says so; says what it chose in one line."""
        chosen, why = compile_choice(self.compile_setting, steps_left)
        if self.compile_setting is not False:
            rank_zero_info(f"compile: {'on' if chosen else 'off'} ({why})")
        if not chosen or self.compiled:
            return
        for module in (self.vae.encoder, self.vae.mixer, self.vae.decoder, self.part_decoder):
            if module is not None:
                module.compile()
        self.compiled = True

    def on_train_start(self) -> None:
        if self.compile_setting == AUTO and not self.compiled:
            total = self.trainer.estimated_stepping_batches  # the loaders exist now, and a resume is restored
            self.compile_network(int(min(total, 2**31)) - self.global_step)

    def use_channels_last(self) -> None:
        """Decoder convolutions in channels-last memory format (their outputs follow)."""
        self.vae.decoder.to(memory_format=torch.channels_last)

    # -- shared step ----------------------------------------------------------------------
    def forward(self, labels: torch.Tensor) -> VAEOutput:
        """(B, H, W) integer label maps -> logits, mu, logvar (a sample while training, the mean in eval)."""
        return VAEOutput(*self.vae.from_labels(labels))  # the one-hot is built on the device

    def kl_weight_now(self) -> float:
        """lambda of Eq. 3 at this step: ramped up over `kl_warmup_steps`, then constant."""
        warmup = self.hparams.kl_warmup_steps
        ramp = 1.0 if warmup <= 0 else min(1.0, self.global_step / warmup)
        return self.hparams.kl_weight * ramp

    def model_step(self, labels: torch.Tensor) -> tuple[dict[str, torch.Tensor], VAEOutput]:
        """The forward pass and Eq. 3 on one batch: what every stage's step shares (and what the bench times).

        While training, the settings beyond the paper act here: context dropout on the sampled latents, and the
        part-silhouette loss on them."""
        vae = self.vae
        onehot = one_hot(labels, vae.num_classes)
        mu, logvar = vae.encode(onehot)
        sample = vae.reparameterize(mu, logvar) if self.training else mu  # (B, L, D)
        z, counted = sample, None
        if self.training and self.hparams.context_dropout > 0:
            z, counted = self.drop_context(sample)
        out = VAEOutput(vae.decode_latents(z), mu, logvar)
        weight = self.class_weights if self.hparams.weighted_ce else None
        losses = vae_loss(out.logits, labels, mu, logvar, weight, self.kl_weight_now(), self.hparams.free_bits, counted)
        if self.hparams.dice_weight > 0 and self.training:
            losses["dice"] = soft_dice_loss(out.logits, labels)
            losses["loss"] = losses["loss"] + self.hparams.dice_weight * losses["dice"]
        if self.part_decoder is not None and self.training:
            losses["part"] = part_silhouette_loss(
                self.part_decoder(sample), onehot[:, self.net_config.latent_classes[0] :]
            )
            losses["loss"] = losses["loss"] + self.hparams.part_loss_weight * losses["part"]
        return losses, out

    def drop_context(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Context dropout: each (mask, latent) replaced by an N(0, I) draw with probability `context_dropout`.

        Returns the latents and the (B, C) classes whose pixels the CE still counts (a derived background always).
        """
        dropped = torch.rand(z.shape[:2], device=z.device) < self.hparams.context_dropout  # (B, L)
        z = torch.where(dropped[..., None], torch.randn_like(z), z)
        counted = torch.ones(z.shape[0], self.num_classes, dtype=torch.bool, device=z.device)
        counted[:, self.net_config.latent_classes[0] :] = ~dropped
        return z, counted

    def training_step(self, labels: torch.Tensor, batch_idx: int) -> torch.Tensor:
        losses, out = self.model_step(labels)
        self.train_moments.update(out.mu)
        batch = labels.shape[0]
        self.log("train/loss", losses["loss"], prog_bar=True, batch_size=batch)
        self.log_dict({f"train/{k}": v for k, v in losses.items() if k != "loss"}, batch_size=batch)
        if self.hparams.kl_warmup_steps:
            self.log("train/kl_weight", self.kl_weight_now(), batch_size=batch)
        return losses["loss"]

    def on_train_epoch_start(self) -> None:
        self.train_moments.reset()

    def on_train_epoch_end(self) -> None:
        moments = self.train_moments.compute()  # summed across ranks
        self.vae.prior.fit(moments["mean"], moments["covariance"])

    def validation_step(self, labels: torch.Tensor, batch_idx: int) -> None:
        losses, out = self.model_step(labels)
        self.val_scores.update(class_map(out.logits), labels.long())
        self.val_latents.update(out.mu, out.logvar, labels)
        # averaged over the epoch's batches, then across ranks, once at the epoch's end
        self.log("val/loss", losses["loss"], batch_size=labels.shape[0], sync_dist=True)

    def test_step(self, labels: torch.Tensor, batch_idx: int) -> None:
        out = self(labels)
        self.test_scores.update(class_map(out.logits), labels.long())
        self.test_latents.update(out.mu, out.logvar, labels)

    def _latent_logs(self, stage: str, latents: LatentStats) -> dict[str, dict[str, float]]:
        """Log KL and active units per class as <stage>/kl/<class>, <stage>/active_units/<class>."""
        stats = latents.compute()  # summed across ranks once
        latents.reset()
        names = [self.class_names[c] for c in self.net_config.latent_classes]  # the classes with a latent
        per_class = {
            "kl": {name: float(stats["kl"][i]) for i, name in enumerate(names)},
            "active_units": {name: int(stats["active_units"][i]) for i, name in enumerate(names)},
        }
        for key, values in per_class.items():
            self.log_dict({f"{stage}/{key}/{name}": float(v) for name, v in values.items()}, sync_dist=False)
        per_class["presence"] = {name: float(stats["presence"][i]) for i, name in enumerate(names)}
        return per_class

    def on_validation_epoch_end(self) -> None:
        scores = self.val_scores.compute()  # summed across ranks once
        self.log_dict({"val/mIoU": scores["miou"], "val/acc": scores["acc"]}, prog_bar=True, sync_dist=False)
        self.val_scores.reset()
        self._latent_logs("val", self.val_latents)

    def on_test_epoch_end(self) -> None:
        scores = self.test_scores.compute()
        per_class = {f"test/iou/{name}": scores["iou"][i] for i, name in enumerate(self.class_names)}
        self.log_dict({"test/mIoU": scores["miou"], "test/acc": scores["acc"]})
        self.log_dict({k: v for k, v in per_class.items() if not torch.isnan(v)})
        self.test_scores.reset()
        latents = self._latent_logs("test", self.test_latents)
        self.test_results = {
            "test/mIoU": float(scores["miou"]),
            "test/acc": float(scores["acc"]),
            "iou": {name: float(scores["iou"][i]) for i, name in enumerate(self.class_names)},
            **latents,
        }

    def predict_step(self, batch: PredictBatch, batch_idx: int) -> list[np.ndarray]:
        """Reconstructed label maps, each at its input's own size (H, W) uint8 (logits upsampled bilinearly before the
        argmax, as the editor does); `MaskPredictionWriter` writes them."""
        logits = self(batch.labels).logits  # (B, C, S, S)
        return [labels_at(logits[i : i + 1], item.shape)[0].cpu().numpy() for i, item in enumerate(batch.items)]

    # -- optimisation ---------------------------------------------------------------------
    def configure_optimizers(self):
        # Fused Adam (one kernel for every parameter) on CUDA and on CPU: the same update as the per-tensor one up to
        # rounding (tests/test_bench.py: the quick bench), 1.05x the demo's step on 2 CPU cores (BENCHMARKS.md).
        optimizer = torch.optim.Adam(self.parameters(), lr=self.hparams.lr, betas=tuple(self.hparams.betas), fused=True)
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


def check_part_settings(context_dropout: float, part_loss_weight: float, dice_weight: float) -> None:
    """The settings that keep part latents in use, each refused in one line naming it."""
    if not (isinstance(context_dropout, (int, float)) and 0.0 <= context_dropout < 1.0):
        raise UserError(f"model.context_dropout must be a probability in [0, 1), got {context_dropout!r}")
    for name, value in (("part_loss_weight", part_loss_weight), ("dice_weight", dice_weight)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise UserError(f"model.{name} must be a number >= 0, got {value!r}")


def check_optimisation(
    lr: float, betas: tuple[float, float], kl_weight: float, decay_start: float, free_bits: float, kl_warmup_steps: int
) -> None:
    """The optimiser's and the loss's settings, each refused in one line naming it (torch would raise deep inside)."""
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise UserError(f"model.lr must be a positive number, got {lr!r}")
    if len(betas) != 2 or not all(isinstance(b, (int, float)) and 0.0 <= b < 1.0 for b in betas):
        raise UserError(f"model.betas must be two numbers in [0, 1), got {list(betas)!r}")
    if not (math.isfinite(kl_weight) and kl_weight >= 0):
        raise UserError(f"model.kl_weight must be a number >= 0, got {kl_weight!r}")
    if not 0.0 <= decay_start <= 1.0:
        raise UserError(f"model.decay_start must lie in [0, 1] (a fraction of the training), got {decay_start!r}")
    if not (math.isfinite(free_bits) and free_bits >= 0) or kl_warmup_steps < 0:
        raise UserError(f"model.free_bits ({free_bits}) and model.kl_warmup_steps ({kl_warmup_steps}) must be >= 0")
