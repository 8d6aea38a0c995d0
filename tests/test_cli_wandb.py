"""W&B and Lightning as their users know them: W&B's own switches, one run per training, the sweep's
semantics without a server, clean config logging, a discoverable and quiet command line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from semantic_vae.cli import COMMANDS, cli_main, main
from semantic_vae.errors import UserError
from semantic_vae.runs import ablation
from semantic_vae.runs.sweep import sweep_runs
from tests.conftest import ROOT, tiny_args
from tests.test_ablation import wandb_keys, wandb_records

SWEEP = yaml.safe_load((ROOT / "sweeps" / "table1.yaml").read_text())


def test_wandb_disabled_writes_no_wandb_folder_and_keeps_the_csv(tmp_path, cache_dir, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    cli_main(["fit", *tiny_args(tmp_path / "run", cache_dir, epochs=1)])
    assert not (tmp_path / "run" / "wandb").exists()
    assert "train/loss" in (tmp_path / "run" / "csv" / "metrics.csv").read_text()


def test_wandb_mode_follows_the_user_and_wandb(monkeypatch):
    from semantic_vae import loggers

    monkeypatch.setenv("WANDB_MODE", "online")
    assert loggers.wandb_mode() == "online"  # the user's choice, even without credentials
    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert loggers.wandb_mode() is None  # W&B decides (online)
    monkeypatch.delenv("WANDB_API_KEY")
    monkeypatch.setattr(loggers, "wandb_has_credentials", lambda: False)
    assert loggers.wandb_mode() == "offline"  # no account: offline, not an error


def training_steps(run: Path) -> list[int]:
    """trainer/global_step of every history record with a training loss, over the folder's offline W&B runs in order."""
    steps = []
    for log in sorted(run.glob("wandb/offline-run-*/run-*.wandb")):
        for record in wandb_records(log):
            if record.WhichOneof("record_type") != "history":
                continue
            items = {(item.key or "/".join(item.nested_key)): item.value_json for item in record.history.item}
            if "train/loss" in items:
                steps.append(int(float(items["trainer/global_step"])))
    return steps


