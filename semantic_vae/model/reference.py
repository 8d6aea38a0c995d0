"""The paper's released network (the authors' demo, `latest_net_G.pth`) as a setting of `VAEConfig`, and the exact map
between its weights' names and this project's.

The released network differs from this project's default in: the background (no latent; its logit derived from
the parts'), the encoder (each channel resized to 128x128 with nearest-neighbour, widths 1024-512-256), the mixer's
linear residual (`resh_lin`), the decoder's head (a 1x1 conv without GroupNorm) and the LSTM's initial state
(random at every decode; ours starts from zeros, which is deterministic). `experiments/reference.yaml` selects the
same setting for training with this project's trainer.
"""

from __future__ import annotations

from pathlib import Path

import torch

from semantic_vae.errors import UserError
from semantic_vae.model.config import VAEConfig
from semantic_vae.model.loading import check_weights, load_state
from semantic_vae.model.vae import SemanticVAE

# The 19 class weights of the released training loss (background first), as its code fixes them.
REFERENCE_CLASS_WEIGHTS: tuple[float, ...] = (
    1.0, 0.6899, 0.9764, 0.9987, 0.9992, 0.9992, 0.9968, 0.9968, 0.9970, 0.9975,
    0.9982, 0.9968, 0.9935, 0.6729, 0.9905, 0.9991, 1.0019, 0.9703, 0.9783,
)  # fmt: skip
REFERENCE_KL_WEIGHT = 0.0005


def reference_config(image_size: int = 256, encoder_input_size: int = 128, lstm_init: str = "zeros") -> VAEConfig:
    """The released network's sizes (at 256x256 and a 128x128 encoder input, as released)."""
    return VAEConfig(
        num_classes=19,
        image_size=image_size,
        latent_dim=256,
        encoder_hidden=(1024, 512, 256),
        encoder_input_size=encoder_input_size,
        lstm_layers=3,
        bidirectional=True,
        lstm_hidden=256,
        ffn_hidden=1024,
        decoder_width=64,
        background="derived",
        encoder_resize="nearest",
        mixer_residual=True,
        decoder_head_norm=False,
        lstm_init=lstm_init,  # type: ignore[arg-type]
    )


def is_reference_setting(config: VAEConfig) -> bool:
    """Whether a network has the released network's structure (its weights map one to one)."""
    return (config.background, config.encoder_resize, config.mixer_residual, config.decoder_head_norm) == (
        "derived", "nearest", True, False,
    ) and config.lstm_layers > 0 and config.bidirectional  # fmt: skip


def key_map(config: VAEConfig) -> dict[str, str]:
    """Released name -> this project's name, for every tensor of a network of the reference setting."""
    if not is_reference_setting(config):
        raise UserError(
            "the network is not of the released network's setting (background derived, nearest resize, mixer residual, "
            "no head norm, a bidirectional LSTM): train it with experiments/reference.yaml to export it"
        )
    names: dict[str, str] = {}

    def pair(released: str, ours: str) -> None:
        for leaf in ("weight", "bias"):
            names[f"{released}.{leaf}"] = f"{ours}.{leaf}"

    for i in range(len(config.encoder_hidden)):
        pair(f"encs.encs.{2 * i}", f"encoder.mlp.{2 * i}")  # Linear, ReLU, Linear, ReLU, ...
    pair("encs.mu", "encoder.mu")
    pair("encs.log_var", "encoder.logvar")
    for layer in range(config.lstm_layers):
        for suffix in ("", "_reverse"):
            for leaf in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                names[f"lstm.{leaf}_l{layer}{suffix}"] = f"mixer.lstm.{leaf}_l{layer}{suffix}"
    pair("decs.decs.0", "mixer.ffn.0")  # Linear, GELU, Linear
    pair("decs.decs.2", "mixer.ffn.2")
    pair("resh_lin", "mixer.residual")
    pair("decs_conv.in_conv", "decoder.stem")
    blocks = SemanticVAE(config).decoder.blocks
    for i in range(len(blocks)):
        released, ours = f"decs_conv.decs.{i}", f"decoder.blocks.{i}"
        pair(f"{released}.in_layers.0", f"{ours}.norm1")  # GroupNorm, SiLU, (upsample), conv
        pair(f"{released}.in_layers.2", f"{ours}.conv1")
        pair(f"{released}.out_layers.0", f"{ours}.norm2")  # GroupNorm, SiLU, Dropout(0), conv (zero init)
        pair(f"{released}.out_layers.3", f"{ours}.conv2")
        if not isinstance(blocks[i].skip, torch.nn.Identity):
            pair(f"{released}.skip_connection", f"{ours}.skip")
    pair("decs_conv.out_conv", "decoder.head")
    return names


def from_released(state: dict, config: VAEConfig, path: str | Path) -> SemanticVAE:
    """A network of the reference setting holding the released weights, every tensor mapped exactly (strict: the
    first missing, unexpected or mis-shaped key is named in one line)."""
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise UserError(f"{path}: not a state_dict (a mapping of weight names to tensors)")
    names = key_map(config)
    vae = SemanticVAE(config)
    expected = vae.state_dict()
    check_weights({k: expected[ours].shape for k, ours in names.items()}, state, path, "the released Semantic-VAE")
    ours = {names[k]: v.float() for k, v in state.items()}
    ours.update({k: v for k, v in vae.state_dict().items() if k.startswith("prior.")})  # no data prior yet
    load_state(vae, ours, path)
    return vae.eval()


def to_released(vae: SemanticVAE) -> dict[str, torch.Tensor]:
    """The released network's state_dict of a network of the reference setting (what its demo loads)."""
    state = vae.state_dict()
    return {released: state[ours].detach().cpu().clone() for released, ours in key_map(vae.config).items()}
