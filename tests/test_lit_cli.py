"""Training through the LightningCLI: configs, checkpoints, metrics, reload and exact resume."""

from __future__ import annotations

import json
import subprocess
import sys

import lightning as L
import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import TQDMProgressBar

from semantic_vae.cli import cli_main
from semantic_vae.lit_cli import PROGRESS_BAR_REFRESH_STEPS
from tests.conftest import EXPERIMENTS, ROOT, config_args, tiny_args

TABLE1 = sorted((EXPERIMENTS / "table1").glob("*.yaml"))


def test_table1_has_six_distinct_rows():
    switches = set()
    for row in TABLE1:
        cli = cli_main(["--config", str(EXPERIMENTS / "base.yaml"), "--config", str(row)], run=False)
        net, hp = cli.model.net_config, cli.model.hparams
        switches.add((net.lstm_layers, net.bidirectional if net.lstm_layers else None, hp.weighted_ce))
    assert switches == {
        (0, None, False),
        (1, False, False),
        (3, False, False),
        (3, False, True),
        (3, True, False),
        (3, True, True),
    }


@pytest.mark.parametrize("row", TABLE1, ids=[p.stem for p in TABLE1])
def test_every_experiment_config_runs_one_step(row, tmp_path, cache_dir):
    args = tiny_args(tmp_path, cache_dir, epochs=1) + ["--config", str(row), "--trainer.fast_dev_run=1"]
    cli = cli_main(["fit", *args])
    net, hp = cli.model.net_config, cli.model.hparams
    text = row.read_text()
    assert f"lstm_layers: {net.lstm_layers}" in text
    assert f"weighted_ce: {str(hp.weighted_ce).lower()}" in text
    assert (cli.model.vae.mixer.lstm is None) == (net.lstm_layers == 0)
    if net.lstm_layers:
        assert cli.model.vae.mixer.lstm.bidirectional == net.bidirectional
    # Eq. 1 weights came from the training split
    assert torch.allclose(cli.model.class_weights, cli.datamodule.train_class_weights())
    assert cli.model.class_weights.min() < 1


