"""`value-spectrum export`: placeholder until its issue lands."""

from __future__ import annotations

import typer


def export() -> None:
    """Not built yet."""
    raise typer.Exit(2)
