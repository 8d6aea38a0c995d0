"""The Table 1 sweep: W&B grid semantics, agent command lines, resume, the table writer, W&B records."""

from __future__ import annotations

import json
import math
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from semantic_vae.cli import cli_main
from semantic_vae.errors import UserError
from semantic_vae.runs import ablation
from semantic_vae.runs.ablation import Row, plan, run_name, table_markdown
from semantic_vae.runs.sweep import agent_args, agent_command, expand_grid, sweep_root_dir
from tests.conftest import EXPERIMENTS, ROOT, tiny_args

SWEEP = yaml.safe_load((ROOT / "sweeps" / "table1.yaml").read_text())
ROWS = sorted(p.stem for p in (EXPERIMENTS / "table1").glob("*.yaml"))


# -- grid expansion and the agent's command line -------------------------------------------------
def test_grid_is_the_cartesian_product_first_sorted_key_slowest():
    # keys are sorted as W&B's HyperParameterSet sorts them, whatever the YAML order
    grid = expand_grid({"seed": {"values": [0, 1]}, "lr": {"values": [0.1, 0.2]}, "name": {"value": "x"}})
    assert grid == [
        {"name": "x", "lr": 0.1, "seed": 0},
        {"name": "x", "lr": 0.1, "seed": 1},
        {"name": "x", "lr": 0.2, "seed": 0},
        {"name": "x", "lr": 0.2, "seed": 1},
    ]
    # W&B's own docstring example: the first suggestion has a == 1
    assert expand_grid({"a": {"values": [1, 2, 3]}})[0] == {"a": 1}


def test_grid_nested_parameters_arrive_nested_and_single_values_are_constants():
    grid = expand_grid({
        "model": {"parameters": {"lstm_layers": {"values": [1, 3]}, "bidirectional": {"value": True}}},
        "seed_everything": {"value": 7},
        "data": {"parameters": {"batch_size": {"values": [8]}}},
    })  # fmt: skip
    assert grid == [
        {"seed_everything": 7, "model": {"bidirectional": True, "lstm_layers": 1}, "data": {"batch_size": 8}},
        {"seed_everything": 7, "model": {"bidirectional": True, "lstm_layers": 3}, "data": {"batch_size": 8}},
    ]


def test_grid_dedupes_values_like_wandb_and_rejects_distributions():
    assert expand_grid({"a": {"values": [1, 1.0, 2, 1]}}) == [{"a": 1}, {"a": 2}]
    assert [type(r["a"]) for r in expand_grid({"a": {"values": [1, 2, 1.0]}})] == [float, int]
    assert expand_grid({"a": {"values": [{"x": 1}, {"x": 1}]}}) == [{"a": {"x": 1}}]
    with pytest.raises(ValueError, match="grid search"):
        expand_grid({"lr": {"distribution": "uniform", "min": 0.0, "max": 1.0}})
    with pytest.raises(ValueError, match="grid search"):
        expand_grid({"lr": {"min": 0.0, "max": 1.0}})


def test_agent_args_and_command_macros():
    config = {"seed_everything": 1, "model": {"lstm_layers": 3}, "config": "row.yaml", "flag": False}
    assert agent_args(config) == [
        "--config=row.yaml",
        "--flag=False",
        "--model={'lstm_layers': 3}",
        "--seed_everything=1",
    ]
    argv = agent_command(["${env}", "${interpreter}", "-m", "pkg", "${args_no_boolean_flags}"], config)
    assert argv == [
        "/usr/bin/env",
        "python",
        "-m",
        "pkg",
        "--config=row.yaml",
        "--model={'lstm_layers': 3}",
        "--seed_everything=1",
    ]
    assert agent_command(["${env}", "${interpreter}", "${program}", "${args_no_hyphens}"], {"a": 1}, program="t.py") == [
        "/usr/bin/env", "python", "t.py", "a=1"
    ]  # fmt: skip
    with pytest.raises(ValueError, match="unsupported macro"):
        agent_command(["${nope}"], config)


