"""Loading a model for inference: `load_vae` without Lightning, `write_checkpoint` round trips, and the editor on a
plain network (its shapes, its colour input, the caller's module left as it was)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from semantic_vae.data.synthetic import heldout_masks
from semantic_vae.edit import Edit, MaskEditor
from semantic_vae.errors import UserError
from semantic_vae.labels import CELEBAMASK_HQ
from semantic_vae.model import SemanticVAE, VAEConfig, load_vae
from semantic_vae.model.loading import write_checkpoint
from tests.conftest import ROOT

TINY = VAEConfig(image_size=32, encoder_hidden=(16,), lstm_layers=1, lstm_hidden=8, ffn_hidden=8, decoder_width=4)


def test_importing_the_editor_and_loading_a_checkpoint_leaves_lightning_out(trained_ckpt):
    code = (
        "import sys\n"
        "from semantic_vae.edit import MaskEditor\n"
        "import semantic_vae.app.session, semantic_vae.commands.edit, semantic_vae.edit.recipe\n"
        f"editor = MaskEditor.from_checkpoint({str(trained_ckpt)!r}, device='cpu')\n"
        "import numpy as np\n"
        "editor.generate(np.zeros((64, 64), np.uint8), 'nose')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('lightning', 'pytorch_lightning', 'wandb')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_load_vae_reads_a_lightning_checkpoint(trained_ckpt):
    loaded = load_vae(trained_ckpt)
    checkpoint = torch.load(trained_ckpt, map_location="cpu", weights_only=True)
    assert loaded.label_set is CELEBAMASK_HQ and not loaded.vae.training
    assert loaded.config.image_size == 64 and loaded.config.lstm_hidden == 64
    assert torch.equal(loaded.class_weights, checkpoint["state_dict"]["class_weights"])
    assert bool(loaded.vae.prior.fitted)  # the data prior travels with the weights
    for key, value in loaded.vae.state_dict().items():
        assert torch.equal(value, checkpoint["state_dict"][f"vae.{key}"]), key


def test_write_checkpoint_round_trips_every_tensor(tmp_path):
    torch.manual_seed(0)
    vae = SemanticVAE(TINY)
    for tensor in vae.state_dict().values():  # every tensor random: a zero-initialised layer hides a wrong mapping
        if tensor.is_floating_point():
            tensor.normal_()
    weights = torch.linspace(0.5, 1.0, 19)
    path = write_checkpoint(tmp_path / "w.ckpt", vae, {"class_names": list(CELEBAMASK_HQ.names)}, weights)
    loaded = load_vae(path)
    assert loaded.config == TINY and torch.equal(loaded.class_weights, weights)
    for key, value in vae.state_dict().items():
        assert torch.equal(loaded.vae.state_dict()[key], value), key


def test_a_weights_file_of_another_network_names_the_first_bad_key(tmp_path):
    vae = SemanticVAE(TINY)
    path = write_checkpoint(tmp_path / "w.ckpt", vae, {"class_names": list(CELEBAMASK_HQ.names)}, torch.ones(19))
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["state_dict"]["vae.encoder.mu.weight"] = torch.zeros(3, 3)
    torch.save(checkpoint, tmp_path / "bad.ckpt")
    with pytest.raises(
        UserError, match=r"weight 'encoder.mu.weight' has shape \(3, 3\); a checkpoint of this network has \("
    ):
        load_vae(tmp_path / "bad.ckpt")
    del checkpoint["state_dict"]["vae.encoder.mu.weight"]
    torch.save(checkpoint, tmp_path / "missing.ckpt")
    with pytest.raises(UserError, match="weight 'encoder.mu.weight' is missing"):
        load_vae(tmp_path / "missing.ckpt")


@pytest.fixture(scope="module")
def tiny_editor() -> MaskEditor:
    torch.manual_seed(0)
    return MaskEditor(SemanticVAE(TINY), CELEBAMASK_HQ, device="cpu")


def test_the_editor_leaves_the_callers_network_in_its_mode(tiny_editor):
    tiny_editor.vae.train()
    tiny_editor.reconstruct(heldout_masks(2, 32))
    assert tiny_editor.vae.training  # the editor reads the network; it does not switch it to eval mode
    tiny_editor.vae.eval()


def test_colour_arrays_mean_their_palette_ids(tiny_editor):
    masks = heldout_masks(2, 32)
    rgb = CELEBAMASK_HQ.colorize(masks)  # (2, 32, 32, 3)
    assert np.array_equal(tiny_editor.reconstruct(rgb), tiny_editor.reconstruct(masks))
    assert np.array_equal(tiny_editor.reconstruct(rgb[0]), tiny_editor.reconstruct(masks[0]))
    rgba = np.concatenate([rgb[0], np.full((32, 32, 1), 255, np.uint8)], axis=-1)  # alpha carries no label
    assert np.array_equal(tiny_editor.reconstruct(rgba), tiny_editor.reconstruct(masks[0]))


@pytest.mark.parametrize(
    "masks, words",
    [
        (np.zeros((2, 2, 32, 32), np.uint8), "got shape (2, 2, 32, 32)"),
        (np.full((32, 32, 3), 300, np.int64), "a colour mask (last axis 3) holds 0..255, got 300..300"),
        (np.zeros((0, 32, 32), np.uint8), "got shape (0, 32, 32)"),
        (np.full((32, 32, 3), 7, np.uint8), "colour (7,7,7) at pixel (0,0) is not in the"),
        (np.zeros(32, np.uint8), "got shape (32,)"),
    ],
)
def test_every_other_shape_is_refused_naming_it(tiny_editor, masks, words):
    with pytest.raises(UserError) as err:
        tiny_editor.reconstruct(masks)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_named_methods_equal_the_edit_values(tiny_editor):
    masks = heldout_masks(3, 32)
    assert np.array_equal(
        tiny_editor.generate(masks, "nose", seed=4), Edit("generate", "nose", 4).apply(tiny_editor, masks)
    )
    assert np.array_equal(
        tiny_editor.swap(masks, masks[::-1].copy(), "hair", keep="none"),
        tiny_editor.apply(Edit("swap", "hair", keep="none"), masks, masks[::-1].copy()),
    )
    path = tiny_editor.interpolate(masks, masks[0], "lips", [0.0, 0.5])
    assert np.array_equal(path[1], tiny_editor.apply(Edit("interpolate", "lips", alpha=0.5), masks, masks[0]))
