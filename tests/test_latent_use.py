"""Latent use: the transfer measure by hand, and the evaluation on a trained model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from semantic_vae.edit.latent_use import MIN_SPREAD, evaluate_latent_use, format_latent_use, transfer


def box(y0: int, y1: int, x0: int, x1: int, size: int = 10) -> np.ndarray:
    region = np.zeros((size, size), bool)
    region[y0:y1, x0:x1] = True
    return region


def test_transfer_by_hand():
    a, b = box(0, 4, 0, 4), box(0, 4, 2, 6)  # 16 px each, 8 shared: IoU 8/24, d(a, b) = 2/3
    assert transfer(a, b, a) == 0.0  # the latent was ignored
    assert transfer(a, b, b) == 1.0  # drawn from the latent
    halfway = box(0, 4, 1, 5)  # IoU with b: 12/20, d = 0.4: covered 1 - 0.4 / (2/3) = 0.4
    assert math.isclose(transfer(a, b, halfway), 0.4)
    elsewhere = box(6, 10, 6, 10)
    assert transfer(a, b, elsewhere) < 0  # moved, but not towards the target's part


def test_transfer_is_undefined_without_a_spread_or_a_part():
    a = box(0, 4, 0, 4)
    assert math.isnan(transfer(a, a, a))
    assert math.isnan(transfer(a, np.zeros_like(a), a))
    almost = box(0, 4, 0, 4, size=10)
    almost[3, 3] = False  # d = 1/16 > MIN_SPREAD: measured
    assert MIN_SPREAD < 1 / 16 and transfer(a, almost, almost) == 1.0


def test_latent_use_on_a_trained_model(trained_ckpt, sample_masks):
    from semantic_vae.edit import MaskEditor

    editor = MaskEditor.from_checkpoint(trained_ckpt)
    masks = np.stack(list(sample_masks.values())[:6])
    results = evaluate_latent_use(editor, masks, editor.part_units("nose,hair"), seeds=2)
    assert results["count"] == 6 and results["size"] == editor.image_size
    for part in ("nose", "hair"):
        m = results["parts"][part]
        assert m["pairs"] <= 6 and m["data_spread"] is not None
        assert 0.0 <= m["generate_change"] <= 1.0
    table = format_latent_use(results)
    assert table.splitlines()[3].startswith("nose") and "transfer" in table
    with pytest.raises(ValueError, match="at least 2 masks"):
        evaluate_latent_use(editor, masks[:1], {"nose": [2]})
