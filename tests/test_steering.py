"""Steerable edits: directions recover a known linear relation, steer/add/remove on the editor, their bad input, and
the statistics stored in a checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from semantic_vae.data.synthetic import heldout_masks
from semantic_vae.edit import Edit, MaskEditor
from semantic_vae.edit.steering import Steering, fit_probe, fit_steering, steering_directions
from semantic_vae.errors import UserError
from semantic_vae.labels import CELEBAMASK_HQ
from semantic_vae.model import SemanticVAE, VAEConfig

TINY = VAEConfig(image_size=64, encoder_hidden=(16,), lstm_layers=1, lstm_hidden=8, ffn_hidden=8, decoder_width=4)


def test_a_probe_recovers_a_known_linear_relation():
    rng = np.random.default_rng(0)
    n, p = 600, 12
    mixing = rng.normal(size=(p, p))
    x = rng.normal(size=(n, p)) @ mixing  # correlated latents
    w_true = rng.normal(size=p)
    y = x @ w_true + 0.01 * rng.normal(size=n)
    w, r2 = fit_probe(x, y)
    assert r2 > 0.999 and np.allclose(w, w_true, rtol=0.02, atol=0.02)


def test_directions_move_their_probe_by_one_and_hold_the_others():
    rng = np.random.default_rng(1)
    p = 10
    a = rng.normal(size=(p, p))
    covariance = a @ a.T + np.eye(p)
    probes = rng.normal(size=(3, p))
    free, held = steering_directions(probes, covariance)
    assert np.allclose(np.einsum("ap,ap->a", probes, free), 1.0)  # each free direction moves its own probe by 1
    assert np.allclose(probes @ held.T, np.eye(3), atol=1e-8)  # held: its own by 1, the others by 0
    # free = S w / (w' S w): along the data's spread, not along w itself
    expected = covariance @ probes[0] / (probes[0] @ covariance @ probes[0])
    assert np.allclose(free[0], expected)


@pytest.fixture(scope="module")
def fitted() -> tuple[MaskEditor, np.ndarray]:
    """A random tiny network with directions and presence priors fitted on held-out synthetic masks."""
    torch.manual_seed(0)
    vae = SemanticVAE(TINY)
    masks = heldout_masks(800, 64, seed=3)
    with torch.inference_mode():
        mu = vae.from_labels(torch.from_numpy(masks))[1].double().numpy()
    steering = fit_steering(mu, masks, CELEBAMASK_HQ, TINY.latent_classes)
    return MaskEditor(vae, CELEBAMASK_HQ, device="cpu", steering=steering), masks


def test_fit_steering_covers_parts_attributes_and_presence(fitted):
    editor, masks = fitted
    steering = editor.steering
    assert steering.masks == 800
    assert {"nose", "lips", "eyes", "hair", "skin"} <= set(steering.directions)
    assert {"size", "height", "width", "x", "y"} <= set(steering.directions["nose"])
    assert "open" in steering.directions["mouth"] and "length" in steering.directions["hair"]
    assert steering.directions["lips"]["open"].free.shape == (19 * 256,)  # a direction in every latent
    assert 3 in steering.presence and 10 in steering.presence  # eyeglasses, the inner mouth: present in some masks
    assert 1 not in steering.presence  # skin: in every mask, no present/absent split


def test_steering_round_trips_through_its_stored_form(fitted):
    steering = fitted[0].steering
    back = Steering.from_dict(steering.to_dict())
    assert back.r2_table() == steering.r2_table()
    assert torch.equal(back.directions["nose"]["height"].held, steering.directions["nose"]["height"].held)
    assert torch.equal(back.presence[3].present_tril, steering.presence[3].present_tril)
    with pytest.raises(UserError, match="not of a format this version reads"):
        Steering.from_dict({"format": 9})


def test_steer_by_zero_is_the_reconstruction_with_the_same_keep(fitted):
    editor, masks = fitted
    some = masks[:4]
    assert np.array_equal(editor.steer(some, "nose", "height", 0.0, keep="none"), editor.reconstruct(some))
    assert np.array_equal(editor.apply(Edit("steer", "nose", attribute="height", amount=0.0), some), some)  # "changes"
    kept = editor.apply(Edit("steer", "nose", attribute="height", amount=0.0, keep="input"), some)
    labels, _ = editor.as_batch(some)
    recon = editor.decode(editor.encode(labels), tuple(labels.shape[1:]))
    assert np.array_equal(kept, editor.keep_outside(recon, labels, editor.encode(labels), [2], "input", 1))


def test_steer_draws_no_class_that_the_mask_and_its_reconstruction_lack(fitted):
    """A steer reshapes a part: on the demo model, steering hair length drew a hat on every face before."""
    editor, masks = fitted
    some = masks[:6]
    allowed = [set(np.unique(m)) | set(np.unique(r)) for m, r in zip(some, editor.reconstruct(some))]
    steerable = [(p, n) for p, attrs in editor.steering.directions.items() for n, d in attrs.items() if d.steerable]
    assert steerable
    for part, name in steerable[:6]:
        ids = set(editor.label_set.ids_of(part))
        for amount in (-3.0, 3.0):
            for out, ok in zip(editor.steer(some, part, name, amount, keep="none"), allowed):
                assert set(np.unique(out)) <= ok | ids, (part, name, amount, set(np.unique(out)) - ok)


def test_a_class_added_by_an_edit_is_counted_by_hand():
    from semantic_vae.edit.metrics import _adds_a_class

    before = np.zeros((3, 8, 8), np.uint8)
    before[:, :4] = 1
    after = before.copy()
    after[0, 6:, :3] = 14  # 6 pixels of a hat the input lacks: added
    after[1, 6:, :2] = 14  # 4 pixels: not more than 4, not counted
    after[2, :4] = 13  # the steered part (13) itself may appear
    assert _adds_a_class(before, after, [13]).tolist() == [True, False, False]


def test_steer_moves_the_latent_along_the_stored_direction(fitted):
    editor, masks = fitted
    labels, _ = editor.as_batch(masks[:2])
    z = editor.encode(labels)
    direction = editor.steering.directions["eyes"]["open"]
    moved = editor.edit_latents(Edit("steer", "eyes", attribute="open", amount=1.5, hold=False), z)
    assert torch.allclose(moved - z, 1.5 * direction.free.view(19, 256).expand(2, -1, -1), atol=1e-6)
    held = editor.edit_latents(Edit("steer", "eyes", attribute="open", amount=-1.0), z)
    assert torch.allclose(held - z, -direction.held.view(19, 256).expand(2, -1, -1), atol=1e-6)


def test_remove_leaves_no_pixel_of_the_part_and_add_draws_from_the_present_prior(fitted):
    editor, masks = fitted
    with_glasses = masks[(masks == 3).reshape(len(masks), -1).any(1)][:3]
    assert len(with_glasses) == 3
    removed = editor.remove(with_glasses, "eye_g")
    assert not (removed == 3).any()
    outside = ~np.isin(with_glasses, [3])
    assert (removed[outside] == with_glasses[outside]).mean() > 0.9  # keep=input: the rest mostly as it was
    without = masks[~(masks == 3).reshape(len(masks), -1).any(1)][:2]
    labels, _ = editor.as_batch(without)
    z = editor.encode(labels)
    added = editor.edit_latents(Edit("add", "eye_g", seed=4), z)
    prior = editor.steering.presence[3]
    noise = torch.randn((2, 1, 256), generator=torch.Generator().manual_seed(4))
    assert torch.allclose(added[:, 3], prior.present_mean + noise[:, 0] @ prior.present_tril.T, atol=1e-5)
    pushed = z + prior.push * prior.direction.view(19, 256)  # the other latents: towards faces with eyeglasses
    assert torch.allclose(added[:, :3], pushed[:, :3], atol=1e-5) and torch.allclose(
        added[:, 4:], pushed[:, 4:], atol=1e-5
    )


def test_sample_with_a_chosen_label_set(fitted):
    editor, _ = fitted
    faces = editor.sample(3, seed=2, absent="hat,eye_g")
    assert not np.isin(faces, [3, 14]).any()
    with pytest.raises(UserError, match="asked both present and absent"):
        editor.sample(2, present="hat", absent="hat")


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda e, m: e.steer(m, "nose", "curliness", 1.0), "part 'nose' has no attribute 'curliness'"),
        (lambda e, m: e.steer(m, "nose", "open", 1.0), "part 'nose' has no attribute 'open'"),
        (lambda e, m: e.steer(m, "nose,lips", "size", 1.0), "steer: one part at a time"),
        (lambda e, m: e.steer(m, "nose", "size", float("nan")), "amount must be a finite number in [-5, 5]"),
        (lambda e, m: e.steer(m, "nose", "size", 1e6), "amount must be a finite number in [-5, 5]"),
        (lambda e, m: e.steer(m, "nose", "size", 1.0, hold="yes"), "hold must be true or false"),
        (lambda e, m: e.apply(Edit("steer", "nose"), m), "steer: no attribute given"),
        (lambda e, m: e.steer(m, "background", "size", 1.0), "no directions for part 'background'"),
        (lambda e, m: e.add(m, "skin"), "add: mask 0, 1 already has skin; nothing was changed"),
        (lambda e, m: e.remove(m, "hat"), "remove: mask 0, 1 has no hat; nothing was changed"),
        (lambda e, m: e.add(m, "skin".replace("skin", "nose")), "add: mask 0, 1 already has nose"),
        (lambda e, m: e.steer(m, "noze", "size", 1.0), "unknown part 'noze'; known parts: background, skin, nose"),
        (lambda e, m: e.remove(m, "nose"), "classes that have one: eye_g"),
        (lambda e, m: e.sample(2, absent="nose"), "sample(absent=...): 'nose' is present in (nearly) all or no"),
        (lambda e, m: e.sample(2, present="skin"), "sample(present=...): 'skin' is present in (nearly) all or no"),
    ],
)
def test_bad_steering_input_is_one_line(fitted, call, words):
    editor, masks = fitted
    no_hat = masks[~(masks == 14).reshape(len(masks), -1).any(1)][:2]
    with pytest.raises(UserError) as err:
        call(editor, no_hat)
    assert words in str(err.value) and "\n" not in str(err.value), str(err.value)


def test_steering_needs_fitted_statistics():
    editor = MaskEditor(SemanticVAE(TINY), CELEBAMASK_HQ, device="cpu")
    with pytest.raises(UserError, match="holds no fitted directions or presence priors; fit them with"):
        editor.steer(heldout_masks(1, 64), "nose", "size", 1.0)
    with pytest.raises(UserError, match="add: this checkpoint holds no fitted"):
        editor.add(heldout_masks(1, 64), "hat")


def test_a_trained_model_steers_large_parts_the_asked_way(trained_ckpt):
    """The sign test on the small trained model (its directions fitted when its training ended)."""
    from semantic_vae.edit.attributes import measure

    editor = MaskEditor.from_checkpoint(trained_ckpt, device="cpu")
    assert editor.steering is not None and editor.steering.calibrated
    masks = heldout_masks(12, 128)
    for part, name in (("hair", "size"), ("skin", "y")):
        low, high = (
            measure(editor.steer(masks, part, name, a), editor.label_set, part, [name])[name] for a in (-2.0, 2.0)
        )
        assert np.nanmean(high - low) > 0, (part, name)


def test_the_steer_add_remove_and_fit_directions_commands(trained_ckpt, tmp_path, capsys):
    import csv

    import cv2

    from semantic_vae.cli import main
    from semantic_vae.data.io import read_label_png, write_label_png
    from semantic_vae.edit import figures
    from semantic_vae.viz import draw_grid

    masks = heldout_masks(4, 96)
    for i, mask in enumerate(masks):
        write_label_png(tmp_path / "in" / f"{i}.png", mask)
    ckpt = tmp_path / "model.ckpt"
    ckpt.write_bytes(trained_ckpt.read_bytes())
    main(["fit-directions", "--ckpt", str(ckpt), "--count", "600"])
    assert "attribute directions with R^2 >= 0.3" in capsys.readouterr().out
    base = ["--ckpt", str(ckpt), "--input", str(tmp_path / "in")]
    main(
        [
            "edit",
            "steer",
            *base,
            "--parts",
            "hair",
            "--attribute",
            "size",
            "--amount",
            "1.5",
            "--out",
            str(tmp_path / "s"),
        ]
    )
    assert read_label_png(tmp_path / "s" / "0.png").shape == (96, 96)
    figure = cv2.imread(str(tmp_path / "s" / "fig_steer_hair_size.png"))[..., ::-1]
    edit = Edit("steer", "hair", attribute="size", amount=1.5)
    grid = figures.steer_grid(MaskEditor.from_checkpoint(ckpt), list(masks), [f"{i}.png" for i in range(4)], edit,
                              [-2, -1, 0, 1, 2], asked=1.5)  # fmt: skip
    assert "hair size +1.5 sd (asked)" in [row.title for row in grid.rows]
    assert np.array_equal(figure, draw_grid(grid)[0])  # the figure the command wrote has the asked amount's row
    rows = list(csv.DictReader((tmp_path / "s" / "manifest.csv").open()))
    assert [(r["attribute"], r["amount"], r["hold"]) for r in rows] == [("size", "1.5", "True")] * 4
    masks_with = [f"{i}.png" for i, m in enumerate(masks) if (m == 3).any()]
    main(["edit", "remove", *base, "--parts", "eye_g", "--out", str(tmp_path / "r")])
    said = capsys.readouterr().out
    assert f"remove: {len(masks_with)} of 4 masks" in said and "that have no eye_g left out" in said
    gone = sum(not (read_label_png(tmp_path / "r" / name) == 3).any() for name in masks_with)
    assert f"eye_g absent in {gone} of {len(masks_with)} results" in said, said  # what the written PNGs show
    main(["edit", "add", *base, "--parts", "eye_g", "--seed", "3", "--out", str(tmp_path / "a")])
    added = list(csv.DictReader((tmp_path / "a" / "manifest.csv").open()))
    lacking = [f"{i}.png" for i, m in enumerate(masks) if not (m == 3).any()]
    assert [r["output"] for r in added] == lacking and all(r["operation"] == "add" for r in added)
    drawn = sum((read_label_png(tmp_path / "a" / name) == 3).any() for name in lacking)
    said = capsys.readouterr().out
    assert f"eye_g present in {drawn} of {len(lacking)} results" in said, said
    assert ("did not draw it" in said) == (drawn < len(lacking))
    main(["edit", "augment", *base, "--operations", "steer,add", "--parts", "hair,eye_g", "--variants", "2",
          "--out", str(tmp_path / "g")])  # fmt: skip
    variants = list(csv.DictReader((tmp_path / "g" / "manifest.csv").open()))
    assert len(variants) == 8 and {r["operation"] for r in variants} <= {"steer", "add", "generate"}
    assert all(r["attribute"] and -2 <= float(r["amount"]) <= 2 for r in variants if r["operation"] == "steer")


@pytest.mark.parametrize(
    "args, words",
    [
        (["steer", "--parts", "nose", "--attribute", "curl", "--amount", "1"], "part 'nose' has no attribute 'curl'"),
        (["steer", "--parts", "nose", "--attribute", "size", "--amount", "nan"], 'Parser key "amount"'),
        (
            ["steer", "--parts", "nose", "--attribute", "size", "--amount", "9"],
            "amount must be a finite number in [-5, 5]",
        ),
        (["steer", "--parts", "nose", "--amount", "1"], "steer: no attribute given"),
        (
            ["steer", "--parts", "nose", "--attribute", "size", "--amounts", "a,b"],
            "--amounts a,b: expected a comma list",
        ),
        (["add", "--parts", "nose"], "'nose' is present in (nearly) all or no training masks"),
        (["add", "--parts", "nose"], "classes that have one: eye_g, l_eye"),  # by name, not by id
        (["steer", "--parts", "noze", "--attribute", "size"], "unknown part 'noze'; known parts: background"),
        (["steer", "--parts", "nose", "--attribute", "x", "--amounts=-2,nan"], "--amounts -2,nan: amount must be"),
        (["steer", "--parts", "nose", "--attribute", "x", "--amounts=1,99"], "--amounts 1,99: amount must be"),
    ],
)
def test_bad_steering_commands_are_one_line(trained_ckpt, tmp_path, capsys, args, words):
    from semantic_vae.cli import main
    from semantic_vae.data.io import write_label_png

    write_label_png(tmp_path / "in" / "0.png", heldout_masks(1, 64)[0])
    with pytest.raises(SystemExit) as done:
        main(
            ["edit", *args, "--ckpt", str(trained_ckpt), "--input", str(tmp_path / "in"), "--out", str(tmp_path / "o")]
        )
    err = capsys.readouterr().err.strip().splitlines()
    assert done.value.code == 2 and len(err) == 1 and words in err[0], err


# -- What an edit did: the report of every surface (the commands' summary line, the page's status, the API's warning) --
def test_an_outcome_is_counted_by_hand():
    from semantic_vae.edit.outcome import outcome

    before = np.zeros((3, 16, 16), np.uint8)
    before[:, 6:10, 6:10] = 2  # a nose in the middle of each mask
    after = np.zeros_like(before)
    after[0, 6:10, 9:13] = 2  # moved right: x grew, as asked
    after[2, 6:10, 2:6] = 2  # moved left; mask 1 lost its nose
    steer = Edit("steer", "nose", attribute="x", amount=1.0)
    found = outcome(steer, list(before), list(after), CELEBAMASK_HQ, [2], "nose", r2=0.9)
    assert (found.had, found.kept, found.measured, found.moved) == (3, 2, 2, 1)
    assert found.problem() == (
        "nose.x moved the asked way in 1 of 2 results that kept the part; nose vanished in 1 of 3 results that had it "
        "(this model did not draw it there)"
    )
    weak = outcome(steer, list(before), list(before), CELEBAMASK_HQ, [2], "nose", r2=0.05)
    assert weak.problem().endswith("the direction's held-out R^2 is 0.05, below 0.3: it predicts little")
    glasses = after.copy()
    glasses[0, 2, 2] = 3
    add = outcome(Edit("add", "eye_g"), list(before), list(glasses), CELEBAMASK_HQ, [3], "")
    assert add.problem() == "eye_g present in 1 of 3 results (this model did not draw it in the others)"
    remove = outcome(Edit("remove", "eye_g"), list(glasses), list(after), CELEBAMASK_HQ, [3], "")
    assert remove.summary() == "eye_g absent in 3 of 3 results" and not remove.problem()
    generate = outcome(Edit("generate", "nose"), list(before), list(after), CELEBAMASK_HQ, [2], "")
    assert generate.problem() == "nose vanished in 1 of 3 results that had it (this model did not draw it there)"
    assert outcome(Edit("swap", "nose"), list(before), list(after), CELEBAMASK_HQ, [2], "") is None


def test_a_steer_that_loses_the_part_says_so_in_the_api_the_command_and_the_page(fitted, tmp_path, capsys):
    """The tiny random network draws no nose: every steer of it loses the part, which each surface reports."""
    from semantic_vae.app.session import EditSession
    from semantic_vae.cli import main
    from semantic_vae.data.io import write_label_png
    from semantic_vae.edit.outcome import EditWarning
    from semantic_vae.model.loading import write_checkpoint

    editor, masks = fitted
    some = masks[:3]
    assert not (editor.reconstruct(some) == 2).any()
    with pytest.warns(EditWarning, match=r"steer nose \(x \+2 sd, others held\), keep=input: nose vanished in 3 of 3"):
        editor.steer(some, "nose", "x", 2.0, keep="input")  # keep="changes" would keep the input's nose
    with pytest.warns(EditWarning, match=r"sample\(present=l_ear\): l_ear present in 0 of 3 results"):
        editor.sample(3, present="l_ear")  # nor an ear: add and sample(present=) say so as well
    session = EditSession(editor, checkpoint_hash="test")
    session.load(some[0])
    edit = Edit("steer", ["nose"], attribute="x", amount=2.0, keep="input")
    session.apply(session.step(edit))
    assert "Note: nose vanished in 1 of 1 results that had it" in session.note(edit)
    ckpt = write_checkpoint(tmp_path / "tiny.ckpt", editor.vae, {"class_names": list(CELEBAMASK_HQ.names)},
                            torch.ones(19), {"steering": editor.steering.to_dict()})  # fmt: skip
    for i, mask in enumerate(some):
        write_label_png(tmp_path / "in" / f"{i}.png", mask)
    main(["edit", "steer", "--ckpt", str(ckpt), "--input", str(tmp_path / "in"), "--parts", "nose", "--attribute", "x",
          "--amount", "2", "--keep", "input", "--out", str(tmp_path / "out")])  # fmt: skip
    assert "; nose vanished in 3 of 3 results that had it (this model did not draw it there)" in capsys.readouterr().out


def test_a_weak_direction_is_refused_by_the_command_and_the_page_and_flagged_by_the_api(trained_ckpt, tmp_path, capsys):
    from semantic_vae.app.session import EditSession
    from semantic_vae.cli import main
    from semantic_vae.data.io import write_label_png
    from semantic_vae.edit.outcome import EditWarning
    from semantic_vae.edit.steering import R2_STEERABLE

    editor = MaskEditor.from_checkpoint(trained_ckpt, device="cpu")
    weak = [(p, k, d.r2) for p, a in editor.steering.directions.items() for k, d in a.items() if d.r2 < R2_STEERABLE]
    assert weak, "the small trained model steers every attribute: nothing weak to try"
    part, name, r2 = weak[0]
    masks = heldout_masks(2, 64)
    write_label_png(tmp_path / "in" / "0.png", masks[0])
    with pytest.raises(SystemExit) as done:
        main(["edit", "steer", "--ckpt", str(trained_ckpt), "--input", str(tmp_path / "in"), "--parts", part,
              "--attribute", name, "--amount", "1", "--out", str(tmp_path / "o")])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert done.value.code == 2 and len(err) == 1, err
    assert f"{part}.{name} has a direction of held-out R^2 {r2:.2f}, below 0.3: it predicts little" in err[0], err
    assert not (tmp_path / "o" / "manifest.csv").exists()
    session = EditSession(editor, checkpoint_hash="test")
    session.load(masks[0])
    with pytest.raises(UserError, match=rf"held-out R\^2 {r2:.2f}, below 0\.3"):
        session.step(Edit("steer", [part], attribute=name, amount=1.0))
    with pytest.warns(EditWarning, match=rf"the direction's held-out R\^2 is {r2:.2f}, below 0\.3: it predicts little"):
        editor.steer(masks, part, name, 1.0)


def augment_inputs(folder) -> np.ndarray:
    """Four 64x64 held-out masks, the first with eyeglasses (add and remove of eye_g each apply to some)."""
    from semantic_vae.data.io import write_label_png

    masks = heldout_masks(40, 64)
    chosen = masks[[28, 0, 1, 2]]
    assert (chosen[0] == 3).any() and not (chosen[1:] == 3).any()
    for i, mask in enumerate(chosen):
        write_label_png(folder / f"{i}.png", mask)
    return chosen


def test_augment_says_how_many_variants_of_each_operation_it_made_and_why(trained_ckpt, tmp_path, capsys):
    import csv
    import re

    from semantic_vae.cli import main
    from semantic_vae.data.io import read_label_png

    masks = augment_inputs(tmp_path / "in")
    main(["edit", "augment", "--ckpt", str(trained_ckpt), "--input", str(tmp_path / "in"), "--operations",
          "steer,add,remove", "--parts", "hair,eye_g,nose", "--variants", "6", "--keep", "input",  # duplicates of both kinds
          "--out", str(tmp_path / "aug")])  # fmt: skip
    said = capsys.readouterr().out
    rows = list(csv.DictReader((tmp_path / "aug" / "manifest.csv").open()))
    assert len(rows) == 24
    made = dict(re.findall(r"(\w+) (\d+)", re.search(r"; made ([^;]+)", said).group(1)))
    assert {op: int(n) for op, n in made.items()} == {op: sum(r["operation"] == op for r in rows) for op in made}
    assert list(made)[:3] == ["steer", "add", "remove"]  # the operations asked, in order, then any they became
    switched = re.findall(r"; (\d+) (\w+) became generate \(([^)]+)\)", said)
    assert sum(int(n) for n, _, _ in switched) == sum(r["asked"] != r["operation"] for r in rows) > 0, said
    for asked in {a for _, a, _ in switched}:
        assert sum(int(n) for n, a, _ in switched if a == asked) == sum(
            r["asked"] == asked != r["operation"] for r in rows
        )
    assert {reason for _, _, reason in switched} <= {"the part has no steerable attribute", "the input lacks the part",
                                                     "the part has no presence prior", "the input already has the part"}  # fmt: skip
    for row in rows:  # a duplicate is named as such, and only then
        image, source = read_label_png(tmp_path / "aug" / row["output"]), masks[int(Path(row["source"]).stem)]
        assert (row["duplicate_of"] == "input") == np.array_equal(image, source), row
        if row["duplicate_of"] not in ("", "input"):
            assert np.array_equal(image, read_label_png(tmp_path / "aug" / row["duplicate_of"])), row
    to_input = sum(r["duplicate_of"] == "input" for r in rows)
    to_other = sum(r["duplicate_of"] not in ("", "input") for r in rows)
    assert to_input and f"; {to_input} identical to their input" in said, said
    assert to_other and f" {to_other} identical to another variant of their input" in said, said


@pytest.mark.parametrize("policy", ["redraw", "drop"])
def test_augment_redraws_or_drops_variants_identical_to_their_input_or_another(trained_ckpt, tmp_path, capsys, policy):
    import csv
    import re

    from semantic_vae.cli import main
    from semantic_vae.data.io import read_label_png

    masks = augment_inputs(tmp_path / "in")
    base = ["edit", "augment", "--ckpt", str(trained_ckpt), "--input", str(tmp_path / "in"), "--operations",
            "steer,add,remove", "--parts", "hair,eye_g,nose", "--variants", "6"]  # fmt: skip
    main([*base, "--out", str(tmp_path / "kept")])
    kept = list(csv.DictReader((tmp_path / "kept" / "manifest.csv").open()))
    identical = {r["output"] for r in kept if r["duplicate_of"]}
    assert identical, "the plan has no identical variant to redraw or drop: the test tries nothing"
    capsys.readouterr()
    main([*base, "--duplicates", policy, "--out", str(tmp_path / policy)])
    said = capsys.readouterr().out
    rows = list(csv.DictReader((tmp_path / policy / "manifest.csv").open()))
    on_disk = {p.name for p in (tmp_path / policy).glob("*.png")}
    assert on_disk == {r["output"] for r in rows}
    if policy == "drop":
        assert {r["output"] for r in rows} == {r["output"] for r in kept} - identical
        assert not any(r["duplicate_of"] for r in rows) and f"; {len(identical)} dropped, being identical" in said
        return
    assert {r["output"] for r in rows} == {r["output"] for r in kept}
    changed = {r["output"] for r, k in zip(rows, kept) if r != k}
    by_name = {r["output"]: r for r in rows}
    assert all(name in changed or by_name[name]["duplicate_of"] for name in identical)
    redrawn = int(
        re.search(r"; (\d+) redrawn, being identical to their input or to another variant of it", said).group(1)
    )
    assert redrawn >= len(identical) and changed  # each identical one drawn again (and any the redraws made identical)
    for row in rows:
        image = read_label_png(tmp_path / policy / row["output"])
        same = np.array_equal(image, masks[int(Path(row["source"]).stem)])
        assert not same or row["duplicate_of"] == "input", row  # still identical after every redraw: marked


def test_every_row_of_an_augment_over_every_operation_replays_through_the_python_api(trained_ckpt, tmp_path):
    """augment's variants go through the editor's own pipeline: each manifest row, given to the named method of its
    operation with the row's settings, gives the same pixels (steer, add and remove included)."""
    import csv
    import warnings

    from semantic_vae.cli import main
    from semantic_vae.data.io import read_label_png
    from semantic_vae.edit.outcome import EditWarning

    augment_inputs(tmp_path / "in")
    operations = ("generate", "perturb", "swap", "interpolate", "steer", "add", "remove")
    main(["edit", "augment", "--ckpt", str(trained_ckpt), "--input", str(tmp_path / "in"), "--operations",
          ",".join(operations), "--parts", "hair,eye_g,nose", "--variants", "12", "--seed", "5", "--keep", "changes",
          "--out", str(tmp_path / "aug")])  # fmt: skip
    rows = list(csv.DictReader((tmp_path / "aug" / "manifest.csv").open()))
    assert {r["operation"] for r in rows} == set(operations)  # every operation made at least once
    editor = MaskEditor.from_checkpoint(trained_ckpt, device="cpu")
    replay = {
        "generate": lambda s, t, r, kept: editor.generate(s, r["parts"], int(r["seed"]), r["prior"], **kept),
        "perturb": lambda s, t, r, kept: editor.perturb(s, r["parts"], float(r["scale"]), int(r["seed"]), **kept),
        "swap": lambda s, t, r, kept: editor.swap(s, t, r["parts"], **kept),
        "interpolate": lambda s, t, r, kept: editor.interpolate(s, t, r["parts"], float(r["alpha"]), **kept),
        "steer": lambda s, t, r, kept: editor.steer(
            s, r["parts"], r["attribute"], float(r["amount"]), r["hold"] == "True", **kept
        ),
        "add": lambda s, t, r, kept: editor.add(s, r["parts"], int(r["seed"]), **kept),
        "remove": lambda s, t, r, kept: editor.remove(s, r["parts"], **kept),
    }
    for row in rows:
        source = read_label_png(row["source"])
        target = read_label_png(row["target"]) if row["target"] else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", EditWarning)  # where the model fell short: the same pixels either way
            expected = replay[row["operation"]](
                source, target, row, {"keep": row["keep"], "radius": int(row["radius"])}
            )
        assert np.array_equal(read_label_png(tmp_path / "aug" / row["output"]), expected), row


def test_r2_agrees_with_torchmetrics_and_is_nan_for_a_constant():
    from torchmetrics.functional import r2_score

    from semantic_vae.edit.steering import _r2

    y, predicted = np.random.default_rng(1).normal(size=(2, 30))
    assert _r2(y, predicted) == pytest.approx(float(r2_score(torch.from_numpy(predicted), torch.from_numpy(y))))
    assert _r2(y, y * 0.5) == pytest.approx(float(r2_score(torch.from_numpy(y * 0.5), torch.from_numpy(y))))
    assert np.isnan(_r2(np.full(6, 2.0), np.arange(6.0)))
