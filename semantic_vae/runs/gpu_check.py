"""`make gpu-check`: the GPU paths run and checked, one command that fails loudly.

    python -m semantic_vae.runs.gpu_check                 # on CUDA, 256x256, ~300 steps per check (< 8 min on one GPU)
    python -m semantic_vae.runs.gpu_check --cpu-smoke     # the same checks at tiny size on the CPU (part of make test)

Checks, on the synthetic source (no download):
1. fit + test of each Table 1 row in bf16-mixed: the loss is finite and falls, the test metrics are finite;
2. the paper row with `compile` on and with `channels_last`;
3. `--trainer.strategy=ddp` on one device;
4. bf16 and fp32 logits of the same weights agree (argmax on >= 99% of pixels);
5. a checkpoint written on the GPU loads for editing on the CPU and edits alike;
then (GPU only) the speed figures of `make bench`. Prints one line per check and exits 1 if any failed.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch

from semantic_vae.errors import UserError
from semantic_vae.runs import checkout_root

TABLE1 = ("no_lstm", "lstm1_unidir_ce", "lstm3_unidir_ce", "lstm3_unidir_wce", "lstm3_bidir_ce", "ours")
# bf16-mixed and fp32 must pick the same class on this share of the pixels where fp32's two best logits are
# more than BF16_MARGIN apart (bf16 rounds logits by about 1%: nearer ties may flip, and do so harmlessly).
BF16_ARGMAX_AGREEMENT = 0.99
BF16_MARGIN = 0.25


@dataclass(frozen=True)
class Setting:
    """Sizes of a check run: the GPU's or the CPU smoke test's."""

    accelerator: str
    image_size: int
    epochs: int
    batch: int
    precision: str
    masks: int
    workers: int  # DataLoader workers
    model: tuple[str, ...]  # extra --model.* arguments
    compile: bool  # torch.compile checks (about a minute per model on a small CPU: GPU only)


GPU = Setting("gpu", 256, 8, 64, "bf16-mixed", 2600, 8, (), True)  # ~40 steps an epoch: ~300 steps
CPU_SMOKE = Setting(
    "cpu", 32, 2, 8, "32-true", 120, 0,
    ("--model.net.lstm_hidden=16", "--model.net.ffn_hidden=32", "--model.net.encoder_hidden=[32]", "--model.net.decoder_width=4"),
    False,
)  # fmt: skip


class LossHistory(L.Callback):
    """Each training step's loss, to check that it is finite and falls."""

    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.losses.append(float(outputs["loss"]) if isinstance(outputs, dict) else float(outputs))


def train_and_test(setting: Setting, work: Path, name: str, extra: list[str]) -> dict:
    """fit for `setting.epochs` epochs then test; returns the losses, the test metrics and the checkpoint."""
    from semantic_vae.callbacks import TestAfterFit
    from semantic_vae.cli import cli_main

    root = work / name
    experiments = checkout_root() / "experiments"
    args = [
        "--config", str(experiments / "base.yaml"), *extra,
        f"--trainer.default_root_dir={root}", f"--trainer.accelerator={setting.accelerator}", "--trainer.devices=1",
        f"--trainer.precision={setting.precision}", f"--trainer.max_epochs={setting.epochs}",
        "--trainer.limit_val_batches=2", "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false", "--trainer.logger=false", f"--data.image_size={setting.image_size}",
        f"--data.batch_size={setting.batch}", f"--data.synthetic_count={setting.masks}", f"--data.synthetic_test={setting.batch * 2}",
        f"--data.cache_dir={work / 'cache'}", f"--data.num_workers={setting.workers}", "--model.lr=0.001", *setting.model,
    ]  # fmt: skip
    cli = cli_main(args, run=False)
    history = LossHistory()
    cli.trainer.callbacks += [history, TestAfterFit()]
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    metrics = json.loads((root / "metrics.json").read_text())
    return {"losses": history.losses, "metrics": metrics, "ckpt": root / "checkpoints" / "last.ckpt"}


