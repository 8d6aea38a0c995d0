"""Progress bars: on a terminal only, off with --quiet, erased before the command's last lines and one-line errors."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import struct
import subprocess
import sys
import termios

import pytest

from semantic_vae.cli import main
from semantic_vae.console import Progress
from semantic_vae.data.io import write_label_png
from semantic_vae.data.synthetic import heldout_masks
from semantic_vae.errors import UserError

LONG_COMMANDS = (
    "evaluate-edits",
    "data compare",
    "data merge",
    "data prepare",
    "edit augment",
    "fit-directions",
    "fit-prior",
    "convert",
)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_bar_shows_on_a_terminal_and_is_erased_when_done_or_stopped_by_an_error():
    screen = Terminal()
    with Progress(3, "reading masks", file=screen) as bar:
        bar.update(3)
    assert "reading masks" in screen.getvalue()
    *_, last_bar, cleared, after = screen.getvalue().split("\r")
    assert "3/3" in last_bar or "reading masks" in last_bar
    assert cleared.strip() == "" and after == ""  # the line is blank again

    screen = Terminal()
    with pytest.raises(UserError), Progress(5, "augment", file=screen) as bar:
        bar.update()
        raise UserError("bad.png: not a PNG file")
    *_, cleared, after = screen.getvalue().split("\r")
    assert cleared.strip() == "" and after == ""  # the error line will start at the left margin


def test_no_bar_off_a_terminal_or_when_quiet():
    log = io.StringIO()
    with Progress(3, "reading masks", file=log) as bar:
        bar.update(3)
    screen = Terminal()
    with Progress(3, "reading masks", enabled=False, file=screen) as bar:
        bar.update(3)
    assert log.getvalue() == "" and screen.getvalue() == ""


@pytest.mark.parametrize("command", LONG_COMMANDS)
def test_every_long_command_takes_quiet(command, capsys):
    with pytest.raises(SystemExit):
        main([*command.split(), "--help"])
    assert "--quiet" in capsys.readouterr().out


def run_in_terminal(args: list[str]) -> str:
    """A `semantic-vae` subprocess whose stdout and stderr are a pseudo-terminal; what it wrote there."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 24 rows, 100 columns
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen([sys.executable, "-m", "semantic_vae", *args], stdin=subprocess.DEVNULL,
                             stdout=follower, stderr=follower, env=env)  # fmt: skip
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    child.wait(timeout=120)
    return b"".join(chunks).decode()


def test_on_a_terminal_the_bar_gives_way_to_the_one_line_error(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    for i, mask in enumerate(heldout_masks(40, 32)):
        write_label_png(real / f"{i:03d}.png", mask)
    (real / "999.png").write_text("not an image")  # read last: the bar is up when the error comes
    args = ["data", "compare", "--real", str(real), "--n", "4", "--size", "32", "--out", str(tmp_path / "out")]
    shown = run_in_terminal(args)
    assert "data compare" in shown  # the bar was drawn
    lines = [segment for line in shown.split("\n") for segment in line.split("\r") if segment.strip()]
    assert lines[-1].startswith("semantic-vae: error: ") and "999.png" in lines[-1], shown
    assert shown.rstrip().split("\r")[-1].lstrip("\n").startswith("semantic-vae: error: ")  # not after a bar
    quiet = run_in_terminal([*args, "--quiet"])
    assert "data compare" not in quiet and quiet.strip().startswith("semantic-vae: error: "), quiet
