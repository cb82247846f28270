"""`value-spectrum humans import FILE --out RUN`: people's like/skip logs stored as a run that
``report`` and ``compare`` read like any model's (thin over :mod:`value_spectrum.runner.humans`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from value_spectrum.cli._console import EXIT_PARTIAL, console, err_console, fail, print_json


def import_log(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="CSV (with a header) or JSONL log: participant, "
                                         "video_id, decision; optional dwell_s, turn, profile.")],
    out: Annotated[Path, typer.Option("--out", help="The new run directory.")],
    corpus: Annotated[str | None, typer.Option(help="Corpus directory the people saw (default: the demo corpus).")] = None,
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="Import the valid rows when some are bad "
                                           "(default: import nothing).")] = False,
    force_new: Annotated[bool, typer.Option("--force-new", help="Move a run already in --out aside.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Import people's like/skip decisions as a run (model 'human', one session per participant).

    Every row is checked against the corpus; each bad row is one line naming the file, the row, the
    field and the value. Exit 1 when rows were bad (with --skip-bad the others are imported)."""
    from value_spectrum.retrieval.corpus import CorpusError, load_corpus
    from value_spectrum.runlog import RunDirError
    from value_spectrum.runner.humans import HumanLogError, import_human_log, read_human_log

    try:
        c = load_corpus(corpus)
    except (CorpusError, OSError, ValueError) as exc:
        fail(str(exc).splitlines()[0])
    try:
        run, log = import_human_log(file, c, out, skip_bad=skip_bad, force_new=force_new)
    except HumanLogError as exc:
        try:
            bad = read_human_log(file, c).errors
        except HumanLogError:
            bad = ()
        _print_errors(bad)
        fail(str(exc), EXIT_PARTIAL if bad else 2)
    except RunDirError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{exc.filename or out}: {exc.strerror or exc}")
    participants = len({r.participant for r in log.rows})
    if as_json:
        print_json({"run_dir": str(run.path), "participants": participants, "decisions": len(log.rows),
                    "rows_skipped": len(log.errors), "errors": list(log.errors)})
    else:
        console.print(f"imported {len(log.rows)} decisions of {participants} participants into {run.path}",
                      highlight=False)
    _print_errors(log.errors, skipped=True)
    if not as_json:
        err_console.print(f"[dim]next: value-spectrum report {run.path}; value-spectrum compare {run.path} "
                          "MODEL_RUN ...[/]", highlight=False)
    if log.errors:
        raise typer.Exit(EXIT_PARTIAL)


def _print_errors(errors: tuple[str, ...] | list[str], *, skipped: bool = False) -> None:
    from value_spectrum.runner.humans import MAX_ERRORS_SHOWN

    tag = "skipped" if skipped else "bad row"
    for line in list(errors)[:MAX_ERRORS_SHOWN]:
        err_console.print(f"[yellow]{tag}:[/] {line}", highlight=False, markup=True, soft_wrap=True)
    if len(errors) > MAX_ERRORS_SHOWN:
        err_console.print(f"[yellow]... and {len(errors) - MAX_ERRORS_SHOWN} more[/]", highlight=False)


def build() -> typer.Typer:
    """The `humans` command group."""
    app = typer.Typer(no_args_is_help=True)
    app.command("import")(import_log)
    return app
