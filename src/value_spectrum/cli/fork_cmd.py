"""`value-spectrum fork RUN --session ID --at K (--model M | --persona P | --strategy S) --out DIR`:
continue a recorded session from turn K under one changed condition.

Thin over :func:`value_spectrum.api.afork`; the library is imported inside the command so that
``value-spectrum --help`` stays cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from value_spectrum.cli._console import err_console


def fork(
    run: Annotated[Path, typer.Argument(metavar="RUN", help="The parent run directory.")],
    session: Annotated[str, typer.Option("--session", help="The session id to fork (a file name in RUN/sessions/).")],
    at: Annotated[int, typer.Option("--at", min=0, help="K: the turns shared with the parent (0 .. its steps - 1).")],
    out: Annotated[Path, typer.Option("--out", help="The fork's run directory (re-running the same command continues it).")],
    model: Annotated[str | None, typer.Option("--model", "-m", help="Change the model (litellm string or 'reference').")] = None,
    persona: Annotated[str | None, typer.Option("--persona", "-p", help="Change the persona (id or YAML/JSON file).")] = None,
    strategy: Annotated[str | None, typer.Option("--strategy", help="Change the prompt strategy: simple | isq | values.")] = None,
    api_base: Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint of the fork's model (default: the parent's).")] = None,
    checkpoints: Annotated[str | None, typer.Option(help="The fork's checkpoint store: a SQLite file or postgresql://USER@HOST/DB (default: its run directory).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Continue session ID of RUN from turn K with one condition changed: the first K steps are the
    parent's records, byte for byte; then `compare RUN DIR` shows paired differences."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from value_spectrum.api import afork
    from value_spectrum.cli._running import run_or_fail, setup_logging
    from value_spectrum.cli.simulate_cmd import _Bars, finish

    setup_logging()
    progress = Progress(
        TextColumn("{task.description:>9}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"), console=err_console, disable=quiet or as_json, transient=False,
    )
    result = run_or_fail(afork(  # ForkError, RunCheckError, RunDirError: one line each
        run, session=session, at=at, model=model, persona=persona, strategy=strategy, out=out,
        api_base=api_base, checkpoints=checkpoints, observer=_Bars(progress), handle_signals=True,
    ), out=out, names={"models": "model", "personas": "persona"}, around=progress)
    finish(result.summary, as_json=as_json)
    if not as_json and result.summary.sessions_finished:
        err_console.print(f"[dim]paired differences: value-spectrum compare {run} {out}[/]", highlight=False)


__all__ = ["fork"]
