"""Faults, tried on purpose: SIGKILL at a random moment then a rerun, a full disk, two runs in one folder,
and checkpoints that would unpickle objects.

A killed command never leaves a file that passes for complete: every PNG, JSON and checkpoint is written to
a temporary name and renamed, caches are built in a `.partial` folder, and a rerun finishes the job with
the same result as an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from semantic_vae.data.celebamask import make_raw_layout
from semantic_vae.data.io import read_label_png, write_label_png
from semantic_vae.data.synthetic import generate_masks, heldout_masks
from tests.conftest import ROOT, tiny_args

ENV = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
TRIALS = 3  # kills per command (a bounded loop: each at its own random moment)


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "semantic_vae", *map(str, args)]


def run_to_end(argv: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def kill_at(argv: list[str], seconds: float) -> bool:
    """Start the command, SIGKILL it after `seconds`; True if it was killed (it had not finished yet)."""
    process = subprocess.Popen(argv, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        process.wait(timeout=seconds)
        return False
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait()
        return True


def whole_pngs(folder: Path) -> dict[str, np.ndarray]:
    """Every PNG under `folder` decodes whole (none is half-written); temporary files are not PNGs."""
    found = {}
    for path in folder.rglob("*.png"):
        found[str(path.relative_to(folder))] = read_label_png(path)  # raises on a truncated file
    return found


@pytest.mark.slow
def test_sigkill_during_data_merge_then_rerun(tmp_path):
    raw = make_raw_layout(generate_masks(0, 0, 60, 512), tmp_path / "raw", overlap=True)
    argv = cli("data", "merge", "--root", raw, "--out", tmp_path / "merged", "--workers", "1")
    rng = random.Random(0)
    for _ in range(TRIALS):
        kill_at(argv, rng.uniform(1.0, 4.0))
        whole_pngs(tmp_path / "merged")
    run_to_end(argv)
    run_to_end(cli("data", "merge", "--root", raw, "--out", tmp_path / "reference", "--workers", "1"))
    merged, reference = whole_pngs(tmp_path / "merged"), whole_pngs(tmp_path / "reference")
    assert merged.keys() == reference.keys() and len(merged) == 60
    assert all(np.array_equal(merged[k], reference[k]) for k in merged)


@pytest.mark.slow
def test_sigkill_during_data_prepare_then_rerun(tmp_path):
    from semantic_vae.data.cache import CacheSpec, _load, load_or_build_cache

    folder = tmp_path / "masks"
    for i, mask in enumerate(generate_masks(0, 0, 300, 256)):
        write_label_png(folder / f"{i}.png", mask)
    argv = cli("data", "prepare", "--root", folder, "--size", "64", "--cache_dir", tmp_path / "cache")
    rng = random.Random(1)
    for _ in range(TRIALS):
        kill_at(argv, rng.uniform(1.0, 4.0))
        for entry in (tmp_path / "cache").glob("*") if (tmp_path / "cache").exists() else []:
            if not entry.name.startswith("."):  # a published cache folder loads whole; a .partial one never loads
                assert _load(entry, json.loads((entry / "manifest.json").read_text())["key"]) is not None
    run_to_end(argv)
    cache = load_or_build_cache(
        CacheSpec(source="celebamask", root=str(folder), image_size=64), tmp_path / "cache", progress=False
    )
    assert len(cache.names) == 300 and cache.masks.shape == (300, 64, 64)
    assert not list((tmp_path / "cache").glob(".*.partial"))  # the killed builds' folders were cleared


@pytest.mark.slow
def test_sigkill_during_edit_augment_then_rerun(tmp_path, trained_ckpt):
    inputs = tmp_path / "in"
    for i, mask in enumerate(heldout_masks(24, 64)):
        write_label_png(inputs / f"{i}.png", mask)
    argv = cli("edit", "augment", "--ckpt", trained_ckpt, "--input", inputs, "--variants", "6", "--out", tmp_path / "aug",
               "--batch_size", "2", "--operations", "generate,perturb,swap")  # fmt: skip
    rng = random.Random(2)
    for _ in range(TRIALS):
        kill_at(argv, rng.uniform(2.0, 6.0))
        whole_pngs(tmp_path / "aug")
        manifest = tmp_path / "aug" / "manifest.csv"
        assert not manifest.exists() or len(manifest.read_text().splitlines()) == 1 + 24 * 6  # whole, or absent
    run_to_end(argv)
    run_to_end([*argv[: argv.index("--out") + 1], str(tmp_path / "reference"), *argv[argv.index("--out") + 2 :]])
    assert (tmp_path / "aug" / "manifest.csv").read_text() == (tmp_path / "reference" / "manifest.csv").read_text()
    augmented, reference = whole_pngs(tmp_path / "aug"), whole_pngs(tmp_path / "reference")
    assert augmented.keys() == reference.keys() and all(np.array_equal(augmented[k], reference[k]) for k in augmented)


def test_an_augment_into_a_folder_another_process_holds_is_refused(tmp_path, trained_ckpt):
    """The other writer is this test, holding the folder's lock while the augment starts (no race on timing)."""
    from semantic_vae.files import FolderLock

    inputs = tmp_path / "in"
    for i, mask in enumerate(heldout_masks(4, 64)):
        write_label_png(inputs / f"{i}.png", mask)
    argv = cli(
        "edit", "augment", "--ckpt", trained_ckpt, "--input", inputs, "--variants", "2", "--out", tmp_path / "aug"
    )
    lock = tmp_path / "aug" / ".lock"
    with FolderLock(tmp_path / "aug", "--out folder"):
        second = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=120)
        assert lock.read_text() == f"process {os.getpid()}"  # the refused one took nothing over
    lines = [line for line in second.stderr.splitlines() if line.strip()]
    assert second.returncode == 2 and len(lines) == 1, second.stderr
    assert f"process {os.getpid()} is using this --out folder" in lines[0]
    assert not (tmp_path / "aug" / "manifest.csv").exists()
    first = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=120)
    assert first.returncode == 0, first.stderr[-2000:]
    assert len((tmp_path / "aug" / "manifest.csv").read_text().splitlines()) == 1 + 4 * 2
    assert not lock.exists()  # a finished folder holds only its outputs


