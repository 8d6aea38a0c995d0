"""`semantic-vae edit ...` and `semantic-vae evaluate-edits`: files, figures, manifest, JSON, and one-line errors."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from semantic_vae.cli import main
from semantic_vae.data.io import read_label_png, write_color_png, write_label_png
from semantic_vae.data.synthetic import heldout_masks
from semantic_vae.edit import MaskEditor
from semantic_vae.edit.region import cut_off, dilate
from semantic_vae.runs.demo import demo_edits, format_summary

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """Three 96x96 faces (one colourised): another size than the model's 64."""
    folder = tmp_path_factory.mktemp("inputs")
    masks = heldout_masks(3, 96)
    write_label_png(folder / "a.png", masks[0])
    write_label_png(folder / "b.png", masks[1])
    write_color_png(folder / "c.png", masks[2])
    return folder


def run(*args: str) -> None:
    main([str(a) for a in args])


def assert_label_png(path: Path, shape=(96, 96)) -> np.ndarray:
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert raw is not None and raw.ndim == 2 and raw.dtype == np.uint8, path  # mode L
    assert raw.shape == shape and raw.max() <= 18
    colour = path.parent / "color" / path.name
    assert np.array_equal(read_label_png(colour), raw)  # the colourised copy decodes to the same labels
    return raw


def test_generate_and_perturb_write_labels_colours_and_fig3(trained_ckpt, inputs, tmp_path):
    for op, extra in (("generate", []), ("perturb", ["--scale", "2"])):
        out = tmp_path / op
        run(
            "edit",
            op,
            "--ckpt",
            trained_ckpt,
            "--input",
            inputs,
            "--parts",
            "nose,hair",
            "--out",
            out,
            "--seed",
            "7",
            *extra,
        )
        for name in ("a.png", "b.png", "c.png"):
            assert_label_png(out / name)
        assert (out / "fig3_nose-hair.png").is_file()
    # file i uses seed + i: c.png (i = 2) is the API's generate with seed 9 on the decoded colour PNG
    editor = MaskEditor.from_checkpoint(trained_ckpt, device="cpu")
    expected = editor.generate(read_label_png(inputs / "c.png"), "nose,hair", seed=9)
    assert np.array_equal(read_label_png(tmp_path / "generate" / "c.png"), expected)


def test_interpolate_swap_and_reconstruct(trained_ckpt, inputs, tmp_path):
    run(
        "edit",
        "interpolate",
        "--ckpt",
        trained_ckpt,
        "--input",
        inputs,
        "--target",
        inputs / "b.png",
        "--parts",
        "hair",
        "--steps",
        "3",
        "--keep",
        "none",
        "--out",
        tmp_path / "interp",
    )
    run(
        "edit",
        "swap",
        "--ckpt",
        trained_ckpt,
        "--input",
        inputs,
        "--target",
        inputs / "b.png",
        "--parts",
        "[hair]",
        "--keep",
        "none",
        "--out",
        tmp_path / "swap",
    )
    run(
        "edit", "reconstruct", "--ckpt", trained_ckpt, "--input", inputs, "--out", tmp_path / "rec", "--figure", "false"
    )
    for stem in "abc":
        first = assert_label_png(tmp_path / "interp" / f"{stem}_a0.00.png")
        last = assert_label_png(tmp_path / "interp" / f"{stem}_a1.00.png")
        assert_label_png(tmp_path / "interp" / f"{stem}_a0.50.png")
        assert np.array_equal(first, assert_label_png(tmp_path / "rec" / f"{stem}.png"))
        assert np.array_equal(last, assert_label_png(tmp_path / "swap" / f"{stem}.png"))
    assert (tmp_path / "interp" / "fig5_hair.png").is_file() and (tmp_path / "swap" / "fig_swap_hair.png").is_file()
    # keep=input: the input's own pixels wherever the hair was not and is not
    run("edit", "swap", "--ckpt", trained_ckpt, "--input", inputs, "--target", inputs / "b.png", "--parts", "hair",
        "--radius", "0", "--keep", "input", "--out", tmp_path / "kept")  # fmt: skip
    for stem in "ab":
        source, kept = read_label_png(inputs / f"{stem}.png"), assert_label_png(tmp_path / "kept" / f"{stem}.png")
        raw = assert_label_png(tmp_path / "swap" / f"{stem}.png")
        hair = (source == 13) | (raw == 13)
        pockets = cut_off(np.where(hair, raw, source), hair, source)  # background the new hair cut off, settled
        may_change = dilate(hair | pockets, 1) if pockets.any() else hair
        assert np.array_equal(kept[~may_change], source[~may_change]) and may_change.mean() < 0.9
    assert not (tmp_path / "rec" / "fig_reconstruct.png").exists()


