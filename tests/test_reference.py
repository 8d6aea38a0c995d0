"""The paper's released network: `convert` maps its weights exactly (checked against an independent implementation of
the released network at random weights), converts back to the identical file, refuses other files in one line, and
every command runs on the result; the reference setting trains with this project's trainer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from semantic_vae.bench.versus import ReleasedNetwork  # the independent oracle, also the bench's baseline
from semantic_vae.cli import main
from semantic_vae.data.io import read_label_png, write_label_png
from semantic_vae.data.synthetic import heldout_masks
from semantic_vae.edit import MaskEditor
from semantic_vae.edit.latent import part_noise
from semantic_vae.model import load_vae
from semantic_vae.model.reference import REFERENCE_CLASS_WEIGHTS, key_map, reference_config
from tests.conftest import config_args


@pytest.fixture(scope="module")
def released(tmp_path_factory) -> tuple[ReleasedNetwork, Path]:
    """The oracle at random weights (every tensor, zero-initialised ones too) and its state_dict as a .pth file."""
    torch.manual_seed(0)
    net = ReleasedNetwork().eval()
    with torch.no_grad():
        for name, tensor in net.state_dict().items():
            tensor.normal_(0, 0.05 if "weight" in name and tensor.ndim > 1 else 0.5)
    path = tmp_path_factory.mktemp("released") / "latest_net_G.pth"
    torch.save(net.state_dict(), path)
    return net, path


@pytest.fixture(scope="module")
def converted(released, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("converted") / "reference.ckpt"
    main(["convert", "--weights", str(released[1]), "--out", str(out)])
    return out


def test_the_key_map_covers_every_released_tensor_once(released):
    names = key_map(reference_config())
    assert set(names) == set(released[0].state_dict()) and len(set(names.values())) == len(names)


@torch.inference_mode()
def test_converted_reconstructions_and_edits_equal_the_released_network(released, converted):
    net, _ = released
    masks = heldout_masks(2, 256)
    editor = MaskEditor.from_checkpoint(converted, device="cpu")
    labels = torch.from_numpy(masks)
    mu, _ = net.encode(labels)
    expected = net.decode(mu).numpy()
    assert np.array_equal(editor.reconstruct(masks), expected)
    # generate the nose (class 2 = released part 1) with the same noise: the released code replaces that row of z
    z = mu.clone()
    z[:, 1] = part_noise(2, 1, 256, 7)[:, 0]
    assert np.array_equal(editor.generate(masks, "nose", seed=7, prior="normal", keep="none"), net.decode(z).numpy())


def test_the_way_back_is_the_identity_on_every_tensor(released, converted, tmp_path):
    back = tmp_path / "latest_net_G.pth"
    main(["convert", "--to", "reference", "--ckpt", str(converted), "--out", str(back)])
    original, exported = torch.load(released[1], weights_only=True), torch.load(back, weights_only=True)
    assert original.keys() == exported.keys()
    assert all(torch.equal(original[k], exported[k]) for k in original)


def test_a_converted_checkpoint_holds_the_label_set_and_the_reference_weights(converted):
    loaded = load_vae(converted)
    assert loaded.config == reference_config() and loaded.label_set.num_classes == 19
    assert torch.allclose(loaded.class_weights, torch.tensor(REFERENCE_CLASS_WEIGHTS))
    assert not bool(loaded.vae.prior.fitted)  # no data prior until it has seen data
    assert loaded.vae.prior.mean.shape == (18, 256)  # one per part: the background has no latent


def _one_line_error(argv: list[str], capsys) -> str:
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert done.value.code == 2 and len(err) == 1 and err[0].startswith("semantic-vae: error:"), err
    return err[0]


def test_other_files_are_refused_in_one_line(released, converted, tmp_path, capsys):
    state = torch.load(released[1], weights_only=True)
    cases = {}
    ours = {k: v for k, v in load_vae(converted).vae.state_dict().items()}
    cases["ours.pth"] = (ours, "weight 'encs.encs.0.weight' is missing")
    shaped = dict(state, **{"resh_lin.weight": torch.zeros(4, 4)})
    cases["shape.pth"] = (shaped, "resh_lin.weight")
    extra = dict(state, **{"netD.weight": torch.zeros(1)})
    cases["extra.pth"] = (extra, "unexpected weight 'netD.weight'")
    cases["pickled.pth"] = ({"x": Path("an object")}, "refused, it holds objects other than weights")
    cases["list.pth"] = ([torch.zeros(1)], "not a state_dict")
    for name, (content, words) in cases.items():
        torch.save(content, tmp_path / name)
        line = _one_line_error(
            ["convert", "--weights", str(tmp_path / name), "--out", str(tmp_path / "o.ckpt")], capsys
        )
        assert name in line and words in line, line
    blob = released[1].read_bytes()
    (tmp_path / "truncated.pth").write_bytes(blob[: len(blob) // 2])
    line = _one_line_error(["convert", "--weights", str(tmp_path / "truncated.pth"), "--out", str(tmp_path / "o.ckpt")],
                           capsys)  # fmt: skip
    assert "not a readable PyTorch file" in line
    line = _one_line_error(["convert", "--to", "reference", "--ckpt", str(converted), "--weights", str(released[1]),
                            "--out", str(tmp_path / "x.pth")], capsys)  # fmt: skip
    assert "give --ckpt (and no --weights)" in line
    assert not (tmp_path / "o.ckpt").exists()


def test_every_command_runs_on_a_converted_checkpoint(converted, tmp_path, capsys):
    masks = heldout_masks(2, 256)
    for i, mask in enumerate(masks):
        write_label_png(tmp_path / "in" / f"{i}.png", mask)
    ckpt = tmp_path / "model.ckpt"
    ckpt.write_bytes(converted.read_bytes())
    main(["fit-prior", "--ckpt", str(ckpt), "--count", "8"])  # on the synthetic default at the model's size
    assert bool(load_vae(ckpt).vae.prior.fitted)
    main(["edit", "generate", "--ckpt", str(ckpt), "--input", str(tmp_path / "in"), "--parts", "nose",
          "--out", str(tmp_path / "gen")])  # fmt: skip
    assert read_label_png(tmp_path / "gen" / "0.png").shape == (256, 256)
    main(["edit", "augment", "--ckpt", str(ckpt), "--input", str(tmp_path / "in"), "--variants", "1",
          "--operations", "swap", "--out", str(tmp_path / "aug")])  # fmt: skip
    main(["evaluate-edits", "--ckpt", str(ckpt), "--count", "2", "--seeds", "1", "--parts", "nose",
          "--operations", "generate", "--out", str(tmp_path / "e.json")])  # fmt: skip
    assert json.loads((tmp_path / "e.json").read_text())["count"] == 2
    run = [*config_args("base.yaml", "reference.yaml"), f"--trainer.default_root_dir={tmp_path / 'run'}",
           "--data.image_size=256", "--data.synthetic_count=10", "--data.synthetic_test=2", "--data.val_fraction=0.2",
           "--data.batch_size=2", "--data.num_workers=0", f"--data.cache_dir={tmp_path / 'cache'}",
           "--trainer.logger=false", "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false"]  # fmt: skip
    main(["test", *run, f"--ckpt_path={ckpt}"])
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    # mIoU: over the classes in the ground truth; the background (no latent of its own here) is in every mask
    present = [name for name in metrics["iou"] if metrics["presence"].get(name, 1.0) > 0]
    assert metrics["test/mIoU"] == pytest.approx(np.mean([metrics["iou"][name] for name in present]), abs=1e-6)
    main(["predict", *run, f"--ckpt_path={ckpt}", f"--data.predict_root={tmp_path / 'in'}",
          f"--prediction_writer.output_dir={tmp_path / 'pred'}"])  # fmt: skip
    assert read_label_png(tmp_path / "pred" / "1.png").shape == (256, 256)
    # fine-tuning: a new training that starts from the converted weights (one step)
    main(["fit", *run, f"--ckpt_path={ckpt}", "--trainer.max_steps=1", "--trainer.limit_val_batches=1",
          "--trainer.default_root_dir=" + str(tmp_path / "tune")])  # fmt: skip
    tuned = torch.load(tmp_path / "tune" / "checkpoints" / "last.ckpt", weights_only=True)
    assert tuned["global_step"] == 1 and tuned["hyper_parameters"]["class_weights"] == list(REFERENCE_CLASS_WEIGHTS)
    capsys.readouterr()


def test_the_reference_setting_trains_with_this_trainer(tmp_path):
    """A small version of the released network (`encoder_input_size` scaled down) fits, tests and edits."""
    run = tmp_path / "run"
    main(["fit", *config_args("base.yaml", "reference.yaml"), f"--trainer.default_root_dir={run}",
          "--data.image_size=32", "--model.net.encoder_input_size=16", "--model.net.encoder_hidden=[32,32,32]",
          "--model.net.lstm_hidden=16", "--model.net.ffn_hidden=32", "--model.net.decoder_width=8",
          "--data.synthetic_count=60", "--data.synthetic_test=12", "--data.val_fraction=0.2", "--data.batch_size=8",
          "--data.num_workers=0", f"--data.cache_dir={tmp_path / 'cache'}", "--trainer.max_epochs=1",
          "--trainer.logger=false", "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false"])  # fmt: skip
    loaded = load_vae(run / "checkpoints" / "last.ckpt")
    assert loaded.config.background == "derived" and loaded.config.mixer_residual
    assert bool(loaded.vae.prior.fitted) and loaded.vae.prior.mean.shape == (18, 256)
    edited = MaskEditor(loaded.vae, loaded.label_set).generate(heldout_masks(2, 32), "nose", seed=1)
    assert edited.shape == (2, 32, 32) and edited.max() <= 18
    with pytest.raises(Exception, match="background has no latent"):
        MaskEditor(loaded.vae, loaded.label_set).generate(heldout_masks(1, 32), "background")
