"""The editing API on the tiny trained checkpoint: determinism, locality, Eq. 4 endpoints, valid outputs, errors."""

import numpy as np
import pytest
import torch

from semantic_vae.data.io import read_label_png, write_color_png, write_label_png
from semantic_vae.data.synthetic import heldout_masks
from semantic_vae.edit import MaskEditor
from semantic_vae.edit.editor import resize_nearest
from semantic_vae.edit.metrics import islands_added, locality_counts
from semantic_vae.errors import UserError

HAIR = 13


@pytest.fixture(scope="module")
def editor(trained_ckpt) -> MaskEditor:
    return MaskEditor.from_checkpoint(trained_ckpt, device="cpu")


@pytest.fixture(scope="module")
def masks() -> np.ndarray:
    return heldout_masks(4, 64)  # held-out synthetic faces, (4, 64, 64)


def test_same_seed_same_edit(editor, masks):
    assert np.array_equal(editor.generate(masks, "hair", seed=3), editor.generate(masks, "hair", seed=3))
    assert np.array_equal(
        editor.perturb(masks, ["nose", 13], scale=2.0, seed=3), editor.perturb(masks, "nose,hair", scale=2.0, seed=3)
    )
    assert not np.array_equal(editor.generate(masks, "hair", seed=3), editor.generate(masks, "hair", seed=4))
    assert np.array_equal(editor.sample(2, seed=1), editor.sample(2, seed=1))


def test_per_mask_seeds_equal_single_mask_calls(editor, masks):
    batch = editor.generate(masks, "hair", seed=[5, 6, 7, 8])
    assert np.array_equal(batch[2], editor.generate(masks[2], "hair", seed=7))
    # one seed for a batch: mask 0 gets the first draw, as a single call with that seed
    assert np.array_equal(editor.generate(masks, "hair", seed=5)[0], batch[0])


def test_generate_changes_the_part_more_inside_its_neighbourhood_than_outside(editor, masks):
    recon = editor.reconstruct(masks)
    edits = np.concatenate([editor.generate(masks, "hair", seed=s, keep="none") for s in range(3)])  # (12, 64, 64)
    before = np.concatenate([recon] * 3)
    changed, inside = locality_counts(before, edits, HAIR, distance=3)
    assert changed > 0 and inside > changed - inside
    assert any(not np.array_equal(b == HAIR, e == HAIR) for b, e in zip(before, edits))  # the part itself moved


def test_interpolate_endpoints_are_reconstruct_and_swap(editor, masks):
    target = masks[::-1].copy()
    path = editor.interpolate(masks, target, "nose,hair", [0.0, 0.5, 1.0], keep="none")  # (3, 4, 64, 64)
    assert path.shape == (3, 4, 64, 64)
    assert np.array_equal(path[0], editor.reconstruct(masks))
    assert np.array_equal(path[2], editor.swap(masks, target, "nose,hair", keep="none"))
    assert np.array_equal(editor.interpolate(masks, target, "hair", 0.0, keep="none"), editor.reconstruct(masks))
    # one target for every source
    assert np.array_equal(editor.swap(masks, target[0], "hair")[0], editor.swap(masks[0], target[0], "hair"))


def test_outputs_are_label_maps_at_the_input_size_that_round_trip(editor, masks, tmp_path):
    big = heldout_masks(2, 96)[:, :, 8:88]  # (2, 96, 80): not the model's size, not square
    for out in (
        editor.reconstruct(big),
        editor.generate(big, "nose", seed=0),
        editor.perturb(big, 2, seed=0),
        editor.swap(big, big[::-1].copy(), "hair"),
    ):
        assert out.dtype == np.uint8 and out.shape == (2, 96, 80) and out.max() <= 18
        write_label_png(tmp_path / "m.png", out[0])
        write_color_png(tmp_path / "c.png", out[1])
        assert np.array_equal(read_label_png(tmp_path / "m.png"), out[0])
        assert np.array_equal(read_label_png(tmp_path / "c.png"), out[1])
    single = editor.generate(torch.from_numpy(masks[0]).long(), "hair", seed=0)  # (H, W) int64 tensor in
    assert single.shape == (64, 64) and single.dtype == np.uint8
    assert editor.sample(3, seed=0, size=80).shape == (3, 80, 80)


