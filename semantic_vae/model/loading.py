"""Loading a trained network without the trainer: `load_vae(path)`.

Reads a checkpoint of this project with `weights_only=True`, on the CPU, and returns the network
(in eval mode), its label set and what else the checkpoint holds. Two kinds of file are read:

- a Lightning checkpoint written by `semantic-vae fit` (`last.ckpt`, `best-*.ckpt`);
- a weights file written by this project (`semantic-vae convert`, `semantic-vae fit-prior`): the
  same `state_dict` and `hyper_parameters`, without optimiser or loop state (`write_checkpoint`).

Nothing here imports Lightning: the editor, the web page and the converter load models through
this module (as `GPT.from_pretrained` in nanoGPT or diffusers' `from_pretrained`).
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from semantic_vae.checks import as_path
from semantic_vae.errors import UserError
from semantic_vae.files import write_output_file
from semantic_vae.labels import LabelSet, label_set_for_names
from semantic_vae.model.config import VAEConfig
from semantic_vae.model.vae import SemanticVAE

NETWORK_PREFIX = "vae."  # the network's keys in a checkpoint's state_dict (the LightningModule's attribute)
EXTRAS = ("steering",)  # keys a checkpoint may carry besides the weights: fitted statistics (plain data, tensors)
WEIGHTS_FORMAT = 1  # the `semantic_vae.format` of a weights file written by `write_checkpoint`
_ZIP_MAGIC = b"PK\x03\x04"  # torch.save's default (zip) format
_PICKLE_MAGIC = b"\x80"  # torch.save's legacy format starts with a pickle protocol byte


@dataclass(frozen=True)
class LoadedModel:
    """A network read from a checkpoint, with what the checkpoint says about it."""

    vae: SemanticVAE  # in eval mode, on the CPU
    label_set: LabelSet
    class_weights: torch.Tensor  # (C,) the Eq. 1 weights it was trained with
    hyper_parameters: dict[str, Any]  # the LightningModule's init arguments (net, class_names, kl_weight, ...)
    path: Path
    extras: dict[str, Any] = field(default_factory=dict)  # statistics stored beside the weights ("steering")

    @property
    def config(self) -> VAEConfig:
        return self.vae.config


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def load_weights_only(path: str | Path, name: str, kind: str = "checkpoint") -> Any:
    """`torch.load(weights_only=True)` on the CPU of a file a user gave, or one line saying why not: not found, not a
    PyTorch file (random bytes, a truncated file), or one that carries pickled objects. `name` starts the message
    ("model.ckpt", "--weights latest_net_G.pth"); `kind` names what was expected ("checkpoint", "file")."""
    path = as_path(path, name)
    if path.is_dir():
        raise UserError(f"{name}: is a folder, not a {kind}")
    if not path.is_file():
        raise UserError(f"{name}: {kind} not found")
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as err:
        raise UserError(f"{name}: cannot read the {kind} ({err.strerror or err})") from None
    if not head.startswith((_ZIP_MAGIC, _PICKLE_MAGIC)):
        raise UserError(f"{name}: not a PyTorch checkpoint (the file does not start like one)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "weights only" in str(err).lower() or "unsupported global" in str(err).lower():
            raise UserError(f"{name}: refused, it holds objects other than weights ({_first_line(err)})") from None
        raise UserError(f"{name}: not a readable PyTorch {kind} ({_first_line(err)})") from None
    except Exception as err:  # a truncated zip or random bytes make torch.load fail in arbitrary ways
        raise UserError(f"{name}: not a readable PyTorch {kind} ({type(err).__name__}: {_first_line(err)})") from None


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint of this project as a dict, on the CPU; a one-line UserError for anything else.

    The file is read with `weights_only=True`: a checkpoint that carries pickled objects is refused. A plain
    state_dict (the paper's released `latest_net_G.pth`) is refused with the command that converts it.
    """
    path = as_path(path, "checkpoint")
    checkpoint = load_weights_only(path, str(path))
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        plain = (
            isinstance(checkpoint, dict)
            and checkpoint
            and all(isinstance(v, torch.Tensor) for v in checkpoint.values())
        )
        hint = (
            f"; a plain state_dict (the paper's released latest_net_G.pth is one) is converted first: "
            f"semantic-vae convert --weights {path} --out model.ckpt"
            if plain
            else ""
        )
        raise UserError(f"{path}: not a checkpoint of this project (no 'state_dict'){hint}")
    if not any(key.startswith(NETWORK_PREFIX) for key in checkpoint["state_dict"]):
        raise UserError(f"{path}: not a Semantic-VAE checkpoint (no '{NETWORK_PREFIX}*' weights in its state_dict)")
    if not isinstance(checkpoint.get("hyper_parameters"), dict):
        raise UserError(f"{path}: not a Semantic-VAE checkpoint (no 'hyper_parameters')")
    return checkpoint


def checkpoint_config(checkpoint: dict[str, Any], path: str | Path) -> VAEConfig:
    """The network's sizes stored in a checkpoint's hyper_parameters."""
    net = checkpoint["hyper_parameters"].get("net")
    if not isinstance(net, dict):
        raise UserError(f"{path}: its hyper_parameters hold no network sizes ('net')")
    try:
        return VAEConfig.from_dict(net)
    except (TypeError, ValueError) as err:
        raise UserError(f"{path}: the stored network sizes are not valid ({_first_line(err)})") from None


