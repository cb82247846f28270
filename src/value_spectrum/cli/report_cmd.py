"""`value-spectrum report RUN_DIR`: score a run directory; terminal tables, JSON or HTML.

Imports only the scoring room (no torch, no chromadb, no model client): a report is recomputed
from the run directory alone.
"""

from __future__ import annotations

from pathlib import Path

import typer

from value_spectrum.cli._console import console, err_console, fail, print_json


def report(
    run_dir: Path = typer.Argument(..., help="A run directory (manifest.json + sessions/)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    html: Path | None = typer.Option(None, "--html", help="Also write a self-contained HTML page here."),
    window: int = typer.Option(50, "--window", min=1, help="Turns per consistency window."),
    boot: int = typer.Option(200, "--boot", min=0, help="Bootstrap resamples for confidence intervals (0: none)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap."),
    min_decisions: int = typer.Option(10, "--min-decisions", min=1, help="Fewest decisions a profile is fitted on."),
) -> None:
    """Score a run: revealed profiles, alignment, drift, stated vs revealed, the paper's scores."""
    from value_spectrum.scoring.report import ScoringOptions, build_report
    from value_spectrum.scoring.rundir import RunDirError

    opts = ScoringOptions(window=window, n_boot=boot, seed=seed, min_decisions=min_decisions)
    try:
        rep = build_report(run_dir, opts)
    except RunDirError as exc:
        fail(str(exc))
    if html is not None:
        from value_spectrum.scoring.html import write_html

        try:
            out = write_html(rep, html)
        except OSError as exc:
            fail(f"{html}: cannot write the HTML report ({exc.strerror or exc})")
        err_console.print(f"HTML report written to {out}")
    if as_json:
        print_json(rep.model_dump(mode="json"))
        return
    from value_spectrum.scoring.tables import report_renderables

    console.print(report_renderables(rep, width=console.width))
