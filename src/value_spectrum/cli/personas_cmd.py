"""`value-spectrum personas ...`: list, show and validate personas (and instrument files).

Thin over :mod:`value_spectrum.personas`; the library is imported inside each command so that
``value-spectrum --help`` stays cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from value_spectrum.cli._console import EXIT_PARTIAL, console, err_console, fail, print_json

if TYPE_CHECKING:
    from value_spectrum.personas.model import Persona

_BAR_WIDTH = 24


def _bar(x: float) -> str:
    """A horizontal bar for a number in [0, 1], in eighths of a character."""
    eighths = round(max(0.0, min(1.0, x)) * _BAR_WIDTH * 8)
    full, rest = divmod(eighths, 8)
    return "█" * full + ("" if rest == 0 else " ▏▎▍▌▋▊▉"[rest])


def list_personas(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON array instead of a table.")
    ] = False,
    tag: Annotated[
        str | None,
        typer.Option(help="Only personas with this tag (archetype, paper, mixed, conflicting)."),
    ] = None,
) -> None:
    """List the built-in personas: id, name, tags and top three values."""
    from rich.table import Table

    from value_spectrum.personas.loading import load_builtin_personas, persona_record

    library = load_builtin_personas()
    personas = [p for p in library if tag is None or tag in p.tags]
    if not personas:
        known = sorted({t for p in library for t in p.tags})
        fail(f"--tag: no built-in persona has the tag {tag!r} (tags: {', '.join(known)})")
    if as_json:
        print_json([persona_record(p) for p in personas])
        return
    table = Table(title=f"{len(personas)} built-in personas", title_justify="left")
    table.add_column("id", style="bold cyan", no_wrap=True)
    table.add_column("name")
    table.add_column("tags", style="magenta")
    table.add_column("top values")
    for p in personas:
        top = ", ".join(f"{v.value} {p.target[v]:.2f}" for v in p.target.top_k(3))
        table.add_row(p.id, p.name, ", ".join(p.tags), top)
    console.print(table)


def _show_table(persona: Persona) -> None:
    from rich.table import Table

    from value_spectrum.values import VALUES, circle_fit

    console.print(
        f"[bold]{persona.name}[/]  [cyan]{persona.id}[/]  [magenta]{', '.join(persona.tags)}[/]"
    )
    if persona.description:
        console.print(persona.description, highlight=False)
    if persona.demographics:
        console.print(
            ", ".join(f"{k}: {v}" for k, v in persona.demographics.items()),
            style="dim",
            highlight=False,
        )
    console.print()
    for trait in persona.traits:
        console.print(f"  • {trait}", highlight=False, markup=False)
    console.print()
    top = set(persona.target.top_k(3))
    table = Table(title="target value profile (circle order)", title_justify="left")
    table.add_column("value", no_wrap=True)
    table.add_column("", justify="right")
    table.add_column("", no_wrap=True, min_width=_BAR_WIDTH)
    for v in VALUES:
        x = persona.target[v]
        style = "bold green" if v in top else ""
        table.add_row(v.value, f"{x:.2f}", _bar(x), style=style)
    console.print(table)
    fit = circle_fit(persona.target)
    console.print(
        f"circle fit: r2 {fit.r2:.2f}, peak near {fit.peak_value.value}"
        + ("" if fit.respects_circle() else "  (does not follow the circle)"),
        style="dim",
        highlight=False,
    )


def show(
    persona: Annotated[
        str,
        typer.Argument(
            metavar="ID_OR_FILE", help="A built-in persona id, or a YAML/JSON persona file."
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Show one persona: its traits and target value profile."""
    from value_spectrum.personas.loading import PersonaError, get_persona, persona_record

    try:
        p = get_persona(persona)
    except PersonaError as exc:
        fail(str(exc))
    if as_json:
        print_json(persona_record(p))
        return
    _show_table(p)


def _looks_like_instrument(path: Path) -> bool:
    from value_spectrum.personas._files import DataFileError, read_data

    try:
        data = read_data(path, DataFileError)
    except DataFileError:
        return False
    return isinstance(data, dict) and "items" in data and "licence" in data


def validate(
    files: Annotated[
        list[Path],
        typer.Argument(metavar="FILE", help="Persona (or, with --instrument, instrument) files."),
    ],
    instrument: Annotated[
        bool,
        typer.Option(
            "--instrument", help="Check questionnaire instrument files instead of personas."
        ),
    ] = False,
) -> None:
    """Check files; print `ok: FILE (N personas)` per valid file and one line per problem.
    Instrument files (a mapping with `items` and `licence`) are recognised and checked as
    instruments (scale, direction against the anchors, items) even without --instrument.

    Exits 0 when every file is valid, 1 otherwise.
    """
    from value_spectrum.personas.instruments import InstrumentError, load_instrument_file
    from value_spectrum.personas.loading import check_file

    problems = 0
    for path in files:
        if instrument or _looks_like_instrument(path):
            try:
                inst = load_instrument_file(path)
            except InstrumentError as exc:
                problems += 1
                console.print(str(exc), markup=False, highlight=False, soft_wrap=True)
                continue
            console.print(
                f"ok: {path} ({len(inst.items)} items)",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
            continue
        result = check_file(path)
        for line in result.problems:
            console.print(line, markup=False, highlight=False, soft_wrap=True)
        problems += len(result.problems)
        if result.ok:
            n = len(result.personas)
            console.print(
                f"ok: {path} ({n} persona{'s' if n != 1 else ''})",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
    if problems:
        err_console.print(
            f"{problems} problem{'s' if problems != 1 else ''} found", highlight=False
        )
        raise typer.Exit(EXIT_PARTIAL)


def build() -> typer.Typer:
    """The `personas` command group."""
    app = typer.Typer(no_args_is_help=True, help="List, show and validate personas.")
    app.command("list")(list_personas)
    app.command("show")(show)
    app.command("validate")(validate)
    return app
