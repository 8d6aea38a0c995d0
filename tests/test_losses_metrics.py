"""Losses and metrics against hand-computed values."""

import math

import torch

from semantic_vae.losses import kl_divergence, weighted_cross_entropy
from semantic_vae.metrics import SegmentationScores, scores_from_confusion


def test_kl_matches_the_closed_form():
    mu = torch.tensor([[[1.0, 0.0]], [[0.0, 0.0]]])  # (B=2, C=1, D=2)
    logvar = torch.tensor([[[0.0, math.log(2.0)]], [[0.0, 0.0]]])
    # sample 1: 0.5*(1 + 0 - 0 - 1) + 0.5*mu^2 -> dim0: 0.5; dim1: 0.5*(2 - 1 - ln 2); sample 2: 0
    expected = (0.5 + 0.5 * (2 - 1 - math.log(2.0)) + 0.0) / 2
    assert torch.isclose(kl_divergence(mu, logvar), torch.tensor(expected))


def test_weighted_cross_entropy_by_hand():
    logits = torch.tensor([[[[2.0, 0.0]], [[0.0, 1.0]]]])  # (B=1, C=2, H=1, W=2)
    target = torch.tensor([[[0, 1]]])
    weight = torch.tensor([0.25, 0.75])
    p0 = math.exp(2) / (math.exp(2) + 1)  # class 0 at pixel 0
    p1 = math.exp(1) / (math.exp(1) + 1)  # class 1 at pixel 1
    expected = (-0.25 * math.log(p0) - 0.75 * math.log(p1)) / 2
    assert torch.isclose(weighted_cross_entropy(logits, target, weight), torch.tensor(expected))
    plain = (-math.log(p0) - math.log(p1)) / 2
    assert torch.isclose(weighted_cross_entropy(logits, target, None), torch.tensor(plain))


def test_scores_from_a_hand_made_confusion_matrix():
    # rows: truth, cols: prediction; class 2 never in truth nor prediction, class 3 predicted only
    cm = torch.tensor([[5, 1, 0, 0], [2, 2, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]])
    s = scores_from_confusion(cm)
    iou0 = 5 / (6 + 7 - 5)
    iou1 = 2 / (5 + 3 - 2)
    assert torch.isclose(s["iou"][0], torch.tensor(iou0))
    assert torch.isclose(s["iou"][1], torch.tensor(iou1))
    assert torch.isnan(s["iou"][2])
    assert s["iou"][3] == 0
    assert torch.isclose(s["miou"], torch.tensor((iou0 + iou1) / 2))  # only classes present in truth
    assert torch.isclose(s["acc"], torch.tensor(7 / 11))


def test_accumulated_over_batches_not_averaged_per_batch():
    metric = SegmentationScores(num_classes=2)
    metric.update(torch.tensor([[0, 0, 0, 0]]), torch.tensor([[0, 0, 0, 1]]))  # batch IoU1 = 0
    metric.update(torch.tensor([[1]]), torch.tensor([[1]]))  # batch IoU1 = 1
    s = metric.compute()
    assert torch.isclose(s["iou"][1], torch.tensor(1 / 2))  # one of two class-1 pixels found, no false 1s
    assert torch.isclose(s["acc"], torch.tensor(4 / 5))
