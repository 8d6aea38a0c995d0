"""The `semantic-vae` command: LightningCLI for fit/validate/test/predict, plus the data, model, edit and app tools.

semantic-vae fit --config experiments/base.yaml --config experiments/small.yaml
semantic-vae data preview --source synthetic --n 16 --out preview.png
semantic-vae edit generate --ckpt run/last.ckpt --input masks/ --parts nose --out edited/

Only the training commands import Lightning (`semantic_vae.lit_cli`); the tools start without it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from semantic_vae import __version__
from semantic_vae.entry import run_entry_point
from semantic_vae.machine import code_version

if TYPE_CHECKING:
    from semantic_vae.lit_cli import SemanticVAECLI

# Tools other than the LightningCLI: subcommand -> "module:function" taking the remaining arguments.
TOOLS: dict[str, str] = {
    "data": "semantic_vae.commands.data:main",
    "edit": "semantic_vae.commands.edit:main",
    "evaluate-edits": "semantic_vae.commands.edit:evaluate_edits_main",
    "convert": "semantic_vae.commands.model:convert_main",
    "fit-prior": "semantic_vae.commands.model:fit_prior_main",
    "fit-directions": "semantic_vae.commands.model:fit_directions_main",
    "app": "semantic_vae.app.ui:main",
}
# Every command with one line, for `semantic-vae --help`.
COMMANDS: dict[str, str] = {
    "fit": "train a model (LightningCLI; --config files stack, `fit --print_config` lists every option)",
    "validate": "run the validation split on a checkpoint (--ckpt_path)",
    "test": "test a checkpoint on the test split (--ckpt_path); writes metrics.json in the run folder",
    "predict": "reconstruct label PNGs at their own size (--data.predict_root, --prediction_writer.output_dir)",
    "data": "merge | prepare | preview | compare: CelebAMask-HQ readers, the training cache, previews, synthetic vs real",
    "edit": "reconstruct | generate | perturb | interpolate | swap | steer | add | remove | augment | replay",
    "evaluate-edits": "measure edits: locality, part change, validity, realism, diversity",
    "convert": "the paper's released weights (latest_net_G.pth) to a checkpoint of this project, and back",
    "fit-prior": "fit a checkpoint's data prior on training masks (a converted model has none)",
    "fit-directions": "fit a checkpoint's attribute directions and presence priors (steer, add, remove)",
    "app": "the interactive mask editor in the browser (needs the app extra: pip install -e '.[app]')",
}
PROG = "semantic-vae"


def cli_main(args: list[str] | None = None, run: bool = True) -> SemanticVAECLI:
    """The LightningCLI (`semantic_vae.lit_cli`); `args=None` reads the command line."""
    from semantic_vae.lit_cli import cli_main as lightning_cli_main  # deferred: Lightning is a heavy import

    return lightning_cli_main(args, run)


def run_tool(name: str, args: Sequence[str]) -> object:
    module_name, attribute = TOOLS[name].split(":")
    return getattr(importlib.import_module(module_name), attribute)(list(args))


def overview() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"{PROG} {__version__}: part-level editing and generation of face segmentation masks", "",
             f"usage: {PROG} COMMAND [options]   ({PROG} COMMAND --help for its options)", "", "commands:"]  # fmt: skip
    lines += [f"  {name:<{width}}  {text}" for name, text in COMMANDS.items()]
    return "\n".join(lines)


def dispatch(argv: list[str] | None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(overview())
    elif args[0] in ("-V", "--version"):
        print(f"{PROG} {code_version()}")
    elif args[0] in TOOLS:
        run_tool(args[0], args[1:])
    else:
        cli_main(None if argv is None else args)  # None: LightningCLI reads sys.argv itself (DDP re-runs it)


def main(argv: list[str] | None = None) -> None:
    """The `semantic-vae` entry point: one line and exit code 2 for a user's mistake."""
    status = run_entry_point(PROG, lambda: dispatch(argv))
    if status:
        raise SystemExit(status)
