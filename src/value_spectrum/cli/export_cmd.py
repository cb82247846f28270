"""`value-spectrum export RUN_DIR`: one row per decision, as JSONL (default), CSV or Parquet."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from value_spectrum.cli._console import err_console, fail


def export(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", help="A run directory written by `value-spectrum simulate`.")],
    fmt: Annotated[
        str | None,
        typer.Option("--format", "-f", help="jsonl | csv | parquet. Default: from the --output suffix (.csv, .parquet), else jsonl."),
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here instead of stdout (required for parquet).")] = None,
    what: Annotated[
        str,
        typer.Option("--what", help="One row per: decisions (joined with video labels and persona target) | groups (persona x model, the report's numbers) | probes (questionnaire answers)."),
    ] = "decisions",
) -> None:
    """Export a run as tidy rows (pandas: `pd.read_parquet(f)` or `pd.read_json(f, lines=True)`)."""
    from value_spectrum.runlog import RunDirError
    from value_spectrum.runner.export import COLUMNS_OF, export_rows, write_rows

    if what not in COLUMNS_OF:
        fail(f"--what: unknown {what!r}; choose decisions, groups or probes")

    if fmt is None:
        suffix = output.suffix.lower() if output is not None else ""
        fmt = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}.get(suffix, "jsonl")
    if fmt not in ("jsonl", "csv", "parquet"):
        fail(f"--format: unknown format {fmt!r}; choose jsonl, csv or parquet")
    if fmt == "parquet" and output is None:
        fail("--format parquet needs --output FILE")
    try:
        rows = export_rows(run_dir, what)  # type: ignore[arg-type]
        n = write_rows(rows, fmt, output if output is not None else sys.stdout, COLUMNS_OF[what])  # type: ignore[arg-type]
    except RunDirError as exc:
        fail(str(exc))
    except BrokenPipeError:  # `export RUN | head`: the reader left; that is not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(0) from None
    except OSError as exc:
        fail(f"{output}: {exc.strerror or exc}")
    if output is not None:
        err_console.print(f"{n} rows -> {output}", highlight=False)
