"""`value-spectrum label`: placeholder until its issue lands."""

from __future__ import annotations

import typer


def label() -> None:
    """Not built yet."""
    raise typer.Exit(2)
