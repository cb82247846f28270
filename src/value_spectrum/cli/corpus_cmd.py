"""`value-spectrum corpus ...`: placeholder until its issue lands."""

from __future__ import annotations

import typer


def build() -> typer.Typer:
    """The `corpus` command group."""
    return typer.Typer(no_args_is_help=True)
