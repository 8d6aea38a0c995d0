"""MaskDataset: batched reads give exactly what item-by-item reads give."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader

from semantic_vae.data.augment import MaskAugment
from semantic_vae.data.datamodule import MaskDataset, collate_masks
from semantic_vae.data.samplers import ShuffledShardSampler
from semantic_vae.labels import CELEBAMASK_HQ


def _masks(tmp_path, n: int = 23, size: int = 8) -> np.ndarray:
    """A uint8 memmap like the cache's, every mask different."""
    data = np.random.default_rng(0).integers(0, 19, (n, size, size), dtype=np.uint8)
    memmap = np.lib.format.open_memmap(tmp_path / "masks.npy", mode="w+", dtype=np.uint8, shape=data.shape)
    memmap[:] = data
    memmap.flush()
    return np.load(tmp_path / "masks.npy", mmap_mode="r")


def _item_by_item(dataset: MaskDataset, keys: list[int]) -> torch.Tensor:
    return torch.stack([dataset[k] for k in keys])


def test_batches_equal_item_by_item_reads(tmp_path):
    masks = _masks(tmp_path)
    indices = np.array([20, 3, 7, 7, 0, 15, 9])  # a split: unsorted, with a repeat
    dataset = MaskDataset(masks, indices)
    sampler = ShuffledShardSampler(len(indices), seed=3)
    sampler.set_epoch(2)  # keys past len(indices): epoch * size + i
    keys = list(sampler)
    loader = DataLoader(dataset, batch_size=3, sampler=sampler, collate_fn=collate_masks)
    batches = list(loader)
    assert [b.shape for b in batches] == [(3, 8, 8), (3, 8, 8), (1, 8, 8)]
    assert all(b.dtype == torch.uint8 for b in batches)
    assert torch.equal(torch.cat(batches), _item_by_item(dataset, keys))
    assert torch.equal(torch.cat(batches), torch.from_numpy(masks[indices[np.array(keys) % len(indices)]]))


def test_augmented_batches_equal_item_by_item_reads(tmp_path):
    masks = _masks(tmp_path, size=16)
    dataset = MaskDataset(masks, np.arange(10), MaskAugment(CELEBAMASK_HQ.flip_lut()))
    keys = [4, 11, 0, 29, 7]
    batch = dataset.__getitems__(keys)
    assert batch.shape == (5, 16, 16)
    assert torch.equal(batch, _item_by_item(dataset, keys))
    assert not torch.equal(batch, torch.from_numpy(masks[[4, 1, 0, 9, 7]]))  # some keys were transformed


def test_collate_stacks_a_list_of_items():
    items = [torch.full((2, 2), i, dtype=torch.uint8) for i in range(3)]
    assert torch.equal(collate_masks(items), torch.stack(items))
