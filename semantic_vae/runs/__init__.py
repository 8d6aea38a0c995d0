"""Runs of the framework: `make demo` (demo), the Table 1 sweep (sweep, ablation)."""

from __future__ import annotations

from pathlib import Path

from semantic_vae.errors import UserError


def checkout_root() -> Path:
    """The repository checkout holding experiments/ and sweeps/, which the runs read.

    A non-editable install has no checkout around the package: say so in one line.
    """
    root = Path(__file__).resolve().parents[2]
    if not (root / "experiments").is_dir() or not (root / "sweeps").is_dir():
        raise UserError(
            f"this command reads experiments/ and sweeps/ from a checkout of the repository, and {root} has none; "
            "run it from a clone (pip install -e .)"
        )
    return root
