"""Optional augmentation (off by default, as in the paper) through albumentations."""

from __future__ import annotations

import albumentations as A
import cv2
import numpy as np


class MaskAugment:
    """Horizontal flip that swaps left/right labels, and a small nearest-neighbour affine.

    Seeded per call: the same key gives the same transform in any worker.
    """

    def __init__(self, flip_lut: np.ndarray) -> None:
        self.flip_lut = flip_lut
        self.compose = A.Compose(
            [
                A.HorizontalFlip(p=0.5),
                A.Affine(
                    scale=(0.95, 1.05),
                    translate_percent=(-0.03, 0.03),
                    rotate=(-8, 8),
                    interpolation=cv2.INTER_NEAREST,
                    mask_interpolation=cv2.INTER_NEAREST,
                    border_mode=cv2.BORDER_CONSTANT,
                    fill=0,
                    p=0.5,
                ),
            ],
            save_applied_params=True,
        )

    def __call__(self, labels: np.ndarray, key: int) -> np.ndarray:
        self.compose.set_random_seed(key)
        out = self.compose(image=labels)
        applied = [name for name, _ in out["applied_transforms"]]
        result = out["image"]
        if "HorizontalFlip" in applied:
            result = self.flip_lut[result]  # the person's left eye is now on the other side
        return np.ascontiguousarray(result)