def test_table1_sweep_is_six_rows_by_seeds_in_their_own_directories(tmp_path):
    assert SWEEP["method"] == "grid" and SWEEP["metric"] == {"name": "test/mIoU", "goal": "maximize"}
    runs = plan(SWEEP, tmp_path)
    rows = {Path(r.config["config"]).stem for r in runs}
    assert (
        rows == {*ROWS, "recommended"} and len(runs) == 7 * len(SWEEP["parameters"]["seed_everything"]["values"]) == 14
    )
    assert len({r.directory for r in runs}) == len(runs)
    assert runs[0].name == "no_lstm-seed0" and runs[1].name == "no_lstm-seed1"  # W&B order: `config` varies slowest
    for run in runs:
        assert run.command[:5] == ["/usr/bin/env", "python", "-m", "semantic_vae.runs.sweep", "fit"]
        assert run.command[-1] == f"--trainer.default_root_dir={run.directory}"


@pytest.mark.parametrize("index", [0, 11])
def test_a_run_command_parses_with_the_lightning_cli(tmp_path, index):
    run = plan(SWEEP, tmp_path)[index]
    cli = cli_main(run.command[5:], run=False)  # the agent's argv after `python -m semantic_vae.runs.sweep fit`
    hp, row = cli.model.hparams, yaml.safe_load((ROOT / run.config["config"]).read_text())["model"]
    assert all(hp["net"][k] == v for k, v in row.get("net", {}).items())
    assert all(hp[k] == v for k, v in row.items() if k != "net")
    assert cli.config.seed_everything == run.config["seed_everything"]
    assert cli.trainer.default_root_dir == str(run.directory)
    names = {type(c).__name__ for c in cli.trainer.callbacks}
    assert {"TestAfterFit", "WandbMedia", "ModelCheckpoint"} <= names
    assert cli.datamodule.hparams.source == "synthetic" and cli.datamodule.hparams.image_size == 64


def test_nested_sweep_values_parse_as_the_agent_passes_them(tmp_path):
    net = {"parameters": {"lstm_layers": {"values": [1]}}}
    config = expand_grid({"model": {"parameters": {"net": net, "weighted_ce": {"value": False}}}})[0]
    argv = agent_command(["--config", str(EXPERIMENTS / "base.yaml"), "${args}"], config)
    assert argv[-1] == "--model={'net': {'lstm_layers': 1}, 'weighted_ce': False}"
    cli = cli_main(argv, run=False)
    assert cli.model.hparams.net["lstm_layers"] == 1 and cli.model.hparams.weighted_ce is False


def test_paper_setting_swaps_the_setting_files_and_adds_ddp(tmp_path, capsys):
    run = plan(SWEEP, tmp_path, data="/data/CelebAMask-HQ", gpus=8)[0]
    assert "experiments/paper.yaml" in run.command and not set(ablation.SMALL_SETTING) & set(run.command)
    assert run.command[-5:-1] == [
        "--data.root=/data/CelebAMask-HQ",
        "--trainer.accelerator=gpu",
        "--trainer.devices=8",
        "--trainer.strategy=ddp",
    ]
    with pytest.raises(SystemExit) as done:  # parse only: this machine has no GPU to instantiate a Trainer on
        cli_main([*run.command[4:], "--print_config"])
    assert done.value.code == 0
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["data"]["source"] == "celebamask" and config["data"]["root"] == "/data/CelebAMask-HQ"
    assert config["model"]["net"]["decoder_width"] == 64 and config["trainer"]["max_epochs"] == 40
    assert str(config["trainer"]["devices"]) == "8" and config["trainer"]["strategy"] == "ddp"


def test_sweep_agent_runs_get_their_own_directory():
    env = {"WANDB_SWEEP_ID": "abc", "WANDB_RUN_ID": "r1"}
    assert sweep_root_dir(["fit"], env) == "outputs/sweeps/abc/r1"
    assert sweep_root_dir(["fit", "--trainer.default_root_dir=x"], env) is None
    assert sweep_root_dir(["fit"], {}) is None


# -- resume ----------------------------------------------------------------------------------
def _tiny_sweep(tmp_path: Path, cache_dir: Path, seeds: list[int]) -> Path:
    command = [
        "${env}", "${interpreter}", "-m", "semantic_vae.runs.sweep", "fit",
        *tiny_args(tmp_path / "unused", cache_dir, epochs=2),
        "--trainer.callbacks+=semantic_vae.callbacks.TestAfterFit",
        "--trainer.callbacks+=semantic_vae.callbacks.EditMetrics", "--trainer.callbacks.count=8", "${args}",
    ]  # fmt: skip
    sweep = {
        "method": "grid",
        "metric": {"name": "test/mIoU", "goal": "maximize"},
        "parameters": {
            "config": {"values": [str(EXPERIMENTS / "table1" / "ours.yaml")]},
            "seed_everything": {"values": seeds},
        },
        "command": command,
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep))
    return path