def test_one_training_is_one_wandb_run_across_a_kill_a_resume_and_a_test(tmp_path, cache_dir):
    """Also what a user sees of `fit` and `test` as processes: checkpoints, config.yaml, metrics.json, CSV keys."""
    args = [*tiny_args(tmp_path / "run", cache_dir, epochs=3), "--trainer.log_every_n_steps=1"]
    env = {**os.environ, "WANDB_MODE": "offline"}
    # the first session ends after epoch 1 (as a killed one would: its checkpoint written, nothing after)
    stopper = ["--trainer.callbacks+=tests.test_lit_cli.StopAfterEpochs", "--trainer.callbacks.epochs=1"]
    for extra in (stopper, ["--ckpt_path=last"]):
        done = subprocess.run([sys.executable, "-m", "semantic_vae", "fit", *args, *extra], capture_output=True, text=True,
                              cwd=ROOT, env=env, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        output = done.stdout + done.stderr  # a normal fit prints none of the libraries' noise
        for noise in ("You passed `args`", "anonymous setting has no effect", "Tip: For seamless cloud logging",
                      "Deprecat", "deprecated", "Traceback"):  # fmt: skip
            assert noise not in output, noise
        assert "epoch 1/3:" in done.stdout or "epoch 3/3:" in done.stdout  # no progress bar: one line per epoch
    ckpts = sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("*.ckpt"))
    assert "last.ckpt" in ckpts and any(n.startswith("best-") for n in ckpts)
    assert (tmp_path / "run" / "config.yaml").is_file()
    done = subprocess.run([sys.executable, "-m", "semantic_vae", "test", *args, "--ckpt_path=last"], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert set(metrics) == {"test/mIoU", "test/acc", "iou", "kl", "active_units", "presence"}
    assert set(metrics["kl"]) == set(metrics["iou"]) == set(metrics["presence"])
    assert len(metrics["iou"]) == 19 and "hair" in metrics["iou"]
    present = [name for name, share in metrics["presence"].items() if share > 0]  # in the test masks' ground truth
    assert metrics["test/mIoU"] == pytest.approx(np.mean([metrics["iou"][name] for name in present]), abs=1e-6)
    csv = (tmp_path / "run" / "csv" / "metrics.csv").read_text()  # fit, resume and test continue one file
    for key in ("train/loss", "train/ce", "train/kl", "val/mIoU", "val/acc", "test/mIoU", "test/iou/skin"):
        assert key in csv
    runs = sorted((tmp_path / "run" / "wandb").glob("offline-run-*"))
    run_id = (tmp_path / "run" / "wandb" / "run_id").read_text().strip()
    assert len(runs) == 3 and all(r.name.endswith(f"-{run_id}") for r in runs)  # three sessions, one run id
    steps = training_steps(tmp_path / "run")
    steps_per_epoch = 7  # tiny_args: 160 masks, 32 test, round(20% of 128) = 26 validation: 102 at batch 16
    assert steps == list(range(steps[0], steps[0] + 3 * steps_per_epoch))  # every step once: no gap, no repeat
    assert (tmp_path / "run" / "csv" / "metrics.csv").is_file() and not list(
        (tmp_path / "run" / "csv").glob("version_*")
    )


def test_predict_opens_no_wandb_run(tmp_path, cache_dir, trained_ckpt):
    from semantic_vae.data.io import write_label_png
    from semantic_vae.data.synthetic import generate_masks

    write_label_png(tmp_path / "in" / "a.png", generate_masks(0, 0, 1, 64)[0])
    args = [*tiny_args(tmp_path / "run", cache_dir), "--data.image_size=64", f"--data.predict_root={tmp_path / 'in'}",
            f"--prediction_writer.output_dir={tmp_path / 'out'}", f"--ckpt_path={trained_ckpt}",
            "--model.net.lstm_hidden=64", "--model.net.ffn_hidden=256", "--model.net.encoder_hidden=[256,256,256]"]  # fmt: skip
    cli_main(["predict", *args])
    assert (tmp_path / "out" / "a.png").is_file() and not (tmp_path / "run" / "wandb").exists()


def test_the_local_sweep_is_the_files_grid_in_wandb_order_with_one_sweep_id(tmp_path):
    runs = ablation.plan(SWEEP, tmp_path / "runs")
    rows = SWEEP["parameters"]["config"]["values"]
    expected = [{"config": row, "seed_everything": seed} for row in rows for seed in (0, 1)]  # `config` varies slowest
    assert [r.config for r in runs] == expected
    text = (ROOT / "sweeps" / "table1.yaml").read_text()
    identity = ablation.sweep_id(text, None, None, 0, None)
    assert (
        identity == ablation.sweep_id(text, None, None, 0, None) != ablation.sweep_id(text + "\n", None, None, 0, None)
    )
    env = ablation.child_env("table1-small", identity)
    assert env["SEMANTIC_VAE_SWEEP_ID"] == identity and env["WANDB_RUN_GROUP"] == "table1-small"


def test_random_sweeps_are_seeded_and_other_methods_point_to_wandb():
    sweep = {"method": "random", "run_cap": 5, "command": [], "parameters": {
        "model": {"parameters": {"lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-2},
                                 "free_bits": {"values": [0.0, 2.0, 4.0]}}},
        "seed_everything": {"distribution": "int_uniform", "min": 0, "max": 9}}}  # fmt: skip
    first, again, other = (
        sweep_runs(sweep, "s.yaml", seed=1),
        sweep_runs(sweep, "s.yaml", seed=1),
        sweep_runs(sweep, "s.yaml", seed=2),
    )
    assert first == again != other and len(first) == 5
    assert all(1e-4 <= r["model"]["lr"] <= 1e-2 and r["model"]["free_bits"] in (0.0, 2.0, 4.0) for r in first)
    with pytest.raises(UserError, match=r"method 'bayes' needs W&B's sweep server; run `wandb sweep s.yaml`"):
        sweep_runs({**sweep, "method": "bayes"}, "s.yaml")
    with pytest.raises(UserError, match="run_cap"):
        sweep_runs({**sweep, "run_cap": None}, "s.yaml")


@pytest.mark.slow
def test_the_agents_exact_command_line_runs_with_a_sweep_id(tmp_path, cache_dir):
    """What `wandb agent` runs for a sweep's first run, with the variables it sets: own folder, sweep id logged."""
    config = {"config": "experiments/table1/no_lstm.yaml", "seed_everything": 0}
    small = [a for a in tiny_args(tmp_path / "unused", cache_dir)[4:] if not a.startswith("--trainer.default_root_dir")]
    argv = ablation.agent_command(SWEEP["command"], config) + small + ["--trainer.callbacks.count=8"]
    assert argv[:5] == ["/usr/bin/env", "python", "-m", "semantic_vae.runs.sweep", "fit"]
    sweep, run_name = f"test-{os.getpid()}", "run7"
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SWEEP_ID": sweep, "WANDB_RUN_ID": run_name,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # fmt: skip
    run = ROOT / "outputs" / "sweeps" / sweep / run_name  # where the agent's run goes (from the repository root)
    try:
        done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        assert (run / "metrics.json").is_file() and (run / "edit_metrics.json").is_file()
        keys = wandb_keys(run / "wandb")
        assert "sweep_id" in keys["config"] and not {"_instantiator", "lstm_layers"} & keys["config"]
    finally:
        shutil.rmtree(run.parent, ignore_errors=True)


def test_help_lists_every_command_and_every_entry_point_answers_help(capsys):
    from semantic_vae.cli import TOOLS

    main(["--help"])
    listed = capsys.readouterr().out
    assert set(TOOLS) <= set(COMMANDS)  # every command that dispatches has its line in the overview
    for name in COMMANDS:  # and every listed command answers --help: none is listed without existing
        assert f"  {name}" in listed
        with pytest.raises(SystemExit) as done:
            main([name, "--help"])
        assert done.value.code == 0 and "usage" in capsys.readouterr().out.lower(), name
    entry_points = {  # each answers --help from a fresh interpreter, as a user calls it; started together
        module: subprocess.Popen(
            [sys.executable, "-m", *module.split()], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT
        )
        for module in (
            "semantic_vae.runs.demo --help",
            "semantic_vae.runs.ablation --help",
            "semantic_vae.runs.gpu_check --help",
            "semantic_vae.bench --help",
            "semantic_vae app --help",
        )
    }
    answers = {module: process.communicate(timeout=120) for module, process in entry_points.items()}
    for module, (out, err) in answers.items():
        assert entry_points[module].returncode == 0 and "usage" in out.lower(), (module, err[-500:])
    assert "--ckpt" in answers["semantic_vae app --help"][0]
