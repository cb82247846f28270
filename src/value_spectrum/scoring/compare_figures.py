"""Figures of a model comparison (:class:`~value_spectrum.scoring.compare.Comparison`): what
``compare --figures DIR`` writes and ``compare --html`` embeds."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from value_spectrum.scoring.compare import Comparison
from value_spectrum.scoring.figures import (
    FORMATS,
    Bar,
    heatmap_figure,
    like_rate_figure,
    radar_figure,
    save_figure,
    steerability_figure,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PAPER_SUFFIX = " (paper, approx.)"
"""How the paper's rows are labelled."""


def _cell_text(rate: float | None, low: float | None, high: float | None, n: int) -> str:
    if rate is None:
        return "n/a"
    if low is None or high is None:
        return f"{rate:.0f}"
    return f"{rate:.0f}\n[{low:.0f}-{high:.0f}]"


def model_value_heatmap(cmp: Comparison) -> Figure:
    """Model x value % yes, each cell with its 95% interval; the paper's models below a line
    when a preference run is compared."""
    rows: list[tuple[str, dict[str, float | None]]] = []
    notes: dict[str, dict[str, str]] = {}
    for m in cmp.models:
        cells = [c for c in cmp.like_rates if c.model == m]
        rows.append((m, {c.value: c.rate for c in cells}))
        notes[m] = {c.value: _cell_text(c.rate, c.low, c.high, c.n) for c in cells}
    own = len(rows)
    for name, table in cmp.reference.items():
        rows.append((name + PAPER_SUFFIX, dict(table)))
    return heatmap_figure(
        rows,
        annotate=notes,
        separator_after=own if cmp.reference else None,
        cbar_label="like rate (% yes)",
        title="% yes per value [95% Wilson interval]"
        + ("; below the line: the paper's models (approximate)" if cmp.reference else ""),
    )


def model_like_rates(cmp: Comparison) -> Figure:
    """Like rate per value, one bar per model, Wilson intervals and n."""
    series: list[tuple[str, dict[str, Bar]]] = []
    for m in cmp.models:
        series.append(
            (
                m,
                {
                    c.value: Bar(c.rate, c.low, c.high, c.n)
                    for c in cmp.like_rates
                    if c.model == m
                },
            )
        )
    return like_rate_figure(series)


def model_radar(cmp: Comparison) -> Figure | None:
    """Revealed profile of each model on the value circle (None when none can be scored)."""
    series = [(p.model, p.revealed) for p in cmp.profiles if p.revealed is not None]
    if not series:
        return None
    return radar_figure([(name, prof) for name, prof in series if prof is not None])


def model_steerability(cmp: Comparison) -> Figure | None:
    """Steerability per model x strategy, sessions as dots (None without feed runs)."""
    if not cmp.steerability:
        return None
    rows: Sequence[tuple[str, float | None, Sequence[float]]] = [
        (f"{s.model} / {s.strategy}", s.steerability_pp, s.session_steerability_pp)
        for s in cmp.steerability
    ]
    return steerability_figure(rows, ylabel="model / strategy")


def comparison_figures(cmp: Comparison) -> Iterator[tuple[str, Figure]]:
    """(file stem, figure) for each figure of the comparison."""
    yield "model_value_heatmap", model_value_heatmap(cmp)
    yield "model_like_rate", model_like_rates(cmp)
    radar = model_radar(cmp)
    if radar is not None:
        yield "model_revealed_radar", radar
    steer = model_steerability(cmp)
    if steer is not None:
        yield "model_steerability", steer


def write_comparison_figures(
    cmp: Comparison, directory: str | Path, formats: Sequence[str] = FORMATS
) -> list[Path]:
    """Save every figure of ``cmp`` under ``directory``; returns the files written."""
    paths: list[Path] = []
    for name, fig in comparison_figures(cmp):
        paths += save_figure(fig, directory, name, formats)
    return paths
