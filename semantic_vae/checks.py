"""Checks of a user's values that every layer shares (the data tools, the model loader, the editor, the CLI): each
is refused in one `UserError` line naming the argument and what it got."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from semantic_vae.errors import UserError

MAX_SEED = 2**32 - 1  # numpy's and Lightning's seeds are unsigned 32-bit; torch's generators take them too


def check_seed(seed: Any, what: str = "seed") -> int:
    """A whole number in 0..MAX_SEED (negative seeds are refused: no seeding library takes them)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) <= MAX_SEED:
        raise UserError(f"{what} must be a whole number in 0..{MAX_SEED}, got {seed!r}")
    return int(seed)


def as_path(value: Any, what: str = "path") -> Path:
    """A file system path from a str or an os.PathLike (a Path); anything else (a number, None, an array) is refused."""
    if isinstance(value, (str, os.PathLike)) and not isinstance(value, bytes) and str(value).strip():
        return Path(value)
    shown = repr(value) if isinstance(value, (str, int, float, bool, type(None))) else type(value).__name__
    raise UserError(f"{what}: expected a file path (a str or a pathlib.Path), got {shown}")