@pytest.mark.parametrize("name", ["paper.yaml", "demo.yaml"])
def test_settings_parse(name):
    out = subprocess.run(
        [sys.executable, "-m", "semantic_vae", "fit", *config_args("base.yaml", name), "--print_config"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "lstm_layers: 3" in out.stdout


def test_reloaded_checkpoint_reproduces_test_metrics_exactly(tmp_path, cache_dir):
    args = tiny_args(tmp_path / "run", cache_dir)
    fit = cli_main(["fit", *args])
    first = dict(fit.trainer.test(fit.model, datamodule=fit.datamodule, verbose=False)[0])
    again = cli_main(["test", *args, "--ckpt_path", str(tmp_path / "run" / "checkpoints" / "last.ckpt")])
    assert again.model.test_results["test/mIoU"] == pytest.approx(first["test/mIoU"], abs=0)
    assert torch.equal(again.model.class_weights, fit.model.class_weights)


class StopAfterEpochs(L.Callback):
    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.current_epoch + 1 >= self.epochs:
            trainer.should_stop = True


def _weights(module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_from_last_matches_an_uninterrupted_run(tmp_path, cache_dir, workers):
    # With workers, the first iterator after a resume prefetches indices before Lightning calls
    # set_epoch: without the DataModule's own set_epoch it would replay epoch 0's order.
    full = cli_main(["fit", *tiny_args(tmp_path / "full", cache_dir, epochs=3), f"--data.num_workers={workers}"])

    args = [*tiny_args(tmp_path / "cut", cache_dir, epochs=3), f"--data.num_workers={workers}"]
    interrupted = cli_main(args, run=False)
    interrupted.trainer.callbacks.append(StopAfterEpochs(1))
    interrupted.trainer.fit(interrupted.model, datamodule=interrupted.datamodule)
    assert interrupted.trainer.current_epoch == 1
    torch.manual_seed(12345)  # a new process: nothing of the interrupted run's RNG state carries over
    resumed = cli_main(["fit", *args, "--ckpt_path", "last"])
    assert resumed.trainer.current_epoch == 3

    a, b = _weights(full.model), _weights(resumed.model)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_same_seed_same_training_curve(tmp_path, cache_dir):
    runs = [cli_main(["fit", *tiny_args(tmp_path / str(i), cache_dir, epochs=1)]) for i in range(2)]
    a, b = (_weights(r.model) for r in runs)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_bad_config_value_is_one_line(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "semantic_vae",
            "fit",
            *config_args("base.yaml"),
            "--data.source=celebamask",
            f"--data.root={tmp_path / 'nowhere'}",
            "--trainer.fast_dev_run=1",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert out.returncode != 0
    assert "nowhere" in out.stderr and "Traceback" not in out.stderr


def test_progress_bar_refreshes_every_n_steps_unless_configured(tmp_path, cache_dir):
    args = [a for a in tiny_args(tmp_path, cache_dir) if not a.startswith("--trainer.enable_progress_bar")]
    bar = cli_main(args, run=False).trainer.progress_bar_callback
    assert isinstance(bar, TQDMProgressBar) and bar.refresh_rate == PROGRESS_BAR_REFRESH_STEPS > 1
    assert cli_main([*args, "--trainer.enable_progress_bar=false"], run=False).trainer.progress_bar_callback is None
    mine = [
        *args,
        "--trainer.callbacks+=lightning.pytorch.callbacks.TQDMProgressBar",
        "--trainer.callbacks.refresh_rate=3",
    ]
    assert cli_main(mine, run=False).trainer.progress_bar_callback.refresh_rate == 3


def test_predict_writes_reconstructions_where_the_command_line_says(tmp_path, cache_dir):
    from semantic_vae.data.io import read_label_png, write_label_png
    from semantic_vae.data.synthetic import generate_masks
    from semantic_vae.edit import MaskEditor

    args = tiny_args(tmp_path / "run", cache_dir, epochs=1)
    cli_main(["fit", *args])
    masks = generate_masks(seed=5, start=0, count=3, size=32)
    for i, mask in enumerate(masks):
        write_label_png(tmp_path / "in" / f"face{i}.png", mask)
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    cli_main(
        [
            "predict",
            *args,
            f"--ckpt_path={ckpt}",
            f"--data.predict_root={tmp_path / 'in'}",
            f"--prediction_writer.output_dir={tmp_path / 'out'}",
            f"--metrics_file.path={tmp_path / 'm.json'}",
        ]
    )
    written = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    assert written == ["face0.png", "face1.png", "face2.png"]
    rows = (tmp_path / "out" / "manifest.csv").read_text().splitlines()  # written last: the folder is complete
    assert rows == ["output,source", *(f"face{i}.png,{tmp_path / 'in' / f'face{i}.png'}" for i in range(3))]
    expected = MaskEditor.from_checkpoint(ckpt, device="cpu").reconstruct(masks)
    for i in range(3):
        assert np.array_equal(read_label_png(tmp_path / "out" / f"face{i}.png"), expected[i])
    assert not (tmp_path / "m.json").exists()  # predict writes no metrics

    # test with a checkpoint file: the command line's metrics path wins over anything in the checkpoint
    cli_main(["test", *args, f"--ckpt_path={ckpt}", f"--metrics_file.path={tmp_path / 'm.json'}"])
    assert {"test/mIoU", "test/acc", "iou", "kl"} <= set(json.loads((tmp_path / "m.json").read_text()))
    assert "weights_only: true" in (tmp_path / "run" / "config.yaml").read_text()  # how Lightning loaded the file


@pytest.mark.parametrize("fraction", ["0", "1", "1.5"])
def test_a_validation_fraction_outside_0_1_is_refused(tmp_path, cache_dir, fraction):
    from semantic_vae.errors import UserError

    with pytest.raises(UserError, match=r"data.val_fraction must be in \(0, 1\)"):
        cli_main([*tiny_args(tmp_path, cache_dir), f"--data.val_fraction={fraction}"], run=False)


@pytest.mark.parametrize(
    "option,value",
    [("dice_weight", -0.5), ("part_loss_weight", float("nan")), ("context_dropout", 1.0), ("context_dropout", -0.1)],
)
def test_the_part_latent_settings_refuse_bad_values_in_one_line(option, value):
    from semantic_vae.lit import SemanticVAEModule
    from tests.conftest import assert_one_line_user_error

    assert_one_line_user_error(lambda: SemanticVAEModule(**{option: value}), f"model.{option} must be")
