"""The `Edit` value: defaults in one place, one validation where it is made, an exact round trip; recipes of both
formats replay exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from semantic_vae.data.synthetic import heldout_masks
from semantic_vae.edit import Edit, MaskEditor, Template, operations
from semantic_vae.edit.edit import MAX_SEED, REGISTRY, all_settings, parse_parts
from semantic_vae.edit.recipe import Recipe, RecipeStep, png_base64
from semantic_vae.edit.region import KEEP_RADIUS
from semantic_vae.errors import UserError
from semantic_vae.labels import CELEBAMASK_HQ
from semantic_vae.model import SemanticVAE, VAEConfig

TINY = VAEConfig(image_size=32, encoder_hidden=(16,), lstm_layers=1, lstm_hidden=8, ffn_hidden=8, decoder_width=4)


@pytest.fixture(scope="module")
def editor() -> MaskEditor:
    torch.manual_seed(0)
    vae = SemanticVAE(TINY)
    vae.prior.fit(torch.randn(19, 256) * 0.1, torch.eye(256).expand(19, 256, 256) * 0.5)
    return MaskEditor(vae, CELEBAMASK_HQ, device="cpu")


def test_defaults_live_in_each_operations_class():
    generate, perturb = Edit("generate", "nose"), Edit("perturb", "nose")
    assert (generate.seed, generate.prior, generate.keep, generate.radius) == (0, None, "changes", KEEP_RADIUS)
    assert (perturb.seed, perturb.scale) == (0, 1.0) and Edit("interpolate", "nose").alpha == 0.5
    assert generate.parts == ("nose",) and Edit().operation == "reconstruct"
    assert isinstance(generate, operations.Generate) and isinstance(generate, Edit)
    assert Edit("generate", "nose", 3) == operations.Generate("nose", seed=3)  # the seed second, as before


@pytest.mark.parametrize(
    "operation, settings, name",
    [
        ("swap", {"parts": "nose", "amount": 2}, "amount"),
        ("generate", {"parts": "nose", "scale": 2.0}, "scale"),
        ("perturb", {"parts": "nose", "prior": "data"}, "prior"),
        ("remove", {"parts": "hat", "seed": 1}, "seed"),
        ("reconstruct", {"keep": "none"}, "keep"),
        ("steer", {"parts": "nose", "attribute": "x", "alpha": 0.5}, "alpha"),
    ],
)
def test_a_setting_the_operation_does_not_take_is_refused_in_one_line(operation, settings, name):
    with pytest.raises(UserError) as err:
        Edit(operation, **settings)
    assert f"{operation}: takes no setting '{name}'" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(UserError, match=f"unknown setting '{name}' of {operation}"):
        Edit.from_dict({"operation": operation, **settings})


def test_every_surface_reads_the_settings_from_the_operation_classes():
    from semantic_vae.commands.edit import EDIT_COMMANDS, command_parser
    from semantic_vae.commands.files import MANIFEST_FIELDS

    declared = {name: kind.setting_names() for name, kind in REGISTRY.items()}
    assert set(MANIFEST_FIELDS) == {"output", "color_output", "source", "operation", "target"} | {
        s for names in declared.values() for s in names
    }
    for name in declared:
        options = {a.dest for a in command_parser(name, EDIT_COMMANDS[name])._actions}
        assert set(declared[name]) - {"alpha"} <= options  # interpolate's alphas come from --steps
        assert not (set(all_settings()) - set(declared[name]) - {"scale"}) & options  # generate's figure: --scale
    assert Template(keep="none").edit("swap", "nose") == Edit("swap", "nose", keep="none")
    with pytest.raises(UserError, match="scale must be a finite number"):
        Template(scale=-1.0)


@pytest.mark.parametrize(
    "parts, expected",
    [
        ("nose", ("nose",)),
        ("nose, lips,", ("nose", "lips")),
        (2, ("2",)),
        (["hair", 13, "hair"], ("hair", "13")),
        ((), ()),
    ],
)
def test_parts_are_names_never_letters(parts, expected):
    assert parse_parts(parts) == expected


def test_the_round_trip_is_exact():
    for edit in (
        Edit("generate", "nose,lips", seed=7, prior="data", keep="none", radius=3),
        Edit("perturb", ["hair"], seed=MAX_SEED, scale=0.0),
        Edit("interpolate", "eyes", alpha=0.25, keep="reconstruction"),
        Edit("swap", 13),
        Edit(),
    ):
        stored = json.loads(json.dumps(edit.to_dict()))
        assert Edit.from_dict(stored) == edit


@pytest.mark.parametrize(
    "settings, words",
    [
        ({"operation": "blend", "parts": "nose"}, "operation: unknown 'blend'"),
        ({"operation": "generate"}, "generate: no parts given"),
        ({"operation": "generate", "parts": True}, "parts: expected part names or ids, got True"),
        ({"operation": "generate", "parts": [1.5]}, "parts: expected part names or ids, got 1.5"),
        ({"operation": "perturb", "parts": "nose", "scale": -1.0}, "scale must be a finite number >= 0"),
        ({"operation": "perturb", "parts": "nose", "scale": "big"}, "scale must be a number, got 'big'"),
        ({"operation": "perturb", "parts": "nose", "scale": float("nan")}, "scale must be a finite number"),
        ({"operation": "interpolate", "parts": "nose", "alpha": 1.5}, "alpha must be a finite number in [0, 1]"),
        ({"operation": "generate", "parts": "nose", "seed": -1}, f"seed must be a whole number in 0..{MAX_SEED}"),
        ({"operation": "generate", "parts": "nose", "seed": MAX_SEED + 1}, "seed must be a whole number"),
        ({"operation": "generate", "parts": "nose", "seed": 2.0}, "seed must be a whole number"),
        ({"operation": "generate", "parts": "nose", "prior": "flat"}, "prior: unknown 'flat'"),
        ({"operation": "generate", "parts": "nose", "keep": "all"}, "keep: unknown mode 'all'"),
        ({"operation": "generate", "parts": "nose", "radius": -1}, "radius must be a whole number of pixels"),
        ({"operation": "generate", "parts": "nose", "radius": True}, "radius must be a whole number of pixels"),
    ],
)
def test_bad_settings_are_refused_where_the_value_is_made(settings, words):
    with pytest.raises(UserError) as err:
        Edit(**settings)
    assert words in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(UserError, match="step 3"):
        Edit.from_dict(settings, "step 3")


def test_from_dict_refuses_what_is_not_an_edit():
    with pytest.raises(UserError, match="unknown setting 'colour'"):
        Edit.from_dict({"operation": "generate", "parts": "nose", "colour": 1})
    with pytest.raises(UserError, match="names no operation"):
        Edit.from_dict({"parts": "nose"})
    with pytest.raises(UserError, match="must be a mapping"):
        Edit.from_dict(["generate"])


def test_unknown_parts_are_refused_when_applied(editor):
    with pytest.raises(UserError, match="unknown part 'noze'"):
        Edit("generate", "noze").apply(editor, heldout_masks(1, 32))


def _recipe_v1(masks: np.ndarray) -> dict:
    """A recipe as the web editor wrote them before the Edit value (format 1: flat steps, None where unused)."""
    none = {"seed": None, "prior": None, "scale": None, "alpha": None, "target": None}
    return {
        "format": 1,
        "checkpoint_sha256": "0" * 64,
        "input_png": png_base64(masks[0]),
        "steps": [
            {**none, "operation": "generate", "parts": ["nose"], "seed": 5, "prior": "normal", "keep": "input", "radius": 3},
            {**none, "operation": "swap", "parts": ["lips"], "keep": "reconstruction", "radius": 2, "target": png_base64(masks[1])},
            {**none, "operation": "perturb", "parts": "hair", "seed": 2, "scale": 1.5, "keep": "none", "radius": 1},
            {**none, "operation": "interpolate", "parts": ["eyes"], "alpha": 0.4, "keep": "input", "radius": 3,
             "target": png_base64(masks[1])},
        ],
    }  # fmt: skip


def test_a_format_1_recipe_replays_as_its_edits_did(editor):
    masks = heldout_masks(2, 64)
    recipe = Recipe.from_json(json.dumps(_recipe_v1(masks)))
    step = editor.generate(masks[0], "nose", seed=5, prior="normal", keep="input", radius=3)
    step = editor.swap(step, masks[1], "lips", keep="reconstruction", radius=2)
    step = editor.perturb(step, "hair", scale=1.5, seed=2, keep="none", radius=1)  # "hair": a name, not 4 letters
    step = editor.interpolate(step, masks[1], "eyes", 0.4, keep="input", radius=3)
    assert np.array_equal(recipe.replay(editor), step)
    again = Recipe.from_json(recipe.to_json())  # written back as format 2: the same steps
    assert again.steps == recipe.steps and json.loads(recipe.to_json())["format"] == 2


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda d: d.update(format=7), "a format this version reads (2, 1); got 7"),
        (lambda d: d["steps"][2].update(scale="x"), "step 3: scale must be a number, got 'x'"),
        (lambda d: d["steps"][2].update(scale=None), "step 3: perturb has no 'scale'"),
        (lambda d: d["steps"][0].update(seed=None), "step 1: generate has no 'seed'"),
        (lambda d: d["steps"][0].update(colour=3), "step 1: not an edit step"),
        (lambda d: d.update(steps={"a": 1}), "'steps' must be a list"),
        (lambda d: d.pop("input_png"), "no input mask"),
    ],
)
def test_bad_recipes_are_one_line_errors(change, words):
    document = _recipe_v1(heldout_masks(2, 32))
    change(document)
    with pytest.raises(UserError) as err:
        Recipe.from_json(json.dumps(document), "r.json")
    assert words in str(err.value) and str(err.value).startswith("r.json") and "\n" not in str(err.value)


def test_a_format_2_step_needs_every_setting():
    step = RecipeStep(Edit("perturb", "nose", seed=1, scale=2.0)).to_dict()
    del step["edit"]["scale"]
    document = {"format": 2, "checkpoint_sha256": "0" * 64, "input_png": "x", "steps": [step]}
    with pytest.raises(UserError, match="step 1: the edit has no 'scale'"):
        Recipe.from_json(json.dumps(document))
