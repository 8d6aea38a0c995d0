"""A quiet console: each library notice a user cannot act on is filtered exactly, raised here by the library's own
code; any other warning still shows."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import lightning as L
import torch

from semantic_vae.console import quiet_library_notices

MAKEFILE = Path(__file__).resolve().parents[1] / "Makefile"
OTHER = "a warning nobody filters"


def shown_warnings(action) -> list[str]:
    """What `action` warns once `quiet_library_notices` has run, with a warning of our own after it."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        quiet_library_notices()
        action()
        warnings.warn(OTHER, UserWarning, stacklevel=1)
    return [str(w.message) for w in seen]


class Tiny(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 2)


def trainer(tmp_path: Path, **kwargs) -> L.Trainer:
    return L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, default_root_dir=tmp_path, **kwargs)


def test_a_resumed_fit_does_not_hear_that_its_checkpoint_folder_is_not_empty(tmp_path):
    from lightning.pytorch.callbacks import ModelCheckpoint

    (tmp_path / "last.ckpt").write_bytes(b"a checkpoint")
    checkpoint = ModelCheckpoint(dirpath=tmp_path)
    assert shown_warnings(lambda: checkpoint.setup(trainer(tmp_path), Tiny(), stage="fit")) == [OTHER]


def test_the_model_summary_does_not_warn_about_a_mixed_precision(tmp_path):
    from lightning.pytorch.utilities.model_summary import ModelSummary

    module = Tiny()
    module.trainer = trainer(tmp_path, precision="bf16-mixed")
    assert shown_warnings(lambda: ModelSummary(module).model_size) == [OTHER]


def test_a_test_after_a_fit_in_one_process_reuses_the_wandb_run_without_a_word(tmp_path, monkeypatch):
    import wandb
    from lightning.pytorch.loggers import WandbLogger

    running = object()
    monkeypatch.setattr(wandb, "run", running)  # the training's run, still open in this process
    logger = WandbLogger(project="semantic-vae", save_dir=str(tmp_path))
    shown: list = []
    assert shown_warnings(lambda: shown.append(logger.experiment)) == [OTHER] and shown == [running]


def test_the_makefile_silences_setuptools_editable_install_note_exactly():
    installs = [line for line in MAKEFILE.read_text().splitlines() if re.search(r"pip install .*-e ", line)]
    assert installs and all("$(EDITABLE_NOTE)" in line for line in installs)
    assert re.search(r'^EDITABLE_NOTE := .*ignore:Editable installation"$', MAKEFILE.read_text(), re.M)
