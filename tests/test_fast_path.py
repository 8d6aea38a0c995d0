"""The fast path by default: precision "auto" chosen by the machine, compile "auto" by the run's length, and bf16
training that is deterministic and resumes exactly."""

from __future__ import annotations

import logging

import pytest
import torch

from semantic_vae import fast_path
from semantic_vae.cli import cli_main
from semantic_vae.compat import cpu_bf16_units
from tests.conftest import tiny_args
from tests.test_lit_cli import StopAfterEpochs, _weights


def test_auto_precision_follows_the_cpus_bf16_units(monkeypatch):
    monkeypatch.setattr(fast_path, "cpu_bf16_units", lambda: ["amx_bf16", "avx512_bf16"])
    precision, why = fast_path.auto_precision("cpu")
    assert precision == "bf16-mixed" and "amx_bf16" in why
    monkeypatch.setattr(fast_path, "cpu_bf16_units", lambda: [])
    precision, why = fast_path.auto_precision("auto" if not torch.cuda.is_available() else "cpu")
    assert precision == "32-true" and "no bf16 units" in why
    assert fast_path.auto_precision("mps")[0] == "32-true"


def test_cpu_bf16_units_agree_with_the_kernels_cpu_flags():
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = next(line for line in cpuinfo if line.startswith("flags")).split()
    except (OSError, StopIteration):
        pytest.skip("no /proc/cpuinfo on this system")
    expected = [unit for unit in ("amx_bf16", "avx512_bf16") if unit in flags]
    # torch reads AMX through its tile support (amx_tile); a CPU with AMX has both flags
    assert sorted(cpu_bf16_units()) == sorted(expected)


def test_the_cli_resolves_auto_and_says_so_and_an_explicit_precision_wins(tmp_path, cache_dir, caplog):
    args = [a for a in tiny_args(tmp_path, cache_dir) if not a.startswith("--trainer.precision")]
    expected, _ = fast_path.auto_precision("auto")
    with caplog.at_level(logging.INFO):
        trainer = cli_main([*args, "--trainer.precision=auto"], run=False).trainer
    assert trainer.precision == expected
    assert any(r.getMessage().startswith(f"precision: {expected} (auto: ") for r in caplog.records)
    assert cli_main(args, run=False).trainer.precision == expected  # base.yaml's default is auto
    assert cli_main([*args, "--trainer.precision=32-true"], run=False).trainer.precision == "32-true"


def test_an_unknown_precision_is_refused_in_one_line(tmp_path, cache_dir):
    from semantic_vae.entry import run_entry_point

    status = run_entry_point("semantic-vae", lambda: cli_main(["fit", *tiny_args(tmp_path, cache_dir),
                                                               "--trainer.precision=fp8"]))  # fmt: skip
    assert status == 2


def test_compile_choice_by_steps_and_compiler(monkeypatch):
    monkeypatch.setattr(fast_path, "cxx_compiler", lambda: "/usr/bin/g++")
    assert fast_path.compile_choice("auto", fast_path.COMPILE_MIN_STEPS - 1)[0] is False
    assert fast_path.compile_choice("auto", fast_path.COMPILE_MIN_STEPS)[0] is True
    assert fast_path.compile_choice("auto", None) == (False, "auto: compiled for trainings only")
    assert fast_path.compile_choice(True, None) == (True, "model.compile true")
    assert fast_path.compile_choice(False, 10**6)[0] is False
    monkeypatch.setattr(fast_path, "cxx_compiler", lambda: None)
    chosen, why = fast_path.compile_choice(True, None)
    assert chosen is False and "no C++ compiler" in why and "running eager" in why


def test_cxx_compiler_reads_cxx_first(monkeypatch, tmp_path):
    monkeypatch.setenv("CXX", "no-such-compiler-xyz")
    assert fast_path.cxx_compiler() is None
    monkeypatch.delenv("CXX")
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH
    assert fast_path.cxx_compiler() is None


def test_a_tiny_fit_stays_eager_and_says_why(tmp_path, cache_dir, caplog):
    with caplog.at_level(logging.INFO):
        fit = cli_main(["fit", *tiny_args(tmp_path, cache_dir, epochs=1)])
    assert fit.model.compiled is False
    assert any("compile: off (auto: " in r.getMessage() for r in caplog.records)


def test_without_a_compiler_compile_true_runs_eager(monkeypatch, caplog):
    from semantic_vae.lit import SemanticVAEModule
    from semantic_vae.model import VAEConfig

    monkeypatch.setattr(fast_path, "cxx_compiler", lambda: None)
    with caplog.at_level(logging.INFO):
        module = SemanticVAEModule(VAEConfig(image_size=32, lstm_hidden=8, ffn_hidden=8, decoder_width=8), compile=True)
    assert module.compiled is False
    assert any("running eager" in r.getMessage() for r in caplog.records)


def bf16_args(run, cache_dir, epochs=2):
    return [*tiny_args(run, cache_dir, epochs=epochs), "--trainer.precision=bf16-mixed"]


def test_bf16_training_is_deterministic(tmp_path, cache_dir):
    runs = [cli_main(["fit", *bf16_args(tmp_path / str(i), cache_dir, epochs=1)]) for i in range(2)]
    assert runs[0].trainer.precision == "bf16-mixed"
    a, b = (_weights(r.model) for r in runs)
    assert all(torch.equal(a[k], b[k]) for k in a)
    fp32 = _weights(cli_main(["fit", *tiny_args(tmp_path / "fp32", cache_dir, epochs=1)]).model)
    assert any(not torch.equal(a[k], fp32[k]) for k in a)  # the precision did act


def test_bf16_resume_from_last_matches_an_uninterrupted_run(tmp_path, cache_dir):
    full = cli_main(["fit", *bf16_args(tmp_path / "full", cache_dir)])
    args = bf16_args(tmp_path / "cut", cache_dir)
    interrupted = cli_main(args, run=False)
    interrupted.trainer.callbacks.append(StopAfterEpochs(1))
    interrupted.trainer.fit(interrupted.model, datamodule=interrupted.datamodule)
    torch.manual_seed(12345)
    resumed = cli_main(["fit", *args, "--ckpt_path", "last"])
    a, b = _weights(full.model), _weights(resumed.model)
    assert all(torch.equal(a[k], b[k]) for k in a)
