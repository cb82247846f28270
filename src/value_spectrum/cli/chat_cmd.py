"""`value-spectrum chat`: placeholder until its issue lands."""

from __future__ import annotations

import typer


def chat() -> None:
    """Not built yet."""
    raise typer.Exit(2)