def _metrics(miou: float) -> dict:
    return {"test/mIoU": miou, "test/acc": 0.9, "iou": {"background": 0.9, "skin": miou, "hat": math.nan}}


def test_rerun_skips_finished_runs_and_resumes_unfinished_ones(tmp_path, cache_dir, monkeypatch):
    sweep = _tiny_sweep(tmp_path, cache_dir, [0, 1, 2])
    out = tmp_path / "results"
    finished, resumable, fresh = plan(yaml.safe_load(sweep.read_text()), out / "runs")
    (finished.directory).mkdir(parents=True)
    (finished.directory / "metrics.json").write_text(json.dumps(_metrics(0.5)))
    (resumable.directory / "checkpoints").mkdir(parents=True)
    (resumable.directory / "checkpoints" / "last.ckpt").write_bytes(b"")

    calls: list[list[str]] = []

    def fake_run(argv, cwd, env, stdout, stderr):
        calls.append(argv)
        root = Path(
            [a for a in argv if a.startswith("--trainer.default_root_dir=")][-1].split("=", 1)[1]
        )  # the last wins
        (root / "metrics.json").write_text(json.dumps(_metrics(0.6)))
        return subprocess.CompletedProcess(argv, 0)

    monkeypatch.setattr(ablation.subprocess, "run", fake_run)
    assert ablation.main(["--sweep", str(sweep), "--out", str(out), "--wandb_summary=false", "--jobs", "2"]) == 0
    assert sorted(calls) == sorted([resumable.command + ["--ckpt_path=last"], fresh.command])  # two at a time
    assert "| Ours | 56.67 ± 5.77 | 90.00 ± 0.00 | 3 | 70.31 | 92.39 |" in (out / "table1.md").read_text()
    assert (out / "per_class_miou.png").stat().st_size > 0

    calls.clear()  # everything finished: a third run does nothing but write the tables
    assert ablation.main(["--sweep", str(sweep), "--out", str(out), "--wandb_summary=false", "--jobs", "1"]) == 0
    assert calls == []


def test_ctrl_c_says_how_to_resume_in_one_line(tmp_path, cache_dir, monkeypatch, capsys):
    sweep = _tiny_sweep(tmp_path, cache_dir, [0])

    def interrupted(argv, cwd, env, stdout, stderr):
        raise KeyboardInterrupt

    monkeypatch.setattr(ablation.subprocess, "run", interrupted)
    assert (
        ablation.main(
            ["--sweep", str(sweep), "--out", str(tmp_path / "results"), "--wandb_summary=false", "--jobs", "1"]
        )
        == 130
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"ablation: interrupted; rerun the same command to resume (finished runs are kept, unfinished ones "
                   f"restart from their last.ckpt in {tmp_path / 'results' / 'runs'})"]  # fmt: skip


def test_test_after_fit_tests_the_best_checkpoint_also_when_resumed_after_training(tmp_path, cache_dir):
    args = tiny_args(tmp_path / "run", cache_dir, epochs=1)
    fit = cli_main(["fit", *args])  # training finished, test never ran (as if the process died there)
    assert not (tmp_path / "run" / "metrics.json").exists()
    best = fit.trainer.checkpoint_callback.best_model_path
    resumed = cli_main(["fit", *args, "--trainer.callbacks+=semantic_vae.callbacks.TestAfterFit", "--ckpt_path=last"])
    assert resumed.trainer.global_step == fit.trainer.global_step  # nothing trained again
    assert resumed.trainer.checkpoint_callback.best_model_path == best
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["test/mIoU"] == pytest.approx(resumed.model.test_results["test/mIoU"], abs=0)


def test_a_run_directory_refuses_another_command_line(tmp_path, cache_dir):
    run = plan(yaml.safe_load(_tiny_sweep(tmp_path, cache_dir, [0]).read_text()), tmp_path / "runs")[0]
    ablation.check_command(run)
    run.command = run.command + ["--trainer.max_epochs=99"]
    with pytest.raises(UserError, match="another command line"):
        ablation.check_command(run)


