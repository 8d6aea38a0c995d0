"""The README is the user's manual: every `semantic-vae` command line in it names a command that exists, and every
option it passes is one that command's `--help` lists (so a renamed option cannot leave the manual behind)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from semantic_vae.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
COMMAND_PREFIXES = ("$S ", ".venv/bin/semantic-vae ")
GROUPS = ("data", "edit")  # commands with subcommands


def readme_commands() -> list[list[str]]:
    """The `semantic-vae` command lines of the README's bash blocks, continuations joined, comments dropped."""
    lines, out, in_bash = README.read_text().splitlines(), [], False
    joined: list[str] = []
    for line in lines:
        if line.startswith("```"):
            in_bash = line.strip() == "```bash"
            continue
        if not in_bash:
            continue
        if joined and joined[-1].endswith("\\"):
            joined[-1] = joined[-1][:-1] + " " + line.strip()
        else:
            joined.append(line)
    for line in joined:
        if line.startswith(COMMAND_PREFIXES):
            words = shlex.split(line.split("  #")[0], comments=True)
            out.append(words[1:])
    return out


def command_of(words: list[str]) -> list[str]:
    return words[:2] if words[0] in GROUPS else words[:1]


def options_of(words: list[str]) -> set[str]:
    """`--name` of every option (`--a.b=c` -> `--a.b`; `[--keep none]` -> `--keep`)."""
    return {re.sub(r"[=\[\]].*$", "", w.strip("[]")) for w in words if w.lstrip("[").startswith("--")}


COMMANDS = readme_commands()


def test_the_readme_has_the_commands_of_every_user():
    names = {" ".join(command_of(w)) for w in COMMANDS}
    assert {"fit", "test", "predict", "edit generate", "edit steer", "edit augment", "app", "convert"} <= names
    assert len(COMMANDS) >= 25


@pytest.mark.parametrize("command", sorted({" ".join(command_of(w)) for w in COMMANDS}))
def test_every_readme_option_is_one_its_command_lists(command, capsys):
    used = set().union(*(options_of(w) for w in COMMANDS if " ".join(command_of(w)) == command))
    with pytest.raises(SystemExit) as stop:
        main([*command.split(), "--help"])
    assert stop.value.code in (0, None), capsys.readouterr().err
    listed = set(re.findall(r"--[A-Za-z_][\w.\-]*", capsys.readouterr().out))
    assert used - listed == set(), f"semantic-vae {command}: the README passes options its --help does not list"
