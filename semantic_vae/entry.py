"""The one wrapper of every entry point (`semantic-vae`, `python -m semantic_vae.*`): a user's mistake is one
line on stderr and exit status 2 (a path the user may not read or write too), a fault of the machine (a full disk) one
line and status 1; never a traceback."""

from __future__ import annotations

import sys
from argparse import ArgumentError
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from semantic_vae.console import quiet_library_notices
from semantic_vae.errors import UserError


def one_line(err: BaseException) -> str:
    """An error message on one line (argument parsers write theirs over several)."""
    return "; ".join(line.strip() for line in str(err).splitlines() if line.strip()) or type(err).__name__


def run_entry_point(prog: str, body: Callable[[], Any]) -> int:
    """Run `body`; its int result (or 0) is the exit status. `prog` starts the error line."""
    quiet_library_notices()
    try:
        result = body()
    except (UserError, ArgumentError) as err:
        print(f"{prog}: error: {one_line(err)}", file=sys.stderr)
        return 2
    except PermissionError as err:  # a path the user gave that they may not read or write: their side
        print(f"{prog}: error: {_where(err)}{err.strerror or one_line(err)}", file=sys.stderr)
        return 2
    except OSError as err:  # the machine's side: a full disk, a folder made read-only; outputs so far are whole
        print(f"{prog}: error: {_where(err)}{err.strerror or one_line(err)}", file=sys.stderr)
        return 1
    return result if isinstance(result, int) and not isinstance(result, bool) else 0


def _where(err: OSError) -> str:
    """The path an OSError is about, as the user knows it: a hidden file of ours (a folder's `.lock`, a temporary
    `.<name>...tmp`) is named by its folder."""
    if not err.filename:
        return ""
    path = Path(str(err.filename))
    return f"{path.parent if path.name.startswith('.') else path}: "


def function_cli(functions: Callable | Sequence[Callable], args: Sequence[str] | None, prog: str) -> Any:
    """jsonargparse's CLI over typed functions, as every tool of this project uses it: no abbreviations (a typo
    must not pass as a prefix), no exit inside the parser (the error reaches `run_entry_point`)."""
    from jsonargparse import CLI

    return CLI(
        functions, args=None if args is None else list(args), prog=prog, as_positional=False, exit_on_error=False,
        allow_abbrev=False,
    )  # fmt: skip
