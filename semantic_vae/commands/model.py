"""`semantic-vae convert`, `fit-prior` and `fit-directions`: the commands over model files, with a progress bar.

    semantic-vae convert --weights latest_net_G.pth --out reference.ckpt              # released -> ours
    semantic-vae convert --to reference --ckpt ours.ckpt --out latest_net_G.pth       # ours -> released
    semantic-vae fit-prior --ckpt reference.ckpt --data /data/CelebAMask-HQ
    semantic-vae fit-directions --ckpt reference.ckpt --data /data/CelebAMask-HQ

The work itself is the library's: mapping the released weights exactly (`semantic_vae.model.reference`), the data
prior (`semantic_vae.model.prior`, fitted on the latents' moments) and the steering directions
(`semantic_vae.edit.calibration`); this module reads the files and the command line, shows progress and prints.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from semantic_vae.console import Progress
from semantic_vae.data.celebamask import open_root, paper_test_mask, read_masks
from semantic_vae.data.synthetic import generate_masks
from semantic_vae.edit.calibration import fit_for
from semantic_vae.edit.editor import MaskEditor
from semantic_vae.edit.steering import MIN_SAMPLES, R2_STEERABLE
from semantic_vae.entry import function_cli
from semantic_vae.errors import UserError
from semantic_vae.files import check_new_file, write_output_file
from semantic_vae.labels import CELEBAMASK_HQ, LabelSet
from semantic_vae.metrics import LatentMoments
from semantic_vae.model.loading import load_vae, load_weights_only, replace_network_state, write_checkpoint
from semantic_vae.model.reference import (
    REFERENCE_CLASS_WEIGHTS,
    REFERENCE_KL_WEIGHT,
    from_released,
    reference_config,
    to_released,
)
from semantic_vae.model.vae import SemanticVAE

FIT_BATCH = 64  # masks per forward pass while fitting


def read_released(path: str | Path) -> dict[str, torch.Tensor]:
    """The released `latest_net_G.pth` (a plain state_dict, saved on CUDA) read on the CPU with weights_only=True."""
    state = load_weights_only(path, f"--weights {path}", "file")
    if not isinstance(state, dict):
        raise UserError(f"--weights {path}: not a state_dict (it holds a {type(state).__name__})")
    return state


def reference_hyper_parameters() -> dict:
    """The init arguments of the released network's training, as this project's LightningModule takes them."""
    return {
        "class_names": list(CELEBAMASK_HQ.names),
        "weighted_ce": True,
        "class_weights": list(REFERENCE_CLASS_WEIGHTS),
        "kl_weight": REFERENCE_KL_WEIGHT,
    }


def convert(
    out: str,
    weights: str | None = None,
    ckpt: str | None = None,
    to: Literal["ours", "reference"] = "ours",
    image_size: int = 256,
    overwrite: bool = False,
    quiet: bool = False,
) -> None:
    """Convert between the paper's released weights and a checkpoint of this project.

    Args:
        out: the file to write: a checkpoint (to ours) or a `latest_net_G.pth` (to reference).
        weights: the released `latest_net_G.pth` (with --to ours).
        ckpt: a checkpoint of this project trained with experiments/reference.yaml (with --to reference).
        to: "ours" (released -> a checkpoint every command reads) or "reference" (ours -> the released format).
        image_size: the mask side of the released network (256, as released).
        overwrite: replace --out when it exists.
        quiet: no progress bar (it shows only on a terminal).
    """
    if to == "ours":
        if weights is None or ckpt is not None:
            raise UserError("--to ours converts the released weights: give --weights latest_net_G.pth (and no --ckpt)")
        check_new_file(out, overwrite)
        with Progress(3, "convert: reading the released weights", enabled=not quiet, unit="step") as bar:
            state = read_released(weights)
            bar.update()
            bar.describe("convert: mapping every tensor")
            vae = from_released(state, reference_config(image_size), f"--weights {weights}")
            bar.update()
            bar.describe("convert: writing the checkpoint")
            written = write_checkpoint(out, vae, reference_hyper_parameters(), torch.tensor(REFERENCE_CLASS_WEIGHTS))
            bar.update()
        print(f"convert: {weights} -> {written} (the released network; no data prior yet: semantic-vae fit-prior)")
        return
    if to != "reference":
        raise UserError(f"--to: unknown '{to}'; choose from ours, reference")
    if ckpt is None or weights is not None:
        raise UserError("--to reference exports a checkpoint of this project: give --ckpt (and no --weights)")
    check_new_file(out, overwrite)
    with Progress(3, "convert: reading the checkpoint", enabled=not quiet, unit="step") as bar:
        loaded = load_vae(ckpt)
        bar.update()
        if loaded.label_set.names != CELEBAMASK_HQ.names:
            raise UserError(
                f"--ckpt {ckpt}: the released network has CelebAMask-HQ's 19 classes, this model "
                f"{loaded.label_set.num_classes}"
            )
        bar.describe("convert: mapping every tensor")
        try:
            released = to_released(loaded.vae)
        except UserError as err:
            raise UserError(f"--ckpt {ckpt}: {err}") from None
        buffer = io.BytesIO()
        torch.save(released, buffer)
        bar.update()
        bar.describe("convert: writing the released format")
        written = write_output_file(out, buffer.getvalue())
        bar.update()
    print(f"convert: {ckpt} -> {written} (the released format: what the authors' demo loads)")


def training_masks(data: str | None, label_set: LabelSet, size: int, count: int) -> Iterator[np.ndarray]:
    """Batches (b, size, size) uint8 of up to `count` training masks: the first masks of the synthetic default's
    stream 0 (its training split), or those of a CelebAMask-HQ folder (raw or merged) outside the paper's test split."""
    if data is None:
        if label_set.num_classes != 19:
            raise UserError("--data: the synthetic masks have CelebAMask-HQ's 19 classes; give this model's own data")
        for start in range(0, count, FIT_BATCH):
            yield generate_masks(0, start, min(FIT_BATCH, count - start), size)
        return
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


