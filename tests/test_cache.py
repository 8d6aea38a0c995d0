"""The preprocessed uint8 cache: content, reuse, rebuilds, atomic publishing, class weights."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from semantic_vae.data import cache as cache_module
from semantic_vae.data.cache import CacheSpec, load_or_build_cache
from semantic_vae.data.io import write_label_png
from semantic_vae.errors import UserError
from semantic_vae.labels import load_merge_map
from semantic_vae.losses import class_weights


@pytest.fixture()
def folder(tmp_path, sample_masks) -> Path:
    """12 synthetic 512x512 masks as a merged folder, named by the real samples' indices."""
    out = tmp_path / "masks"
    for index, labels in sample_masks.items():
        write_label_png(out / f"{index}.png", labels)
    return out


@pytest.fixture()
def builds(monkeypatch) -> list[str]:
    """Records each real build (a load does not call the builders)."""
    calls: list[str] = []
    for name in ("_build_celebamask", "_build_synthetic"):
        original = getattr(cache_module, name)

        def spy(*args, _original=original, _name=name, **kwargs):
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(cache_module, name, spy)
    return calls


def spec(root: Path, size: int = 32, **kwargs) -> CacheSpec:
    return CacheSpec(source="celebamask", root=str(root), image_size=size, **kwargs)


def complete_dirs(cache_dir: Path) -> list[Path]:
    """Folders that hold a manifest, i.e. that could pass for a finished cache."""
    return [p for p in cache_dir.iterdir() if (p / "manifest.json").exists()] if cache_dir.exists() else []


def test_content_split_and_counts(tmp_path, folder, sample_masks):
    cache = load_or_build_cache(spec(folder), tmp_path / "cache", progress=False)
    assert cache.masks.shape == (12, 32, 32) and cache.masks.dtype == np.uint8
    assert isinstance(cache.masks, np.memmap)
    assert cache.names[:4] == ("0", "1", "2", "3") and cache.names[4] == "29980"
    assert cache.test.tolist() == [False] * 4 + [True] * 8
    expected = sample_masks[29983][::16, ::16]  # nearest-neighbour 512 -> 32
    assert np.array_equal(cache.masks[cache.names.index("29983")], expected)
    assert cache.class_counts.dtype == np.int64 and cache.class_counts.shape == (12, 19)
    for mask, counts in zip(cache.masks, cache.class_counts):
        assert np.array_equal(np.bincount(mask.ravel(), minlength=19), counts)
    manifest = json.loads((cache.directory / "manifest.json").read_text())
    assert manifest["count"] == 12 and manifest["test_count"] == 8 and manifest["image_size"] == 32
    assert manifest["label_set"] == "celebamask_hq" and manifest["label_names"][13] == "hair"
    assert manifest["root"] == str(folder.resolve()) and manifest["fingerprint"]
    assert manifest["bad_files"] == [] and manifest["resized"] == 0


def test_built_once_then_loaded(tmp_path, folder, builds):
    first = load_or_build_cache(spec(folder), tmp_path / "cache", progress=False)
    second = load_or_build_cache(spec(folder, workers=2), tmp_path / "cache", progress=False)  # workers: same key
    assert builds == ["_build_celebamask"]
    assert second.directory == first.directory and np.array_equal(second.masks, first.masks)


def test_rebuilt_when_a_source_file_changes(tmp_path, folder, builds):
    first = load_or_build_cache(spec(folder), tmp_path / "cache", progress=False)
    write_label_png(folder / "2.png", np.zeros((512, 512), np.uint8))
    second = load_or_build_cache(spec(folder), tmp_path / "cache", progress=False)
    assert builds == ["_build_celebamask"] * 2 and second.directory != first.directory
    assert not second.masks[2].any() and first.masks[2].any()


def test_a_new_generator_version_builds_a_new_synthetic_cache(tmp_path, monkeypatch):
    synthetic = CacheSpec(source="synthetic", image_size=32, synthetic_count=20, synthetic_test=4)
    first = load_or_build_cache(synthetic, tmp_path / "cache", progress=False)
    assert load_or_build_cache(synthetic, tmp_path / "cache", progress=False).directory == first.directory
    monkeypatch.setattr("semantic_vae.data.synthetic.GENERATOR_VERSION", "another")
    second = load_or_build_cache(synthetic, tmp_path / "cache", progress=False)
    assert second.directory != first.directory and second.manifest["generator_version"] == "another"


def test_rebuilt_when_the_resolution_changes(tmp_path, folder, builds):
    load_or_build_cache(spec(folder, size=32), tmp_path / "cache", progress=False)
    cache = load_or_build_cache(spec(folder, size=16), tmp_path / "cache", progress=False)
    assert len(builds) == 2 and cache.masks.shape == (12, 16, 16)


def test_interrupted_build_leaves_nothing_that_loads(tmp_path, folder, monkeypatch):
    cache_dir = tmp_path / "cache"
    original = cache_module.read_masks

    def dies_midway(*args, **kwargs):
        for k, result in enumerate(original(*args, **kwargs)):
            if k == 5:
                raise KeyboardInterrupt  # as if the user pressed Ctrl-C mid-build
            yield result

    monkeypatch.setattr(cache_module, "read_masks", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        load_or_build_cache(spec(folder), cache_dir, progress=False)
    assert complete_dirs(cache_dir) == [] and list(cache_dir.iterdir()) == []

    def disk_full(*args) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache_module, "read_masks", original)
    monkeypatch.setattr(cache_module, "write_json_atomic", disk_full)  # fails on the very last step
    with pytest.raises(UserError, match="cannot build the cache .*No space left on device"):
        load_or_build_cache(spec(folder), cache_dir, progress=False)
    assert complete_dirs(cache_dir) == []

    monkeypatch.undo()
    cache = load_or_build_cache(spec(folder), cache_dir, progress=False)
    assert len(cache.names) == 12


