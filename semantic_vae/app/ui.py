"""`semantic-vae app`: the mask editor as a web page (Gradio), on a trained checkpoint.

    semantic-vae app --ckpt outputs/demo/run/checkpoints/last.ckpt      # then open http://127.0.0.1:7860

Every handler goes through `_guard`: a bad upload or a bad setting becomes a message in the page,
the session keeps its masks, and the server keeps serving.
"""

# No `from __future__ import annotations`: Gradio reads the `gr.SelectData` annotation of a click handler
# at run time to pass it the click.
import html
import random
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from semantic_vae.app.session import LOAD_FIRST, EditSession, example_masks
from semantic_vae.checks import MAX_SEED
from semantic_vae.edit.attributes import ALL_ATTRIBUTES as STEER_ATTRIBUTES
from semantic_vae.edit.edit import REGISTRY, Edit, Template, operation_class
from semantic_vae.edit.editor import MaskEditor
from semantic_vae.edit.operations import MAX_AMOUNT
from semantic_vae.edit.region import KEEP_MODES
from semantic_vae.entry import function_cli
from semantic_vae.errors import UserError

try:
    import gradio as gr
except ImportError:  # the optional extra
    raise UserError("the web editor needs Gradio: pip install -e '.[app]' (or make app)") from None

DEFAULTS = Template()  # the sliders start at the operations' defaults


def taking(setting: str) -> str:
    """The operations that take a setting, for its control's label ("scale (perturb)")."""
    return ", ".join(name for name, kind in REGISTRY.items() if setting in kind.own_setting_names())


def operation_edit(operation: str, parts: list[str], **controls: Any) -> Edit:
    """The edit of `operation` from the page's controls: the settings it declares, the other controls left aside."""
    kind = operation_class(operation)
    return kind(list(parts), **kind.pick(controls))


# The tabs' operations: those drawn from noise, and those towards a second mask (each tab's controls are the settings
# its operations declare).
RANDOM_TAB = [n for n, k in REGISTRY.items() if k.measured_by == "edits" and not k.target]
PAIR_TAB = sorted(  # the one with a slider (alpha) first
    (n for n, k in REGISTRY.items() if k.target), key=lambda n: -len(operation_class(n).own_setting_names())
)
VIEW_HEIGHT = 300  # px of each mask view: three side by side and the controls fit a 1400x900 window
# The mask views stay in view while the controls beside them scroll (a long list of steer sliders, say); Gradio's
# container hides its overflow, which would hold a sticky element in place: clipping it does not.
CSS = "#views { position: sticky; top: 0; align-self: flex-start; } .gradio-container { overflow: clip !important; }"


def legend_html(editor: MaskEditor) -> str:
    """Class names with their palette colours."""
    items = []
    for i, (name, rgb) in enumerate(zip(editor.label_set.names, editor.label_set.palette)):
        swatch = f"<span style='display:inline-block;width:14px;height:14px;background:rgb{tuple(rgb)};border:1px solid #666;vertical-align:middle'></span>"
        items.append(f"<span style='margin-right:10px;white-space:nowrap'>{swatch} {i} {html.escape(name)}</span>")
    return "<div id='legend' style='line-height:1.9'>" + " ".join(items) + "</div>"