def output_checkpoint(ckpt: str, out: str | None, overwrite: bool) -> str:
    """Where a command that updates a checkpoint writes: `ckpt` itself (no --out: the update asked for), or --out,
    which must not be another file that exists unless `overwrite` (`files.check_new_file`)."""
    if out is None or Path(out).resolve() == Path(ckpt).resolve():
        return ckpt
    check_new_file(out, overwrite)
    return out


def fit_prior(
    ckpt: str,
    data: str | None = None,
    count: int = 5000,
    out: str | None = None,
    overwrite: bool = False,
    quiet: bool = False,
) -> None:
    """Fit a checkpoint's data prior (the Gaussian of each part's latents) on training masks.

    Args:
        ckpt: a Semantic-VAE checkpoint (from `semantic-vae fit` or `semantic-vae convert`).
        data: a CelebAMask-HQ folder (raw release or merged label PNGs) at the model's label set; its masks outside
            the paper's test split are used. Default: the synthetic default's training masks.
        count: masks to fit on (at most).
        out: where to write the checkpoint with its prior; default: replace `ckpt` (atomically).
        overwrite: replace an existing --out file (other than --ckpt).
        quiet: no progress bar (it shows only on a terminal).
    """
    if isinstance(count, bool) or count < 2:
        raise UserError(f"--count must be at least 2, got {count}")
    target = output_checkpoint(ckpt, out, overwrite)
    loaded = load_vae(ckpt)
    batches = training_masks(data, loaded.label_set, loaded.config.image_size, count)
    with Progress(count, "fit-prior: encoding training masks", enabled=not quiet) as bar:
        seen = fit_data_prior(loaded.vae, bar.each(batches), data)
    written = replace_network_state(ckpt, target, loaded.vae)
    print(f"fit-prior: the data prior of {seen} masks ({data or 'synthetic'}) -> {written}")


def fit_directions(
    ckpt: str,
    data: str | None = None,
    count: int = 1000,
    out: str | None = None,
    overwrite: bool = False,
    quiet: bool = False,
) -> None:
    """Fit a checkpoint's steering directions and presence priors on training masks (a training run fits them when
    it ends; a converted model has none until it has seen data).

    Args:
        ckpt: a Semantic-VAE checkpoint (from `semantic-vae fit` or `semantic-vae convert`).
        data: a CelebAMask-HQ folder (raw release or merged label PNGs) at the model's label set; its masks outside
            the paper's test split are used. Default: the synthetic default's training masks.
        count: masks to fit on (at most).
        out: where to write the checkpoint; default: replace `ckpt` (atomically).
        overwrite: replace an existing --out file (other than --ckpt).
        quiet: no progress bars (they show only on a terminal).
    """
    if isinstance(count, bool) or count < MIN_SAMPLES:
        raise UserError(f"--count must be at least {MIN_SAMPLES}, got {count}")
    target = output_checkpoint(ckpt, out, overwrite)
    loaded = load_vae(ckpt)
    editor = MaskEditor(loaded.vae, loaded.label_set, device="cpu")
    with Progress(count, "reading training masks", enabled=not quiet) as bar:
        masks = np.concatenate(list(bar.each(training_masks(data, loaded.label_set, loaded.config.image_size, count))))
    source = f"--data {data}" if data else "the synthetic masks"
    if len(masks) < MIN_SAMPLES:
        raise UserError(f"{source}: {len(masks)} training masks found; fit-directions needs at least {MIN_SAMPLES}")
    steering = fit_for(editor, masks, progress=not quiet)
    if not steering.directions and not steering.presence:
        raise UserError(
            f"{source}: no direction or presence prior could be fitted from {len(masks)} masks (each needs "
            f"{MIN_SAMPLES} masks with the part's attribute, or {MIN_SAMPLES // 2} with and without a class); "
            f"{ckpt} is left as it was"
        )
    written = replace_network_state(ckpt, target, loaded.vae, {"steering": steering.to_dict()})
    steerable = steering.steerable_count()
    print(
        f"fit-directions: {steerable} attribute directions with R^2 >= {R2_STEERABLE} and "
        f"{len(steering.presence)} presence priors from {len(masks)} masks ({data or 'synthetic'}) -> {written}"
    )


def convert_main(args: list[str] | None = None) -> None:
    """`semantic-vae convert ...`."""
    function_cli(convert, args, "semantic-vae convert")


def fit_prior_main(args: list[str] | None = None) -> None:
    """`semantic-vae fit-prior ...`."""
    function_cli(fit_prior, args, "semantic-vae fit-prior")


def fit_directions_main(args: list[str] | None = None) -> None:
    """`semantic-vae fit-directions ...`."""
    function_cli(fit_directions, args, "semantic-vae fit-directions")