def test_nearest_resize_keeps_ids():
    labels = torch.arange(16, dtype=torch.uint8).reshape(1, 4, 4)
    up = resize_nearest(labels, 8, 8)
    assert torch.equal(up[0, ::2, ::2], labels[0]) and torch.equal(resize_nearest(up, 4, 4), labels)


def test_logits_reach_a_larger_size_bilinearly_or_as_blocks():
    """Two classes on a 2x2 model grid: background 0.8 everywhere, class 1 at 0 in the top-left cell and 1 elsewhere.
    Bilinear logits at 4x4 (align_corners=False; by hand: 0.75 at (0, 2), 0.4375 at (1, 1), 0.8125 at (1, 2))
    cut the corner diagonally; "nearest" keeps 2x2 blocks; shrinking is nearest; an excluded class never wins."""
    from semantic_vae.model.vae import labels_at

    logits = torch.stack([torch.full((2, 2), 0.8), torch.tensor([[0.0, 1.0], [1.0, 1.0]])])[None]  # (1, 2, 2, 2)
    diagonal = torch.tensor([[0, 0, 0, 1], [0, 0, 1, 1], [0, 1, 1, 1], [1, 1, 1, 1]], dtype=torch.uint8)
    blocks = torch.tensor([[0, 0, 1, 1], [0, 0, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]], dtype=torch.uint8)
    assert torch.equal(labels_at(logits, (4, 4))[0], diagonal)
    assert torch.equal(labels_at(logits, (4, 4), upsample="nearest")[0], blocks)
    assert torch.equal(labels_at(logits, (1, 1))[0], torch.zeros(1, 1, dtype=torch.uint8))
    assert not labels_at(logits, (4, 4), exclude=[1]).any()
    two = logits.expand(2, -1, -1, -1)  # per map: class 1 left out of the first, class 0 of the second
    per_map = labels_at(two, (4, 4), exclude=torch.tensor([[False, True], [True, False]]))
    assert not per_map[0].any() and per_map[1].eq(1).all()
    with pytest.raises(ValueError, match="upsample must be one of bilinear, nearest, got 'cubic'"):
        labels_at(logits, (4, 4), upsample="cubic")


def test_the_editor_upsamples_as_asked(trained_ckpt, editor):
    big = heldout_masks(2, 256)
    blocky = MaskEditor.from_checkpoint(trained_ckpt, device="cpu", upsample="nearest")
    recon, blocks = editor.reconstruct(big), blocky.reconstruct(big)
    small = resize_nearest(torch.from_numpy(blocks), 64, 64)
    assert np.array_equal(blocks, resize_nearest(small, 256, 256).numpy())  # 4x4 blocks of the model's pixels
    assert not np.array_equal(recon, blocks) and (recon != blocks).mean() < 0.1  # smoother, the same mask
    with pytest.raises(UserError, match="upsample must be one of bilinear, nearest, got 'area'"):
        MaskEditor.from_checkpoint(trained_ckpt, upsample="area")


def test_bad_input_is_a_one_line_data_error(editor, masks, tmp_path):
    with pytest.raises(UserError, match="unknown part 'noze'"):
        editor.generate(masks, "noze")
    bad = masks.copy()
    bad[0, 0, 0] = 19
    with pytest.raises(UserError, match="label value 19 is outside 0..18"):
        editor.reconstruct(bad)
    with pytest.raises(UserError, match="integer label maps"):
        editor.reconstruct(masks.astype(np.float32))
    with pytest.raises(UserError, match=r"source and target sizes differ: \(64, 64\) vs \(32, 32\)"):
        editor.swap(masks, masks[:, :32, :32].copy(), "nose")
    with pytest.raises(UserError, match="target has 3 masks for 4 sources"):
        editor.swap(masks, masks[:3], "nose")