def test_a_folder_lock_refuses_a_second_holder_and_leaves_no_file(tmp_path):
    """In one process two descriptors behave as two processes do under flock."""
    from semantic_vae.errors import UserError
    from semantic_vae.files import FolderLock

    first = FolderLock(tmp_path / "run", "run folder").acquire()
    assert (tmp_path / "run" / ".lock").read_text() == f"process {os.getpid()}"
    with pytest.raises(UserError, match=rf"run: process {os.getpid()} is using this run folder; wait for it"):
        FolderLock(tmp_path / "run", "run folder").acquire()
    first.release()
    assert not (tmp_path / "run" / ".lock").exists()
    with FolderLock(tmp_path / "run", "run folder"):  # free again
        assert (tmp_path / "run" / ".lock").exists()
    assert list((tmp_path / "run").iterdir()) == []


def test_a_rerun_with_other_settings_leaves_no_stale_variants(tmp_path, trained_ckpt):
    from semantic_vae.cli import main

    inputs = tmp_path / "in"
    for i, mask in enumerate(heldout_masks(2, 64)):
        write_label_png(inputs / f"{i}.png", mask)
    out = tmp_path / "aug"
    base = ["edit", "augment", "--ckpt", str(trained_ckpt), "--input", str(inputs), "--out", str(out)]
    main([*base, "--variants", "3"])
    (out / "0_v07.png").write_bytes((out / "0_v00.png").read_bytes())  # as an interrupted older run left it
    main([*base, "--variants", "1"])
    rows = (out / "manifest.csv").read_text().splitlines()[1:]
    listed = {r.split(",")[0] for r in rows} | {r.split(",")[1] for r in rows}
    on_disk = {str(p.relative_to(out)) for p in out.rglob("*.png")}
    assert listed == on_disk == {"0_v00.png", "1_v00.png", "color/0_v00.png", "color/1_v00.png"}


