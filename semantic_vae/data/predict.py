"""What `predict` reads: label PNGs of any size, resized for the model, with their names and own sizes so the
reconstructions are written back at the input's size."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset

from semantic_vae.data.io import read_label_png, resize_labels
from semantic_vae.errors import UserError
from semantic_vae.labels import CELEBAMASK_HQ, LabelSet, MergeMap


class PredictItem(NamedTuple):  # a NamedTuple: Lightning moves batches to the device through their fields
    path: Path
    shape: tuple[int, int]  # the input's (H, W)

    @property
    def name(self) -> str:
        return self.path.name


class PredictBatch(NamedTuple):
    labels: torch.Tensor  # (B, S, S) uint8 at the model's size
    items: list[PredictItem]


def predict_files(root: str | None) -> list[Path]:
    if not root:
        raise UserError("data.predict_root: give a label PNG or a folder of them to predict")
    path = Path(root)
    files = [path] if path.is_file() else sorted(path.glob("*.png")) if path.is_dir() else []
    if not files:
        raise UserError(f"data.predict_root {root}: no PNG files to predict")
    return files


class PredictDataset(Dataset):
    """Label PNGs, read in the label set (CelebAMask-HQ maps folded by the merge map when there is one)."""

    def __init__(self, files: list[Path], label_set: LabelSet, merge: MergeMap | None, image_size: int) -> None:
        self.files, self.label_set, self.merge, self.image_size = files, label_set, merge, image_size

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[np.ndarray, PredictItem]:
        path = self.files[index]
        labels = read_label_png(path, CELEBAMASK_HQ if self.merge is not None else self.label_set)
        if self.merge is not None:
            labels = self.merge.apply(labels)
        return resize_labels(labels, self.image_size), PredictItem(path, labels.shape)


def collate_predict(batch: list[tuple[np.ndarray, PredictItem]]) -> PredictBatch:
    return PredictBatch(torch.from_numpy(np.stack([m for m, _ in batch])), [item for _, item in batch])
