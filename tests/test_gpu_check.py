"""`make gpu-check`'s CPU smoke run: every check of the GPU path, at tiny size on the CPU."""

import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.slow
def test_gpu_check_cpu_smoke_passes_every_check(tmp_path):
    done = subprocess.run([sys.executable, "-m", "semantic_vae.runs.gpu_check", "--cpu-smoke", "--out", str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT, timeout=900)  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.split(" ", 1)[0] in ("PASS", "FAIL", "SKIP")]
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    passed = [line for line in lines if line.startswith("PASS")]
    assert len(passed) == 6 + 2 + 2, lines  # six Table 1 rows, channels_last and DDP, bf16 vs fp32, the CPU edit
    assert any("bf16-mixed and fp32 logits agree" in line for line in passed)
    assert "gpu-check: all checks passed" in done.stdout


def test_gpu_check_refuses_a_machine_without_cuda_in_one_line():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    done = subprocess.run(
        [sys.executable, "-m", "semantic_vae.runs.gpu_check"], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 2 and "no CUDA device here" in done.stderr and "Traceback" not in done.stderr
