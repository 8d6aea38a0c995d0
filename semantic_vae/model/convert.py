"""`semantic-vae convert`: the paper's released weights to a checkpoint of this project, and back.

    semantic-vae convert --weights latest_net_G.pth --out reference.ckpt              # released -> ours
    semantic-vae convert --to reference --ckpt ours.ckpt --out latest_net_G.pth       # ours -> released

The map is exact, tensor by tensor (`semantic_vae.model.reference`); a file of another network is refused in one
line naming its first missing, unexpected or mis-shaped key.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Literal

import torch

from semantic_vae.errors import UserError
from semantic_vae.files import check_new_file, write_output_file
from semantic_vae.labels import CELEBAMASK_HQ
from semantic_vae.model.loading import load_vae, load_weights_only, write_checkpoint
from semantic_vae.model.reference import (
    REFERENCE_CLASS_WEIGHTS,
    REFERENCE_KL_WEIGHT,
    from_released,
    reference_config,
    to_released,
)


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
) -> None:
    """Convert between the paper's released weights and a checkpoint of this project.

    Args:
        out: the file to write: a checkpoint (to ours) or a `latest_net_G.pth` (to reference).
        weights: the released `latest_net_G.pth` (with --to ours).
        ckpt: a checkpoint of this project trained with experiments/reference.yaml (with --to reference).
        to: "ours" (released -> a checkpoint every command reads) or "reference" (ours -> the released format).
        image_size: the mask side of the released network (256, as released).
        overwrite: replace --out when it exists.
    """
    if to == "ours":
        if weights is None or ckpt is not None:
            raise UserError("--to ours converts the released weights: give --weights latest_net_G.pth (and no --ckpt)")
        check_new_file(out, overwrite)
        vae = from_released(read_released(weights), reference_config(image_size), f"--weights {weights}")
        written = write_checkpoint(out, vae, reference_hyper_parameters(), torch.tensor(REFERENCE_CLASS_WEIGHTS))
        print(f"convert: {weights} -> {written} (the released network; no data prior yet: semantic-vae fit-prior)")
        return
    if to != "reference":
        raise UserError(f"--to: unknown '{to}'; choose from ours, reference")
    if ckpt is None or weights is not None:
        raise UserError("--to reference exports a checkpoint of this project: give --ckpt (and no --weights)")
    check_new_file(out, overwrite)
    loaded = load_vae(ckpt)
    if loaded.label_set.names != CELEBAMASK_HQ.names:
        raise UserError(
            f"--ckpt {ckpt}: the released network has CelebAMask-HQ's 19 classes, this model {loaded.label_set.num_classes}"
        )
    try:
        released = to_released(loaded.vae)
    except UserError as err:
        raise UserError(f"--ckpt {ckpt}: {err}") from None
    buffer = io.BytesIO()
    torch.save(released, buffer)
    written = write_output_file(out, buffer.getvalue())
    print(f"convert: {ckpt} -> {written} (the released format: what the authors' demo loads)")


def main(args: list[str] | None = None) -> None:
    """`semantic-vae convert ...`."""
    from semantic_vae.entry import function_cli

    function_cli(convert, args, "semantic-vae convert")
