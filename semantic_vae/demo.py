"""`make demo`: train the paper model on synthetic masks, test it, and write outputs/demo/.

Runs the same LightningCLI a user runs (`semantic-vae fit` then `test`), then draws figures.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from semantic_vae.cli import cli_main

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
OUT = Path("outputs/demo")
CONFIGS = ["base.yaml", "small.yaml", "table1/ours.yaml", "demo.yaml"]


def main() -> None:
    config_args = [arg for name in CONFIGS for arg in ("--config", str(EXPERIMENTS / name))]
    fit = cli_main(["fit", *config_args])
    best = fit.trainer.checkpoint_callback.best_model_path or "last"
    test = cli_main(["test", *config_args, "--ckpt_path", str(best)])
    run_metrics = Path(test.trainer.default_root_dir) / "metrics.json"  # written by the test run
    metrics = json.loads(run_metrics.read_text())
    (OUT / "metrics.json").write_text(run_metrics.read_text())
    write_figures(test, metrics)
    edit_summary = run_edits(test, best)
    print(f"\nDemo test split: mIoU {metrics['test/mIoU']:.4f}  pixel accuracy {metrics['test/acc']:.4f}")
    if edit_summary:
        print(edit_summary)
    print(f"Outputs in {OUT}/: metrics.json, reconstructions.png, iou_per_class.png, edits/")


def write_figures(cli, metrics: dict) -> None:
    from semantic_vae.model import one_hot
    from semantic_vae.viz import iou_bar_chart, rows_grid, save_rgb_png

    datamodule, module = cli.datamodule, cli.model.eval()
    masks = next(iter(datamodule.test_dataloader()))[:8]
    with torch.inference_mode():
        logits, _, _ = module.vae(one_hot(masks.to(module.device), module.hparams.num_classes))
    recon = logits.argmax(1).cpu().numpy().astype(np.uint8)
    rows = [[m, r] for m, r in zip(masks.numpy(), recon)]
    save_rgb_png(OUT / "reconstructions.png", rows_grid(rows, datamodule.label_set))
    names = list(metrics["iou"])
    iou_bar_chart({"demo (paper model, 64x64)": [metrics["iou"][n] for n in names]}, names, OUT / "iou_per_class.png",
                  title=f"Test IoU per class (mIoU {metrics['test/mIoU']:.3f})")


def run_edits(cli, ckpt: str) -> str:
    """Fig. 3-style grid and edit metrics (from the editing module)."""
    from semantic_vae.edit import MaskEditor
    from semantic_vae.edit_commands import demo_edits

    editor = MaskEditor.from_checkpoint(ckpt)
    masks = np.stack([cli.datamodule.test_dataloader().dataset[i].numpy() for i in range(16)])
    summary = demo_edits(editor, masks, OUT / "edits")
    return json.dumps(summary, indent=1)[:2000] if not isinstance(summary, str) else summary


if __name__ == "__main__":
    main()
