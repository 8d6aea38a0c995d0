"""Shared fixtures: offline W&B, tiny CLI configurations, sample masks, and one small trained checkpoint.

Every test runs from a plain clone. Only the tests whose point is real data read the 12 real
CelebAMask-HQ masks in REAL_SAMPLES (beside the repository in CI, not in a user's clone); they
are skipped with the reason when the folder is absent. Everything else uses `sample_masks`:
synthetic 512x512 masks under the real samples' image indices.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from semantic_vae.labels import CELEBAMASK_HQ

os.environ["WANDB_MODE"] = "offline"
os.environ["WANDB_SILENT"] = "true"
if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs two workers on two cores: one thread each (and for the commands they start) does the
    # same work in less CPU time than two threads each fighting for the cores. A user's setting wins.
    os.environ.setdefault("OMP_NUM_THREADS", "1")

pytest_plugins = ["pytester"]  # tests of what pytest itself collects

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "experiments"
REAL_SAMPLES = ROOT.parent / "shared" / "data" / "celebamask_hq_samples"
SAMPLE_INDICES = (0, 1, 2, 3, *range(29980, 29988))  # the real samples' indices: 4 train, 8 test
ID = {name: i for i, name in enumerate(CELEBAMASK_HQ.names)}  # CelebAMask-HQ's class ids by name, for hand-drawn masks


def assert_one_line_user_error(call, pattern: str) -> None:
    """`call()` raises UserError matching `pattern`, in one line."""
    from semantic_vae.errors import UserError

    with pytest.raises(UserError, match=pattern) as info:
        call()
    assert "\n" not in str(info.value)


def config_args(*names: str) -> list[str]:
    return [arg for name in names for arg in ("--config", str(EXPERIMENTS / name))]


def tiny_args(run_dir: Path, cache_dir: Path, *, epochs: int = 2, size: int = 32, count: int = 160) -> list[str]:
    """The small CPU setting shrunk further: seconds per run on 2 cores."""
    return [
        *config_args("base.yaml", "small.yaml"),
        f"--trainer.default_root_dir={run_dir}",
        f"--trainer.max_epochs={epochs}",
        "--trainer.precision=32-true",  # CPU tests in 32 bits (bf16 has tests of its own: test_fast_path.py)
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
        "--model.net.lstm_hidden=32",
        "--model.net.ffn_hidden=64",
        "--model.net.decoder_width=8",
        "--model.net.encoder_hidden=[64,64,64]",
    ]


@pytest.fixture(scope="session")
def sample_masks() -> dict[int, np.ndarray]:
    """12 synthetic 512x512 label maps (the release's size) keyed by the real samples' indices."""
    from semantic_vae.data.synthetic import generate_masks

    masks = generate_masks(seed=0, start=0, count=len(SAMPLE_INDICES), size=512)
    return {index: mask for index, mask in zip(SAMPLE_INDICES, masks)}


@pytest.fixture(scope="session")
def real_masks() -> dict[int, np.ndarray]:
    """The 12 real CelebAMask-HQ label maps by image index; skipped where the folder is absent."""
    from semantic_vae.data.io import read_label_png

    files = sorted(REAL_SAMPLES.glob("*.png")) if REAL_SAMPLES.is_dir() else []
    if not files:
        pytest.skip(f"real CelebAMask-HQ samples not found at {REAL_SAMPLES} (a plain clone has none)")
    return {int(p.stem): read_label_png(p) for p in files}


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("data_cache")


def _train_small_model(run: Path, cache_dir: Path) -> Path:
    from semantic_vae.cli import cli_main

    args = tiny_args(run, cache_dir, epochs=6, size=64, count=1200)
    # After base and small: part latents the decoder uses, so steering has something to move.
    args[4:4] = config_args("recommended.yaml")
    args += ["--model.net.lstm_hidden=64", "--model.net.ffn_hidden=256", "--model.net.encoder_hidden=[256,256,256]"]
    cli_main(["fit", *args])
    return run / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="session")
def trained_ckpt(tmp_path_factory, worker_id) -> Path:
    """A small paper-variant model trained for about a minute on synthetic 64x64 masks.

    Under pytest-xdist (`make test` runs two workers) the first worker to ask trains it in the run's shared
    temporary folder and the others wait for it (a file lock), so it is trained once per run.
    SEMANTIC_VAE_TEST_CKPT names an existing one instead (to rerun a few tests quickly while editing).
    """
    if os.environ.get("SEMANTIC_VAE_TEST_CKPT"):
        return Path(os.environ["SEMANTIC_VAE_TEST_CKPT"])
    if worker_id == "master":
        return _train_small_model(tmp_path_factory.mktemp("trained"), tmp_path_factory.mktemp("trained_cache"))
    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp().parent  # one folder for all workers of this run
    ckpt = shared / "trained" / "checkpoints" / "last.ckpt"
    with FileLock(str(shared / "trained.lock")):
        if not ckpt.is_file():
            _train_small_model(shared / "trained", shared / "trained_cache")
    return ckpt


@pytest.fixture(autouse=True)
def _plain_argv(monkeypatch):
    """In-process CLI calls pass their own args; pytest's argv must not look like CLI input."""
    monkeypatch.setattr("sys.argv", ["semantic-vae"])


@pytest.fixture(autouse=True)
def _own_wandb_service(monkeypatch):
    """A W&B run in this process saves its service's address in WANDB_SERVICE; subprocesses the tests start
    would attach to it and find their run id still "in use" by a sibling that has just exited. Each CLI
    process gets its own service, as it does for a user."""
    monkeypatch.delenv("WANDB_SERVICE", raising=False)