def test_a_checkpoint_that_is_not_ours(tmp_path, trained_ckpt):
    cases = {
        "missing.ckpt": None,
        "noise.ckpt": b"not a checkpoint at all",
        "dict.ckpt": {"weights": torch.zeros(2)},
        "other.ckpt": {"state_dict": {"model.weight": torch.zeros(2)}, "hyper_parameters": {}},
    }
    for name, content in cases.items():
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif content is not None:
            torch.save(content, path)
        with pytest.raises(UserError) as err:
            MaskEditor.from_checkpoint(path)
        assert str(path) in str(err.value) and "\n" not in str(err.value)
    # right keys, wrong shapes: a checkpoint of another configuration of the model
    checkpoint = torch.load(trained_ckpt, map_location="cpu", weights_only=True)
    checkpoint["hyper_parameters"]["net"]["latent_dim"] = 64
    torch.save(checkpoint, tmp_path / "shapes.ckpt")
    with pytest.raises(UserError, match="not a checkpoint of this network"):
        MaskEditor.from_checkpoint(tmp_path / "shapes.ckpt")


def _changed_pixels_lie_in_the_region(
    before: np.ndarray, after: np.ndarray, parts: list[int], radius: int, model: np.ndarray | None = None
) -> bool:
    """By hand: every pixel where `after` differs from `before` is within `radius` (Chebyshev) of a pixel of the
    parts in `before`, in `after` or in the model's output (whose crumbs of the part may have been removed), or in
    a piece of the input that the edit cut off from the rest of its class (`region.cut_off`)."""
    from semantic_vae.edit.region import cut_off

    near = np.zeros(before.shape, bool)
    part = np.isin(before, parts) | np.isin(after, parts) | (np.isin(model, parts) if model is not None else False)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            near |= np.roll(np.roll(part, dy, axis=-2), dx, axis=-1)  # masks have background at the border
    pockets = np.stack([cut_off(np.where(n, a, b), n, b) for n, a, b in zip(near, after, before)])
    return bool(((before != after) <= (near | pockets)).all())


