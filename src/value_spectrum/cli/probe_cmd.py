"""`value-spectrum probe`: placeholder until its issue lands."""

from __future__ import annotations

import typer


def probe() -> None:
    """Not built yet."""
    raise typer.Exit(2)
