"""`make demo`: train the paper model (with the recommended setting) on synthetic masks, test it, edit with it,
and write outputs/demo/.

Runs the same LightningCLI a user runs (`semantic-vae fit` then `test`), then draws figures.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from semantic_vae.cli import cli_main
from semantic_vae.console import format_seconds
from semantic_vae.edit import figures
from semantic_vae.edit.edit import DEFAULT_PARTS, Edit, Template
from semantic_vae.edit.editor import MaskEditor
from semantic_vae.edit.figures import FIGURE_COLUMNS
from semantic_vae.edit.latent_use import evaluate_latent_use, format_latent_use
from semantic_vae.edit.metrics import EditMetricSettings, evaluate_editor, format_table
from semantic_vae.entry import function_cli, run_entry_point
from semantic_vae.files import write_json_atomic, write_text_atomic
from semantic_vae.model.vae import class_map
from semantic_vae.runs import checkout_root

CONFIGS = ["base.yaml", "small.yaml", "recommended.yaml", "demo.yaml"]


def demo(out: str = "outputs/demo") -> None:
    """Train the paper model with the recommended setting on synthetic masks, test it, edit with it.

    Writes <out>/: metrics.json, reconstructions.png, iou_per_class.png, latents.png, edits/ and the run
    itself in run/ (config, checkpoints, W&B and CSV logs). A rerun resumes an unfinished training.

    Args:
        out: the output folder.
    """
    started = time.monotonic()
    dest = Path(out)
    experiments = checkout_root() / "experiments"
    config_args = [arg for name in CONFIGS for arg in ("--config", str(experiments / name))]
    config_args.append(f"--trainer.default_root_dir={dest / 'run'}")
    last = dest / "run" / "checkpoints" / "last.ckpt"
    resume = ["--ckpt_path", str(last)] if last.is_file() else []
    if resume:
        print(f"demo: resuming from {last}", flush=True)
    fit = cli_main(["fit", *config_args, *resume])
    best = fit.trainer.checkpoint_callback.best_model_path or str(last)
    test = cli_main(["test", *config_args, "--ckpt_path", str(best)])
    run_metrics = Path(test.trainer.default_root_dir) / "metrics.json"  # written by the test run
    metrics = json.loads(run_metrics.read_text())
    write_text_atomic(dest / "metrics.json", run_metrics.read_text())
    written = write_figures(test, metrics, dest)
    edit_summary = run_edits(test, best, dest)
    print("\n" + format_summary(metrics, edit_summary, [*written, *edit_summary["figures"]], dest))
    print(f"demo: {format_seconds(time.monotonic() - started)} in all")


def format_summary(metrics: dict, edits: dict, figure_paths: list, dest: Path) -> str:
    """The demo's closing lines: test scores, generate's measures per part, steering, and every figure written."""
    lines = [f"Test split: mIoU {metrics['test/mIoU']:.4f}, pixel accuracy {metrics['test/acc']:.4f}", ""]
    keeps = [k for k in ("none", "input", "changes") if f"generate, keep={k}" in edits]
    head = "".join(f"{'generate, keep=' + k:>30}" for k in keeps)
    lines += [f"{'':<8}{head}", f"{'part':<8}" + f"{'locality':>10}{'part chg':>10}{'+islands':>10}" * len(keeps)]
    for part in edits[f"generate, keep={keeps[0]}"] if keeps else ():
        cells = [
            edits[f"generate, keep={k}"][part][c] for k in keeps for c in ("locality", "part_change", "islands_added")
        ]
        lines.append(f"{part:<8}" + "".join(f"{'-' if v is None else f'{v:.3f}':>10}" for v in cells))
    lines.append("(locality: share of the changed pixels inside the part's neighbourhood; part chg: 1 - IoU of the "
                 "part before and after; +islands: stray islands added per edit)")  # fmt: skip
    if "latent_use" in edits:
        shown = ", ".join(f"{part} {'-' if t is None else f'{t:.2f}'}" for part, t in edits["latent_use"].items())
        lines += ["", f"latent use, transfer (0: the part's latent is ignored, 1: the part is drawn from it): {shown}"]
    if "steer" in edits:
        steer = edits["steer"]
        moved = [f"{name} {steer[key]:.0%}" for key, name in (("moved_median", "median"), ("moved_min", "lowest"))
                 if steer[key] is not None]  # fmt: skip
        lines += ["", f"steer: {steer['directions']} directions, moved the asked way: {', '.join(moved) or '-'}"]
    lines += ["", f"Figures ({len(figure_paths)}):", *(f"  {path}" for path in figure_paths)]
    lines.append(f"Metrics: {dest / 'metrics.json'}; {dest / 'edits'}/edit_metrics_*.txt, latent_use.txt, "
                 "steer_metrics.txt")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return run_entry_point("demo", lambda: function_cli(demo, argv, "python -m semantic_vae.runs.demo"))


def write_figures(cli, metrics: dict, dest: Path) -> list[Path]:
    """Reconstructions (labelled), per-class IoU bars and the latent-usage bars of the test split; their paths."""
    from semantic_vae.viz import GridRow, MaskGrid, iou_bar_chart, latent_chart, save_grid

    datamodule, module = cli.datamodule, cli.model.eval()
    masks = next(iter(datamodule.test_dataloader()))[:FIGURE_COLUMNS]
    with torch.inference_mode():
        logits = module(masks.to(module.device)).logits
    recon = class_map(logits).cpu().numpy().astype(np.uint8)
    grid = MaskGrid([GridRow("test input", list(masks.numpy())), GridRow("reconstruction", list(recon))],
                    [f"test mask {i}" for i in range(len(masks))])  # fmt: skip
    save_grid(dest / "reconstructions.png", grid, datamodule.label_set)
    names = list(metrics["iou"])
    iou_bar_chart(
        {"demo": [metrics["iou"][n] for n in names]},
        names,
        dest / "iou_per_class.png",
        title=f"Test IoU per class (mIoU {metrics['test/mIoU']:.3f})",
    )
    latent_chart(metrics["kl"], metrics["active_units"], module.net_config.latent_dim, dest / "latents.png",
                 title="Test split: KL to the prior and active units of each part's latent")  # fmt: skip
    return [dest / "reconstructions.png", dest / "iou_per_class.png", dest / "latents.png"]


def run_edits(cli, ckpt: str, dest: Path) -> dict:
    """Edit figures and metrics on 32 test masks (`demo_edits`); steering on 16 of them."""
    from semantic_vae.data.synthetic import generate_masks

    editor = MaskEditor.from_checkpoint(ckpt)
    masks = np.stack([cli.datamodule.test_dataloader().dataset[i].numpy() for i in range(DEMO_EDIT_MASKS)])
    hp = cli.datamodule.hparams
    test_start = hp.synthetic_count - hp.synthetic_test  # the test split's first index of stream `seed`
    steer_masks = generate_masks(hp.seed, test_start, DEMO_STEER_MASKS, editor.image_size)
    return demo_edits(editor, masks, dest / "edits", steer_masks)


DEMO_EDIT_MASKS = 32
DEMO_STEER_MASKS = 16


def demo_edits(
    editor: MaskEditor, masks: np.ndarray, out_dir: str | Path, steer_masks: np.ndarray | None = None
) -> dict:
    """`make demo`: labelled edit figures and the edit metrics in out_dir.

    - fig3_<part>.png: input, reconstruction, generation and perturbation of the nose (keep="input");
    - before_after.png: the first masks, their reconstruction and each part of DEMO_PARTS generated (keep="input");
    - fig5_<part>.png: each mask's nose interpolated towards the next mask's;
    - edit_metrics_<keep>.json / .txt for keep="none" (the paper's raw edit), "input" and "changes";
    - latent_use.json / .txt: whether each part is drawn from its own latent (`edit.latent_use`).
    Returns a compact summary of generate's metrics and the paths of the figures, for `format_summary`.
    """
    dest = Path(out_dir)
    masks = np.asarray(masks)
    units = editor.part_units(DEFAULT_PARTS) if "nose" in editor.class_names else {editor.class_names[1]: [1]}
    figure_part = next(iter(units))
    names = [f"mask {i}" for i in range(len(masks))]
    fig3 = figures.fig3_grid(editor, list(masks), names, Edit("generate", figure_part, keep="input"))
    written = [figures.save(dest / f"fig3_{figure_part}.png", fig3, editor)]
    before_after = figures.before_after_grid(editor, list(masks), names, units)
    written.append(figures.save(dest / "before_after.png", before_after, editor))
    n = min(len(masks), FIGURE_COLUMNS)
    targets = np.roll(masks, -1, axis=0)
    alphas = np.linspace(0.0, 1.0, 5).tolist()
    steps = editor.interpolate(masks[:n], targets[:n], figure_part, alphas)  # (5, n, H, W)
    fig5 = figures.fig5_grid(editor, names, names[1:] + names[:1], list(masks), list(targets),
                             [list(s) for s in steps.transpose(1, 0, 2, 3)], alphas, Edit("interpolate", figure_part))  # fmt: skip
    written.append(figures.save(dest / f"fig5_{figure_part}.png", fig5, editor))
    summary: dict = {"figures": [str(f) for f in written]}
    latent_use = evaluate_latent_use(editor, masks, units)
    write_json_atomic(dest / "latent_use.json", latent_use)
    write_text_atomic(dest / "latent_use.txt", format_latent_use(latent_use) + "\n")
    summary["latent_use"] = {part: m["transfer"] for part, m in latent_use["parts"].items()}
    prior = editor.resolve_prior(None)
    for keep in ("none", "input", "changes"):
        template = Template(keep=keep, prior=prior)
        results = evaluate_editor(
            editor, masks, units, ("generate", "perturb", "swap"), template, EditMetricSettings(seeds=4)
        )
        write_json_atomic(dest / f"edit_metrics_{keep}.json", results)
        write_text_atomic(dest / f"edit_metrics_{keep}.txt", format_table(results) + "\n")
        summary[f"generate, keep={keep}"] = {
            part: {k: None if m[k] is None else round(m[k], 3) for k in ("locality", "part_change", "islands_added")}
            for part, m in results["operations"]["generate"].items()
        }
    if editor.steering is not None:
        steering = steering_figures_and_metrics(editor, masks if steer_masks is None else steer_masks, dest)
        summary.update(steering, figures=[*summary["figures"], *steering["figures"]])
    return summary


STEER_FIGURES = (("nose", "height"), ("mouth", "open"), ("hair", "length"), ("eyes", "open"), ("brows", "thickness"))
PRESENCE_FIGURES = (("add", "eye_g"), ("add", "hat"), ("remove", "ear_r"), ("remove", "mouth"))


def steering_figures_and_metrics(editor: MaskEditor, masks: np.ndarray, dest: Path) -> dict:
    """Steer grids (amounts -2..2 sd), add/remove grids, and the steering and presence metrics (keep=input)."""
    from semantic_vae.edit.metrics import STEER_AMOUNTS, evaluate_presence, evaluate_steering, format_steering

    names = [f"mask {i}" for i in range(len(masks))]
    written = []
    for part, attribute in STEER_FIGURES:
        if part in editor.steering.directions and attribute in editor.steering.directions[part]:
            grid = figures.steer_grid(
                editor, list(masks), names, Edit("steer", part, attribute=attribute), STEER_AMOUNTS
            )
            written.append(figures.save(dest / f"fig_steer_{part}_{attribute}.png", grid, editor))
    labels = editor.as_batch(masks)[0]
    for operation, part in PRESENCE_FIGURES:
        if editor.class_names.index(part) not in editor.steering.presence:
            continue
        edit = Edit(operation, part)
        chosen = np.flatnonzero(edit.applies(editor, labels))  # the masks that lack / have it
        if len(chosen):
            grid = figures.presence_grid(editor, list(masks[chosen]), [names[i] for i in chosen], edit,
                                         list(range(len(chosen))))  # fmt: skip
            written.append(figures.save(dest / f"fig_{operation}_{part}.png", grid, editor))
    results = {"steering": evaluate_steering(editor, masks), "presence": evaluate_presence(editor, masks)}
    write_json_atomic(dest / "steer_metrics.json", results)
    write_text_atomic(dest / "steer_metrics.txt", format_steering(results) + "\n")
    steer = [m for attrs in results["steering"].values() for m in attrs.values()]
    moved = [m["moved"] for m in steer if m["moved"] is not None]
    return {"steer": {"directions": len(steer), "moved_min": min(moved, default=None),
                      "moved_median": float(np.median(moved)) if moved else None},
            "figures": [str(f) for f in written]}  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
