"""`value-spectrum simulate`: placeholder until its issue lands."""

from __future__ import annotations

import typer


def simulate() -> None:
    """Not built yet."""
    raise typer.Exit(2)
