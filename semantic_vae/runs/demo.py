"""`make demo`: train the paper model on synthetic masks, test it, and write outputs/demo/.

Runs the same LightningCLI a user runs (`semantic-vae fit` then `test`), then draws figures.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from semantic_vae.cli import cli_main
from semantic_vae.edit.editor import MaskEditor
from semantic_vae.edit.figures import FIGURE_COLUMNS, fig3_rows, fig5_rows, save_figure
from semantic_vae.edit.metrics import evaluate_editor, format_table
from semantic_vae.files import write_json_atomic, write_text_atomic
from semantic_vae.runs import checkout_root

OUT = Path("outputs/demo")
CONFIGS = ["base.yaml", "small.yaml", "table1/ours.yaml", "demo.yaml"]


def main() -> None:
    experiments = checkout_root() / "experiments"
    config_args = [arg for name in CONFIGS for arg in ("--config", str(experiments / name))]
    fit = cli_main(["fit", *config_args])
    best = fit.trainer.checkpoint_callback.best_model_path or "last"
    test = cli_main(["test", *config_args, "--ckpt_path", str(best)])
    run_metrics = Path(test.trainer.default_root_dir) / "metrics.json"  # written by the test run
    metrics = json.loads(run_metrics.read_text())
    write_text_atomic(OUT / "metrics.json", run_metrics.read_text())
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
        logits, _, _ = module.vae(one_hot(masks.to(module.device), module.num_classes))
    recon = logits.argmax(1).cpu().numpy().astype(np.uint8)
    rows = [[m, r] for m, r in zip(masks.numpy(), recon)]
    save_rgb_png(OUT / "reconstructions.png", rows_grid(rows, datamodule.label_set))
    names = list(metrics["iou"])
    iou_bar_chart({"demo (paper model, 64x64)": [metrics["iou"][n] for n in names]}, names, OUT / "iou_per_class.png",
                  title=f"Test IoU per class (mIoU {metrics['test/mIoU']:.3f})")


def run_edits(cli, ckpt: str) -> str:
    """Fig. 3-style grid and edit metrics (from the editing module)."""
    from semantic_vae.edit import MaskEditor

    editor = MaskEditor.from_checkpoint(ckpt)
    masks = np.stack([cli.datamodule.test_dataloader().dataset[i].numpy() for i in range(16)])
    summary = demo_edits(editor, masks, OUT / "edits")
    return json.dumps(summary, indent=1)[:2000]


def demo_edits(editor: MaskEditor, masks: np.ndarray, out_dir: str | Path) -> dict:
    """`make demo`: a Fig. 3-style grid, a Fig. 5-style grid and edit_metrics.json in out_dir.

    Fig. 3 rows: input, reconstruction, generation, perturbation of the nose (the first 8 masks,
    seeds 0..7); Fig. 5: each mask's nose interpolated towards the next mask's. The metrics use
    every mask (>= 2) with 3 seeds. Returns a compact summary for printing.
    """
    dest = Path(out_dir)
    masks = np.asarray(masks)
    wanted = [p for p in ("nose", "hair", "mouth") if p in editor.class_names] or [editor.class_names[1]]
    figure_part = wanted[0]
    fig3 = save_figure(dest / f"fig3_{figure_part}.png", fig3_rows(editor, list(masks), figure_part, 0, 1.0), editor)
    n = min(len(masks), FIGURE_COLUMNS)
    targets = np.roll(masks, -1, axis=0)[:n]
    steps = editor.interpolate(masks[:n], targets, figure_part, np.linspace(0.0, 1.0, 5).tolist())  # (5, n, H, W)
    fig5 = save_figure(dest / f"fig5_{figure_part}.png", fig5_rows(list(masks[:n]), list(targets), list(steps.transpose(1, 0, 2, 3))), editor)
    results = evaluate_editor(editor, masks, editor.part_ids(wanted), seeds=3)
    metrics_path = dest / "edit_metrics.json"
    write_json_atomic(metrics_path, results)
    write_text_atomic(dest / "edit_metrics.txt", format_table(results) + "\n")

    def short(v: float | None) -> float | None:
        return None if v is None else round(v, 4)

    return {
        "figures": [str(fig3), str(fig5)],
        "metrics": str(metrics_path),
        "reconstruction_fd": short(results["reconstruct"]["fd"]),
        "edits": {
            f"{op}/{part}": {k: short(m[k]) for k in ("locality", "fd", "diversity")}
            for op, per_part in results["operations"].items()
            for part, m in per_part.items()
        },
    }



if __name__ == "__main__":
    main()
