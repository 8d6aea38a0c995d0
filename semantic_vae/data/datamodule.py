"""The LightningDataModule: a preprocessed mask cache, the paper's split, Eq. 1 class weights."""

from __future__ import annotations

from typing import Literal

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from semantic_vae.data.augment import MaskAugment
from semantic_vae.data.cache import CacheSpec, load_or_build_cache
from semantic_vae.data.predict import PredictDataset, collate_predict, predict_files
from semantic_vae.data.samplers import ShuffledShardSampler, UnpaddedShardSampler
from semantic_vae.errors import UserError
from semantic_vae.labels import resolve_label_set
from semantic_vae.losses import class_weights


class MaskDataset(Dataset):
    """Integer label maps (H, W) uint8 from a memory-mapped cache; indexed by sampler keys."""

    def __init__(self, masks: np.ndarray, indices: np.ndarray, augment: MaskAugment | None = None) -> None:
        self.masks = masks
        self.indices = indices
        self.augment = augment

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, key: int) -> torch.Tensor:
        labels = np.array(self.masks[self.indices[key % len(self.indices)]])  # a writable copy of the memmap row
        if self.augment is not None:
            labels = self.augment(labels, key)
        return torch.from_numpy(np.ascontiguousarray(labels))  # (H, W) uint8; one-hot on the model's device

    def __getitems__(self, keys: list[int]) -> torch.Tensor:
        """A whole batch (B, H, W) uint8: one fancy-indexed read of the memmap instead of B reads and a stack."""
        if self.augment is not None:
            return torch.stack([self[key] for key in keys])
        rows = self.indices[np.asarray(keys, dtype=np.int64) % len(self.indices)]
        return torch.from_numpy(np.ascontiguousarray(self.masks[rows]))


