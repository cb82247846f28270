"""`value-spectrum report`: placeholder until its issue lands."""

from __future__ import annotations

import typer


def report() -> None:
    """Not built yet."""
    raise typer.Exit(2)