def check_training(result: dict) -> str:
    losses = result["losses"]
    if not losses or not all(math.isfinite(v) for v in losses):
        raise AssertionError(f"a loss is not finite ({[v for v in losses if not math.isfinite(v)][:3]})")
    k = max(1, len(losses) // 5)
    first, last = float(np.mean(losses[:k])), float(np.mean(losses[-k:]))
    if not last < first:
        raise AssertionError(f"the loss did not fall: {first:.4f} in the first steps, {last:.4f} in the last")
    values = [result["metrics"]["test/mIoU"], result["metrics"]["test/acc"]]
    if not all(math.isfinite(v) for v in values):
        raise AssertionError(f"test metrics are not finite: {values}")
    return f"loss {first:.3f} -> {last:.3f}, test mIoU {values[0]:.3f}"


def check_bf16(setting: Setting, ckpt: Path) -> str:
    from semantic_vae.data.synthetic import heldout_masks
    from semantic_vae.model import load_vae

    device = torch.device("cuda" if setting.accelerator == "gpu" else "cpu")
    vae = load_vae(ckpt).vae.to(device)
    labels = torch.from_numpy(heldout_masks(8, setting.image_size)).to(device)
    with torch.inference_mode():
        fp32 = vae.from_labels(labels)[0].float()
        with torch.autocast(device.type, dtype=torch.bfloat16):
            bf16 = vae.from_labels(labels)[0].float()
    top2 = fp32.topk(2, dim=1).values  # (B, 2, H, W)
    clear = (top2[:, 0] - top2[:, 1]) > BF16_MARGIN
    same = fp32.argmax(1) == bf16.argmax(1)
    agreement, overall = float(same[clear].float().mean()), float(same.float().mean())
    if agreement < BF16_ARGMAX_AGREEMENT:
        raise AssertionError(
            f"bf16 and fp32 classes agree on {agreement:.2%} of the {float(clear.float().mean()):.0%} of pixels with a "
            f"clear winner (< {BF16_ARGMAX_AGREEMENT:.0%})"
        )
    return (f"classes agree on {agreement:.2%} of the pixels with a clear winner ({overall:.2%} of all); "
            f"max |logit difference| {float((fp32 - bf16).abs().max()):.3f}")  # fmt: skip


def check_edit_on_cpu(setting: Setting, ckpt: Path) -> str:
    from semantic_vae.data.synthetic import heldout_masks
    from semantic_vae.edit import MaskEditor

    masks = heldout_masks(4, setting.image_size)
    cpu = MaskEditor.from_checkpoint(ckpt, device="cpu").generate(masks, "nose", seed=1, keep="none")
    if setting.accelerator != "gpu":
        return f"edited {len(masks)} masks on the CPU"
    gpu = MaskEditor.from_checkpoint(ckpt, device="cuda").generate(masks, "nose", seed=1, keep="none")
    differ = float((cpu != gpu).mean())
    if differ > 0.01:
        raise AssertionError(f"CPU and GPU edits differ on {differ:.2%} of pixels")
    return f"a checkpoint from the GPU edits on the CPU; CPU and GPU edits differ on {differ:.3%} of pixels"


def run_bench(work: Path) -> str:
    out = work / "bench.json"
    command = [sys.executable, "-m", "semantic_vae.bench", "--out", str(out), "--cache_dir", str(work / "cache")]
    done = subprocess.run(command, cwd=checkout_root(), capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise AssertionError(f"make bench failed: {(done.stderr or done.stdout).strip().splitlines()[-1:]}")
    summary = json.loads(out.read_text()).get("summary", {})
    return f"bench written to {out} ({len(summary)} summary figures)"


def gpu_check(cpu_smoke: bool = False, out: str | None = None) -> int:
    """Run every check; print one line each; 0 when all pass, 1 otherwise.

    Args:
        cpu_smoke: the same checks at tiny size on the CPU (seconds; part of `make test`).
        out: keep the runs here (default: a temporary folder).
    """
    setting = CPU_SMOKE if cpu_smoke else GPU
    if setting.accelerator == "gpu" and not torch.cuda.is_available():
        raise UserError("no CUDA device here: run on a GPU machine, or --cpu-smoke for the CPU version")
    failures = 0
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as scratch:
        work = Path(out) if out else Path(scratch)
        results: dict[str, dict] = {}

        def check(name: str, fn: Callable[[], str]) -> None:
            nonlocal failures
            started = time.perf_counter()
            try:
                detail = fn()
                print(f"PASS  {name}: {detail} ({time.perf_counter() - started:.0f} s)", flush=True)
            except Exception as err:  # a check that breaks is a failed check, with its reason
                failures += 1
                where = traceback.extract_tb(err.__traceback__)[-1]
                print(
                    f"FAIL  {name}: {type(err).__name__}: {err} ({Path(where.filename).name}:{where.lineno})",
                    flush=True,
                )

        experiments = checkout_root() / "experiments"
        for row in TABLE1:

            def row_check(row: str = row) -> str:
                results[row] = train_and_test(
                    setting, work, row, ["--config", str(experiments / "table1" / f"{row}.yaml")]
                )
                return check_training(results[row])

            check(f"train {row} ({setting.precision})", row_check)
        variants = {"channels_last": ["--model.channels_last=true"], "ddp_one_device": ["--trainer.strategy=ddp"]}
        if setting.compile:
            variants["compile"] = ["--model.compile=true"]
        for variant, extra in variants.items():
            check(f"train ours with {variant}",
                  lambda v=variant, e=extra: check_training(train_and_test(setting, work, f"ours-{v}", e)))  # fmt: skip
        if not setting.compile:
            print("SKIP  train ours with compile: torch.compile takes minutes per model on a small CPU; GPU run only")
        ours = results.get("ours", {}).get("ckpt")
        if ours is not None:
            check("bf16-mixed and fp32 logits agree", lambda: check_bf16(setting, ours))
            check("checkpoint from this device edits on the CPU", lambda: check_edit_on_cpu(setting, ours))
        else:
            failures += 1
            print("FAIL  bf16 / CPU edit checks: the ours run left no checkpoint")
        if setting.accelerator == "gpu":
            check("make bench (speed figures)", lambda: run_bench(work))
    print(f"gpu-check: {'all checks passed' if failures == 0 else f'{failures} check(s) FAILED'}", flush=True)
    return 0 if failures == 0 else 1


def main(argv: list[str] | None = None) -> int:
    from jsonargparse import ActionYesNo, ArgumentParser

    from semantic_vae.entry import run_entry_point

    parser = ArgumentParser(prog="python -m semantic_vae.runs.gpu_check", description=__doc__.split("\n\n")[0],
                            exit_on_error=False, allow_abbrev=False)  # fmt: skip
    parser.add_argument("--cpu-smoke", action=ActionYesNo, default=False, help="the checks at tiny size on the CPU")
    parser.add_argument("--out", default=None, help="keep the runs in this folder (default: a temporary one)")

    def body() -> int:
        args = parser.parse_args(argv)
        return gpu_check(args.cpu_smoke, args.out)

    return run_entry_point("gpu-check", body)


if __name__ == "__main__":
    raise SystemExit(main())
