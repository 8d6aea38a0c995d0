"""Segmentation metrics over a whole split from one accumulated confusion matrix.

mIoU is defined once: the mean IoU over the classes present in the split's ground truth.
Per-class IoU is reported for every class (NaN where a class is absent from the ground truth
and never predicted; 0 where it is absent from the ground truth but predicted).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchmetrics import Metric
from torchmetrics.classification import MulticlassConfusionMatrix

from semantic_vae.losses import kl_per_class


class SegmentationScores(MulticlassConfusionMatrix):
    """A confusion matrix (summed across batches and DDP ranks) that computes IoU scores."""

    def __init__(self, num_classes: int, **kwargs) -> None:
        super().__init__(num_classes=num_classes, validate_args=False, **kwargs)

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:  # type: ignore[override]
        """Integer predictions and targets of any shape.

        One unweighted `bincount`: exact and deterministic, unlike torchmetrics' fallback under
        `deterministic` mode, which builds a C*C-wide table per pixel (~190 MB per 256x256 mask).
        """
        c = self.num_classes
        index = target.reshape(-1).long() * c + preds.reshape(-1).long()
        self.confmat += torch.bincount(index, minlength=c * c).reshape(c, c)

    def compute(self) -> dict[str, torch.Tensor]:  # type: ignore[override]
        return scores_from_confusion(self.confmat)


def scores_from_confusion(confmat: torch.Tensor) -> dict[str, torch.Tensor]:
    """confmat[t, p] = pixels of true class t predicted as p -> iou (C,), miou, acc."""
    cm = confmat.double()
    tp = cm.diagonal()
    gt = cm.sum(1)
    pred = cm.sum(0)
    union = gt + pred - tp
    iou = torch.where(union > 0, tp / union.clamp(min=1), torch.full_like(tp, float("nan")))
    present = gt > 0
    miou = iou[present].mean() if present.any() else torch.tensor(float("nan"), dtype=cm.dtype)
    acc = tp.sum() / cm.sum().clamp(min=1)
    return {"iou": iou.float(), "miou": miou.float(), "acc": acc.float()}


ACTIVE_UNIT_THRESHOLD = 0.01  # Burda et al. 2016: a latent dim is active when Cov_x(E[z | x]) > 0.01


class LatentStats(Metric):
    """How much each class latent is used, over a split: KL per class and active units per class.

    `compute()` returns:
        kl: (C,) the KL(q(z_c | x) || N(0, I)) of each class latent in nats, summed over its
            dims, averaged over the masks;
        active_units: (C,) the dims of each class latent whose posterior mean varies across the
            masks with (unbiased) variance above ACTIVE_UNIT_THRESHOLD;
        presence: (C,) the share of masks that contain each class (when `update` is given labels).
    Sums are kept in float64 and added across DDP ranks.
    """

    full_state_update = False

    def __init__(self, classes: int | Sequence[int], latent_dim: int, **kwargs) -> None:
        """classes: the class id of each latent row (an int n means 0..n-1)."""
        super().__init__(**kwargs)
        ids = list(range(classes)) if isinstance(classes, int) else [int(c) for c in classes]
        c, d = len(ids), latent_dim
        self.register_buffer("class_ids", torch.tensor(ids), persistent=False)
        self.add_state("count", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("kl_sum", torch.zeros(c, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("mu_sum", torch.zeros(c, d, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("mu_sq_sum", torch.zeros(c, d, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("present", torch.zeros(c, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, mu: torch.Tensor, logvar: torch.Tensor, labels: torch.Tensor | None = None) -> None:  # type: ignore[override]
        """mu, logvar: (B, L, D) posterior parameters of a batch; labels: its (B, H, W) masks."""
        mu64, logvar64 = mu.detach().double(), logvar.detach().double()
        if labels is not None:
            classes = self.class_ids.to(labels.device).view(1, -1, 1)
            self.present += (labels.flatten(1).unsqueeze(1) == classes.to(labels.dtype)).any(-1).sum(0).double()
        self.count += mu64.shape[0]
        self.kl_sum += kl_per_class(mu64, logvar64).sum(0)
        self.mu_sum += mu64.sum(0)
        self.mu_sq_sum += mu64.pow(2).sum(0)

    def compute(self) -> dict[str, torch.Tensor]:  # type: ignore[override]
        n = self.count.clamp(min=1)
        variance = (self.mu_sq_sum - self.mu_sum.pow(2) / n) / (n - 1).clamp(min=1)
        return {
            "kl": (self.kl_sum / n).float(),
            "active_units": (variance > ACTIVE_UNIT_THRESHOLD).sum(1),
            "presence": (self.present / n).float(),
        }


class LatentMoments(Metric):
    """Mean and covariance of each class's posterior mean mu over a split: the data prior's fit.

    `compute()` returns mean (C, D) and covariance (C, D, D) (unbiased), in float64.
    """

    full_state_update = False

    def __init__(self, num_classes: int, latent_dim: int, **kwargs) -> None:
        super().__init__(**kwargs)
        c, d = num_classes, latent_dim
        self.add_state("count", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("mu_sum", torch.zeros(c, d, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("outer_sum", torch.zeros(c, d, d, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, mu: torch.Tensor) -> None:  # type: ignore[override]
        """mu (B, C, D). A batch's outer products are summed in its own precision (one batched matmul, where a
        float64 einsum would be a slow path on CPU) and added to the float64 state, so long sums keep their digits."""
        mu = mu.detach()
        self.count += mu.shape[0]
        self.mu_sum += mu.sum(0).double()
        per_class = mu.transpose(0, 1)  # (C, B, D)
        self.outer_sum += torch.bmm(per_class.transpose(1, 2), per_class).double()

    def compute(self) -> dict[str, torch.Tensor]:  # type: ignore[override]
        n = self.count.clamp(min=1)
        mean = self.mu_sum / n
        covariance = (self.outer_sum - n * mean.unsqueeze(2) * mean.unsqueeze(1)) / (n - 1).clamp(min=1)
        return {"mean": mean, "covariance": covariance}