# -- the table ---------------------------------------------------------------------------------
def test_table_writer_gives_the_expected_markdown():
    rows = [
        Row("no_lstm", "w/o LSTM block", miou=[60.0, 62.0], acc=[90.0, 91.0], paper=(68.49, 94.24)),
        Row("ours", "Ours", miou=[65.5], acc=[92.25], paper=(70.31, 92.39)),
        Row("extra", "extra", paper=None),
    ]
    assert table_markdown(rows, "Table 1") == (
        "# Table 1\n"
        "\n"
        "| Configuration | mIoU (ours) | Acc (ours) | Seeds | mIoU (paper) | Acc (paper) |\n"
        "| --- | --- | --- | --- | --- | --- |\n"
        "| w/o LSTM block | 61.00 ± 1.41 | 90.50 ± 0.71 | 2 | 68.49 | 94.24 |\n"
        "| Ours | 65.50 | 92.25 | 1 | 70.31 | 92.39 |\n"
        "| extra | – | – | 0 | – | – |\n"
        "\n"
        "mIoU: rows span 4.50 points; the largest seed-to-seed std is 1.41.\n"
        "\n"
        "## The paper's comparisons (differences in points)\n"
        "\n"
        "| Effect | Rows | ΔmIoU (paper) | ΔmIoU (ours) | ΔAcc (paper) | ΔAcc (ours) |\n"
        "| --- | --- | --- | --- | --- | --- |\n"
        "| LSTM block (Ours vs w/o LSTM block) | Ours − w/o LSTM block | +1.82 | +4.50 | -1.85 | +1.75 |\n"
        "\n"
        "\\* the difference exceeds the sum of the two rows' seed-to-seed stds.\n"
    )
    assert ablation.table_csv(rows).splitlines()[1:] == [
        "no_lstm,w/o LSTM block,2,61.0000,1.4142,90.5000,0.7071,68.4900,94.2400",
        "ours,Ours,1,65.5000,0.0000,92.2500,0.0000,70.3100,92.3900",
        "extra,extra,0,,,,,,",
    ]


def test_effects_star_differences_beyond_the_seed_spread():
    rows = [
        Row(
            "lstm3_unidir_ce",
            "3 LSTMs w/o bidir, w/o weighted CE",
            miou=[50.0, 52.0],
            acc=[90.0, 90.2],
            paper=(67.35, 90.91),
        ),
        Row("lstm3_bidir_ce", "3 LSTMs w/o weighted CE", miou=[55.0, 55.2], acc=[90.1, 90.3], paper=(69.56, 92.12)),
        Row("lstm3_unidir_wce", "3 LSTMs w/o bidir", miou=[], acc=[], paper=(68.34, 90.94)),
    ]
    lines = ablation.effects_markdown(rows).splitlines()
    assert lines[4:5] == [
        "| bidirectional, plain CE | 3 LSTMs w/o weighted CE − 3 LSTMs w/o bidir, w/o weighted CE | +2.21 | +4.10 * | +1.21 | +0.10 |"
    ]  # mIoU: 4.10 > 1.41 + 0.14; Acc: 0.10 < 0.14 + 0.14. Rows without results are left out.
    assert len([line for line in lines if line.startswith("| ") and "---" not in line]) == 2  # header + one comparison
    assert ablation.effects_markdown(rows[:1]) == ""


def test_child_environment(monkeypatch):
    monkeypatch.setenv("WANDB_SERVICE", "2-1-tcp-localhost-1")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    env = ablation.child_env("table1-small", "local-1234", threads=1)
    assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)  # `python` is this interpreter
    assert env["OMP_NUM_THREADS"] == "1" and env["WANDB_RUN_GROUP"] == "table1-small" and "WANDB_SERVICE" not in env
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    assert ablation.child_env("g", "local-1234", threads=1)["OMP_NUM_THREADS"] == "4"  # the user's setting wins


def test_run_names():
    assert run_name({"config": "experiments/table1/ours.yaml", "seed_everything": 3}) == "ours-seed3"
    assert run_name({"model.lr": 0.1, "config": "a/b.yaml"}) == "b-model.lr=0.1"