@pytest.mark.slow
def test_sigkill_during_predict_then_rerun(tmp_path, trained_ckpt):
    from tests.conftest import config_args

    inputs = tmp_path / "in"
    for i, mask in enumerate(heldout_masks(120, 512)):
        write_label_png(inputs / f"{i:03d}.png", mask)

    def argv(out: Path) -> list[str]:
        return cli("predict", *config_args("base.yaml", "small.yaml"), "--data.image_size=64", f"--ckpt_path={trained_ckpt}",
                   f"--data.predict_root={inputs}", f"--prediction_writer.output_dir={out}", "--data.batch_size=4",
                   "--trainer.logger=false", "--trainer.enable_progress_bar=false", f"--trainer.default_root_dir={tmp_path / 'run'}")  # fmt: skip

    rng = random.Random(5)
    for _ in range(TRIALS):
        kill_at(argv(tmp_path / "out"), rng.uniform(5.0, 12.0))
        whole_pngs(tmp_path / "out") if (tmp_path / "out").exists() else None
        manifest = tmp_path / "out" / "manifest.csv"
        assert not manifest.exists() or len(manifest.read_text().splitlines()) == 1 + 120  # whole, or absent
    (tmp_path / "out").mkdir(exist_ok=True)
    (tmp_path / "out" / ".000.png.0123456789ab.tmp").write_bytes(b"half a png")  # what a kill mid-write leaves
    run_to_end(argv(tmp_path / "out"))
    run_to_end(argv(tmp_path / "reference"))
    assert not [p for p in (tmp_path / "out").iterdir() if p.suffix == ".tmp"]
    assert (tmp_path / "out" / "manifest.csv").read_text().count("\n") == 1 + 120
    predicted, reference = whole_pngs(tmp_path / "out"), whole_pngs(tmp_path / "reference")
    assert predicted.keys() == reference.keys() and all(np.array_equal(predicted[k], reference[k]) for k in predicted)
    assert predicted["000.png"].shape == (512, 512)  # at the input's size


def final_weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]


@pytest.mark.slow
def test_sigkill_during_fit_then_resume_gives_the_uninterrupted_weights(tmp_path, cache_dir):
    def args(run: Path) -> list[str]:
        return cli("fit", *tiny_args(run, cache_dir, epochs=4), "--data.num_workers=0")

    run_to_end(args(tmp_path / "full"))
    rng = random.Random(3)
    killed = 0
    for _ in range(TRIALS):
        resume = ["--ckpt_path=last"] if (tmp_path / "cut" / "checkpoints" / "last.ckpt").exists() else []
        killed += kill_at([*args(tmp_path / "cut"), *resume], rng.uniform(6.0, 14.0))
        for ckpt in (tmp_path / "cut" / "checkpoints").glob("*.ckpt") if (tmp_path / "cut").exists() else []:
            torch.load(ckpt, map_location="cpu", weights_only=True)  # every checkpoint on disk loads whole
    run_to_end([*args(tmp_path / "cut"), "--ckpt_path=last"])
    assert killed >= 1
    full, resumed = final_weights(tmp_path / "full"), final_weights(tmp_path / "cut")
    assert full.keys() == resumed.keys()
    assert all(torch.equal(full[k], resumed[k]) for k in full)


@pytest.mark.slow
def test_a_second_fit_into_the_same_folder_is_refused_and_the_first_finishes(tmp_path, cache_dir):
    run = tmp_path / "run"
    argv = cli("fit", *tiny_args(run, cache_dir, epochs=4), "--data.num_workers=0")
    first = subprocess.Popen(argv, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (run / ".lock").exists() or "process" not in (run / ".lock").read_text():
        assert time.monotonic() < deadline and first.poll() is None, "the first run never took the lock"
        time.sleep(0.2)
    second = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=120)
    lines = [line for line in second.stderr.splitlines() if line.strip()]
    assert second.returncode == 2 and len(lines) == 1 and "is using this run folder" in lines[0], second.stderr
    assert first.wait(timeout=300) == 0, first.stderr.read()[-2000:]
    assert (run / "checkpoints" / "last.ckpt").is_file() and torch.load(
        run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True
    )["epoch"] == 3


def _mount_tmpfs(path: Path, size: str) -> bool:
    if os.geteuid() != 0:
        return False
    path.mkdir(parents=True, exist_ok=True)
    return (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
        ).returncode
        == 0
    )