def test_augment_is_deterministic_and_traceable(trained_ckpt, inputs, tmp_path):
    args = [
        "edit",
        "augment",
        "--ckpt",
        trained_ckpt,
        "--input",
        inputs,
        "--parts",
        "nose,hair,mouth",
        "--operations",
        "generate,perturb,swap,interpolate",
        "--variants",
        "3",
        "--seed",
        "1",
    ]
    run(*args, "--out", tmp_path / "one")
    run(*args, "--out", tmp_path / "two", "--batch_size", "2", "--color", "false")
    rows = list(csv.DictReader((tmp_path / "one" / "manifest.csv").open()))
    assert len(rows) == 9 and {r["source"] for r in rows} == {str(inputs / n) for n in ("a.png", "b.png", "c.png")}
    for row in rows:
        labels = assert_label_png(tmp_path / "one" / row["output"])
        assert np.array_equal(labels, read_label_png(tmp_path / "two" / row["output"]))  # batching does not matter
    editor = MaskEditor.from_checkpoint(trained_ckpt, device="cpu")
    for row in rows:  # every row reproduces through the Python API
        source = read_label_png(row["source"])
        if row["operation"] == "generate":
            expected = editor.generate(source, row["parts"], seed=int(row["seed"]))
        elif row["operation"] == "perturb":
            expected = editor.perturb(source, row["parts"], scale=float(row["scale"]), seed=int(row["seed"]))
        elif row["operation"] == "swap":
            expected = editor.swap(source, read_label_png(row["target"]), row["parts"])
        else:
            expected = editor.interpolate(source, read_label_png(row["target"]), row["parts"], float(row["alpha"]))
        assert np.array_equal(read_label_png(tmp_path / "one" / row["output"]), expected), row


def test_evaluate_edits_prints_a_table_and_writes_json(trained_ckpt, tmp_path, capsys):
    out = tmp_path / "metrics.json"
    run("evaluate-edits", "--ckpt", trained_ckpt, "--parts", "hair,lips", "--count", "6", "--seeds", "2",
        "--keep", "none", "--out", out)  # fmt: skip
    printed = capsys.readouterr().out
    assert "generate    hair" in printed and "interpolate lips" in printed and "keep=none" in printed
    results = json.loads(out.read_text())
    assert results["count"] == 6 and set(results["operations"]) == {"generate", "perturb", "swap", "interpolate"}
    hair = results["operations"]["generate"]["hair"]
    keys = {
        "locality",
        "changed",
        "part_change",
        "fragments",
        "stray_islands_per_mask",
        "islands_added",
        "fd",
        "diversity",
    }
    assert set(hair) == keys and results["edit"]["keep"] == "none" and results["distance"] == 4
    assert 0.0 < hair["locality"] <= 1.0 and hair["changed"] > 0.0
    assert hair["diversity"] < 1.0  # two seeds draw two different hair parts
    run("evaluate-edits", "--ckpt", trained_ckpt, "--parts", "nose", "--count", "4", "--seeds", "2",
        "--operations", "generate", "--out", out)  # fmt: skip
    kept = json.loads(out.read_text())
    assert kept["edit"]["keep"] == "changes" and kept["operations"]["generate"]["nose"]["locality"] == 1.0


