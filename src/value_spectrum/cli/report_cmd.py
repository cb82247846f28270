"""`value-spectrum report RUN_DIR`: score a run directory; terminal tables, JSON or HTML.

Imports only the scoring room (no torch, no chromadb, no model client): a report is recomputed
from the run directory alone (keyframes of the examples come from ``labels.json``, which the
runner writes when it creates the run).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from value_spectrum.cli._console import console, err_console, fail, print_json, write_or_fail

log = logging.getLogger(__name__)


def report(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", help="A run directory (manifest.json + sessions/).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write a self-contained HTML page here.")
    ] = None,
    window: Annotated[
        int | None,
        typer.Option(
            "--window", min=1,
            help="Turns per consistency window (default: a third of the session, 10 to 50).",
        ),
    ] = None,
    boot: Annotated[
        int,
        typer.Option(
            "--boot", min=0,
            help="Draws for the alignment interval, and resamples with --ci bootstrap (0: no alignment interval).",
        ),
    ] = 200,
    ci: Annotated[
        str,
        typer.Option(
            "--ci",
            help="Intervals of the revealed weights: wald (Firth fit, calibrated; see `calibrate`) or bootstrap (sessions, or blocks of decisions below 10 sessions).",
        ),
    ] = "wald",
    perms: Annotated[
        int,
        typer.Option("--perms", min=0, help="Permutations of the drift and steerability tests (0: not tested)."),
    ] = 100,
    seed: Annotated[int, typer.Option("--seed", help="Scoring seed; each group's is derived from it and the group.")] = 0,
    circle_prior: Annotated[
        float,
        typer.Option(
            "--circle-prior",
            min=0.0,
            help="Strength of the value-circle prior of the smoothed estimate shown beside the calibrated one (0 with --l2 0: none).",
        ),
    ] = 1.0,
    l2: Annotated[
        float,
        typer.Option("--l2", min=0.0, help="Ridge strength of the smoothed estimate."),
    ] = 1.0,
    min_decisions: Annotated[
        int, typer.Option("--min-decisions", min=1, help="Fewest decisions a profile is fitted on (30: see docs/methods.md).")
    ] = 30,
    figures: Annotated[
        Path | None,
        typer.Option("--figures", help="Also write every figure here as PNG, SVG and PDF."),
    ] = None,
) -> None:
    """Score a run: revealed profiles, alignment, drift, stated vs revealed, the paper's scores."""
    from value_spectrum.scoring.report import ScoringOptions, build_report
    from value_spectrum.scoring.revealed import CI_METHODS
    from value_spectrum.scoring.rundir import RunDirError

    if ci not in CI_METHODS:
        fail(f"--ci: unknown method {ci!r}; choose {' or '.join(CI_METHODS)}")
    opts = ScoringOptions(
        window=window,
        n_boot=boot,
        seed=seed,
        min_decisions=min_decisions,
        circle_prior=circle_prior,
        l2=l2,
        ci=ci,
        n_perm=perms,
    )
    try:
        rep = build_report(run_dir, opts)
    except RunDirError as exc:
        fail(str(exc))
    if html is not None:
        from value_spectrum.scoring.explorer import explorer_data
        from value_spectrum.scoring.html import write_html
        from value_spectrum.scoring.rundir import read_run

        try:
            data = explorer_data(read_run(run_dir))
        except (RunDirError, OSError) as exc:  # the run directory, not the page, failed
            fail(str(exc))
        out = write_or_fail(html, "the HTML report", lambda: write_html(rep, html, data))
        err_console.print(f"HTML report written to {out} ({out.stat().st_size / 1e6:.1f} MB)")
    if figures is not None:
        from value_spectrum.scoring.report_figures import write_report_figures

        paths = write_or_fail(figures, "the figures", lambda: write_report_figures(rep, figures))
        err_console.print(f"{len(paths)} figure files written to {figures}")
    if as_json:
        print_json(rep.to_dict())
        return
    from value_spectrum.scoring.tables import report_renderables

    console.print(report_renderables(rep, width=console.width))