# -- W&B offline records -------------------------------------------------------------------------
def wandb_records(path: Path):
    """Records of a `.wandb` transaction log: a 7-byte header (":W&B", magic, version), then LevelDB-log
    blocks of 32 KiB whose chunks (checksum, length, type: full/first/middle/last) carry protobuf Records."""
    from wandb.proto import wandb_internal_pb2

    data, block, pos, pending = path.read_bytes(), 32768, 7, b""
    assert data[:4] == b":W&B", f"{path}: not a W&B transaction log"
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a chunk header is padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if kind == 0:  # zero padding up to the end of the block
            pos += block - pos % block
            continue
        pending = data[pos + 7 : pos + 7 + length] if kind in (1, 2) else pending + data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            yield record


def wandb_keys(run_dir: Path) -> dict[str, set[str]]:
    """History, summary and config keys of the one offline run under `run_dir`."""
    (log,) = run_dir.glob("offline-run-*/run-*.wandb")
    keys: dict[str, set[str]] = {"history": set(), "summary": set(), "config": set()}
    for record in wandb_records(log):
        kind = record.WhichOneof("record_type")
        items = {
            "history": ("history", lambda r: r.history.item),
            "summary": ("summary", lambda r: r.summary.update),
            "config": ("config", lambda r: r.config.update),
            "run": ("config", lambda r: r.run.config.update),  # wandb.init(config=...) arrives with the run
        }.get(kind)
        if items:
            keys[items[0]] |= {item.key or "/".join(item.nested_key) for item in items[1](record)}
    return keys


def test_end_to_end_run_and_summary_write_wandb_offline_records(tmp_path, cache_dir):
    sweep, out = _tiny_sweep(tmp_path, cache_dir, [0]), tmp_path / "results"
    env = {k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"}  # no W&B service of in-process tests
    proc = subprocess.run(
        [sys.executable, "-m", "semantic_vae.runs.ablation", "--sweep", str(sweep), "--out", str(out)],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    run_dir = out / "runs" / "ours-seed0"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert len(metrics["iou"]) == 19
    table = (out / "table1.md").read_text()
    assert table.count("| Ours |") == 2 and (out / "table1.csv").is_file()  # Table 1 and the editing table
    assert (
        "## Editing: `generate`" in table
        and "min active units" in table
        and "in at least 30% of the test masks" in table
    )
    assert set(json.loads((run_dir / "edit_metrics.json").read_text())) == {"none", "input", "latent_use"}
    assert "| Transfer |" in table
    sweep_record = json.loads((out / "sweep.json").read_text())
    assert sweep_record["id"].startswith("local-") and [r["name"] for r in sweep_record["runs"]] == ["ours-seed0"]

    keys = wandb_keys(run_dir / "wandb")
    for key in ("train/loss", "val/mIoU", "test/mIoU", "test/acc", "test/iou/skin", "val/kl/nose", "lr-Adam",
                "val/active_units/mouth", "edit/none/nose/locality"):  # fmt: skip
        assert key in keys["history"], key
    for media in ("val/reconstructions/all_masks", "test/iou_chart_table/path"):  # media are stored as nested keys
        assert any(k.startswith(media) for k in keys["history"]), media
    assert {"test/mIoU", "test/iou/hair"} <= keys["summary"]
    # each hyperparameter once, nested as in the YAML: no flat copies, no LightningCLI internals
    assert {"seed_everything", "code_version", "model", "data", "trainer", "sweep_id"} <= keys["config"]
    assert not {"lstm_layers", "weighted_ce", "source", "_instantiator", "_class_path"} & keys["config"]

    summary = wandb_keys(out / "wandb")
    for media in ("table1/", "per_class_miou/"):
        assert any(k.startswith(media) for k in summary["history"]), media
    assert {"setting", "data", "code_version"} <= summary["config"]


def test_test_after_fit_is_not_collected_as_a_test(pytester):
    """A test module that imports the callback (as this one does) must not have pytest try to collect it."""
    pytester.makepyfile(test_imports="from semantic_vae.callbacks import TestAfterFit  # noqa: F401\n")
    result = pytester.runpytest_inprocess("--collect-only", "-q", "-p", "no:cacheprovider")
    assert "TestAfterFit" not in result.stdout.str() and result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
