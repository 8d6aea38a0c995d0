"""The paper's released weights (`latest_net_G.pth`) read, and the training settings they were trained with, for
`semantic-vae convert` (`semantic_vae.commands.model`). The map is exact, tensor by tensor (`semantic_vae.model.reference`); a file of another network is refused in one
line naming its first missing, unexpected or mis-shaped key.
"""

from __future__ import annotations

from pathlib import Path

import torch

from semantic_vae.errors import UserError
from semantic_vae.labels import CELEBAMASK_HQ
from semantic_vae.model.loading import load_weights_only
from semantic_vae.model.reference import REFERENCE_CLASS_WEIGHTS, REFERENCE_KL_WEIGHT


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