def build(editor: MaskEditor, checkpoint: str | Path) -> gr.Blocks:
    examples = example_masks()
    downloads_root = Path(tempfile.mkdtemp(prefix="semantic-vae-app-"))

    def session_of(state: EditSession | None) -> EditSession:
        return state if state is not None else EditSession.open(editor, checkpoint)

    def views(session: EditSession) -> list[Any]:
        if not session.loaded:
            return [None, None, None, None, None, None]
        files = session.downloads(Path(tempfile.mkdtemp(dir=downloads_root)))
        return [session.colour(session.previous), session.colour(session.current), session.overlay(),
                str(files["labels"]), str(files["colour"]), str(files["recipe"])]  # fmt: skip

    outputs_views = []  # filled below; the handlers return [state, status, *views, parts]

    def respond(state: EditSession | None, handler: Callable[[EditSession], tuple[EditSession, str, Any]]) -> list[Any]:
        """Run a handler; on any error keep the session as it was and show one line in the page."""
        try:
            session, message, parts = handler(session_of(state))
            shown = views(session)
        except UserError as err:
            return [state, f"**Error:** {err}", *[gr.update() for _ in outputs_views], gr.update()]
        except Exception as err:  # the page must not die on anything: say what happened in one line
            text = str(err).strip().splitlines()[0] if str(err).strip() else ""
            return [
                state,
                f"**Error:** {type(err).__name__}: {text}",
                *[gr.update() for _ in outputs_views],
                gr.update(),
            ]
        return [session, message, *shown, gr.update(value=parts) if parts is not None else gr.update()]

    def _guard(handler: Callable[..., tuple[EditSession, str, Any]]) -> Callable[..., list[Any]]:
        """The Gradio callback of a handler whose last argument is the session (the `state` input)."""

        def run(*args):
            return respond(args[-1], lambda session: handler(*args[:-1], session))

        return run

    def pick_part(parts: list[str], state: EditSession | None, evt: gr.SelectData) -> list[Any]:
        """A click on the current mask toggles the part under the cursor."""

        def toggle(session: EditSession):
            x, y = (int(v) for v in evt.index)
            name = session.part_at(x, y)
            chosen = [p for p in parts if p != name] if name in parts else [*parts, name]
            return session, f"{'Removed' if name in parts else 'Picked'} {name}.", chosen

        return respond(state, toggle)

    def load_file(file: str | None, session: EditSession):
        if not file:
            raise UserError("no file was uploaded")
        session.load(session.read(file))
        return session, f"Loaded {Path(file).name}: {session.current.shape[1]}x{session.current.shape[0]}.", []

    def load_example(name: str, session: EditSession):
        if name not in examples:
            raise UserError(f"unknown example '{name}'")
        session.load(examples[name])
        return session, f"Loaded {name}.", []

    def sample(seed: float, prior: str, session: EditSession):
        session.sample(int(seed), prior)
        return session, f"Sampled a new face (seed {int(seed)}, {prior} prior).", []

    def target_file(file: str | None, session: EditSession):
        if not file:
            raise UserError("no target file was uploaded")
        session.set_target(session.read(file))
        return session, f"Target for interpolate and swap: {Path(file).name}.", None

    def target_example(name: str, session: EditSession):
        if name not in examples:
            raise UserError(f"unknown example '{name}'")
        session.set_target(examples[name])
        return session, f"Target for interpolate and swap: {name}.", None

    def apply(
        operation, parts, seed, prior, scale, alpha, keep, radius, session: EditSession, what="at least one part"
    ):
        if not session.loaded:
            raise UserError(LOAD_FIRST)
        if not parts:
            raise UserError(f"choose {what}: click on the mask or tick it in the list")
        edit = operation_edit(operation, parts, seed=int(seed), prior=prior, scale=float(scale), alpha=float(alpha),
                              keep=keep, radius=int(radius))  # fmt: skip
        session.apply(session.step(edit))
        changed = int((session.previous != session.current).sum())
        return (
            session,
            f"{operation} {', '.join(parts)}: {changed} pixels changed (keep={keep}).{session.note(edit)}",
            None,
        )

    def presence(operation: str):
        """add / remove of the ticked part (with the seed of *Generate · perturb*; the other controls do not apply)."""
        return lambda parts, seed, keep, radius, session: apply(
            operation,
            parts,
            seed,
            None,
            DEFAULTS.scale,
            DEFAULTS.alpha,
            keep,
            radius,
            session,
            f"the part to {operation}",
        )

    def steer(parts, hold, keep, radius, *amounts_and_session):
        *amounts, session = amounts_and_session
        if not session.loaded:
            raise UserError(LOAD_FIRST)
        start = session.current
        if len(parts) != 1:
            raise UserError("steer: tick one part (a class or a group) to steer its attributes")
        asked = [(name, float(a)) for name, a in zip(STEER_ATTRIBUTES, amounts) if a]
        if not asked:
            raise UserError("steer: move a slider of the part's attributes first")
        edits = [Edit("steer", parts, attribute=name, amount=amount, hold=bool(hold), keep=keep, radius=int(radius))
                 for name, amount in asked]  # fmt: skip
        steps = [session.step(edit) for edit in edits]  # every attribute checked before the first is applied
        notes = []
        for edit, step in zip(edits, steps):  # one recipe step per attribute
            session.apply(step)
            notes.append(session.note(edit))
        shown = ", ".join(f"{name} {amount:+g}" for name, amount in asked)
        changed = int((start != session.current).sum())
        return session, f"steer {parts[0]}: {shown} sd: {changed} pixels changed (keep={keep}).{''.join(notes)}", None

    def sliders_for(parts):
        """Show the sliders of the ticked part's attributes whose direction is steerable (held-out R^2 >= 0.3)."""
        names = steerable.get(parts[0], {}) if len(parts) == 1 else {}
        return [gr.update(visible=name in names, value=0, label=f"{name} (R² {names[name]:.2f})" if name in names else name)
                for name in STEER_ATTRIBUTES]  # fmt: skip

    def undo(session: EditSession):
        session.undo()
        return session, "Undone.", None

    def redo(session: EditSession):
        session.redo()
        return session, "Redone.", None

    names = list(editor.class_names)
    groups = [name for name, _ in editor.label_set.groups]
    steerable = (
        {part: {k: d.r2 for k, d in attrs.items() if d.steerable} for part, attrs in editor.steering.directions.items()}
        if editor.steering is not None
        else {}
    )
    with gr.Blocks(title="semantic-vae mask editor", fill_width=True) as page:
        state = gr.State(None)
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, elem_id="views"):  # the masks, kept in view (CSS)
                gr.Markdown("**semantic-vae mask editor**: load a face mask, pick parts (click on the current mask or "
                            "tick them), edit, download.")  # fmt: skip
                with gr.Row(equal_height=True):
                    upload = gr.UploadButton("Upload a mask (label or colour PNG)", file_types=["image"],
                                             type="filepath", size="md", scale=2, elem_id="upload")  # fmt: skip
                    example = gr.Dropdown(list(examples), label="...or an example", value=None, scale=2,
                                          elem_id="example")  # fmt: skip
                    sample_button = gr.Button("...or sample a new face", size="md", scale=2, elem_id="sample")
                    sample_seed = gr.Number(0, label="its seed", precision=0, minimum=0, maximum=MAX_SEED, scale=1,
                                            min_width=90)  # fmt: skip
                with gr.Row():
                    before = gr.Image(label="Before the last edit", interactive=False, height=VIEW_HEIGHT,
                                      elem_id="before")  # fmt: skip
                    current = gr.Image(label="Current: click to pick a part", interactive=False,
                                       height=VIEW_HEIGHT, elem_id="current")  # fmt: skip
                    changes = gr.Image(label="Changed pixels (magenta)", interactive=False, height=VIEW_HEIGHT,
                                       elem_id="changes")  # fmt: skip
                status = gr.Markdown("Load a mask to start.", elem_id="status")
                with gr.Row():
                    undo_button = gr.Button("Undo", size="sm", min_width=80, elem_id="undo")
                    redo_button = gr.Button("Redo", size="sm", min_width=80, elem_id="redo")
                    label_png = gr.DownloadButton("Label PNG (mode L)", size="sm", min_width=120,
                                                  elem_id="download-labels")  # fmt: skip
                    colour_png = gr.DownloadButton("Colour PNG", size="sm", min_width=100, elem_id="download-colour")
                    recipe = gr.DownloadButton("Recipe JSON", size="sm", min_width=100, elem_id="download-recipe")
                gr.HTML(legend_html(editor))
            with gr.Column(scale=2, min_width=440, elem_id="controls"):
                parts = gr.CheckboxGroup([*names, *groups], label="Parts (or click on the current mask)",
                                         elem_id="parts")  # fmt: skip
                with gr.Tabs():
                    with gr.Tab("Generate · perturb", elem_id="tab-random"):
                        operation = gr.Radio(RANDOM_TAB, value=RANDOM_TAB[0], show_label=False, elem_id="operation")
                        with gr.Row():
                            seed = gr.Number(0, label="seed", precision=0, minimum=0, maximum=MAX_SEED, elem_id="seed")
                            new_seed = gr.Button("New seed", elem_id="new-seed")
                        prior = gr.Radio(["data", "normal"], value=editor.resolve_prior(None),
                                         label=f"prior ({taking('prior')}; also a sampled face)")  # fmt: skip
                        scale = gr.Slider(0.0, 5.0, value=DEFAULTS.scale, step=0.1, label=f"scale ({taking('scale')})")
                        apply_button = gr.Button("Apply", variant="primary", elem_id="apply")
                    with gr.Tab("Interpolate · swap", elem_id="tab-pair"):
                        pair_operation = gr.Radio(
                            PAIR_TAB, value=PAIR_TAB[0], show_label=False, elem_id="pair-operation"
                        )
                        alpha = gr.Slider(0.0, 1.0, value=DEFAULTS.alpha, step=0.05, label=f"alpha ({taking('alpha')})")
                        with gr.Row():
                            target_upload = gr.UploadButton("Upload a target mask", file_types=["image"],
                                                            type="filepath", elem_id="target-upload")  # fmt: skip
                            target_pick = gr.Dropdown(list(examples), label="...or an example target", value=None)
                        apply_pair_button = gr.Button("Apply", variant="primary", elem_id="apply-pair")
                    with gr.Tab("Steer", elem_id="tab-steer"):
                        gr.Markdown("Tick one part; its attributes (standard deviations of the training masks):")
                        sliders = [gr.Slider(-MAX_AMOUNT, MAX_AMOUNT, value=0, step=0.25, label=name, visible=False,
                                             elem_id=f"steer-{name}") for name in STEER_ATTRIBUTES]  # fmt: skip
                        hold = gr.Checkbox(value=DEFAULTS.hold, label="hold the part's other attributes")
                        steer_button = gr.Button("Steer", variant="primary", elem_id="steer")
                    with gr.Tab("Add · remove", elem_id="tab-presence"):
                        gr.Markdown("Tick a part (eyeglasses, hat, earrings, ...); add draws it with the seed of "
                                    "*Generate · perturb*.")  # fmt: skip
                        with gr.Row():
                            add_button = gr.Button("Add part", variant="primary", elem_id="add")
                            remove_button = gr.Button("Remove part", elem_id="remove")
                with gr.Accordion("Outside the parts: what is kept", open=False, elem_id="outside"):
                    keep = gr.Radio(list(KEEP_MODES), value=DEFAULTS.keep, label="keep outside the parts")
                    radius = gr.Slider(0, 16, value=DEFAULTS.radius, step=1, label="radius (model pixels)")
        outputs_views.extend([before, current, changes, label_png, colour_png, recipe])
        outputs = [state, status, *outputs_views, parts]
        upload.upload(_guard(load_file), [upload, state], outputs, api_name="load_file")
        example.input(_guard(load_example), [example, state], outputs, api_name="load_example")
        sample_button.click(_guard(sample), [sample_seed, prior, state], outputs, api_name="sample")
        target_upload.upload(_guard(target_file), [target_upload, state], outputs, api_name="load_target")
        target_pick.input(_guard(target_example), [target_pick, state], outputs, api_name="target_example")
        current.select(pick_part, [parts, state], outputs, api_name=False)
        settings = [parts, seed, prior, scale, alpha, keep, radius, state]
        apply_button.click(_guard(apply), [operation, *settings], outputs, api_name="apply")
        apply_pair_button.click(_guard(apply), [pair_operation, *settings], outputs, api_name="apply_pair")
        add_button.click(_guard(presence("add")), [parts, seed, keep, radius, state], outputs, api_name="add")
        remove_button.click(_guard(presence("remove")), [parts, seed, keep, radius, state], outputs, api_name="remove")
        steer_button.click(_guard(steer), [parts, hold, keep, radius, *sliders, state], outputs, api_name="steer")
        parts.change(sliders_for, [parts], sliders, api_name=False)
        undo_button.click(_guard(undo), [state], outputs, api_name="undo")
        redo_button.click(_guard(redo), [state], outputs, api_name="redo")
        new_seed.click(lambda: random.randint(0, MAX_SEED), None, seed, api_name=False)
    return page


def app(ckpt: str, host: str = "127.0.0.1", port: int = 7860, device: str | None = None) -> None:
    """Serve the interactive mask editor in the browser.

    Args:
        ckpt: a Semantic-VAE checkpoint (.ckpt from `semantic-vae fit`, e.g. outputs/demo/run/checkpoints/last.ckpt).
        host: the address to listen on (127.0.0.1: this machine only; 0.0.0.0: the network).
        port: the port (0: any free one).
        device: cpu, cuda, cuda:1, ...; default: CUDA when available.
    """
    editor = MaskEditor.from_checkpoint(ckpt, device=device, batch_size=8)
    page = build(editor, ckpt)
    print(f"semantic-vae app: serving {ckpt} on http://{host}:{port or '<a free port>'} (Ctrl-C to stop)", flush=True)
    serve(page, host, port)


def serve(page: gr.Blocks, host: str, port: int, **launch: Any) -> None:
    """Start the page's server with this page's CSS (`launch` adds Gradio's own options)."""
    page.launch(server_name=host, server_port=port or None, show_error=False, quiet=True, css=CSS, **launch)


def main(args: list[str] | None = None) -> None:
    """`semantic-vae app ...`."""
    function_cli(app, args, "semantic-vae app")