@pytest.mark.slow
def test_a_full_disk_is_a_clear_error_and_earlier_results_stay_whole(tmp_path, trained_ckpt):
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "2m"):
        pytest.skip("needs root and a tmpfs mount to fill a disk (this machine refused the mount)")
    try:
        # a cache that fits, then one that does not: a one-line error, and the first cache still loads
        folder = tmp_path / "masks"
        for i, mask in enumerate(generate_masks(0, 0, 40, 128)):
            write_label_png(folder / f"{i}.png", mask)
        small = run_to_end(cli("data", "prepare", "--root", folder, "--size", "64", "--cache_dir", disk / "cache"))
        assert "masks: 40" in small.stdout
        big = subprocess.run(cli("data", "prepare", "--root", folder, "--size", "512", "--cache_dir", disk / "cache"),
                             capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=300)  # fmt: skip
        lines = [line for line in big.stderr.splitlines() if line.strip()]
        assert big.returncode in (1, 2) and len(lines) == 1 and "No space left on device" in lines[0], big.stderr
        again = run_to_end(cli("data", "prepare", "--root", folder, "--size", "64", "--cache_dir", disk / "cache"))
        assert "masks: 40" in again.stdout
        # edits that fill the disk (all but 150 kB of it taken first): a one-line error; every file written before is whole
        free = os.statvfs(disk)
        (disk / "filler").write_bytes(bytes(max(0, free.f_bavail * free.f_frsize - 150_000)))
        inputs = tmp_path / "in"
        for i, mask in enumerate(heldout_masks(8, 512)):
            write_label_png(inputs / f"{i}.png", mask)
        full = subprocess.run(cli("edit", "augment", "--ckpt", trained_ckpt, "--input", inputs, "--variants", "40",
                                  "--batch_size", "1", "--out", disk / "aug"), capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=300)  # fmt: skip
        lines = [line for line in full.stderr.splitlines() if line.strip()]
        assert full.returncode in (1, 2) and len(lines) == 1 and "No space left on device" in lines[0], full.stderr
        whole_pngs(disk / "aug")
        assert not (disk / "aug" / "manifest.csv").exists()
        assert not [p for p in (disk / "aug").rglob("*") if p.name.endswith(".tmp")]  # no temporary debris
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def test_every_checkpoint_load_in_the_project_is_weights_only():
    """Every torch.load of the package names weights_only=True (Lightning's own loads get it from the CLI)."""
    calls = []
    for path in (ROOT / "semantic_vae").rglob("*.py"):
        text = path.read_text()
        for match in re.finditer(r"torch\.load\(", text):
            call = text[match.start() : text.index(")", match.start()) + 1]
            calls.append((path.name, call))
            assert "weights_only=True" in call, (path, call)
    assert calls, "no torch.load found: the test looks in the wrong place"
    # Lightning's own loads (fit/validate/test/predict --ckpt_path) get weights_only=true from the CLI: the run's
    # saved config says so (tests/test_lit_cli.py::test_predict_writes_reconstructions_where_the_command_line_says)


@pytest.fixture(scope="module")
def released_weights(tmp_path_factory) -> Path:
    """A state_dict of the released network's layout (its initial weights): what `convert` reads."""
    from semantic_vae.bench.versus import ReleasedNetwork

    path = tmp_path_factory.mktemp("released") / "latest_net_G.pth"
    torch.save(ReleasedNetwork().state_dict(), path)
    return path


def test_a_rerun_of_convert_clears_the_temporary_file_a_killed_one_left(tmp_path, released_weights):
    """A SIGKILL while `convert` writes leaves `.<out>.<host>@<pid>.<hex>.tmp` (100 MB for the released network); the
    next successful write of that output removes it, and leaves a running writer's alone."""
    import socket

    from semantic_vae.cli import main

    gone = subprocess.Popen(["true"])
    gone.wait()  # a process id that no process holds now
    out = tmp_path / "reference.ckpt"
    killed = tmp_path / f".reference.ckpt.{socket.gethostname()}@{gone.pid}.0123456789ab.tmp"
    killed.write_bytes(b"half a checkpoint")
    running = tmp_path / f".reference.ckpt.{socket.gethostname()}@{os.getpid()}.0123456789ab.tmp"
    running.write_bytes(b"a write in progress")
    main(["convert", "--weights", str(released_weights), "--out", str(out)])
    assert not killed.exists() and running.exists()
    assert torch.load(out, map_location="cpu", weights_only=True)["state_dict"]


@pytest.mark.slow
def test_sigkill_during_convert_then_rerun(tmp_path, released_weights):
    """Killed while its temporary file exists (mid-write: a random moment would nearly always miss the write), then
    rerun: the output is whole and equals an uninterrupted run's, and no temporary is left."""
    out = tmp_path / "reference.ckpt"
    argv = cli("convert", "--weights", released_weights, "--out", out)
    process = subprocess.Popen(argv, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".reference.ckpt.*.tmp")):
        assert process.poll() is None and time.monotonic() < deadline, "convert ended before it was caught writing"
        time.sleep(0.001)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert list(tmp_path.glob(".reference.ckpt.*.tmp")) and not out.exists()  # what the issue found left behind
    run_to_end(argv)
    run_to_end(cli("convert", "--weights", released_weights, "--out", tmp_path / "uninterrupted.ckpt"))
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    state, again = (
        torch.load(p, map_location="cpu", weights_only=True)["state_dict"]
        for p in (out, tmp_path / "uninterrupted.ckpt")
    )
    assert state.keys() == again.keys() and all(torch.equal(state[k], again[k]) for k in state)
