"""Shared fixtures: offline W&B, tiny CLI configurations, and one small trained checkpoint."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["WANDB_MODE"] = "offline"
os.environ["WANDB_SILENT"] = "true"

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "experiments"
SAMPLES = ROOT.parent / "shared" / "data" / "celebamask_hq_samples"


def config_args(*names: str) -> list[str]:
    return [arg for name in names for arg in ("--config", str(EXPERIMENTS / name))]


def tiny_args(run_dir: Path, cache_dir: Path, *, epochs: int = 2, size: int = 32, count: int = 160) -> list[str]:
    """The small CPU setting shrunk further: seconds per run on 2 cores."""
    return [
        *config_args("base.yaml", "small.yaml"),
        f"--trainer.default_root_dir={run_dir}",
        f"--trainer.max_epochs={epochs}",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
        "--trainer.log_every_n_steps=1",
        f"--data.image_size={size}",
        f"--data.synthetic_count={count}",
        f"--data.synthetic_test={count // 5}",
        "--data.val_fraction=0.2",
        "--data.batch_size=16",
        "--data.num_workers=0",
        f"--data.cache_dir={cache_dir}",
        "--model.lstm_hidden=32",
        "--model.ffn_hidden=64",
        "--model.decoder_width=8",
        "--model.encoder_hidden=[64,64,64]",
    ]


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("data_cache")


@pytest.fixture(scope="session")
def trained_ckpt(tmp_path_factory, cache_dir) -> Path:
    """A small paper-variant model trained for about a minute on synthetic 64x64 masks."""
    from semantic_vae.cli import cli_main

    run = tmp_path_factory.mktemp("trained")
    args = tiny_args(run, cache_dir, epochs=6, size=64, count=1200)
    args += ["--model.lstm_hidden=64", "--model.ffn_hidden=256", "--model.encoder_hidden=[256,256,256]"]
    cli = cli_main(["fit", *args])
    return run / "checkpoints" / "last.ckpt"


@pytest.fixture(autouse=True)
def _plain_argv(monkeypatch):
    """In-process CLI calls pass their own args; pytest's argv must not look like CLI input."""
    monkeypatch.setattr("sys.argv", ["semantic-vae"])
