"""`value-spectrum index ...`: placeholder until its issue lands."""

from __future__ import annotations

import typer


def build() -> typer.Typer:
    """The `index` command group."""
    return typer.Typer(no_args_is_help=True)


def search() -> None:
    """Search the video index (not built yet)."""
    raise typer.Exit(2)