def collate_masks(batch: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
    """The DataLoader's collate for `MaskDataset`: batches from `__getitems__` pass through as they are."""
    return batch if isinstance(batch, torch.Tensor) else torch.stack(batch)


class FaceMaskDataModule(L.LightningDataModule):
    """Face label maps for training, validation, test and prediction.

    Args:
        source: "synthetic" (the embedded procedural default) or "celebamask" (needs `root`).
        root: CelebAMask-HQ: the raw release (with CelebAMask-HQ-mask-anno/) or a folder of label PNGs.
        image_size: side of the square masks the model sees (nearest-neighbour resize).
        batch_size: per device.
        num_workers: DataLoader workers.
        val_fraction: share of the training split carved out for validation, chosen by `seed`; in (0, 1).
        seed: synthetic data and the validation carve-out.
        synthetic_count: how many synthetic masks in all; the last `synthetic_test` are the test split.
        synthetic_test: size of the synthetic test split.
        label_set: YAML label set for merged folders with other classes (default CelebAMask-HQ's 19).
        merge_map: YAML that folds CelebAMask-HQ's 19 classes into fewer.
        augment: flips (swapping left/right labels) and small affine transforms; off in the paper.
        cache_dir: where preprocessed uint8 caches live.
        skip_bad: skip unreadable or invalid files (counted in a summary) instead of stopping.
        predict_root: a folder of label PNGs (or one PNG) for `predict`.
    """

    def __init__(
        self,
        source: Literal["synthetic", "celebamask"] = "synthetic",
        root: str | None = None,
        image_size: int = 256,
        batch_size: int = 32,
        num_workers: int = 2,
        val_fraction: float = 0.05,
        seed: int = 0,
        synthetic_count: int = 30000,
        synthetic_test: int = 2000,
        label_set: str | None = None,
        merge_map: str | None = None,
        augment: bool = False,
        cache_dir: str = "data_cache",
        skip_bad: bool = False,
        predict_root: str | None = None,
    ) -> None:
        super().__init__()
        if source == "celebamask" and not root:
            raise UserError("data.root: source 'celebamask' needs the path of a CelebAMask-HQ folder")
        for name, value, low in (
            ("batch_size", batch_size, 1),
            ("num_workers", num_workers, 0),
            ("image_size", image_size, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise UserError(f"data.{name} must be a whole number >= {low}, got {value!r}")
        if not 0.0 < val_fraction < 1.0:
            raise UserError(
                f"data.val_fraction must be in (0, 1), got {val_fraction}: the validation split chooses the "
                "best checkpoint, and without one it would be chosen on the test split"
            )
        self.save_hyperparameters(logger=False)  # logged once, nested, by the CLI's SaveConfigCallback
        self.label_set, self.merge = resolve_label_set(label_set, merge_map)
        self._cache = None
        self.splits: dict[str, np.ndarray] = {}

    @property
    def num_classes(self) -> int:
        return self.label_set.num_classes

    @property
    def class_names(self) -> list[str]:
        return list(self.label_set.names)

    def _cache_spec(self):
        hp = self.hparams
        return CacheSpec(
            source=hp.source,
            root=hp.root,
            image_size=hp.image_size,
            label_set=self.label_set,
            merge_map=self.merge,
            seed=hp.seed,
            synthetic_count=hp.synthetic_count,
            synthetic_test=hp.synthetic_test,
            skip_bad=hp.skip_bad,
            # processes pay off for decoding PNGs; drawing synthetic masks costs less than starting processes
            workers=max(1, hp.num_workers) if hp.source == "celebamask" else 1,
        )

    def prepare_data(self) -> None:
        load_or_build_cache(self._cache_spec(), self.hparams.cache_dir)

    def setup(self, stage: str | None = None) -> None:
        if self._cache is None:
            self._cache = load_or_build_cache(self._cache_spec(), self.hparams.cache_dir, progress=False)
            train_all = np.flatnonzero(~self._cache.test)
            rng = np.random.default_rng(self.hparams.seed)
            n_val = max(1, round(len(train_all) * self.hparams.val_fraction))
            val = np.sort(rng.choice(train_all, size=min(n_val, len(train_all)), replace=False))
            self.splits = {
                "train": np.setdiff1d(train_all, val),
                "val": val,
                "test": np.flatnonzero(self._cache.test),
            }
            sizes = {name: len(indices) for name, indices in self.splits.items()}
            if min(sizes.values()) == 0:
                raise UserError(
                    f"{self._cache.directory}: a split is empty (train {sizes['train']}, val {sizes['val']}, "
                    f"test {sizes['test']}); give more masks or another data.val_fraction"
                )

    def train_class_weights(self) -> torch.Tensor:
        """Eq. 1 weights from the training split's exact integer pixel counts (equal on every rank)."""
        self.setup()
        return torch.from_numpy(class_weights(self._cache.class_counts[self.splits["train"]])).float()

    def split_masks(self, split: str, count: int) -> np.ndarray:
        """The first `count` label maps (N, H, W) uint8 of a split ("train", "val", "test"), in split order."""
        self.setup()
        return np.asarray(self._cache.masks[self.splits[split][:count]])

    def _loader(self, split: str) -> DataLoader:
        self.setup()
        train = split == "train"
        augment = MaskAugment(self.label_set.flip_lut()) if train and self.hparams.augment else None
        indices = self.splits[split]
        dataset = MaskDataset(self._cache.masks, indices, augment)
        sampler = ShuffledShardSampler(len(indices), self.hparams.seed) if train else UnpaddedShardSampler(len(indices))
        if train and self.trainer is not None:
            # The epoch Lightning is about to train. It calls set_epoch only after building the first
            # iterator, which with workers prefetches indices at once (Lightning issue #21938).
            sampler.set_epoch(self.trainer.fit_loop.epoch_progress.current.processed)
        workers = self.hparams.num_workers
        return DataLoader(
            dataset,
            batch_size=self.hparams.batch_size,
            sampler=sampler,
            collate_fn=collate_masks,
            num_workers=workers,
            pin_memory=torch.cuda.is_available(),
            persistent_workers=workers > 0,
            drop_last=False,
            generator=torch.Generator().manual_seed(self.hparams.seed),  # worker seeds not from the global RNG
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train")

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")

    def predict_dataloader(self) -> DataLoader:
        files = predict_files(self.hparams.predict_root)
        dataset = PredictDataset(files, self.label_set, self.merge, self.hparams.image_size)
        return DataLoader(dataset, batch_size=self.hparams.batch_size, shuffle=False, collate_fn=collate_predict)
