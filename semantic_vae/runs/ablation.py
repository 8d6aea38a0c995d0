"""`make ablation`: a W&B sweep file run locally, as W&B's controller and agent would, without a server;
then the table, the chart and a W&B summary run.

    python -m semantic_vae.runs.ablation                                   # Table 1, synthetic, small CPU setting
    python -m semantic_vae.runs.ablation --data /path/to/CelebAMask-HQ --gpus 8   # paper setting, DDP
    python -m semantic_vae.runs.ablation --sweep sweeps/remedies.yaml --out results/remedies

The sweep's runs (`grid` in W&B's order, or `random` drawn from --seed) are subprocesses with the
command line `wandb agent` would build, plus `--trainer.default_root_dir=<out>/runs/<name>`; on CPU,
one run per core at a time (one thread each), with GPUs one run at a time on all of them. All runs
share one sweep id (`local-<hash>` of the file and the setting), recorded in each run's config, and
one W&B group. A rerun skips runs with a metrics.json and resumes the others from their last.ckpt.
The paper setting swaps the sweep command's setting files (small.yaml, ablation_small.yaml) for
experiments/paper.yaml and adds the data root and devices.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from semantic_vae.console import format_seconds
from semantic_vae.edit.metrics import FREQUENT
from semantic_vae.errors import UserError
from semantic_vae.files import write_json_atomic, write_text_atomic
from semantic_vae.machine import cpu_count
from semantic_vae.runs import checkout_root
from semantic_vae.runs.sweep import agent_command, sweep_runs

# The sweep command's setting files, swapped for PAPER_SETTING by --data.
SMALL_SETTING = ("experiments/small.yaml", "experiments/ablation_small.yaml")
PAPER_SETTING = "experiments/paper.yaml"
SEED_KEY = "seed_everything"
ROW_KEY = "config"

# Table 1 of the paper (CelebAMask-HQ, 256x256), keyed by the row's config file stem: label, mIoU %, Acc %.
PAPER_TABLE1: dict[str, tuple[str, float, float]] = {
    "no_lstm": ("w/o LSTM block", 68.49, 94.24),
    "lstm1_unidir_ce": ("1 LSTM w/o bidir, w/o weighted CE", 68.15, 93.85),
    "lstm3_unidir_ce": ("3 LSTMs w/o bidir, w/o weighted CE", 67.35, 90.91),
    "lstm3_unidir_wce": ("3 LSTMs w/o bidir", 68.34, 90.94),
    "lstm3_bidir_ce": ("3 LSTMs w/o weighted CE", 69.56, 92.12),
    "ours": ("Ours", 70.31, 92.39),
}
EXTRA_ROWS: dict[str, str] = {"recommended": "Ours + recommended (beyond the paper)"}

# The paper's comparisons between Table 1 rows: (what changes, row A, row B); a difference is A - B.
EFFECTS: tuple[tuple[str, str, str], ...] = (
    ("LSTM block (Ours vs w/o LSTM block)", "ours", "no_lstm"),
    ("3 LSTM layers vs 1 (unidirectional, plain CE)", "lstm3_unidir_ce", "lstm1_unidir_ce"),
    ("bidirectional, plain CE", "lstm3_bidir_ce", "lstm3_unidir_ce"),
    ("bidirectional, weighted CE", "ours", "lstm3_unidir_wce"),
    ("weighted CE, unidirectional", "lstm3_unidir_wce", "lstm3_unidir_ce"),
    ("weighted CE, bidirectional", "ours", "lstm3_bidir_ce"),
)


# -- the runs --------------------------------------------------------------------------------
@dataclass
class Run:
    """One grid point: its W&B run config, directory and command line (without any resume flag)."""

    config: dict[str, Any]
    directory: Path
    command: list[str]

    @property
    def name(self) -> str:
        return self.directory.name

    @property
    def finished(self) -> bool:
        return (self.directory / "metrics.json").is_file()

    @property
    def resumable(self) -> bool:
        return (self.directory / "checkpoints" / "last.ckpt").is_file()

    def argv(self) -> list[str]:
        """The command to run now: resumed from last.ckpt when an earlier attempt left one."""
        return self.command + (["--ckpt_path=last"] if self.resumable else [])


def run_name(config: Mapping[str, Any]) -> str:
    """`ours-seed0` for the Table 1 sweep; other parameters as `key=value`, filesystem-safe."""
    parts = []
    for key in sorted(config, key=lambda k: (k != ROW_KEY, k == SEED_KEY, k)):
        value = config[key]
        if key == ROW_KEY:
            parts.append(Path(str(value)).stem)
        elif key == SEED_KEY:
            parts.append(f"seed{value}")
        else:
            parts.append(f"{key}={value}")
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", "-".join(parts)) or "run"


def setting_args(command: list[str], data: str | None, gpus: int | None) -> list[str]:
    """The sweep command turned to the paper setting (`data`) and/or N devices with DDP (`gpus`)."""
    command = list(command)
    extra: list[str] = []
    if data:
        pairs = [i for i in range(len(command) - 1) if command[i] == "--config" and command[i + 1] in SMALL_SETTING]
        if len(pairs) != len(SMALL_SETTING):
            raise UserError(
                f"--data needs the sweep command to stack {' and '.join(SMALL_SETTING)} (swapped for {PAPER_SETTING})"
            )
        command[pairs[0] + 1] = PAPER_SETTING
        for i in reversed(pairs[1:]):
            del command[i : i + 2]
        extra.append(f"--data.root={data}")
    if gpus:
        extra += ["--trainer.accelerator=gpu", f"--trainer.devices={gpus}"]
        extra += ["--trainer.strategy=ddp"] if gpus > 1 else []
    return command + extra


def plan(
    sweep: Mapping[str, Any],
    runs_dir: Path,
    data: str | None = None,
    gpus: int | None = None,
    seed: int = 0,
    count: int | None = None,
    source: str = "the sweep file",
) -> list[Run]:
    """The sweep's runs in W&B order, each with its own directory under `runs_dir`."""
    runs = []
    for config in sweep_runs(sweep, source, seed, count):
        directory = runs_dir / run_name(config)
        command = agent_command(sweep["command"], config, program=sweep.get("program"))
        command = setting_args(command, data, gpus) + [f"--trainer.default_root_dir={directory}"]
        runs.append(Run(config, directory, command))
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise UserError("two runs of the sweep map to the same run directory (a random sweep drew a point twice?)")
    return runs