def test_demo_edits_writes_its_figures_and_metrics(trained_ckpt, tmp_path):
    """What `make demo` calls (about 3 s on 2 idle cores; no wall-clock assert: shared CI cores vary 10x)."""
    editor = MaskEditor.from_checkpoint(trained_ckpt, device="cpu")
    masks = heldout_masks(16, 64)
    summary = demo_edits(editor, masks, tmp_path / "demo")
    for name in ("fig3_nose.png", "fig5_nose.png", "before_after.png"):
        assert (tmp_path / "demo" / name).is_file(), name
    for keep in ("none", "input"):
        assert json.loads((tmp_path / "demo" / f"edit_metrics_{keep}.json").read_text())["count"] == 16
        assert set(summary[f"generate, keep={keep}"]) == {"nose", "lips", "eyes", "brows", "hair"}
    json.dumps(summary)
    assert len(summary["figures"]) >= 3 and all(Path(f).is_file() for f in summary["figures"])
    closing = format_summary({"test/mIoU": 0.5, "test/acc": 0.9}, summary, summary["figures"], tmp_path)
    assert all(f"\n  {f}\n" in closing + "\n" for f in summary["figures"])  # every figure by its path
    assert "{" not in closing and "Test split: mIoU 0.5000, pixel accuracy 0.9000" in closing  # a table, not JSON


@pytest.fixture
def bad_files(tmp_path) -> Path:
    bad = np.zeros((96, 96), np.uint8)
    bad[5, 5] = 19
    write_label_png(tmp_path / "bad.png", bad)
    write_label_png(tmp_path / "small.png", np.zeros((32, 32), np.uint8))
    (tmp_path / "not_ours.ckpt").write_bytes(b"PK\x03\x04 definitely not a checkpoint")
    return tmp_path


def assert_one_line_error(stderr: str, expected: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("semantic-vae: error:") and expected in lines[0], stderr
    assert "Traceback" not in stderr


def test_bad_input_through_the_real_command_line(trained_ckpt, inputs, bad_files):
    """Subprocesses (in parallel): one line on stderr, exit code 2, no traceback."""
    base = [sys.executable, "-m", "semantic_vae", "edit"]
    cases = {
        "not_ours.ckpt: not a readable PyTorch checkpoint": [
            "generate",
            "--ckpt",
            bad_files / "not_ours.ckpt",
            "--input",
            inputs,
            "--parts",
            "nose",
            "--out",
            bad_files / "o1",
        ],
        "bad.png: label value 19 is beyond the last id 18": [
            "perturb",
            "--ckpt",
            trained_ckpt,
            "--input",
            bad_files / "bad.png",
            "--parts",
            "nose",
            "--out",
            bad_files / "o2",
        ],
    }
    procs = {
        expected: subprocess.Popen(
            [*base, *map(str, args)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for expected, args in cases.items()
    }
    for expected, proc in procs.items():
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 2, stderr
        assert_one_line_error(stderr, expected)


@pytest.mark.parametrize("case", ["unknown part", "size mismatch", "target count"])
def test_bad_input_in_process(trained_ckpt, inputs, bad_files, capsys, case):
    args, expected = {
        "unknown part": (
            ["generate", "--input", inputs, "--parts", "noze"],
            "unknown part 'noze'; known parts: background, skin",
        ),
        "size mismatch": (
            ["swap", "--input", inputs / "a.png", "--target", bad_files / "small.png", "--parts", "nose"],
            "a.png: size 96x96 differs from its target",
        ),
        "target count": (
            ["interpolate", "--input", inputs, "--target", bad_files, "--parts", "nose"],
            "--target has 2 PNGs for 3 inputs",
        ),
    }[case]
    with pytest.raises(SystemExit) as exit_info:
        run("edit", *args, "--ckpt", trained_ckpt, "--out", bad_files / "out")
    assert exit_info.value.code == 2
    assert_one_line_error(capsys.readouterr().err, expected)