def test_incomplete_folder_in_place_is_rebuilt(tmp_path, folder):
    good = load_or_build_cache(spec(folder), tmp_path / "cache", progress=False)
    (good.directory / "manifest.json").unlink()  # e.g. copied by hand and cut short
    (good.directory / "masks.npy").write_bytes(b"\x93NUMPY")
    cache = load_or_build_cache(spec(folder), tmp_path / "cache", progress=False)
    assert cache.directory == good.directory and cache.masks.shape == (12, 32, 32)
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [good.directory.name]


def test_two_builders_at_once_agree(tmp_path, folder):
    """Like two DDP ranks: both build, one rename wins, the other loads the winner's cache."""
    results: list = [None, None]
    barrier = threading.Barrier(2)

    def build(i: int) -> None:
        barrier.wait()
        results[i] = load_or_build_cache(spec(folder), tmp_path / "cache", progress=False)

    threads = [threading.Thread(target=build, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results[0].directory == results[1].directory
    assert np.array_equal(results[0].masks, results[1].masks)
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [results[0].directory.name]


def test_synthetic_cache(tmp_path, builds):
    synthetic = CacheSpec(source="synthetic", image_size=32, synthetic_count=20, synthetic_test=4, seed=3)
    cache = load_or_build_cache(synthetic, tmp_path / "cache", progress=False)
    assert cache.masks.shape == (20, 32, 32) and cache.test.tolist() == [False] * 16 + [True] * 4
    assert cache.manifest["generator_version"] and cache.manifest["seed"] == 3
    assert cache.class_counts.sum() == 20 * 32 * 32
    load_or_build_cache(synthetic, tmp_path / "cache", progress=False)
    reseeded = CacheSpec(source="synthetic", image_size=32, synthetic_count=20, synthetic_test=4, seed=4)
    other = load_or_build_cache(reseeded, tmp_path / "cache", progress=False)
    assert builds == ["_build_synthetic"] * 2 and other.directory != cache.directory


def test_merge_map_folds_the_classes(tmp_path, folder, sample_masks):
    yaml = tmp_path / "five.yaml"
    yaml.write_text(
        "classes:\n"
        "  background: [background, hat, ear_r, neck_l, neck, cloth]\n"
        "  face: [skin, nose, l_ear, r_ear, mouth, u_lip, l_lip]\n"
        "  eyes: [l_eye, r_eye, eye_g]\n"
        "  brows: [l_brow, r_brow]\n"
        "  hair: [hair]\n"
    )
    merge = load_merge_map(yaml)
    folded = spec(folder, label_set=merge.target, merge_map=merge)
    cache = load_or_build_cache(folded, tmp_path / "cache", progress=False)
    assert cache.class_counts.shape == (12, 5) and int(cache.masks.max()) == 4
    raw = sample_masks[0][::16, ::16]
    assert np.array_equal(cache.masks[0], merge.lut[raw])
    with pytest.raises(UserError, match="merge map's target"):
        load_or_build_cache(spec(folder, merge_map=merge), tmp_path / "cache", progress=False)


def test_bad_files_raise_or_are_skipped_and_recorded(tmp_path, folder):
    (folder / "x.png").write_bytes(b"garbage")
    with pytest.raises(UserError) as err:
        load_or_build_cache(spec(folder), tmp_path / "cache", progress=False)
    assert str(folder / "x.png") in str(err.value)
    assert complete_dirs(tmp_path / "cache") == []
    with pytest.warns(UserWarning, match="skipped 1 bad files"):
        cache = load_or_build_cache(spec(folder, skip_bad=True), tmp_path / "cache", progress=False)
    assert len(cache.names) == 12 and "x" not in cache.names
    assert len(cache.manifest["bad_files"]) == 1 and "x.png" in cache.manifest["bad_files"][0]
    assert cache.masks.shape == (12, 32, 32) and cache.class_counts.shape == (12, 19)


def test_spec_errors(tmp_path):
    with pytest.raises(UserError, match="root"):
        load_or_build_cache(CacheSpec(source="celebamask"), tmp_path, progress=False)
    with pytest.raises(UserError, match="not found"):
        load_or_build_cache(spec(tmp_path / "missing"), tmp_path, progress=False)
    with pytest.raises(UserError, match="source"):
        load_or_build_cache(CacheSpec(source="lfw"), tmp_path, progress=False)


def test_class_weights_by_hand():
    counts = np.array([[3, 1, 0], [1, 1, 2]], dtype=np.int64)  # per class 4, 2, 2 of 8 pixels
    weights = class_weights(counts)
    assert weights.dtype == np.float64
    assert np.allclose(weights, [1 - 4 / 8, 1 - 2 / 8, 1 - 2 / 8])
    assert np.allclose(class_weights(counts[1:]), [0.75, 0.75, 0.5])
    with pytest.raises(UserError):
        class_weights(np.zeros((0, 3), np.int64))


def test_cache_folders_are_not_private(tmp_path, folder):
    cache = load_or_build_cache(spec(folder), tmp_path / "cache", progress=False)
    umask = os.umask(0)
    os.umask(umask)
    assert cache.directory.stat().st_mode & 0o777 == 0o777 & ~umask