def sweep_id(sweep_text: str, data: str | None, gpus: int | None, seed: int, count: int | None) -> str:
    """A local sweep id: the same file, setting and draw give the same id, so a rerun continues the sweep."""
    key = json.dumps([sweep_text, data, gpus, seed, count])
    return "local-" + hashlib.sha256(key.encode()).hexdigest()[:8]


def check_command(run: Run) -> None:
    """A run directory belongs to one command line; a different one (another setting) must not reuse it."""
    stamp = run.directory / "command.json"
    if stamp.is_file() and json.loads(stamp.read_text()) != run.command:
        raise UserError(
            f"{run.directory} was made by another command line (another setting?); "
            "use another --out or remove that directory"
        )
    run.directory.mkdir(parents=True, exist_ok=True)
    write_text_atomic(stamp, json.dumps(run.command, indent=1) + "\n")


def execute(run: Run, env: Mapping[str, str]) -> int:
    """Runs one grid point to completion (fit, then test via TestAfterFit); output to <run>/run.log."""
    with open(run.directory / "run.log", "a") as log:
        log.write(f"\n$ {' '.join(run.argv())}\n")
        log.flush()
        return subprocess.run(
            run.argv(), cwd=checkout_root(), env=dict(env), stdout=log, stderr=subprocess.STDOUT
        ).returncode


