"""The numerics of bf16 training: the demo's training twice with one seed, in `32-true` and in `bf16-mixed`, side by
side (`make precision-check`): test mIoU of each, the training loss curves and their step time.

Writes <out>/precision.json (per precision: test mIoU, pixel accuracy, the loss curve, seconds) and
<out>/loss_curves.png. The runs themselves live in <out>/<precision>/ and resume when rerun.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

from semantic_vae.cli import cli_main
from semantic_vae.entry import function_cli, run_entry_point
from semantic_vae.files import write_json_atomic
from semantic_vae.runs import checkout_root
from semantic_vae.runs.demo import CONFIGS

PRECISIONS = ("32-true", "bf16-mixed")


def loss_curve(run: Path) -> list[tuple[int, float]]:
    """(step, train/loss) from the run's CSV log."""
    with open(run / "csv" / "metrics.csv", newline="") as f:
        return [(int(row["step"]), float(row["train/loss"])) for row in csv.DictReader(f) if row.get("train/loss")]


def precision_check(out: str = "outputs/precision", epochs: int | None = None) -> dict:
    """Train the demo's setting in 32-true and in bf16-mixed with the same seed, test both, compare.

    Args:
        out: the output folder.
        epochs: training epochs (default: the demo's).
    """
    dest = Path(out)
    experiments = checkout_root() / "experiments"
    base = [arg for name in CONFIGS for arg in ("--config", str(experiments / name))]
    results: dict = {}
    for precision in PRECISIONS:
        run = dest / precision
        args = [*base, f"--trainer.default_root_dir={run}", f"--trainer.precision={precision}"]
        if epochs is not None:
            args.append(f"--trainer.max_epochs={epochs}")
        last = run / "checkpoints" / "last.ckpt"
        started = time.monotonic()
        fit = cli_main(["fit", *args, *(["--ckpt_path", str(last)] if last.is_file() else [])])
        seconds = time.monotonic() - started
        best = fit.trainer.checkpoint_callback.best_model_path or str(last)
        cli_main(["test", *args, "--ckpt_path", best])
        metrics = json.loads((run / "metrics.json").read_text())
        results[precision] = {
            "test/mIoU": metrics["test/mIoU"],
            "test/acc": metrics["test/acc"],
            "fit_seconds": round(seconds, 1),
            "loss_curve": loss_curve(run),
        }
    difference = results["bf16-mixed"]["test/mIoU"] - results["32-true"]["test/mIoU"]
    summary = {"precisions": results, "miou_bf16_minus_fp32": difference}
    write_json_atomic(dest / "precision.json", summary)
    plot_curves(results, dest / "loss_curves.png")
    for precision, r in results.items():
        print(f"{precision:>11}: test mIoU {r['test/mIoU']:.4f}, pixel accuracy {r['test/acc']:.4f}, "
              f"fit {r['fit_seconds']:.0f} s")  # fmt: skip
    print(f"bf16 - fp32 test mIoU: {difference:+.4f}; {dest / 'precision.json'}, {dest / 'loss_curves.png'}")
    return summary


def plot_curves(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    for precision, r in results.items():
        steps, losses = zip(*r["loss_curve"]) if r["loss_curve"] else ((), ())
        ax.plot(steps, losses, label=f"{precision} (test mIoU {r['test/mIoU']:.3f})", linewidth=1)
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("train/loss")
    ax.set_yscale("log")
    ax.set_title("The demo's training in fp32 and bf16, same seed")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    return run_entry_point(
        "precision-check", lambda: function_cli(precision_check, argv, "python -m semantic_vae.runs.precision")
    )


if __name__ == "__main__":
    raise SystemExit(main())
