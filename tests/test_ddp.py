"""DDP on CPU (gloo, two processes): fit and test as the sweep runs them, and parity with one process."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest

from tests.conftest import ROOT, tiny_args

DDP = ["--trainer.accelerator=cpu", "--trainer.devices=2", "--trainer.strategy=ddp"]
TEST_SIZE = 33  # odd: two ranks get 17 and 16 masks; a padding sampler would count one twice


class RankProbe(L.Callback):
    """Test helper: each rank writes what it saw (class weights, test masks) to `<out>/rank<r>-<stage>.json`."""

    def __init__(self, out: str) -> None:
        self.out = Path(out)
        self.test_masks = 0

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self.test_masks += len(batch)

    def _dump(self, trainer, pl_module, stage: str) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        record = {
            "world": trainer.world_size,
            "class_weights": pl_module.class_weights.tolist(),
            "test_masks": self.test_masks,
        }
        (self.out / f"rank{trainer.global_rank}-{stage}.json").write_text(json.dumps(record))

    def on_train_end(self, trainer, pl_module) -> None:
        self._dump(trainer, pl_module, "fit")

    def on_test_end(self, trainer, pl_module) -> None:
        self._dump(trainer, pl_module, "test")


def _cli(subcommand: str, args: list[str]) -> None:
    env = {**os.environ, "WANDB_MODE": "offline"}
    proc = subprocess.run(
        [sys.executable, "-m", "semantic_vae", subcommand, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]


def _same(a: dict[str, float], b: dict[str, float]) -> bool:
    return a.keys() == b.keys() and all(a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a)


@pytest.mark.slow
def test_ddp_fit_and_test_match_one_process_exactly(tmp_path, cache_dir):
    run = tmp_path / "run"
    args = tiny_args(run, cache_dir, epochs=2, count=5 * TEST_SIZE + 33) + [f"--data.synthetic_test={TEST_SIZE}"]
    probe = "--trainer.callbacks+=tests.test_ddp.RankProbe"

    # fit on two ranks, then test the best checkpoint on the same two ranks (as every sweep run does)
    _cli(
        "fit",
        [
            *args,
            *DDP,
            "--trainer.callbacks+=semantic_vae.callbacks.TestAfterFit",
            probe,
            f"--trainer.callbacks.out={tmp_path / 'ddp'}",
        ],
    )
    ddp = json.loads((run / "metrics.json").read_text())
    (best,) = (run / "checkpoints").glob("best-*.ckpt")

    # the same checkpoint tested on one process, in another directory (with a checkpoint file, LightningCLI
    # takes every model.* value from the checkpoint, so --model.metrics_path would be ignored)
    _cli("test", [*args, f"--trainer.default_root_dir={tmp_path / 'one_run'}", "--trainer.accelerator=cpu",
                  "--trainer.devices=1", f"--ckpt_path={best}", probe, f"--trainer.callbacks.out={tmp_path / 'one'}"])  # fmt: skip
    one = json.loads((tmp_path / "one_run" / "metrics.json").read_text())

    assert _same(ddp["iou"], one["iou"]), (ddp["iou"], one["iou"])  # to the last digit
    assert ddp["test/mIoU"] == one["test/mIoU"] and ddp["test/acc"] == one["test/acc"]

    fit = [json.loads((tmp_path / "ddp" / f"rank{r}-fit.json").read_text()) for r in (0, 1)]
    assert fit[0]["world"] == 2 and fit[0]["class_weights"] == fit[1]["class_weights"]
    assert min(fit[0]["class_weights"]) < 1  # Eq. 1 weights, not the initial ones
    seen = [json.loads((tmp_path / "ddp" / f"rank{r}-test.json").read_text())["test_masks"] for r in (0, 1)]
    assert sorted(seen) == [16, 17]  # every test mask once, none repeated
    assert json.loads((tmp_path / "one" / "rank0-test.json").read_text())["test_masks"] == TEST_SIZE

    # only rank 0 wrote run files: one W&B run (fit and its test), one CSV file continued by the test
    assert len(list((run / "wandb").glob("offline-run-*"))) == 1
    assert sorted(p.name for p in (run / "csv").iterdir()) == ["hparams.yaml", "metrics.csv"]
