"""Statistics a checkpoint carries besides its weights, fitted on data after training: the data prior of
`generate(prior="data")` (`semantic-vae fit-prior`). A converted model has none until it has seen data; a
trained one gets its prior at the end of each training epoch (`SemanticVAEModule.on_train_epoch_end`)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from semantic_vae.errors import UserError
from semantic_vae.files import check_new_file, write_output_file
from semantic_vae.labels import LabelSet
from semantic_vae.model.loading import NETWORK_PREFIX, load_vae, read_checkpoint
from semantic_vae.model.vae import SemanticVAE

FIT_BATCH = 64  # masks per forward pass while fitting


def training_masks(data: str | None, label_set: LabelSet, size: int, count: int) -> Iterator[np.ndarray]:
    """Batches (b, size, size) uint8 of up to `count` training masks: the first masks of the synthetic default's
    stream 0 (its training split), or those of a CelebAMask-HQ folder (raw or merged) outside the paper's test split."""
    if data is None:
        from semantic_vae.data.synthetic import generate_masks

        if label_set.num_classes != 19:
            raise UserError("--data: the synthetic masks have CelebAMask-HQ's 19 classes; give this model's own data")
        for start in range(0, count, FIT_BATCH):
            yield generate_masks(0, start, min(FIT_BATCH, count - start), size)
        return
    from semantic_vae.data.celebamask import open_root, paper_test_mask, read_masks

    found = open_root(data)
    train = [item for item, test in zip(found.items, paper_test_mask(found.names)) if not test][:count]
    if not train:
        raise UserError(f"--data {data}: no training masks (every mask is in the paper's test split)")
    subset = type(found)(found.kind, found.folder, tuple(train), found.fingerprint)
    batch: list[np.ndarray] = []
    for result in read_masks(subset, label_set=label_set, size=size):
        batch.append(result.labels)
        if len(batch) == FIT_BATCH:
            yield np.stack(batch)
            batch = []
    if batch:
        yield np.stack(batch)


@torch.inference_mode()
def fit_data_prior(vae: SemanticVAE, batches: Iterator[np.ndarray], data: str | None = None) -> int:
    """Fit `vae.prior` on the posterior means of the masks (from --data `data`); returns how many masks it saw."""
    from semantic_vae.metrics import LatentMoments

    moments = LatentMoments(vae.config.num_latents, vae.latent_dim)
    seen = 0
    for labels in batches:
        mu = vae.from_labels(torch.from_numpy(labels))[1]  # (b, L, D)
        moments.update(mu)
        seen += len(labels)
    if seen < 2:
        raise UserError(f"--data {data}: {seen} training mask(s) found; fit-prior needs at least 2")
    result = moments.compute()
    vae.prior.fit(result["mean"], result["covariance"])
    return seen


def replace_network_state(path: str | Path, out: str | Path, vae: SemanticVAE, extras: dict | None = None) -> Path:
    """The checkpoint at `path` with the network's tensors replaced by `vae`'s and `extras` set (everything else kept:
    optimiser state, loops, hyperparameters), written atomically to `out`."""
    checkpoint = read_checkpoint(path)
    for key, value in vae.state_dict().items():
        checkpoint["state_dict"][f"{NETWORK_PREFIX}{key}"] = value.detach().cpu().clone()
    checkpoint.update(extras or {})
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    return write_output_file(out, buffer.getvalue())


def output_checkpoint(ckpt: str, out: str | None, overwrite: bool) -> str:
    """Where a command that updates a checkpoint writes: `ckpt` itself (no --out: the update asked for), or --out,
    which must not be another file that exists unless `overwrite` (`files.check_new_file`)."""
    if out is None or Path(out).resolve() == Path(ckpt).resolve():
        return ckpt
    check_new_file(out, overwrite)
    return out


def fit_prior(
    ckpt: str, data: str | None = None, count: int = 5000, out: str | None = None, overwrite: bool = False
) -> None:
    """Fit a checkpoint's data prior (the Gaussian of each part's latents) on training masks.

    Args:
        ckpt: a Semantic-VAE checkpoint (from `semantic-vae fit` or `semantic-vae convert`).
        data: a CelebAMask-HQ folder (raw release or merged label PNGs) at the model's label set; its masks outside
            the paper's test split are used. Default: the synthetic default's training masks.
        count: masks to fit on (at most).
        out: where to write the checkpoint with its prior; default: replace `ckpt` (atomically).
        overwrite: replace an existing --out file (other than --ckpt).
    """
    if isinstance(count, bool) or count < 2:
        raise UserError(f"--count must be at least 2, got {count}")
    target = output_checkpoint(ckpt, out, overwrite)
    loaded = load_vae(ckpt)
    batches = training_masks(data, loaded.label_set, loaded.config.image_size, count)
    seen = fit_data_prior(loaded.vae, batches, data)
    written = replace_network_state(ckpt, target, loaded.vae)
    print(f"fit-prior: the data prior of {seen} masks ({data or 'synthetic'}) -> {written}")


def main(args: list[str] | None = None) -> None:
    """`semantic-vae fit-prior ...`."""
    from semantic_vae.entry import function_cli

    function_cli(fit_prior, args, "semantic-vae fit-prior")
