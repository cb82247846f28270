"""`value-spectrum personas ...`: placeholder until its issue lands."""

from __future__ import annotations

import typer


def build() -> typer.Typer:
    """The `personas` command group."""
    return typer.Typer(no_args_is_help=True)
