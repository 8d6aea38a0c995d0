"""`semantic-vae edit ...` and `semantic-vae evaluate-edits`.

Output layout of every edit command (`--out DIR`):

    DIR/<name>.png          label PNG, mode L, values 0..C-1, the input's size (what SEAN / CA2-SIS read)
    DIR/color/<name>.png    the same labels in the label set's colours (RGB)
    DIR/fig3_<parts>.png    generate, perturb: paper Fig. 3 (rows input / reconstruction / generation / perturbation)
    DIR/fig5_<parts>.png    interpolate: paper Fig. 5 (a row per pair: source, alpha = 0 .. 1, target)
    DIR/fig_swap_<parts>.png, DIR/fig_reconstruct.png: rows source / reconstruction / target / result, input /
                            reconstruction
    DIR/fig_steer_<part>_<attribute>.png, DIR/fig_add_<parts>.png, DIR/fig_remove_<parts>.png: rows input /
                            reconstruction / the edit (steer: one row per amount, the asked one among them)
    (every figure shows the first 8 inputs, one per column, and says so in its footer when there are more)
    DIR/manifest.csv        one row per output (source, operation, parts, seed, ...): written last

Inputs are a label PNG or a folder of them (grayscale ids or colourised); files are taken in
sorted order, and file i is edited with seed `seed + i`, so a file's result does not depend on
how the folder is batched. Each command's options are declared once: the model's (`ModelOptions`),
the files' (`Files`, `Target`) and the edit's (the fields of its operation's class, `semantic_vae.edit.operations`),
and jsonargparse builds every command's parser and help from those declarations. An operation without a command of
its own here is applied by `edit_files` (labels and manifest, no figure).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any, get_type_hints

import numpy as np
from jsonargparse import ArgumentParser

from semantic_vae.checks import MAX_SEED
from semantic_vae.commands.augment import augment
from semantic_vae.commands.files import (
    MANIFEST_FIELDS,
    check_sizes,
    choices,
    input_files,
    manifest_row,
    pair_targets,
    read_masks,
    write_pair,
)
from semantic_vae.commands.options import Figure, Files, ModelOptions, Target
from semantic_vae.data.io import resize_labels
from semantic_vae.data.synthetic import heldout_masks
from semantic_vae.edit import figures
from semantic_vae.edit.edit import DEFAULT_PARTS, REGISTRY, Edit, Template
from semantic_vae.edit.editor import MaskEditor, run_grouped
from semantic_vae.edit.latent_use import evaluate_latent_use, format_latent_use
from semantic_vae.edit.metrics import (
    EDIT_OPERATIONS,
    METRIC_DISTANCE,
    STEERING_OPERATIONS,
    EditMetricSettings,
    evaluate_editor,
    evaluate_presence,
    evaluate_steering,
    format_steering,
    format_table,
)
from semantic_vae.edit.operations import (
    Generate,
    Interpolate,
    Perturb,
    PresenceEdit,
    Prior,
    Reconstruct,
    Steer,
    Swap,
)
from semantic_vae.edit.outcome import Outcome
from semantic_vae.edit.recipe import Recipe, checkpoint_sha256
from semantic_vae.edit.region import DEFAULT_KEEP, KEEP_RADIUS, Keep
from semantic_vae.errors import UserError
from semantic_vae.files import OutputFolder, write_json_atomic

MAX_STEPS = 101  # interpolation alphas per pair (0.01 apart): more is no finer a path, only more memory


DEFAULT_AMOUNTS = "-2,-1,0,1,2"  # steer's figure: one row per amount


# -- loading ----------------------------------------------------------------------------
def load_inputs(model: ModelOptions, files: Files) -> tuple[MaskEditor, list[Path], list[np.ndarray]]:
    paths = input_files(files.input)  # input errors first: no model load for a wrong path
    editor = model.editor()
    return editor, paths, read_masks(paths, editor.label_set)


def load_pairs(
    model: ModelOptions, files: Files, target: Target
) -> tuple[MaskEditor, list[Path], list[Path], list[np.ndarray], list[np.ndarray]]:
    paths = input_files(files.input)
    target_paths = pair_targets(paths, input_files(target.target, "target"))
    editor = model.editor()
    masks = read_masks(paths, editor.label_set)
    unique = sorted(set(target_paths))
    cache = dict(zip(unique, read_masks(unique, editor.label_set)))
    targets = [cache[f] for f in target_paths]
    check_sizes(paths, target_paths, masks, targets)
    return editor, paths, target_paths, masks, targets


def parts_slug(editor: MaskEditor, edit: Edit) -> str:
    return "-".join(editor.class_names[i] for i in editor.part_ids(edit.parts))


def check_seed_range(edit: Edit, count: int) -> None:
    if edit.noise_seed + count - 1 > MAX_SEED:
        raise UserError(f"--seed {edit.noise_seed}: file i uses seed + i, and {count} files run past {MAX_SEED}")


def edit_each(out: Path, editor: MaskEditor, edit: Edit, paths: list[Path], masks: list[np.ndarray],
              numbers: list[int] | None = None, targets: list | None = None, target_paths: list | None = None):  # fmt: skip
    """Each mask edited (file i with seed + i where the edit draws noise; `numbers`: the files' indices) and written
    with its colour copy; returns the results and their manifest rows."""
    seeds = [edit.noise_seed + i for i in (range(len(masks)) if numbers is None else numbers)]
    edited = run_grouped(masks, lambda b, idx: editor.apply(
        edit, b, None if targets is None else np.stack([targets[i] for i in idx]), seeds=[seeds[i] for i in idx]))  # fmt: skip
    rows = []
    for k, (path, labels) in enumerate(zip(paths, edited)):
        write_pair(out, path.name, labels, editor.label_set)
        rows.append(manifest_row(path.name, True, path, edit, seeds[k], target_paths[k] if target_paths else None))
    return edited, rows


# -- the commands -----------------------------------------------------------------------
def reconstruct(model: ModelOptions, files: Files, figure: Figure) -> None:
    """Reconstruct label maps (encode with mu, mix, decode)."""
    editor, paths, masks = load_inputs(model, files)
    edit = Reconstruct()
    with OutputFolder(files.out) as out:
        _, rows = edit_each(out.path, editor, edit, paths, masks)
        if figure.figure:
            grid = figures.reconstruct_grid(editor, masks, [p.name for p in paths])
            figures.save(out.path / "fig_reconstruct.png", grid, editor)
        out.finish(rows, MANIFEST_FIELDS)
    print(f"reconstructed {len(paths)} masks into {out.path}")


def random_edit(
    model: ModelOptions, files: Files, figure: Figure, edit: Generate | Perturb, scale: float | None
) -> None:
    """generate or perturb every input; file i uses seed + i."""
    editor, paths, masks = load_inputs(model, files)
    slug = parts_slug(editor, edit)  # an unknown part fails before anything is written
    check_seed_range(edit, len(paths))
    edit = edit.prepared(editor)  # the manifest names the prior used
    with OutputFolder(files.out) as out:
        edited, rows = edit_each(out.path, editor, edit, paths, masks)
        if figure.figure:
            grid = figures.fig3_grid(editor, masks, [p.name for p in paths], edit, scale)
            figures.save(out.path / f"fig3_{slug}.png", grid, editor)
        out.finish(rows, MANIFEST_FIELDS)
    print(f"{edit.operation}: {len(paths)} masks, parts {slug}, seeds {edit.seed}..{edit.seed + len(paths) - 1}, "
          f"keep={edit.keep} -> {out.path}{said(editor.outcome(edit, masks, edited), problems_only=True)}")  # fmt: skip


def generate(model: ModelOptions, files: Files, figure: Figure, edit: Generate, scale: float = Perturb.scale) -> None:
    """Generate new parts: their embeddings replaced by draws from the prior (paper §4). Writes fig3_<parts>.png
    (rows input, reconstruction, generation, perturbation at `scale`).

    Args:
        scale: the figure's perturbation row: the standard deviation of its noise.
    """
    random_edit(model, files, figure, edit, scale)


def perturb(model: ModelOptions, files: Files, figure: Figure, edit: Perturb) -> None:
    """Perturb parts: their embeddings plus scale * N(0, I) (paper §4). Writes fig3_<parts>.png."""
    random_edit(model, files, figure, edit, None)


def interpolate(
    model: ModelOptions, files: Files, figure: Figure, target: Target, edit: Interpolate, steps: int = 5
) -> None:
    """Interpolate parts from the input (alpha = 0) to the target (alpha = 1), paper Eq. 4.

    Writes <stem>_a<alpha>.png per alpha (e.g. 0_a0.50.png) and fig5_<parts>.png.

    Args:
        steps: number of alphas, evenly spaced from 0 to 1 (2 to 101).
    """
    if isinstance(steps, bool) or not 2 <= steps <= MAX_STEPS:
        raise UserError(f"--steps must be a whole number in 2..{MAX_STEPS}, got {steps}")
    editor, paths, target_paths, masks, targets = load_pairs(model, files, target)
    slug = parts_slug(editor, edit)
    alphas = np.linspace(0.0, 1.0, steps).tolist()
    edits = [edit.with_(alpha=a) for a in alphas]
    with OutputFolder(files.out) as out:
        paths_of = run_grouped(  # per mask: (A, H, W)
            masks,
            lambda b, idx: np.stack(editor.apply_many(edits, b, np.stack([targets[i] for i in idx]))),
            axis=1,
        )
        rows = []
        for path, target_path, path_masks in zip(paths, target_paths, paths_of):
            for step, labels in zip(edits, path_masks):
                name = f"{path.stem}_a{step.alpha:.2f}.png"
                write_pair(out.path, name, labels, editor.label_set)
                rows.append(manifest_row(name, True, path, step, None, target_path))
        if figure.figure:
            grid = figures.fig5_grid(editor, [p.name for p in paths], [p.name for p in target_paths], masks, targets,
                                     [list(r) for r in paths_of], alphas, edit)  # fmt: skip
            figures.save(out.path / f"fig5_{slug}.png", grid, editor)
        out.finish(rows, MANIFEST_FIELDS)
    print(f"interpolate: {len(paths)} pairs x {steps} alphas, parts {slug}, keep={edit.keep} -> {out.path}")


def swap(model: ModelOptions, files: Files, figure: Figure, target: Target, edit: Swap) -> None:
    """Swap parts in from the target (interpolation at alpha = 1). Writes fig_swap_<parts>.png (rows source,
    target, result)."""
    editor, paths, target_paths, masks, targets = load_pairs(model, files, target)
    slug = parts_slug(editor, edit)
    with OutputFolder(files.out) as out:
        _, rows = edit_each(out.path, editor, edit, paths, masks, None, targets, target_paths)
        if figure.figure:
            grid = figures.swap_grid(editor, masks, targets, [p.name for p in paths], [p.name for p in target_paths],
                                     edit)  # fmt: skip
            figures.save(out.path / f"fig_swap_{slug}.png", grid, editor)
        out.finish(rows, MANIFEST_FIELDS)
    print(f"swap: {len(paths)} masks, parts {slug}, keep={edit.keep} -> {out.path}")


def steer(
    model: ModelOptions, files: Files, figure: Figure, edit: Steer, amounts: list[float] | str = DEFAULT_AMOUNTS
) -> None:
    """Steer a part's attribute ("a longer nose", "an open mouth"): its latent moved along the attribute's direction
    by `amount` standard deviations. Writes fig_steer_<part>_<attribute>.png (rows input, reconstruction, and one
    per amount of --amounts and the asked --amount). An attribute whose direction predicts little (held-out R^2
    below 0.3) is refused; the summary line says in how many results the part moved the asked way, and where it
    vanished.

    Args:
        amounts: the figure's amounts in standard deviations: a list ([-2, 0, 2]) or a comma list (-2,0,2).
    """
    rows_at = [e.amount for e in amount_edits(edit, amounts)]
    editor, paths, masks = load_inputs(model, files)
    edit.prepared(editor)  # an unknown part or attribute, or a direction that predicts little, named
    direction = edit.direction(editor)
    with OutputFolder(files.out) as out:
        steered, rows = edit_each(out.path, editor, edit, paths, masks)
        if figure.figure:
            grid = figures.steer_grid(editor, masks, [p.name for p in paths], edit, rows_at, edit.amount)
            figures.save(out.path / f"fig_steer_{edit.parts[0]}_{edit.attribute}.png", grid, editor)
        out.finish(rows, MANIFEST_FIELDS)
    print(f"steer: {len(paths)} masks, {edit.parts[0]}.{edit.attribute} {edit.amount:+g} sd (direction R^2 "
          f"{direction.r2:.2f}), keep={edit.keep} -> {out.path}{said(editor.outcome(edit, masks, steered))}")  # fmt: skip


def amount_edits(edit: Steer, amounts: list[float] | str) -> list[Steer]:
    """The steer `edit` at each amount of --amounts (a list, or a comma list of numbers, each in `Edit.amount`'s
    range); a bad item is refused naming --amounts."""
    edits = []
    items = amounts.split(",") if isinstance(amounts, str) else amounts
    for item in (str(a).strip() for a in items):
        if not item:
            continue
        try:
            edits.append(edit.with_(amount=float(item)))
        except UserError as err:  # NaN, out of range
            raise UserError(f"--amounts {amounts}: {err}") from None
        except ValueError:  # not a number
            raise UserError(
                f"--amounts {amounts}: expected a comma list of numbers, e.g. -2,-1,0,1,2; got {item!r}"
            ) from None
    return edits


def said(found: Outcome | None, problems_only: bool = False) -> str:
    """An edit's outcome as the end of its summary line ('; eye_g present in 3 of 4 results'); '' when nothing is
    checked (or, with `problems_only`, nothing fell short)."""
    text = "" if found is None else (found.problem() if problems_only else found.summary())
    return f"; {text}" if text else ""


def presence_edit(model: ModelOptions, files: Files, figure: Figure, edit: PresenceEdit) -> None:
    """The inputs that already have the part (add) or lack it (remove) are listed and left out."""
    editor, paths, masks = load_inputs(model, files)
    applies = [bool(edit.applies(editor, editor.as_batch(m)[0])[0]) for m in masks]
    todo = [i for i, a in enumerate(applies) if a]
    left = [paths[i].name for i in range(len(paths)) if not applies[i]]
    check_seed_range(edit, len(paths))
    edit.prepared(editor)  # a part without a presence prior is refused before anything is written
    with OutputFolder(files.out) as out:
        chosen, seeds = [masks[i] for i in todo], [edit.noise_seed + i for i in todo]
        edited, rows = edit_each(out.path, editor, edit, [paths[i] for i in todo], chosen, todo)
        if figure.figure and todo:
            slug = "-".join(editor.class_names[c] for c in editor.part_ids(edit.parts))
            grid = figures.presence_grid(editor, chosen, [paths[i].name for i in todo], edit, seeds)
            figures.save(out.path / f"fig_{edit.operation}_{slug}.png", grid, editor)
        out.finish(rows, MANIFEST_FIELDS)
    parts = "+".join(edit.parts)
    note = (f"; {len(left)} that {edit.unmet[1]} {parts} left out: {', '.join(left[:5])}" + (", ..." if len(left) > 5 else "")
            if left else "")  # fmt: skip
    outcome = said(editor.outcome(edit, chosen, edited))
    print(f"{edit.operation}: {len(todo)} of {len(paths)} masks, parts {parts} -> {out.path}{outcome}{note}")


def replay(model: ModelOptions, recipe: str, out: str, check_checkpoint: bool = True) -> None:
    """Replay an edit recipe (as the web editor writes them): the identical label map.

    Writes <out>/<recipe stem>.png (mode L) and color/<recipe stem>.png.

    Args:
        recipe: the recipe JSON.
        out: output folder.
        check_checkpoint: refuse a checkpoint whose SHA-256 differs from the recipe's.
    """
    path = Path(recipe)
    if path.is_dir():
        raise UserError(f"--recipe {path}: is a folder; give the recipe's JSON file")
    if not path.is_file():
        raise UserError(f"--recipe {path}: file not found")
    plan = Recipe.from_json(path.read_bytes(), str(path))
    editor = model.editor()
    if check_checkpoint and checkpoint_sha256(model.ckpt) != plan.checkpoint_sha256:
        raise UserError(
            f"--ckpt {model.ckpt}: not the checkpoint of {path} (SHA-256 differs); --check_checkpoint false to go on"
        )
    labels = plan.replay(editor)
    with OutputFolder(out) as folder:
        written = write_pair(folder.path, f"{path.stem}.png", labels, editor.label_set)
        last = plan.steps[-1].edit if plan.steps else Reconstruct()
        row = manifest_row(written.name, True, path, last)
        folder.finish([row], MANIFEST_FIELDS)
    print(f"replayed {len(plan.steps)} edit(s) of {path} -> {written}")


# -- evaluation -------------------------------------------------------------------------
def load_eval_masks(editor: MaskEditor, data: str | None, count: int) -> np.ndarray:
    """(N, H, W): the first `count` PNGs of `data` (resized with nearest to the first one's size),
    or `count` held-out synthetic masks at the model's size."""
    if data is None:
        if editor.num_classes != 19:
            raise UserError(
                "--data: the synthetic masks have CelebAMask-HQ's 19 classes; give real masks for this model"
            )
        return heldout_masks(count, editor.image_size)
    files = input_files(data, "data")[:count]
    masks = read_masks(files, editor.label_set)
    return np.stack([resize_labels(m, masks[0].shape) for m in masks])


def evaluate_edits(
    model: ModelOptions,
    data: str | None = None,
    parts: list[str] | str = DEFAULT_PARTS,
    operations: list[str] | str | None = None,
    count: int = 64,
    seeds: int = 4,
    distance: int = METRIC_DISTANCE,
    out: str = "outputs/edit_metrics.json",
    quiet: bool = False,
    scale: float = Perturb.scale,
    alpha: float = Interpolate.alpha,
    prior: Prior | None = Generate.prior,
    keep: Keep = DEFAULT_KEEP,
    radius: int = KEEP_RADIUS,
) -> None:
    """Measure the edits: locality, part change, validity, realism and diversity, per operation and part, and
    whether each part is drawn from its own latent (latent use: transfer, generate change; keep="none").

    Args:
        data: a folder of real test label PNGs (or one PNG); default: held-out synthetic masks
            (indices from 10,000,000 of stream 0, never in a training split) at the model's size.
        parts: parts to edit, one unit at a time: classes or groups ("nose,lips,eyes,brows,hair").
        operations: generate, perturb, swap, interpolate (swap/interpolate: mask i-1 is the target of mask i), and
            steer, add, remove; default: all of them (steer, add and remove where the checkpoint holds fitted directions) (steer: every frequent part's steerable
            attributes at -2..2 sd; add/remove: eyeglasses, hat, earrings, necklace, inner mouth, ears).
        count: number of masks (at least 2).
        seeds: seeds per mask for generate and perturb (diversity needs 2 or more).
        distance: pixels around the part (at the masks' size) that count as its neighbourhood for locality.
        out: JSON file for the results.
        quiet: no progress bars (they show only on a terminal).
        scale, alpha, prior, keep, radius: the settings of the edits that take them (`semantic_vae.edit.operations`).
    """
    template = Template(scale=scale, alpha=alpha, prior=prior, keep=keep, radius=radius)
    measured = (*EDIT_OPERATIONS, *STEERING_OPERATIONS)
    ops = choices(operations or ",".join(measured), measured, "--operations")
    if count < 2:
        raise UserError(f"--count must be at least 2, got {count}")
    if seeds < 1:
        raise UserError(f"--seeds must be at least 1, got {seeds}")
    if distance < 0:
        raise UserError(f"--distance must be 0 or more, got {distance}")
    if not str(out).endswith(".json"):
        raise UserError(f"--out {out}: the results are JSON; give a file name ending in .json")
    editor = model.editor()
    units = editor.part_units(parts)
    masks = load_eval_masks(editor, data, count)
    if len(masks) < 2:
        raise UserError(f"--data {data}: the edit metrics need at least 2 masks, found {len(masks)}")
    template = Template(**{**template.given, "prior": editor.resolve_prior(prior)})
    settings = EditMetricSettings(seeds=seeds, distance=distance)
    protocols = {REGISTRY[op].measured_by for op in ops}
    edits = tuple(op for op in ops if REGISTRY[op].measured_by == "edits")
    results = evaluate_editor(editor, masks, units, edits, template, settings, progress=not quiet)
    if editor.steering is not None:
        if "steering" in protocols:
            results["steering"] = evaluate_steering(editor, masks, keep=keep, progress=not quiet)
        if "presence" in protocols:
            results["presence"] = evaluate_presence(editor, masks, keep=keep, seed=settings.seed, progress=not quiet)
    elif operations is not None and set(STEERING_OPERATIONS) & set(ops):
        raise UserError("--operations steer/add/remove: this checkpoint holds no fitted directions (fit-directions)")
    results["latent_use"] = evaluate_latent_use(editor, masks, units, seeds=max(2, seeds), seed=settings.seed)
    results = {"checkpoint": str(model.ckpt), "data": data or "synthetic (held out)", **results}
    write_json_atomic(out, results)
    print(format_table(results))
    print(format_latent_use(results["latent_use"]))
    if "steering" in results or "presence" in results:
        print(format_steering(results))
    print(f"wrote {out}")


# -- the parsers ------------------------------------------------------------------------
def edit_files(model: ModelOptions, files: Files, edit: Edit) -> None:
    """Apply the edit to every input (file i with seed + i where the edit draws noise): labels and manifest."""
    editor, paths, masks = load_inputs(model, files)
    check_seed_range(edit, len(paths))
    edit = edit.prepared(editor)
    with OutputFolder(files.out) as out:
        edited, rows = edit_each(out.path, editor, edit, paths, masks)
        out.finish(rows, MANIFEST_FIELDS)
    print(f"{edit.describe()}: {len(paths)} masks -> {out.path}{said(editor.outcome(edit, masks, edited))}")


# The commands of the operations that write more than `edit_files` (figures, interpolation paths, left-out inputs).
OPERATION_COMMANDS: dict[str, Callable[..., None]] = {
    "reconstruct": reconstruct,
    "generate": generate,
    "perturb": perturb,
    "interpolate": interpolate,
    "swap": swap,
    "steer": steer,
    "add": presence_edit,
    "remove": presence_edit,
}
EDIT_COMMANDS: dict[str, Callable[..., None]] = {
    **{name: OPERATION_COMMANDS.get(name, edit_files) for name in REGISTRY},
    "augment": augment,
    "replay": replay,
}
SHARED = (presence_edit, edit_files)  # commands of several operations: their help starts with the operation's
SET_BY_COMMAND = {interpolate: ("alpha",)}  # settings a command sets itself (interpolate: its --steps alphas)
OPTION_GROUPS = (ModelOptions, Files, Figure, Target)  # parameters of these types are flattened into --ckpt, ...


def _operation_param(name: str, function: Callable[..., None]) -> tuple[str, type[Edit]] | None:
    """The parameter that takes the command's edit, and the operation's class (an `edit_files` command: `name`'s)."""
    for param, kind in get_type_hints(function).items():
        if isinstance(kind, type) and issubclass(kind, Edit):
            return param, REGISTRY.get(name, kind)
    return None


def command_parser(name: str, function: Callable[..., None]) -> ArgumentParser:
    """One command's parser: its option groups and its operation's settings flattened (--ckpt, --parts), then its
    own options; a command of an operation that takes a target mask also takes --target."""
    found = _operation_param(name, function)
    docs = [inspect.getdoc(found[1]) if found and function in SHARED else "", inspect.getdoc(function) or ""]
    description = " ".join(doc.split("\n\n")[0] for doc in docs if doc)
    parser = ArgumentParser(description=description, exit_on_error=False, allow_abbrev=False)
    grouped = set()
    for param, kind in get_type_hints(function).items():
        if kind in OPTION_GROUPS:
            parser.add_class_arguments(kind, nested_key=None)
            grouped.add(param)
    if found is not None:
        param, kind = found
        parser.add_class_arguments(kind, nested_key=None, skip=set(SET_BY_COMMAND.get(function, ())))
        grouped.add(param)
        if kind.target and Target not in get_type_hints(function).values():
            parser.add_class_arguments(Target, nested_key=None)
    parser.add_function_arguments(function, nested_key=None, skip=grouped)
    return parser


def call(name: str, function: Callable[..., None], config: Any) -> None:
    """Build the typed values from the parsed options and call the command."""
    values = config.as_dict()
    kwargs: dict[str, Any] = {}
    for param, kind in get_type_hints(function).items():
        if kind in OPTION_GROUPS:
            kwargs[param] = kind(**{f.name: values.pop(f.name) for f in fields(kind)})
    found = _operation_param(name, function)
    if found is not None:
        param, kind = found
        own = [n for n in kind.setting_names() if n not in SET_BY_COMMAND.get(function, ())]
        kwargs[param] = kind(**{n: values.pop(n) for n in own})
    names = set(get_type_hints(function)) - {"return"}
    kwargs.update({k: v for k, v in values.items() if k in names and k not in kwargs})
    function(**kwargs)


def run_commands(commands: dict[str, Callable[..., None]], args: Sequence[str], prog: str) -> None:
    """jsonargparse subcommands, one per command."""
    root = ArgumentParser(prog=prog, exit_on_error=False, allow_abbrev=False)
    subcommands = root.add_subcommands()
    for name, function in commands.items():
        parser = command_parser(name, function)
        subcommands.add_subcommand(name, parser, help=parser.description)
    config = root.parse_args(list(args))
    name = config["subcommand"]
    call(name, commands[name], config[name])


def main(args: Sequence[str] | None = None) -> None:
    """`semantic-vae edit ...`."""
    run_commands(EDIT_COMMANDS, args or [], "semantic-vae edit")


def evaluate_edits_main(args: Sequence[str] | None = None) -> None:
    """`semantic-vae evaluate-edits ...`."""
    parser = command_parser("evaluate-edits", evaluate_edits)
    parser.prog = "semantic-vae evaluate-edits"
    call("evaluate-edits", evaluate_edits, parser.parse_args(list(args or [])))