def child_env(group: str, sweep: str, threads: int | None = None) -> dict[str, str]:
    """The agent's environment: this interpreter's bin first on PATH (`${interpreter}` is `python`).

    `threads` caps each run's OpenMP threads when runs share the CPU: the small networks scale poorly
    over threads, and threads of concurrent runs spin at each other's barriers (PITFALLS.md: several processes
    with torch's default thread count on shared cores slow each other down). A user's OMP_NUM_THREADS wins.
    WANDB_SERVICE is dropped: a run attached to a W&B service of this process (if it started one)
    would leave its records to that service, so its offline files could be incomplete when it exits.
    """
    env = {k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("WANDB_RUN_GROUP", group)
    env["SEMANTIC_VAE_SWEEP_ID"] = sweep  # recorded in every run's config (`sweep_id`)
    if threads:
        env.setdefault("OMP_NUM_THREADS", str(threads))
    return env


# -- results ---------------------------------------------------------------------------------
@dataclass
class Row:
    """One configuration (a Table 1 row): its runs' metrics over seeds."""

    key: str
    label: str
    miou: list[float] = field(default_factory=list)
    acc: list[float] = field(default_factory=list)
    iou: list[dict[str, float]] = field(default_factory=list)
    paper: tuple[float, float] | None = None
    edits: list[dict] = field(default_factory=list)  # per seed: edit_metrics.json (keep -> part -> metrics)
    latents: list[dict] = field(default_factory=list)  # per seed: kl, active_units, presence per class


def collect(runs: Sequence[Run]) -> list[Row]:
    """Finished runs grouped by their configuration without the seed, in grid order."""
    rows: dict[str, Row] = {}
    for run in runs:
        config = {k: v for k, v in run.config.items() if k != SEED_KEY}
        key = run_name(config)
        if key not in rows:
            paper = PAPER_TABLE1.get(Path(str(config.get(ROW_KEY, ""))).stem)
            stem = Path(str(config.get(ROW_KEY, ""))).stem
            rows[key] = Row(key, paper[0], paper=paper[1:]) if paper else Row(key, EXTRA_ROWS.get(stem, key))
        row = rows[key]
        if run.finished:
            metrics = json.loads((run.directory / "metrics.json").read_text())
            row.miou.append(100 * metrics["test/mIoU"])
            row.acc.append(100 * metrics["test/acc"])
            row.iou.append(metrics["iou"])
            if "kl" in metrics:
                row.latents.append({k: metrics[k] for k in ("kl", "active_units", "presence")})
            edits = run.directory / "edit_metrics.json"
            if edits.is_file():
                row.edits.append(json.loads(edits.read_text()))
    return list(rows.values())


def part_means(per_seed: Sequence[dict], names: Sequence[str]) -> dict[str, list[float]]:
    """Per metric in `names`: per seed, the mean over the measured parts (part -> metrics) of its measured values."""
    out: dict[str, list[float]] = {name: [] for name in names}
    for per_part in per_seed:
        for name in names:
            values = [m[name] for m in per_part.values() if m.get(name) is not None]
            if values:
                out[name].append(statistics.fmean(values))
    return out


def edit_summary(row: Row, keep: str) -> dict[str, list[float]]:
    """Per seed: `generate`'s metrics averaged over the measured parts, for one keep mode."""
    names = ("locality", "part_change", "diversity", "islands_added")
    return part_means([edits.get(keep, {}) for edits in row.edits], names)


def transfer_summary(row: Row) -> list[float]:
    """Per seed: latent use's transfer (`edit.latent_use`) averaged over the measured parts."""
    per_seed = [edits.get("latent_use", {}).get("parts", {}) for edits in row.edits]
    return part_means(per_seed, ("transfer",))["transfer"]


def latent_summary(row: Row) -> dict[str, list[float]]:
    """Per seed: the smallest KL and active-unit count over the classes in >= 30% of test masks."""
    out: dict[str, list[float]] = {"min_kl": [], "min_active_units": []}
    for latents in row.latents:
        frequent = [c for c, share in latents["presence"].items() if share >= FREQUENT]
        out["min_kl"].append(min(latents["kl"][c] for c in frequent))
        out["min_active_units"].append(min(latents["active_units"][c] for c in frequent))
    return out


def editing_markdown(rows: Sequence[Row]) -> str:
    """Per row: generate's locality, part change, diversity (raw edit) and the latents' health."""
    measured = [row for row in rows if row.edits or row.latents]
    if not measured:
        return ""
    lines = [
        "## Editing: `generate` on the first 64 test masks, 4 seeds, raw model output (keep=none)",
        "",
        "Means over the parts nose, lips, eyes, brows, hair; ± the std over training seeds.",
        "",
        "| Configuration | Locality | Part change | Diversity IoU | Transfer | +islands (keep=input) | min KL (nats) "
        "| min active units |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in measured:
        raw, kept, latents = edit_summary(row, "none"), edit_summary(row, "input"), latent_summary(row)
        cells = [_cell(raw["locality"], 3), _cell(raw["part_change"], 3), _cell(raw["diversity"], 3),
                 _cell(transfer_summary(row), 3), _cell(kept["islands_added"], 2), _cell(latents["min_kl"], 1),
                 _cell(latents["min_active_units"], 0)]  # fmt: skip
        lines.append(f"| {row.label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Locality: share of changed pixels within 4 px of the part (higher = more local). Part change: "
        "1 - IoU of the part before and after. Diversity: mean pairwise IoU of the part across seeds (lower = "
        "more diverse). Transfer: how far a part swapped in from another mask moves toward that mask's part (0: its "
        "latent is ignored, 1: the part is drawn from it; semantic_vae/edit/latent_use.py). KL and active units: "
        f"the smallest over the classes in at least {FREQUENT:.0%} of the test masks.",
    ]
    return "\n".join(lines) + "\n"


def _mean_std(values: Sequence[float]) -> tuple[float, float] | None:
    if not values:
        return None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def _cell(values: Sequence[float], digits: int = 2) -> str:
    stats = _mean_std(values)
    if stats is None:
        return "–"
    return f"{stats[0]:.{digits}f} ± {stats[1]:.{digits}f}" if len(values) > 1 else f"{stats[0]:.{digits}f}"


def table_markdown(rows: Sequence[Row], title: str) -> str:
    """Table 1 in markdown: ours as mean ± sample std over seeds (percent), the paper's beside it."""
    lines = [
        f"# {title}",
        "",
        "| Configuration | mIoU (ours) | Acc (ours) | Seeds | mIoU (paper) | Acc (paper) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        paper = [f"{v:.2f}" for v in row.paper] if row.paper else ["–", "–"]
        lines.append(
            f"| {row.label} | {_cell(row.miou)} | {_cell(row.acc)} | {len(row.miou)} | {paper[0]} | {paper[1]} |"
        )
    means = [statistics.fmean(r.miou) for r in rows if r.miou]
    stds = [statistics.stdev(r.miou) for r in rows if len(r.miou) > 1]
    if len(means) > 1 and stds:
        lines += [
            "",
            f"mIoU: rows span {max(means) - min(means):.2f} points; the largest seed-to-seed std is {max(stds):.2f}.",
        ]
    sections = [s for s in (effects_markdown(rows), editing_markdown(rows)) if s]
    return "\n".join(lines) + "\n" + "".join(f"\n{s}" for s in sections)


def _difference(a: Sequence[float], b: Sequence[float]) -> str:
    """'+1.23' for mean(a) - mean(b); starred when it exceeds the sum of the two seed stds."""
    mean_a, std_a = statistics.fmean(a), statistics.stdev(a) if len(a) > 1 else math.nan
    mean_b, std_b = statistics.fmean(b), statistics.stdev(b) if len(b) > 1 else math.nan
    delta = mean_a - mean_b
    beyond = abs(delta) > std_a + std_b  # False when either has one seed (NaN)
    return f"{delta:+.2f}{' *' if beyond else ''}"


def effects_markdown(rows: Sequence[Row]) -> str:
    """The paper's comparisons (EFFECTS) between rows that both have results: differences in points."""
    by_key = {row.key: row for row in rows}
    lines = []
    for name, a, b in EFFECTS:
        row_a, row_b = by_key.get(a), by_key.get(b)
        if not (row_a and row_b and row_a.miou and row_b.miou and row_a.paper and row_b.paper):
            continue
        paper_miou, paper_acc = row_a.paper[0] - row_b.paper[0], row_a.paper[1] - row_b.paper[1]
        lines.append(
            f"| {name} | {row_a.label} − {row_b.label} | {paper_miou:+.2f} | {_difference(row_a.miou, row_b.miou)} "
            f"| {paper_acc:+.2f} | {_difference(row_a.acc, row_b.acc)} |"
        )
    if not lines:
        return ""
    return "\n".join([
        "## The paper's comparisons (differences in points)",
        "",
        "| Effect | Rows | ΔmIoU (paper) | ΔmIoU (ours) | ΔAcc (paper) | ΔAcc (ours) |",
        "| --- | --- | --- | --- | --- | --- |",
        *lines,
        "",
        "\\* the difference exceeds the sum of the two rows' seed-to-seed stds.",
    ]) + "\n"  # fmt: skip


def _csv_pair(pair: Sequence[float] | None) -> list[str]:
    return [f"{v:.4f}" for v in pair] if pair else ["", ""]


def table_csv(rows: Sequence[Row]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["configuration", "label", "seeds", "miou_mean", "miou_std", "acc_mean", "acc_std", "paper_miou", "paper_acc"]
    )
    for row in rows:
        pairs = [_mean_std(row.miou), _mean_std(row.acc), row.paper]
        writer.writerow([row.key, row.label, len(row.miou), *(c for pair in pairs for c in _csv_pair(pair))])
    return out.getvalue()


def per_class_series(rows: Sequence[Row]) -> tuple[dict[str, list[float]], list[str]]:
    """Mean per-class IoU over seeds for each row (NaN where a class never appeared), and the class names."""
    names = next((list(r.iou[0]) for r in rows if r.iou), [])
    series = {}
    for row in rows:
        if row.iou:
            series[row.label] = [
                statistics.fmean(vals) if (vals := [d[n] for d in row.iou if not math.isnan(d[n])]) else math.nan
                for n in names
            ]
    return series, names


def write_results(rows: Sequence[Row], out: Path, title: str) -> dict[str, Path]:
    from semantic_vae.viz import iou_bar_chart

    out.mkdir(parents=True, exist_ok=True)
    paths = {"md": out / "table1.md", "csv": out / "table1.csv", "png": out / "per_class_miou.png"}
    write_text_atomic(paths["md"], table_markdown(rows, title))
    write_text_atomic(paths["csv"], table_csv(rows))
    series, names = per_class_series(rows)
    if series:
        iou_bar_chart(series, names, paths["png"], title="Test IoU per class (mean over seeds)")
    else:
        paths.pop("png")
    return paths


def log_summary(
    rows: Sequence[Row], paths: Mapping[str, Path], out: Path, group: str, config: Mapping[str, Any]
) -> str:
    """One W&B run holding the table and the chart (W&B's mode as for every run); returns its directory or why none."""
    import wandb

    from semantic_vae.loggers import PROJECT, wandb_mode

    mode = wandb_mode()
    if mode == "disabled":
        return "none (WANDB_MODE=disabled)"
    extra = {"mode": mode} if mode and "WANDB_MODE" not in os.environ else {}  # W&B reads a user's WANDB_MODE
    run = wandb.init(project=PROJECT, name=f"{group}-summary", group=group, job_type="ablation-summary", dir=str(out),
                     config=dict(config), **extra)  # fmt: skip
    try:
        columns = ["configuration", "seeds", "miou_mean", "miou_std", "acc_mean", "acc_std", "paper_miou", "paper_acc"]
        data = []
        for row in rows:
            miou, acc = _mean_std(row.miou) or (None, None), _mean_std(row.acc) or (None, None)
            paper = row.paper or (None, None)
            data.append([row.label, len(row.miou), *miou, *acc, *paper])
        media: dict[str, Any] = {"table1": wandb.Table(columns=columns, data=data)}
        if "png" in paths:
            media["per_class_miou"] = wandb.Image(str(paths["png"]))
        run.log(media)
        return str(run.dir)
    finally:
        run.finish()


# -- command line ----------------------------------------------------------------------------
def default_jobs(cpus: int, runs: int, accelerated: bool) -> int:
    """One run per CPU core on a CPU-only machine; one at a time when runs use GPUs (all of them each)."""
    if accelerated:
        return 1
    import torch

    return 1 if torch.cuda.is_available() else max(1, min(cpus, runs))


def run_all(runs: Sequence[Run], env: Mapping[str, str], jobs: int) -> list[str]:
    """Runs the unfinished runs, `jobs` at a time; returns the names of those that failed."""
    index = {run.name: i for i, run in enumerate(runs, 1)}
    lock = threading.Lock()
    started = time.monotonic()
    for run in runs:
        if run.finished:
            print(f"[{index[run.name]}/{len(runs)}] {run.name}: finished earlier, skipped", flush=True)
    todo = [run for run in runs if not run.finished]
    durations: list[float] = []

    def say(line: str) -> None:
        with lock:  # whole lines from concurrent runs
            print(line, flush=True)

    def progress() -> str:
        """The sweep as a whole: runs finished, time so far, and a guess at what is left. A clause of the lines `say`
        prints, not a `console.Progress` bar: the parallel runs' lines go to one log, where a bar would be noise."""
        done = sum(run.finished for run in runs)
        left = len(todo) - len(durations)
        guess = format_seconds(statistics.fmean(durations) * math.ceil(left / max(1, jobs))) if durations else "?"
        return f"sweep: {done}/{len(runs)} runs finished, {format_seconds(time.monotonic() - started)} so far, about {guess} left"

    def one(run: Run) -> bool:
        head = f"[{index[run.name]}/{len(runs)}] {run.name}"
        say(f"{head}: {'resuming from last.ckpt' if run.resumable else 'starting'} (log: {run.directory / 'run.log'})")
        start = time.monotonic()
        code = execute(run, env)
        seconds = time.monotonic() - start
        with lock:
            durations.append(seconds)
        if code == 0 and run.finished:
            metrics = json.loads((run.directory / "metrics.json").read_text())
            say(
                f"{head}: done in {format_seconds(seconds)}, test mIoU {metrics['test/mIoU']:.4f}, "
                f"acc {metrics['test/acc']:.4f} | {progress()}"
            )
            return True
        say(
            f"{head}: FAILED (exit {code}) after {format_seconds(seconds)}; see {run.directory / 'run.log'} | {progress()}"
        )
        return False

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        done = list(pool.map(one, todo))
    return [run.name for run, ok in zip(todo, done) if not ok]


def ablation(
    data: str | None = None,
    gpus: int | None = None,
    sweep: str = "sweeps/table1.yaml",
    out: str | None = None,
    jobs: int | None = None,
    seed: int = 0,
    count: int | None = None,
    wandb_summary: bool = True,
) -> int:
    """Run a W&B sweep file locally and resumably (Table 1 by default), then write the table and the chart.

    Args:
        data: CelebAMask-HQ folder: run the paper setting (experiments/paper.yaml) on it.
        gpus: devices per run, with DDP when more than one.
        sweep: the W&B sweep file (method grid or random), relative to the checkout.
        out: results folder (default: results, or results/paper with --data).
        jobs: runs at once (default: one per CPU core, one thread each; 1 with GPUs).
        seed: the draw of a random sweep.
        count: runs of a random sweep (default: the file's run_cap).
        wandb_summary: log the table and the chart to one W&B summary run.
    """
    root = checkout_root()
    sweep_file = root / sweep
    if not sweep_file.is_file():
        raise UserError(f"--sweep {sweep}: file not found")
    text = sweep_file.read_text()
    try:
        sweep_config = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise UserError(f"{sweep}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(sweep_config, dict):
        raise UserError(f"{sweep}: expected a mapping at the top level")
    setting = "paper" if data else "small"
    results = Path(out or ("results/paper" if data else "results")).resolve()
    group = f"{sweep_config.get('name', Path(sweep).stem)}-{setting}"
    runs = plan(sweep_config, results / "runs", data, gpus, seed, count, source=sweep)
    identity = sweep_id(text, data, gpus, seed, count)
    for run in runs:  # before anything runs: no directory of another setting is skipped, resumed or tabled
        check_command(run)
    write_json_atomic(results / "sweep.json", {"id": identity, "name": group, "method": sweep_config["method"],
                                               "file": sweep, "runs": [{"name": r.name, "config": r.config} for r in runs]})  # fmt: skip
    print(f"sweep {identity} ({group}, {sweep_config['method']}): {len(runs)} runs in {results / 'runs'}", flush=True)
    cpus = cpu_count()
    jobs = jobs or default_jobs(cpus, len(runs), accelerated=bool(gpus or data))
    try:
        env = child_env(group, identity, threads=max(1, cpus // jobs) if jobs > 1 else None)
        failed = run_all(runs, env, jobs)
    except KeyboardInterrupt:
        print(f"ablation: interrupted; rerun the same command to resume (finished runs are kept, unfinished ones "
              f"restart from their last.ckpt in {results / 'runs'})", file=sys.stderr)  # fmt: skip
        return 130

    rows = collect(runs)
    title = (
        f"Table 1 ablation ({setting} setting: {'CelebAMask-HQ' if data else 'synthetic masks'}), test split, percent"
    )
    paths = write_results(rows, results, title)
    print(Path(paths["md"]).read_text())
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    if wandb_summary:
        from semantic_vae.machine import code_version

        config = {"sweep": str(sweep), "sweep_id": identity, "setting": setting, "data": data or "synthetic", "gpus": gpus,
                  "code_version": code_version(), "runs": [r.name for r in runs]}  # fmt: skip
        print(f"W&B summary run: {log_summary(rows, paths, results, group, config)}")
    if failed:
        print(f"{len(failed)} run(s) failed: {', '.join(failed)}; rerun to resume them", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from semantic_vae.entry import function_cli, run_entry_point

    return run_entry_point("ablation", lambda: function_cli(ablation, argv, "python -m semantic_vae.runs.ablation"))


if __name__ == "__main__":
    raise SystemExit(main())
