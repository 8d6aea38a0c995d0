"""Bad input, tried on purpose, on every surface: the CLI's LightningCLI commands, the data and edit tools,
evaluate-edits, and the MaskEditor API.

Each case asserts: exit status 2 from the CLI (or `UserError` from the API), one line on stderr that
names the file or argument and says what is wrong, no traceback, and nothing written that looks
complete (no finished outputs in the output path the command was given).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import lightning  # noqa: F401 (first imported here: its log handler binds the session's stderr, not one test's capsys)
import numpy as np
import pytest
import torch

from semantic_vae.app.session import EditSession
from semantic_vae.cli import main
from semantic_vae.data.celebamask import make_raw_layout
from semantic_vae.data.io import read_label_png, write_label_png
from semantic_vae.data.synthetic import heldout_masks
from semantic_vae.edit import Edit, MaskEditor
from semantic_vae.edit.recipe import Recipe, png_base64
from semantic_vae.errors import UserError
from semantic_vae.model import load_vae
from tests.conftest import ROOT, config_args

COMPLETE_MARKERS = ("*.png", "manifest.csv", "metrics.json", "edit_metrics.json", "*.ckpt", "masks.npy")
INFO_LINES = ("Seed set to", "INFO: ", "GPU available", "TPU available", "wandb:")  # informational, before any error


def png_with_bit_depth_16(path: Path, labels: np.ndarray) -> None:
    cv2.imwrite(str(path), labels.astype(np.uint16) * 257)


@pytest.fixture(scope="module")
def world(tmp_path_factory, trained_ckpt) -> dict[str, Path]:
    """Good and bad files for every case, built once."""
    w = tmp_path_factory.mktemp("bad_input")
    masks = heldout_masks(3, 64)
    paths: dict[str, Path] = {"ckpt": trained_ckpt}

    good = w / "good"
    for i, mask in enumerate(masks):
        write_label_png(good / f"{i}.png", mask)
    paths["good"], paths["one"] = good, good / "0.png"
    small = w / "small"
    write_label_png(small / "s.png", masks[0][:32, :32])
    paths["small"] = small / "s.png"
    (w / "empty").mkdir()
    paths["empty"] = w / "empty"
    write_label_png(w / "single" / "0.png", masks[0])
    paths["single"] = w / "single"
    (w / "lock_is_a_folder" / ".lock").mkdir(parents=True)  # a lock error: the folder is named, not its .lock
    paths["lock_is_a_folder"] = w / "lock_is_a_folder"
    (w / "recipe_bytes.json").write_bytes(bytes(range(128, 256)))  # not UTF-8
    paths["recipe_bytes"] = w / "recipe_bytes.json"

    def bad_folder(name: str, make: Callable[[Path], None]) -> Path:
        folder = w / name
        write_label_png(folder / "0.png", masks[0])
        make(folder / "1.png")
        paths[name] = folder
        return folder

    encoded = cv2.imencode(".png", masks[1])[1].tobytes()
    bad_folder("truncated", lambda p: p.write_bytes(encoded[: len(encoded) // 2]))
    bad_folder("empty_file", lambda p: p.write_bytes(b""))
    bad_folder("jpeg", lambda p: p.write_bytes(cv2.imencode(".jpg", masks[1])[1].tobytes()))
    bad_folder("bit16", lambda p: png_with_bit_depth_16(p, masks[1]))

    def off_palette(p: Path) -> None:
        rgb = np.zeros((64, 64, 3), np.uint8)
        rgb[:] = (204, 0, 0)
        rgb[5, 7] = (1, 2, 3)
        cv2.imwrite(str(p), rgb[..., ::-1])

    bad_folder("colours", off_palette)

    def above(p: Path) -> None:
        labels = masks[1].copy()
        labels[0, 0] = 19
        write_label_png(p, labels)

    bad_folder("label19", above)

    raw = w / "raw"
    make_raw_layout(masks[:2], raw)
    anno = raw / "CelebAMask-HQ-mask-anno" / "0"
    (anno / "00001_nosee.png").write_bytes((anno / "00001_nose.png").read_bytes())  # misnamed part
    paths["raw_misnamed"] = raw
    raw2 = w / "raw_trunc"
    make_raw_layout(masks[:2], raw2)
    (raw2 / "CelebAMask-HQ-mask-anno" / "0" / "00001_skin.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    paths["raw_truncated"] = raw2
    raw3 = w / "raw_extra"
    make_raw_layout(masks[:2], raw3)
    extra = raw3 / "CelebAMask-HQ-mask-anno" / "1"
    extra.mkdir()
    (extra / "00001_skin.png").write_bytes((raw3 / "CelebAMask-HQ-mask-anno" / "0" / "00001_skin.png").read_bytes())
    paths["raw_duplicate"] = raw3

    blob = trained_ckpt.read_bytes()
    (w / "truncated.ckpt").write_bytes(blob[: len(blob) // 3])
    (w / "random.ckpt").write_bytes(os.urandom(4096))
    torch.save({"weights": torch.zeros(3)}, w / "dict.ckpt")
    checkpoint = torch.load(trained_ckpt, map_location="cpu", weights_only=True)
    checkpoint["hyper_parameters"]["net"]["latent_dim"] = 64
    torch.save(checkpoint, w / "shapes.ckpt")
    pickled = dict(checkpoint, extra=Path("an object that only unpickling makes"))
    torch.save(pickled, w / "pickled.ckpt")
    for name in ("truncated", "random", "dict", "shapes", "pickled"):
        paths[f"{name}_ckpt"] = w / f"{name}.ckpt"
    (w / "a_file").write_text("not a folder")
    paths["a_file"] = w / "a_file"
    (w / "numbers.yaml").write_text("classes:\n  background: 0\n  face: [skin]\n")
    paths["merge_numbers"] = w / "numbers.yaml"
    eight = "\n".join(f"  {name}: [{', '.join(old)}]" for name, old in EIGHT_CLASSES.items())
    (w / "eight.yaml").write_text(f"classes:\n{eight}\n")
    paths["merge_eight"] = w / "eight.yaml"
    (w / "palette.yaml").write_text("names: [a, b]\npalette: [[0, 0, 0], [300, 0, 0]]\n")
    paths["palette_300"] = w / "palette.yaml"
    finished = w / "finished_run" / "checkpoints"
    finished.mkdir(parents=True)
    (finished / "last.ckpt").write_bytes(trained_ckpt.read_bytes())
    paths["finished_run"] = finished.parent
    for name, change in RECIPE_CHANGES.items():
        recipe = recipe_of(masks)
        change(recipe)
        (w / f"{name}.json").write_text(json.dumps(recipe))
        paths[name] = w / f"{name}.json"
    steering = MaskEditor.from_checkpoint(trained_ckpt, device="cpu").steering
    paths["weak"] = min(
        ((p, k) for p, a in steering.directions.items() for k in a), key=lambda pk: steering.directions[pk[0]][pk[1]].r2
    )
    paths["w"] = w
    return paths


EIGHT_CLASSES = {  # a merge map onto 8 classes: the data of another label set than the 19-class checkpoint
    "background": ["background", "hat", "ear_r", "neck_l"], "skin": ["skin", "l_ear", "r_ear", "neck"],
    "eyes": ["eye_g", "l_eye", "r_eye"], "brows": ["l_brow", "r_brow"], "nose": ["nose"],
    "mouth": ["mouth", "u_lip", "l_lip"], "hair": ["hair"], "cloth": ["cloth"],
}  # fmt: skip


def recipe_of(masks: np.ndarray) -> dict:
    step = Edit("perturb", "nose", seed=1, scale=1.0).to_dict()  # every field, as the web editor writes it
    return {"format": 2, "checkpoint_sha256": "0" * 64, "input_png": png_base64(masks[0]),
            "steps": [{"edit": step, "target_png": None}]}  # fmt: skip


RECIPE_CHANGES: dict[str, Callable[[dict], None]] = {
    "recipe_steer_curl": lambda r: r["steps"][0].update(
        edit=Edit("steer", "nose", attribute="curl", amount=1).to_dict()
    ),
    "recipe_scale_text": lambda r: r["steps"][0]["edit"].update(scale="loud"),
    "recipe_scale_missing": lambda r: r["steps"][0]["edit"].pop("scale"),
    "recipe_format_9": lambda r: r.update(format=9),
}


def _complete_files(out: Path | None) -> dict[Path, bytes]:
    """Finished-looking files under `out` and their bytes."""
    if out is None or not out.is_dir():
        return {}
    return {p: p.read_bytes() for marker in COMPLETE_MARKERS for p in out.rglob(marker)}


def expect_cli_error(argv: list[str], words: list[str], out: Path | None, capsys) -> str:
    """Run the CLI in-process; it must exit 2 with one line naming what is wrong, and leave nothing complete that was
    not there before (a finished run it refused to overwrite stays as it was)."""
    capsys.readouterr()
    before = _complete_files(out)
    with pytest.raises(SystemExit) as done:
        main([str(a) for a in argv])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith(INFO_LINES)]
    assert done.value.code == 2, err
    assert len(lines) == 1 and lines[0].startswith("semantic-vae: error: "), err
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0], (word, lines[0])
    after = _complete_files(out)
    assert after == before, f"{out} holds {sorted(set(after) - set(before))[:3]} after a failed command"
    return lines[0]


TINY = ["--data.image_size=32", "--data.synthetic_count=40", "--data.synthetic_test=8", "--data.num_workers=0",
        "--trainer.max_epochs=1", "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
        "--model.net.lstm_hidden=8", "--model.net.ffn_hidden=8", "--model.net.encoder_hidden=[8]"]  # fmt: skip


def lightning_cases(w: dict[str, Path]) -> list[tuple[str, list[str], list[str]]]:
    """(id, argv after the subcommand's configs, words the message must hold)."""
    base = config_args("base.yaml", "small.yaml")
    cache = f"--data.cache_dir={w['w'] / 'cache'}"
    run = lambda name: f"--trainer.default_root_dir={w['w'] / 'runs' / name}"  # noqa: E731
    return [
        ("fit-config-typo", ["fit", *base, *TINY, cache, "--model.net.lstm_layer=3", run("typo")], ["--model.net.lstm_layer=3"]),
        ("fit-config-missing", ["fit", "--config", str(w["w"] / "nope.yaml"), run("nope")], ["nope.yaml", "does not exist"]),
        ("fit-image-size", ["fit", *base, *TINY, cache, run("size"), "--data.image_size=48"], ["image_size must be 16 times a power of two", "48"]),
        ("fit-batch-size-0", ["fit", *base, *TINY, cache, run("batch"), "--data.batch_size=0"], ["data.batch_size", ">= 1", "0"]),
        ("fit-batch-size-text", ["fit", *base, *TINY, cache, run("batch2"), "--data.batch_size=many"], ["data.batch_size", "many"]),
        ("fit-val-fraction-0", ["fit", *base, *TINY, cache, run("v0"), "--data.val_fraction=0"], ["data.val_fraction", "(0, 1)"]),
        ("fit-val-fraction-1", ["fit", *base, *TINY, cache, run("v1"), "--data.val_fraction=1"], ["data.val_fraction", "(0, 1)"]),
        ("fit-workers-negative", ["fit", *base, *TINY, cache, run("wk"), "--data.num_workers=-1"], ["data.num_workers"]),
        ("fit-root-missing", ["fit", *base, *TINY, cache, run("root"), "--data.source=celebamask", f"--data.root={w['w'] / 'nowhere'}"], ["nowhere", "not found"]),
        ("fit-root-empty", ["fit", *base, *TINY, cache, run("root2"), "--data.source=celebamask", f"--data.root={w['empty']}"], [str(w["empty"]), "no label PNGs"]),
        ("fit-root-dir-is-a-file", ["fit", *base, *TINY, cache, f"--trainer.default_root_dir={w['a_file']}"], [str(w["a_file"]), "not a folder"]),
        ("fit-free-bits-negative", ["fit", *base, *TINY, cache, run("fb"), "--model.free_bits=-1"], ["model.free_bits"]),
        ("test-ckpt-missing", ["test", *base, *TINY, cache, run("t1"), f"--ckpt_path={w['w'] / 'none.ckpt'}"], ["none.ckpt", "not found"]),
        ("test-ckpt-truncated", ["test", *base, *TINY, cache, run("t2"), f"--ckpt_path={w['truncated_ckpt']}"], ["truncated.ckpt", "not a readable PyTorch checkpoint"]),
        ("test-ckpt-random", ["test", *base, *TINY, cache, run("t3"), f"--ckpt_path={w['random_ckpt']}"], ["random.ckpt"]),
        ("test-ckpt-plain-dict", ["test", *base, *TINY, cache, run("t4"), f"--ckpt_path={w['dict_ckpt']}"], ["dict.ckpt", "no 'state_dict'"]),
        ("test-ckpt-pickled-object", ["test", *base, *TINY, cache, run("t5"), f"--ckpt_path={w['pickled_ckpt']}"], ["pickled.ckpt", "refused"]),
        ("test-ckpt-other-resolution", ["test", *base, *TINY, cache, run("t6"), f"--ckpt_path={w['ckpt']}"], ["trained on 64x64 masks", "data.image_size is 32"]),
        ("predict-root-missing", ["predict", *base, *TINY, cache, run("p1"), f"--ckpt_path={w['ckpt']}", "--data.image_size=64", f"--data.predict_root={w['w'] / 'nowhere'}"], ["nowhere"]),
        ("predict-root-empty", ["predict", *base, *TINY, cache, run("p2"), f"--ckpt_path={w['ckpt']}", "--data.image_size=64", f"--data.predict_root={w['empty']}"], [str(w["empty"]), "no PNG"]),
        ("predict-truncated-png", ["predict", *base, *TINY, cache, run("p3"), f"--ckpt_path={w['ckpt']}", "--data.image_size=64", f"--data.predict_root={w['truncated']}"], ["1.png", "truncated or corrupt"]),
        ("subcommand-typo", ["fitt"], ["fitt", "invalid choice"]),
        ("fit-seed-huge", ["fit", *base, *TINY, cache, run("s1"), "--seed_everything=12345678901234567890"], ["--seed_everything", "0..4294967295", "12345678901234567890"]),
        ("fit-seed-negative", ["fit", *base, *TINY, cache, run("s2"), "--seed_everything=-1"], ["--seed_everything", "-1"]),
        ("fit-lr-negative", ["fit", *base, *TINY, cache, run("lr"), "--model.lr=-0.1"], ["model.lr must be a positive number", "-0.1"]),
        ("fit-betas-above-1", ["fit", *base, *TINY, cache, run("betas"), "--model.betas=[0.5,1.5]"], ["model.betas", "[0, 1)"]),
        ("fit-into-a-finished-run", ["fit", *base, *TINY, cache, f"--trainer.default_root_dir={w['finished_run']}"], [str(w["finished_run"]), "holds a run", "--ckpt_path last", "--overwrite"]),
        ("fit-resume-with-another-lr", ["fit", *base, *config_args("recommended.yaml"), *TINY, "--data.image_size=64", cache, run("resume"), f"--ckpt_path={w['ckpt']}", "--model.lr=0.01"], ["--model.lr", "0.01", "trained with"]),
        ("fit-ckpt-of-another-label-set", ["fit", *base, *TINY, "--data.image_size=64", cache, run("ls1"), f"--ckpt_path={w['ckpt']}", f"--data.merge_map={w['merge_eight']}"], ["label set", "19 classes", "'eight' (8 classes"]),
        ("test-ckpt-of-another-label-set", ["test", *base, *TINY, "--data.image_size=64", cache, run("ls2"), f"--ckpt_path={w['ckpt']}", f"--data.merge_map={w['merge_eight']}"], ["label set", "'eight' (8 classes"]),
        ("test-ckpt-last-missing", ["test", *base, *TINY, cache, run("nolast"), "--ckpt_path=last"], ["--ckpt_path last", "last.ckpt does not exist"]),
        ("validate-ckpt-missing", ["validate", *base, *TINY, cache, run("v"), f"--ckpt_path={w['w'] / 'gone.ckpt'}"], ["gone.ckpt", "not found"]),
        ("predict-ckpt-missing", ["predict", *base, *TINY, cache, run("p4"), f"--ckpt_path={w['w'] / 'gone.ckpt'}", f"--data.predict_root={w['good']}"], ["gone.ckpt", "not found"]),
        ("test-ckpt-best-without-a-fit", ["test", *base, *TINY, cache, run("best"), "--ckpt_path=best"], ["--ckpt_path best", "give a checkpoint file or 'last'"]),
        ("fit-merge-map-with-a-number", ["fit", *base, *TINY, cache, run("mm"), f"--data.merge_map={w['merge_numbers']}"], ["numbers.yaml", "class 'background' must list", "got 0"]),
        ("fit-label-set-and-merge-map", ["fit", *base, *TINY, cache, run("both"), f"--data.merge_map={w['merge_eight']}", f"--data.label_set={w['palette_300']}"], ["label_set and merge_map: give one"]),
        ("fit-palette-out-of-range", ["fit", *base, *TINY, cache, run("pal"), f"--data.label_set={w['palette_300']}"], ["palette colour [300, 0, 0]", "0..255"]),
    ]  # fmt: skip


def tool_cases(w: dict[str, Path]) -> list[tuple[str, list[str], list[str]]]:
    ckpt, out = w["ckpt"], w["out"]  # one output folder per case: nothing may be finished in it afterwards
    edit = lambda op, *more: ["edit", op, "--ckpt", ckpt, "--out", out, *more]  # noqa: E731
    return [
        ("merge-root-missing", ["data", "merge", "--root", w["w"] / "nowhere", "--out", out], ["nowhere", "not found"]),
        ("merge-root-empty", ["data", "merge", "--root", w["empty"], "--out", out], [str(w["empty"]), "no label PNGs"]),
        ("merge-misnamed-part", ["data", "merge", "--root", w["raw_misnamed"], "--out", out, "--workers", "1"], ["00001_nosee.png", "not a CelebAMask-HQ part file"]),
        ("merge-duplicate-part", ["data", "merge", "--root", w["raw_duplicate"], "--out", out, "--workers", "1"], ["00001_skin.png", "twice"]),
        ("merge-truncated-part", ["data", "merge", "--root", w["raw_truncated"], "--out", out, "--workers", "1"], ["00001_skin.png", "truncated or corrupt"]),
        ("merge-out-is-a-file", ["data", "merge", "--root", w["raw_misnamed"], "--out", w["a_file"]], [str(w["a_file"]), "not a folder"]),
        ("prepare-empty-file", ["data", "prepare", "--root", w["empty_file"], "--size", "32", "--cache_dir", out], ["1.png", "not a PNG file (0 bytes"]),
        ("prepare-jpeg-named-png", ["data", "prepare", "--root", w["jpeg"], "--size", "32", "--cache_dir", out], ["1.png", "no PNG signature"]),
        ("prepare-16-bit", ["data", "prepare", "--root", w["bit16"], "--size", "32", "--cache_dir", out], ["1.png", "label value 4626"]),
        ("prepare-off-palette", ["data", "prepare", "--root", w["colours"], "--size", "32", "--cache_dir", out], ["1.png", "(1,2,3)", "not in the"]),
        ("prepare-label-19", ["data", "prepare", "--root", w["label19"], "--size", "32", "--cache_dir", out], ["1.png", "label value 19"]),
        ("prepare-root-is-a-file", ["data", "prepare", "--root", w["a_file"], "--size", "32", "--cache_dir", out], [str(w["a_file"]), "not a folder"]),
        ("prepare-size-0", ["data", "prepare", "--root", w["good"], "--size", "0", "--cache_dir", out], ["--size must be 16 times a power of two", "got 0"]),
        ("preview-n-0", ["data", "preview", "--n", "0", "--out", out / "p.png"], ["n must be at least 1"]),
        ("preview-out-is-a-folder", ["data", "preview", "--n", "2", "--size", "32", "--out", w["empty"]], [str(w["empty"]), "ending in .png"]),
        ("edit-ckpt-missing", edit("generate", "--input", w["good"], "--parts", "nose", "--ckpt", w["w"] / "none.ckpt"), ["none.ckpt", "not found"]),
        ("edit-ckpt-random", ["edit", "generate", "--ckpt", w["random_ckpt"], "--input", w["good"], "--parts", "nose", "--out", out], ["random.ckpt"]),
        ("edit-ckpt-pickled", ["edit", "generate", "--ckpt", w["pickled_ckpt"], "--input", w["good"], "--parts", "nose", "--out", out], ["pickled.ckpt", "refused"]),
        ("edit-ckpt-other-shapes", ["edit", "reconstruct", "--ckpt", w["shapes_ckpt"], "--input", w["good"], "--out", out], ["shapes.ckpt", "not a checkpoint of this network"]),
        ("edit-input-missing", edit("reconstruct", "--input", w["w"] / "nowhere"), ["nowhere", "no such file"]),
        ("edit-input-empty", edit("reconstruct", "--input", w["empty"]), [str(w["empty"]), "no PNG files"]),
        ("edit-input-truncated", edit("reconstruct", "--input", w["truncated"]), ["1.png", "truncated or corrupt"]),
        ("edit-input-label-19", edit("reconstruct", "--input", w["label19"]), ["1.png", "label value 19"]),
        ("edit-unknown-part", edit("generate", "--input", w["good"], "--parts", "noze"), ["unknown part 'noze'"]),
        ("edit-negative-seed", edit("generate", "--input", w["good"], "--parts", "nose", "--seed", "-1"), ["seed", "-1"]),
        ("edit-huge-seed", edit("generate", "--input", w["good"], "--parts", "nose", "--seed", str(2**64)), ["seed"]),
        ("edit-unknown-keep", edit("generate", "--input", w["good"], "--parts", "nose", "--keep", "all"), ["keep", "all"]),
        ("edit-unknown-prior", edit("generate", "--input", w["good"], "--parts", "nose", "--prior", "flat"), ["prior", "flat"]),
        ("perturb-nan-scale", edit("perturb", "--input", w["good"], "--parts", "nose", "--scale", "nan"), ["scale", "nan"]),
        ("perturb-inf-scale", edit("perturb", "--input", w["good"], "--parts", "nose", "--scale", "inf"), ["scale", "inf"]),
        ("interpolate-zero-steps", edit("interpolate", "--input", w["good"], "--target", w["one"], "--parts", "nose", "--steps", "0"), ["--steps must be a whole number in 2..101"]),
        ("interpolate-other-size", edit("interpolate", "--input", w["one"], "--target", w["small"], "--parts", "nose"), ["s.png", "differs"]),
        ("swap-target-count", edit("swap", "--input", w["good"], "--target", w["truncated"], "--parts", "nose"), ["--target has 2 PNGs for 3 inputs"]),
        ("edit-out-is-a-file", ["edit", "reconstruct", "--ckpt", ckpt, "--input", w["good"], "--out", w["a_file"]], [str(w["a_file"]), "not a folder"]),
        ("augment-zero-variants", edit("augment", "--input", w["good"], "--variants", "0"), ["--variants must be at least 1"]),
        ("augment-unknown-operation", edit("augment", "--input", w["good"], "--operations", "generate,twist"), ["--operations", "twist"]),
        ("augment-nan-scale", edit("augment", "--input", w["good"], "--scale", "nan"), ["scale", "nan"]),
        ("evaluate-count-1", ["evaluate-edits", "--ckpt", ckpt, "--count", "1", "--out", out / "e.json"], ["--count must be at least 2"]),
        ("evaluate-data-label-19", ["evaluate-edits", "--ckpt", ckpt, "--data", w["label19"], "--out", out / "e.json"], ["1.png", "label value 19"]),
        ("evaluate-no-parts", ["evaluate-edits", "--ckpt", ckpt, "--parts", "", "--out", out / "e.json"], ["--parts", "no parts"]),
        ("evaluate-unknown-operation", ["evaluate-edits", "--ckpt", ckpt, "--operations", "blend", "--out", out / "e.json"], ["--operations", "blend"]),
        ("tool-unknown-command", ["edit", "gennerate", "--ckpt", ckpt], ["gennerate"]),
        ("perturb-negative-scale", edit("perturb", "--input", w["good"], "--parts", "nose", "--scale", "-1"), ["scale must be a finite number >= 0", "-1"]),
        ("augment-negative-scale", edit("augment", "--input", w["good"], "--scale", "-0.5"), ["scale must be a finite number >= 0"]),
        ("interpolate-huge-steps", edit("interpolate", "--input", w["good"], "--target", w["one"], "--parts", "nose", "--steps", "100000"), ["--steps must be a whole number in 2..101", "100000"]),
        ("generate-no-parts", edit("generate", "--input", w["good"]), ["generate: no parts given"]),
        ("generate-seed-past-the-range", edit("generate", "--input", w["good"], "--parts", "nose", "--seed", str(2**32 - 2)), ["file i uses seed + i", "3 files"]),
        ("prepare-size-50", ["data", "prepare", "--root", w["good"], "--size", "50", "--cache_dir", out], ["--size must be 16 times a power of two", "got 50"]),
        ("preview-out-not-png", ["data", "preview", "--n", "2", "--size", "32", "--out", out / "x.txt"], ["x.txt", "ending in .png"]),
        ("prepare-merge-map-with-a-number", ["data", "prepare", "--root", w["good"], "--size", "32", "--merge_map", w["merge_numbers"], "--cache_dir", out], ["numbers.yaml", "must list"]),
        ("replay-scale-not-a-number", edit("replay", "--recipe", w["recipe_scale_text"], "--check_checkpoint", "false"), ["recipe_scale_text.json", "step 1", "scale must be a number, got 'loud'"]),
        ("replay-scale-missing", edit("replay", "--recipe", w["recipe_scale_missing"], "--check_checkpoint", "false"), ["recipe_scale_missing.json", "step 1", "no 'scale'"]),
        ("replay-unknown-format", edit("replay", "--recipe", w["recipe_format_9"]), ["recipe_format_9.json", "got 9"]),
        ("evaluate-out-not-json", ["evaluate-edits", "--ckpt", ckpt, "--out", out / "e.txt"], ["e.txt", "ending in .json"]),
        ("edit-ckpt-random-bytes", edit("reconstruct", "--input", w["good"], "--ckpt", w["random_ckpt"]), ["random.ckpt", "not a PyTorch checkpoint"]),
        # the third pass (issue 32): the commands since the second, and the causes named inexactly before
        ("preview-seed-huge", ["data", "preview", "--n", "2", "--size", "32", "--seed", "99999999999999999999", "--out", out / "p.png"], ["--seed must be a whole number in 0..4294967295", "99999999999999999999"]),
        ("preview-seed-negative", ["data", "preview", "--n", "2", "--size", "32", "--seed", "-1", "--out", out / "p.png"], ["--seed must be a whole number in 0..4294967295", "-1"]),
        ("compare-seed-huge", ["data", "compare", "--real", w["good"], "--n", "2", "--size", "32", "--seed", str(2**40), "--out", out], ["--seed must be a whole number", str(2**40)]),
        ("replay-recipe-is-a-folder", edit("replay", "--recipe", w["empty"]), [str(w["empty"]), "is a folder; give the recipe's JSON file"]),
        ("replay-unknown-attribute", edit("replay", "--recipe", w["recipe_steer_curl"], "--check_checkpoint", "false"), ["recipe_steer_curl.json: step 1:", "has no attribute 'curl'"]),
        ("replay-not-utf8", edit("replay", "--recipe", w["recipe_bytes"]), ["recipe_bytes.json", "not an edit recipe (not UTF-8 JSON text)"]),
        ("steer-amounts-nan", edit("steer", "--input", w["good"], "--parts", "nose", "--attribute", "x", "--amounts=-2,nan"), ["--amounts -2,nan:", "amount must be a finite number in [-5, 5], got nan"]),
        ("steer-amounts-99", edit("steer", "--input", w["good"], "--parts", "nose", "--attribute", "x", "--amounts=1,99"), ["--amounts 1,99:", "got 99"]),
        ("steer-unknown-part", edit("steer", "--input", w["good"], "--parts", "noze", "--attribute", "size", "--amount", "1"), ["unknown part 'noze'; known parts: background, skin, nose"]),
        ("add-part-without-a-prior", edit("add", "--input", w["good"], "--parts", "nose"), ["add: 'nose' is present in (nearly) all or no training masks", "classes that have one: eye_g, l_eye"]),
        ("convert-weights-random-bytes", ["convert", "--weights", w["random_ckpt"], "--out", out / "o.ckpt"], ["--weights", "random.ckpt: not a PyTorch checkpoint"]),
        ("convert-back-a-model-of-another-setting", ["convert", "--to", "reference", "--ckpt", ckpt, "--out", out / "x.pth"], [f"--ckpt {ckpt}: the network is not of the released network's setting"]),
        ("convert-weights-a-folder", ["convert", "--weights", w["empty"], "--out", out / "o.ckpt"], [str(w["empty"]), "is a folder, not a file"]),
        ("edit-ckpt-a-plain-state-dict", edit("reconstruct", "--input", w["good"], "--ckpt", w["dict_ckpt"]), ["dict.ckpt", "no 'state_dict'", "semantic-vae convert --weights"]),
        ("fit-directions-too-few-masks", ["fit-directions", "--ckpt", ckpt, "--data", w["good"], "--out", out / "d.ckpt"], [f"--data {w['good']}: 3 training masks found; fit-directions needs at least 40"]),
        ("fit-prior-too-few-masks", ["fit-prior", "--ckpt", ckpt, "--data", w["single"], "--out", out / "p.ckpt"], [f"--data {w['single']}: 1 training mask(s) found; fit-prior needs at least 2"]),
        ("augment-add-part-without-a-prior", edit("augment", "--input", w["good"], "--operations", "add", "--parts", "nose"), ["--operations add: applies to no input: none of --parts nose has a presence prior", "eye_g"]),
        ("augment-add-a-part-every-input-has", edit("augment", "--input", w["good"], "--operations", "generate,add", "--parts", "eyes"), ["--operations add: applies to no input: every input already has eyes"]),
        ("augment-remove-a-part-no-input-has", edit("augment", "--input", w["good"], "--operations", "remove", "--parts", "eye_g"), ["--operations remove: applies to no input: every input lacks eye_g"]),
        ("augment-steer-two-parts-at-once", edit("augment", "--input", w["good"], "--operations", "steer", "--parts", "nose,hair", "--parts_per_variant", "2"), ["--operations steer: applies to no input: a steer edits one part and --parts_per_variant is 2"]),
        ("out-lock-is-a-folder", ["edit", "reconstruct", "--ckpt", ckpt, "--input", w["good"], "--out", w["lock_is_a_folder"]], [f"{w['lock_is_a_folder']}: cannot write into this --out folder ("]),
    ]  # fmt: skip


class _AnyPath(dict):
    """Stand-in paths, to list the case ids before the files exist."""

    def __missing__(self, key: str) -> Path:
        return Path("/x") / key


LIGHTNING_IDS = [c[0] for c in lightning_cases(_AnyPath())]
TOOL_IDS = [c[0] for c in tool_cases(_AnyPath())]


@pytest.mark.parametrize("case", LIGHTNING_IDS)
def test_lightning_commands_refuse_bad_input(case, world, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    _, argv, words = next(c for c in lightning_cases(world) if c[0] == case)
    root = next((Path(a.split("=", 1)[1]) for a in argv if a.startswith("--trainer.default_root_dir=")), None)
    expect_cli_error(argv, words, root if root and root.is_dir() else None, capsys)


@pytest.mark.parametrize("case", TOOL_IDS)
def test_tools_refuse_bad_input(case, world, capsys):
    out = world["w"] / "out" / case
    _, argv, words = next(c for c in tool_cases({**world, "out": out}) if c[0] == case)
    expect_cli_error([str(a) for a in argv], words, out, capsys)


@pytest.fixture(scope="module")
def editor(trained_ckpt) -> MaskEditor:
    return MaskEditor.from_checkpoint(trained_ckpt, device="cpu")


API_CASES: dict[str, tuple[Callable[[MaskEditor, np.ndarray], object], str]] = {
    "float-masks": (lambda e, m: e.reconstruct(m.astype(np.float32)), "integer label maps"),
    "bool-masks": (lambda e, m: e.reconstruct(m > 0), "integer label maps"),
    "list-not-array": (lambda e, m: e.reconstruct(m.tolist()), "numpy array or a torch tensor"),
    "4-d-masks": (lambda e, m: e.reconstruct(m[None]), "(H, W) or (B, H, W)"),
    "batch-size-text": (
        lambda e, m: MaskEditor(e.vae, e.label_set, batch_size="8"),
        "batch_size must be a whole number",
    ),
    "label-above-set": (lambda e, m: e.reconstruct(np.where(m == 0, 25, m)), "label value 25"),
    "negative-label": (lambda e, m: e.reconstruct(m.astype(np.int16) - 1), "label value -1"),
    "unknown-part": (lambda e, m: e.generate(m, "beard"), "unknown part 'beard'"),
    "part-id-out-of-range": (lambda e, m: e.generate(m, 40), "part id 40 is out of range"),
    "no-parts": (lambda e, m: e.generate(m, []), "no parts given"),
    "seed-count": (lambda e, m: e.generate(m, "nose", seed=[1, 2]), "got 2 seeds for 3 masks"),
    "alpha-above-1": (lambda e, m: e.interpolate(m, m, "nose", 1.5), "alpha must be a finite number in [0, 1]"),
    "alpha-nan": (lambda e, m: e.interpolate(m, m, "nose", float("nan")), "alpha must be a finite number"),
    "no-alphas": (lambda e, m: e.interpolate(m, m, "nose", []), "no alphas given"),
    "sample-zero": (lambda e, m: e.sample(0), "n must be a whole number >= 1"),
    "sample-size-zero": (lambda e, m: e.sample(2, size=0), "size must be a whole number of pixels >= 1, got 0"),
    "sample-size-negative": (lambda e, m: e.sample(2, size=-64), "size must be a whole number of pixels >= 1, got -64"),
    "sample-n-bool": (lambda e, m: e.sample(True), "n must be a whole number >= 1, got True"),
    "part-bool": (lambda e, m: e.generate(m, True), "parts: expected part names or ids, got True"),
    "part-float": (lambda e, m: e.generate(m, [2.5]), "parts: expected part names or ids, got 2.5"),
    "negative-scale": (lambda e, m: e.perturb(m, "nose", scale=-1.0), "scale must be a finite number >= 0"),
    "rgb-float": (lambda e, m: e.reconstruct(np.zeros((64, 64, 3), np.float32)), "integer label maps"),
    "rgb-off-palette": (lambda e, m: e.reconstruct(np.full((64, 64, 3), 9, np.uint8)), "colour (9,9,9)"),
    "5-d-masks": (lambda e, m: e.reconstruct(m[None, None]), "got shape (1, 1, 3, 64, 64)"),
    "seed-float": (lambda e, m: e.generate(m, "nose", seed=1.5), "seed must be a whole number"),
    "seeds-negative": (lambda e, m: e.generate(m, "nose", seed=[1, -2, 3]), "seed must be a whole number"),
    "apply-not-an-edit": (lambda e, m: e.apply("generate", m), "expected one or more Edit values"),
    "apply-swap-without-target": (lambda e, m: e.apply(Edit("swap", "nose"), m), "swap: needs a target mask"),
    "radius-negative": (lambda e, m: e.swap(m, m, "nose", radius=-2), "radius must be"),
    "batch-size-0": (
        lambda e, m: MaskEditor(e.vae, e.label_set, device="cpu", batch_size=0),
        "batch_size must be a whole number >= 1",
    ),
    "cuda-missing": (lambda e, m: MaskEditor(e.vae, e.label_set, device="cuda:7"), "device 'cuda:7'"),
    "device-nonsense": (lambda e, m: MaskEditor(e.vae, e.label_set, device="tpu9"), "device 'tpu9'"),
    # the third pass (issue 32): every entry point's argument types, and the shapes a user would not mean
    "load-vae-a-number": (
        lambda e, m: load_vae(123),
        "load_vae: expected a file path (a str or a pathlib.Path), got 123",
    ),
    "load-vae-none": (
        lambda e, m: load_vae(None),
        "load_vae: expected a file path (a str or a pathlib.Path), got None",
    ),
    "from-checkpoint-a-list": (lambda e, m: MaskEditor.from_checkpoint(["a.ckpt"]), "expected a file path"),
    "editor-vae-a-path": (lambda e, m: MaskEditor("model.ckpt", e.label_set), "vae: expected a SemanticVAE"),
    "editor-label-set-a-name": (lambda e, m: MaskEditor(e.vae, "celebamask_hq"), "label_set: expected a LabelSet"),
    "editor-steering-a-dict": (
        lambda e, m: MaskEditor(e.vae, e.label_set, steering={}),
        "steering: expected a Steering",
    ),
    "device-a-float": (
        lambda e, m: MaskEditor(e.vae, e.label_set, device=1.5),
        "device: expected a name such as 'cpu'",
    ),
    "apply-many-a-number": (lambda e, m: e.apply_many(5, m), "apply: expected one or more Edit values"),
    "edit-apply-a-path": (
        lambda e, m: Edit("generate", "nose").apply("model.ckpt", m),
        "Edit.apply: expected an editor",
    ),
    "apply-seeds-a-float": (
        lambda e, m: e.apply(Edit("generate", "nose"), m, seeds=1.5),
        "seeds: expected one whole number per mask",
    ),
    "interpolate-alphas-none": (
        lambda e, m: e.interpolate(m, m, "nose", None),
        "alphas must be a number in [0, 1] or a list",
    ),
    "interpolate-alphas-text": (
        lambda e, m: e.interpolate(m, m, "nose", "0.5"),
        "alphas must be a number in [0, 1] or a list",
    ),
    "torch-float-masks": (
        lambda e, m: e.reconstruct(torch.from_numpy(m).float()),
        "integer label maps, got dtype torch.float32",
    ),
    "torch-bfloat16-masks": (lambda e, m: e.reconstruct(torch.from_numpy(m).bfloat16()), "got dtype torch.bfloat16"),
    "torch-bool-masks": (lambda e, m: e.reconstruct(torch.from_numpy(m) > 0), "got dtype torch.bool"),
    "masks-smaller-than-the-model-takes": (
        lambda e, m: e.reconstruct(m[:, :8, :8]),
        "shape (3, 8, 8) gives masks of 8x8 pixels; this model takes sides of 16 or more",
    ),
    "masks-one-pixel-wide": (lambda e, m: e.reconstruct(m[..., :1]), "shape (3, 64, 1) gives masks of 3x64 pixels"),
    "colour-beyond-255": (
        lambda e, m: e.reconstruct(np.full((64, 64, 3), 300, np.int64)),
        "a colour mask (last axis 3) holds 0..255, got 300..300",
    ),
    "target-a-list": (lambda e, m: e.swap(m, m.tolist(), "nose"), "target: expected a numpy array or a torch tensor"),
    "read-label-png-a-number": (lambda e, m: read_label_png(123), "path: expected a file path"),
    "read-label-png-a-label-set-name": (
        lambda e, m: read_label_png("x.png", "celebamask_hq"),
        "label_set: expected a LabelSet",
    ),
    "write-label-png-floats": (
        lambda e, m: write_label_png(Path("unwritten.png"), m[0] + 0.5),
        "a label map holds integer ids, got dtype float64",
    ),
    "recipe-from-json-a-dict": (
        lambda e, m: Recipe.from_json({"format": 2}),
        "recipe: expected the recipe's JSON text, got dict",
    ),
    "steer-a-misspelt-part": (
        lambda e, m: e.steer(m, "noze", "size", 1.0),
        "unknown part 'noze'; known parts: background",
    ),
    "remove-part-without-a-prior": (lambda e, m: e.remove(m, "nose"), "classes that have one: eye_g, l_eye"),
    "sample-absent-without-a-prior": (
        lambda e, m: e.sample(2, absent="nose"),
        "sample(absent=...): 'nose' is present in",
    ),
    "sample-present-without-a-prior": (
        lambda e, m: e.sample(2, present="skin"),
        "sample(present=...): 'skin' is present in",
    ),
}


@pytest.mark.parametrize("case", sorted(API_CASES))
def test_the_api_refuses_bad_input_with_one_error_type(case, editor):
    call, words = API_CASES[case]
    masks = heldout_masks(3, 64)
    with pytest.raises(UserError) as err:
        call(editor, masks)
    message = str(err.value)
    assert words in message and "\n" not in message, message


# The web editor: what its page does with an upload or a click, through the session the page drives (the page
# shows each UserError as one "**Error:**" line and keeps serving: tests/test_app.py).
APP_CASES: dict[str, tuple[Callable[[EditSession, dict[str, Path]], object], list[str]]] = {
    "upload-empty-file": (lambda s, w: s.read(w["empty_file"] / "1.png"), ["1.png", "not a PNG file (0 bytes"]),
    "upload-jpeg-named-png": (lambda s, w: s.read(w["jpeg"] / "1.png"), ["1.png", "no PNG signature"]),
    "upload-truncated": (lambda s, w: s.read(w["truncated"] / "1.png"), ["1.png", "truncated or corrupt"]),
    "upload-16-bit-beyond-the-set": (lambda s, w: s.read(w["bit16"] / "1.png"), ["1.png", "label value 4626"]),
    "upload-off-palette": (lambda s, w: s.read(w["colours"] / "1.png"), ["1.png", "(1,2,3)", "not in the"]),
    "upload-label-19": (lambda s, w: s.read(w["label19"] / "1.png"), ["1.png", "label value 19"]),
    "edit-before-load": (lambda s, w: s.apply(s.step(Edit("generate", ["nose"]))), ["load a mask first"]),
    "no-part-picked": (lambda s, w: _loaded(s, w).step(Edit("generate", [])), ["no parts given"]),
    "swap-without-target": (lambda s, w: _loaded(s, w).step(Edit("swap", ["nose"])), ["swap needs a second mask"]),
    "unknown-keep": (
        lambda s, w: _loaded(s, w).apply(s.step(Edit("generate", ["nose"], keep="all"))),
        ["unknown mode 'all'"],
    ),
    "nan-scale": (lambda s, w: _loaded(s, w).apply(s.step(Edit("perturb", ["nose"], scale=float("nan")))), ["finite"]),
    "undo-at-start": (lambda s, w: _loaded(s, w).undo(), ["nothing to undo"]),
    "redo-at-end": (lambda s, w: _loaded(s, w).redo(), ["nothing to redo"]),
    "steer-a-misspelt-part-in-the-page": (
        lambda s, w: _loaded(s, w).step(Edit("steer", ["noze"], attribute="size", amount=1.0)),
        ["unknown part 'noze'"],
    ),
    "steer-a-weak-direction": (
        lambda s, w: _loaded(s, w).step(Edit("steer", [w["weak"][0]], attribute=w["weak"][1], amount=1.0)),
        ["has a direction of held-out R^2", "below 0.3: it predicts little"],
    ),
}


def _loaded(session: EditSession, world: dict[str, Path]) -> EditSession:
    session.load(session.read(world["one"]))
    return session


@pytest.mark.parametrize("case", sorted(APP_CASES))
def test_the_web_editor_refuses_bad_input_and_keeps_its_mask(case, editor, world):
    session = EditSession(editor, checkpoint_hash="test")
    call, words = APP_CASES[case]
    with pytest.raises(UserError) as err:
        call(session, world)
    message = str(err.value)
    assert all(w in message for w in words) and "\n" not in message, message
    if not case.startswith("upload-") and case != "edit-before-load":
        assert len(session.history) == 1 and session.position == 0  # the loaded mask is still the current one
    else:
        assert session.history == [] and not session.loaded  # nothing half-loaded


def test_bad_input_counts():
    """Every case id is distinct; RESULTS.md reports the counts per surface (keep it in step with this test)."""
    ids = [*LIGHTNING_IDS, *TOOL_IDS, *API_CASES, *APP_CASES, *(f"one-file-{c}" for c in ONE_FILE_IDS)]
    assert len(ids) == len(set(ids))
    counts = (len(LIGHTNING_IDS), len(TOOL_IDS), len(API_CASES), len(APP_CASES), len(ONE_FILE_IDS))
    assert counts == (37, 76, 59, 15, 4)


@pytest.mark.slow
def test_a_real_process_prints_one_line_and_no_traceback(world, tmp_path):
    """The same as the in-process cases, through the installed entry point as a user runs it."""
    commands = (
        ["edit", "generate", "--ckpt", str(world["random_ckpt"]), "--input", str(world["good"]), "--parts", "nose",
         "--out", str(tmp_path / "o")],
        ["fit", *config_args("base.yaml"), "--data.image_size=40", f"--trainer.default_root_dir={tmp_path / 'r'}"],
    )  # fmt: skip
    processes = [  # started together: two interpreters' start-up overlap
        subprocess.Popen(
            [sys.executable, "-m", "semantic_vae", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for argv in commands
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=120)
        lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith(INFO_LINES)]
        assert process.returncode == 2 and len(lines) == 1 and "Traceback" not in stderr, stderr


# -- One-file outputs: a command that writes one file never replaces one unasked (as `fit` does not replace a run) --
def one_file_commands(w: dict[str, Path], out: Path) -> dict[str, list[str]]:
    """Every command that writes one file, aimed at `out`, a file that exists."""
    return {
        "convert": ["convert", "--weights", str(w["random_ckpt"]), "--out", str(out)],
        "convert-back": ["convert", "--to", "reference", "--ckpt", str(w["ckpt"]), "--out", str(out)],
        "fit-prior": ["fit-prior", "--ckpt", str(w["ckpt"]), "--count", "8", "--out", str(out)],
        "fit-directions": ["fit-directions", "--ckpt", str(w["ckpt"]), "--out", str(out)],
    }


ONE_FILE_IDS = list(one_file_commands(_AnyPath(), Path("x")))


@pytest.mark.parametrize("command", ONE_FILE_IDS)
def test_a_one_file_output_that_exists_is_not_replaced_unasked(command, world, tmp_path, capsys):
    out = tmp_path / "model.ckpt"
    out.write_bytes(b"an earlier result")
    line = expect_cli_error(one_file_commands(world, out)[command], [str(out), "the file exists; give --overwrite true"],
                            tmp_path, capsys)  # fmt: skip
    assert out.read_bytes() == b"an earlier result", line


def test_overwrite_true_replaces_it_and_no_out_updates_the_checkpoint_itself(world, tmp_path, capsys):
    out = tmp_path / "model.ckpt"
    out.write_bytes(b"an earlier result")
    main([*one_file_commands(world, out)["fit-prior"], "--overwrite", "true"])
    assert load_vae(out).vae.prior.fitted
    own = tmp_path / "own.ckpt"
    own.write_bytes(world["ckpt"].read_bytes())
    main(["fit-prior", "--ckpt", str(own), "--count", "8"])  # no --out: the update of --ckpt asked for
    main(["fit-prior", "--ckpt", str(own), "--count", "8", "--out", str(own)])  # the same file named twice: the same
    assert "-> " + str(own) in capsys.readouterr().out


# -- Array shapes: every shape the API takes means what a user means --------------------------------------------
def test_every_array_shape_the_api_takes_means_what_a_user_means(editor):
    masks = heldout_masks(2, 64)
    expected = editor.reconstruct(masks)  # (2, 64, 64) from (B, H, W) uint8
    colours = editor.label_set.colorize(masks)  # (2, 64, 64, 3)
    alpha = np.concatenate([colours, np.full((2, 64, 64, 1), 255, np.uint8)], axis=-1)
    batches = {
        "(B, H, W, 1)": masks[..., None],
        "(B, H, W, 3) colour": colours,
        "(B, H, W, 4) colour": alpha,
        "(B, H, W, 3) colour int64": colours.astype(np.int64),
        "torch (B, H, W) int64": torch.from_numpy(masks.astype(np.int64)),
        "torch (B, H, W, 1) uint8": torch.from_numpy(masks[..., None]),
        **{f"(B, H, W) {t.__name__}": masks.astype(t) for t in (np.int8, np.int16, np.int32, np.int64, np.uint16, np.uint32, np.uint64)},
    }  # fmt: skip
    for name, batch in batches.items():
        out = editor.reconstruct(batch)
        assert out.shape == (2, 64, 64) and np.array_equal(out, expected), name
    singles = {"(H, W)": masks[0], "(H, W, 1)": masks[0][..., None], "(H, W, 3) colour": colours[0],
               "(H, W, 4) colour": alpha[0], "torch (H, W, 1) int32": torch.from_numpy(masks[0][..., None].astype(np.int32))}  # fmt: skip
    for name, single in singles.items():
        out = editor.reconstruct(single)
        assert out.shape == (64, 64) and np.array_equal(out, expected[0]), name
    # a one-channel image as OpenCV and PIL hand it is one mask, not a batch of H masks one pixel wide
    assert np.array_equal(
        editor.generate(masks[0][..., None], "nose", seed=3), editor.generate(masks[0], "nose", seed=3)
    )


# -- Permission and lock errors: the user's side (exit 2), naming their folder ------------------------------------
def test_a_permission_error_is_the_users_and_names_their_folder_not_a_hidden_file(capsys):
    from semantic_vae.entry import run_entry_point

    def body() -> None:
        raise PermissionError(13, "Permission denied", "/data/out/.lock")

    assert run_entry_point("semantic-vae", body) == 2
    assert capsys.readouterr().err.strip() == "semantic-vae: error: /data/out: Permission denied"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads and writes any folder: no permission error to make")
def test_folders_without_permission_are_one_line_and_exit_2(world, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    unreadable = tmp_path / "unreadable"
    unreadable.mkdir()
    unreadable.chmod(0o000)
    try:
        line = expect_cli_error(["edit", "reconstruct", "--ckpt", world["ckpt"], "--input", world["good"], "--out", locked],
                                [f"{locked}: cannot write into this --out folder"], locked, capsys)  # fmt: skip
        assert ".lock" not in line
        expect_cli_error(["data", "compare", "--real", unreadable, "--n", "2", "--size", "32", "--out", tmp_path / "c"],
                         [f"real: cannot read the folder {unreadable}"], tmp_path / "c", capsys)  # fmt: skip
    finally:
        locked.chmod(0o700)
        unreadable.chmod(0o700)


def test_compare_says_that_a_part_was_not_drawn_instead_of_nan(world, tmp_path, monkeypatch, capsys):
    """`data compare --ckpt` of a model that never draws a nose: no nan/nan ratio, the words."""
    from semantic_vae.commands.data import compare
    from semantic_vae.labels import CELEBAMASK_HQ

    class NoNose:  # reconstructs perfectly; a regenerated nose is skin
        num_classes, batch_size, class_names, upsample = 19, 8, CELEBAMASK_HQ.names, "bilinear"

        def reconstruct(self, masks: np.ndarray) -> np.ndarray:
            return masks

        def generate(self, masks: np.ndarray, parts: str, seed: int, keep: str) -> np.ndarray:
            return np.where(masks == 2, 1, masks) if parts == "nose" else masks

    monkeypatch.setattr("semantic_vae.edit.MaskEditor.from_checkpoint", lambda path: NoNose())
    compare(str(world["good"]), n=3, size=64, out=str(tmp_path / "out"), ckpt="model.ckpt")
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("edited parts")]
    assert len(lines) == 2 and all("nose not drawn by the model, l_eye 1.00/1.00" in line for line in lines), lines
    assert not any("nan" in line for line in lines), lines
    report = json.loads((tmp_path / "out" / "compare.json").read_text())
    assert report["edited_smoothness"]["bilinear"]["nose"]["drawn"] == 0.0
    assert report["edited_smoothness"]["bilinear"]["l_eye"]["drawn"] == 1.0