@pytest.mark.parametrize("size", [64, 512])
def test_keep_input_changes_nothing_outside_the_parts_neighbourhood(editor, size):
    masks = heldout_masks(4, size)
    radius = 2 * size // 64  # 2 model pixels, in the input's pixels
    for parts in ("nose", "lips", "hair"):
        ids = editor.part_ids(parts)
        out = editor.generate(masks, parts, seed=1, keep="input", radius=2)
        raw = editor.generate(masks, parts, seed=1, keep="none", radius=2)  # the model's own output
        assert out.shape == masks.shape
        assert _changed_pixels_lie_in_the_region(masks, out, ids, radius, raw), parts
        assert (out != masks).any()  # and the edit did something
        drawn = np.isin(out, ids)
        assert (out[drawn] == raw[drawn]).mean() > 0.9  # the part is the model's (but for islands and pockets filled)
    recon = editor.reconstruct(masks)
    kept = editor.perturb(masks, "nose", scale=2.0, seed=0, keep="reconstruction", radius=1)
    assert _changed_pixels_lie_in_the_region(recon, kept, [2], size // 64)
    swapped = editor.swap(masks, masks[::-1].copy(), "lips", keep="input", radius=2)
    assert _changed_pixels_lie_in_the_region(masks, swapped, [10, 11, 12], radius)


def test_part_groups_and_the_data_prior(editor, masks, trained_ckpt):
    assert editor.part_ids("lips") == [10, 11, 12] and editor.part_ids("nose,eyes") == [2, 4, 5]
    prior = editor.vae.prior
    assert bool(prior.fitted) and prior.mean.abs().sum() > 0  # fitted at the end of each training epoch
    stored = torch.load(trained_ckpt, map_location="cpu", weights_only=True)["state_dict"]
    assert torch.equal(stored["vae.prior.mean"], prior.mean) and torch.equal(
        stored["vae.prior.scale_tril"], prior.scale_tril
    )
    a = editor.generate(masks, "nose", seed=4, prior="data", keep="none")
    assert np.array_equal(a, editor.generate(masks, "nose", seed=4, prior="data", keep="none"))
    assert not np.array_equal(a, editor.generate(masks, "nose", seed=4, prior="normal", keep="none"))
    # the data prior's draws: mean + L @ eps, for the chosen part only
    eps = torch.randn(5000, 1, editor.latent_dim, generator=torch.Generator().manual_seed(0))
    draws = prior.transform(eps, [2])[:, 0].double()
    assert torch.allclose(draws.mean(0), prior.mean[2].double(), atol=0.1)
    cov = prior.scale_tril[2].double() @ prior.scale_tril[2].double().T
    assert torch.allclose(torch.cov(draws.T), cov, atol=0.1 * cov.diagonal().max().item())
    prior.fitted.fill_(False)
    try:
        with pytest.raises(UserError, match="no data prior"):
            editor.generate(masks, "nose", prior="data")
    finally:
        prior.fitted.fill_(True)


def test_bad_edit_options_are_one_line_errors(editor, masks):
    for call, words in [
        (lambda: editor.generate(masks, "nose", keep="everything"), "keep: unknown mode 'everything'"),
        (lambda: editor.generate(masks, "nose", radius=-1), "radius must be"),
        (lambda: editor.generate(masks, "nose", prior="uniform"), "prior: unknown 'uniform'"),
        (lambda: editor.generate(masks, "nose", seed=-3), "seed must be a whole number in 0..4294967295"),
        (lambda: editor.generate(masks, "nose", seed=2**64), "seed must be"),
        (lambda: editor.perturb(masks, "nose", scale=float("nan")), "scale must be a finite number"),
        (lambda: editor.perturb(masks, "nose", scale=float("inf")), "scale must be a finite number"),
        (lambda: editor.interpolate(masks, masks, "nose", 1.5), r"alpha must be a finite number in \[0, 1\]"),
        (lambda: editor.interpolate(masks, masks, "nose", [0.0, float("nan")]), "alpha must be"),
    ]:
        with pytest.raises(UserError, match=words):
            call()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cpu_and_gpu_give_the_same_edit(trained_ckpt, masks):
    cpu = MaskEditor.from_checkpoint(trained_ckpt, device="cpu").generate(masks, "hair", seed=2)
    gpu = MaskEditor.from_checkpoint(trained_ckpt, device="cuda").generate(masks, "hair", seed=2)
    assert (cpu != gpu).mean() < 1e-3  # the same noise; only float rounding may flip a tie


def test_keep_changes_returns_the_input_for_an_edit_that_changes_no_latent(editor, trained_ckpt):
    masks = heldout_masks(4, 128)  # at twice the model's size: the model's pixels differ from the input's
    assert np.array_equal(editor.interpolate(masks, masks[::-1].copy(), "nose", 0.0, keep="changes"), masks)
    assert np.array_equal(editor.swap(masks, masks, "lips", keep="changes"), masks)
    if editor.steering is not None and "height" in editor.steering.directions.get("nose", {}):
        assert np.array_equal(editor.steer(masks, "nose", "height", 0.0, keep="changes"), masks)
    raw = editor.generate(masks, "hair", seed=1, keep="none")
    out = editor.generate(masks, "hair", seed=1, keep="changes")
    recon = editor.reconstruct(masks)
    changed = out != masks
    assert changed.any() and (out[changed] == raw[changed]).mean() > 0.8  # the model's edit (pockets filled aside)
    assert islands_added(masks, out, 19) <= islands_added(recon, raw, 19)  # no more stray pieces than its own
