"""`semantic-vae convert` and `semantic-vae fit-prior`: the commands over model files, with a progress bar.

    semantic-vae convert --weights latest_net_G.pth --out reference.ckpt              # released -> ours
    semantic-vae convert --to reference --ckpt ours.ckpt --out latest_net_G.pth       # ours -> released
    semantic-vae fit-prior --ckpt reference.ckpt --data /data/CelebAMask-HQ

The work itself is the model package's (`semantic_vae.model.convert`, `semantic_vae.model.statistics`): reading
and mapping the released weights exactly, and fitting the data prior; this module reads the command line, shows
progress and prints the result.
"""

from __future__ import annotations

import io
from typing import Literal

import torch

from semantic_vae.errors import UserError
from semantic_vae.files import write_bytes_atomic
from semantic_vae.labels import CELEBAMASK_HQ
from semantic_vae.model.convert import read_released, reference_hyper_parameters
from semantic_vae.model.loading import load_vae, write_checkpoint
from semantic_vae.model.reference import REFERENCE_CLASS_WEIGHTS, from_released, reference_config, to_released
from semantic_vae.model.statistics import fit_data_prior, replace_network_state, training_masks
from semantic_vae.runtime import Progress


def convert(
    out: str,
    weights: str | None = None,
    ckpt: str | None = None,
    to: Literal["ours", "reference"] = "ours",
    image_size: int = 256,
    quiet: bool = False,
) -> None:
    """Convert between the paper's released weights and a checkpoint of this project.

    Args:
        out: the file to write: a checkpoint (to ours) or a `latest_net_G.pth` (to reference).
        weights: the released `latest_net_G.pth` (with --to ours).
        ckpt: a checkpoint of this project trained with experiments/reference.yaml (with --to reference).
        to: "ours" (released -> a checkpoint every command reads) or "reference" (ours -> the released format).
        image_size: the mask side of the released network (256, as released).
        quiet: no progress bar (it shows only on a terminal).
    """
    if to == "ours":
        if weights is None or ckpt is not None:
            raise UserError("--to ours converts the released weights: give --weights latest_net_G.pth (and no --ckpt)")
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
    with Progress(3, "convert: reading the checkpoint", enabled=not quiet, unit="step") as bar:
        loaded = load_vae(ckpt)
        bar.update()
        if loaded.label_set.names != CELEBAMASK_HQ.names:
            raise UserError(
                f"--ckpt {ckpt}: the released network has CelebAMask-HQ's 19 classes, this model "
                f"{loaded.label_set.num_classes}"
            )
        bar.describe("convert: mapping every tensor")
        buffer = io.BytesIO()
        torch.save(to_released(loaded.vae), buffer)
        bar.update()
        bar.describe("convert: writing the released format")
        written = write_bytes_atomic(out, buffer.getvalue())
        bar.update()
    print(f"convert: {ckpt} -> {written} (the released format: what the authors' demo loads)")


def fit_prior(
    ckpt: str, data: str | None = None, count: int = 5000, out: str | None = None, quiet: bool = False
) -> None:
    """Fit a checkpoint's data prior (the Gaussian of each part's latents) on training masks.

    Args:
        ckpt: a Semantic-VAE checkpoint (from `semantic-vae fit` or `semantic-vae convert`).
        data: a CelebAMask-HQ folder (raw release or merged label PNGs) at the model's label set; its masks outside
            the paper's test split are used. Default: the synthetic default's training masks.
        count: masks to fit on (at most).
        out: where to write the checkpoint with its prior; default: replace `ckpt` (atomically).
        quiet: no progress bar (it shows only on a terminal).
    """
    if isinstance(count, bool) or count < 2:
        raise UserError(f"--count must be at least 2, got {count}")
    loaded = load_vae(ckpt)
    batches = training_masks(data, loaded.label_set, loaded.config.image_size, count)
    with Progress(count, "fit-prior: encoding training masks", enabled=not quiet) as bar:
        seen = fit_data_prior(loaded.vae, bar.each(batches))
    written = replace_network_state(ckpt, out or ckpt, loaded.vae)
    print(f"fit-prior: the data prior of {seen} masks ({data or 'synthetic'}) -> {written}")


def convert_main(args: list[str] | None = None) -> None:
    """`semantic-vae convert ...`."""
    from semantic_vae.entry import function_cli

    function_cli(convert, args, "semantic-vae convert")


def fit_prior_main(args: list[str] | None = None) -> None:
    """`semantic-vae fit-prior ...`."""
    from semantic_vae.entry import function_cli

    function_cli(fit_prior, args, "semantic-vae fit-prior")
