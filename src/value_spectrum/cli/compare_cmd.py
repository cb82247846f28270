"""`value-spectrum compare RUN [RUN...]`: models side by side (the paper's tables), as terminal
tables, JSON, an HTML page or figure files.

Imports only the scoring room: every number is recomputed from the run directories alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from value_spectrum.cli._console import console, err_console, fail, print_json, write_or_fail


def compare(
    runs: Annotated[
        list[Path], typer.Argument(metavar="RUN...", help="One or more run directories.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON.")] = False,
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write a self-contained HTML page here.")
    ] = None,
    figures: Annotated[
        Path | None,
        typer.Option("--figures", help="Also write every figure here as PNG, SVG and PDF."),
    ] = None,
    min_decisions: Annotated[
        int, typer.Option("--min-decisions", min=1, help="Fewest decisions a profile is fitted on.")
    ] = 10,
) -> None:
    """Compare models: % yes per value with intervals, revealed profiles, alignment and
    steerability per strategy, differences (Cohen's h, Holm-adjusted p), paired differences of
    forks and replayed feeds, usage and cost."""
    from value_spectrum.scoring.compare import compare_runs
    from value_spectrum.scoring.report_model import ScoringOptions
    from value_spectrum.scoring.rundir import RunDirError

    try:
        cmp = compare_runs(runs, ScoringOptions(n_boot=0, min_decisions=min_decisions))
    except RunDirError as exc:
        fail(str(exc))
    if figures is not None:
        from value_spectrum.scoring.compare_figures import write_comparison_figures

        paths = write_or_fail(figures, "the figures", lambda: write_comparison_figures(cmp, figures))
        err_console.print(f"{len(paths)} figure files written to {figures}")
    if html is not None:
        from value_spectrum.scoring.compare_html import write_comparison_html

        out = write_or_fail(html, "the HTML page", lambda: write_comparison_html(cmp, html))
        err_console.print(f"HTML comparison written to {out}")
    if as_json:
        print_json(cmp.model_dump(mode="json"))
        return
    from value_spectrum.scoring.compare_tables import comparison_renderables

    console.print(comparison_renderables(cmp, width=console.width))