def checkpoint_class_names(checkpoint: dict[str, Any], config: VAEConfig, path: str | Path) -> tuple[str, ...]:
    names = checkpoint["hyper_parameters"].get("class_names")
    if not isinstance(names, (list, tuple)) or len(names) != config.num_classes:
        raise UserError(f"{path}: its hyper_parameters hold no class names for its {config.num_classes} classes")
    return tuple(str(n) for n in names)


def check_weights(expected: Mapping[str, torch.Size], state: Mapping, path: str | Path, network: str) -> None:
    """One line naming the first missing, unexpected, non-tensor or mis-shaped weight of `state` against the
    shapes `expected` (`network` says whose: "this network", "the released Semantic-VAE")."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing:
        raise UserError(f"{path}: not {network}: weight '{missing[0]}' is missing ({len(missing)} in all)")
    if unexpected:
        raise UserError(f"{path}: not {network}: unexpected weight '{unexpected[0]}'")
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise UserError(f"{path}: weight '{key}' is not a tensor ({type(value).__name__})")
        if value.shape != expected[key]:
            raise UserError(
                f"{path}: weight '{key}' has shape {tuple(value.shape)}; {network} has {tuple(expected[key])}"
            )


def load_state(module: torch.nn.Module, state: dict[str, torch.Tensor], path: str | Path) -> None:
    """`load_state_dict(strict=True)`, reporting the first missing, unexpected or mis-shaped key in one line."""
    check_weights({k: v.shape for k, v in module.state_dict().items()}, state, path, "a checkpoint of this network")
    module.load_state_dict(state, strict=True)


def network_state(checkpoint: dict) -> dict[str, torch.Tensor]:
    """The network's tensors of a checkpoint, under the names `SemanticVAE.state_dict` uses."""
    return {k[len(NETWORK_PREFIX) :]: v for k, v in checkpoint["state_dict"].items() if k.startswith(NETWORK_PREFIX)}


def load_vae(path: str | Path) -> LoadedModel:
    """The network of a checkpoint (`read_checkpoint`), in eval mode on the CPU, with its label set and weights."""
    path = as_path(path, "load_vae")
    checkpoint = read_checkpoint(path)
    config = checkpoint_config(checkpoint, path)
    names = checkpoint_class_names(checkpoint, config, path)
    vae = SemanticVAE(config)
    load_state(vae, network_state(checkpoint), path)
    weights = checkpoint["state_dict"].get("class_weights")
    if not isinstance(weights, torch.Tensor) or weights.shape != (config.num_classes,):
        weights = torch.ones(config.num_classes)
    hyper_parameters = {k: v for k, v in checkpoint["hyper_parameters"].items() if not k.startswith("_")}
    extras = {key: checkpoint[key] for key in EXTRAS if key in checkpoint}
    return LoadedModel(vae.eval(), label_set_for_names(names), weights.float(), hyper_parameters, path, extras)


def write_checkpoint(
    path: str | Path,
    vae: SemanticVAE,
    hyper_parameters: dict[str, Any],
    class_weights: torch.Tensor,
    extras: dict[str, Any] | None = None,
) -> Path:
    """A weights file that `load_vae` and every command read (`test`/`predict --ckpt_path`, `fit --ckpt_path` to
    fine-tune: a new training from these weights), written atomically.

    The layout is a Lightning checkpoint's without optimiser and loop state: `state_dict` (the network under
    `vae.`, plus `class_weights`), `hyper_parameters` (the LightningModule's init arguments) and the Lightning
    version key Lightning's loader expects.
    """
    state = {f"{NETWORK_PREFIX}{k}": v.detach().cpu().clone() for k, v in vae.state_dict().items()}
    state["class_weights"] = class_weights.detach().cpu().float().clone()
    checkpoint = {
        "state_dict": state,
        "hyper_parameters": {**hyper_parameters, "net": vae.config.to_dict()},
        "pytorch-lightning_version": _lightning_version(),
        "semantic_vae": {"format": WEIGHTS_FORMAT},
        **(extras or {}),
    }
    return save_checkpoint_file(path, checkpoint)


def replace_network_state(
    path: str | Path, out: str | Path, vae: SemanticVAE, extras: dict | None = None, checkpoint: dict | None = None
) -> Path:
    """The checkpoint at `path` (or `checkpoint`, the caller's reading of it) with the network's tensors replaced by
    `vae`'s and `extras` set (everything else kept: optimiser state, loops, hyperparameters), written atomically to
    `out`."""
    checkpoint = read_checkpoint(path) if checkpoint is None else checkpoint
    for key, value in vae.state_dict().items():
        checkpoint["state_dict"][f"{NETWORK_PREFIX}{key}"] = value.detach().cpu().clone()
    checkpoint.update(extras or {})
    return save_checkpoint_file(out, checkpoint)


def save_checkpoint_file(path: str | Path, checkpoint: dict) -> Path:
    """`torch.save` of `checkpoint`, written atomically to `path`."""
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    return write_output_file(path, buffer.getvalue())


def _lightning_version() -> str:
    """The installed Lightning's version, read from its metadata (importing Lightning costs seconds)."""
    try:
        return metadata.version("lightning")
    except metadata.PackageNotFoundError:
        return "2.0.0"
