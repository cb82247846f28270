"""The figures of one report: what ``report --figures DIR`` writes and the HTML report embeds.

:func:`report_figures` turns a :class:`~value_spectrum.scoring.report_model.Report` into named
matplotlib figures (see :mod:`value_spectrum.scoring.figures`); :func:`write_report_figures`
saves them as PNG, SVG and PDF.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from value_spectrum.scoring.figures import (
    FORMATS,
    Bar,
    DriftPanel,
    drift_figure,
    fisher_band,
    heatmap_figure,
    like_rate_figure,
    radar_figure,
    save_figure,
    steerability_figure,
)
from value_spectrum.scoring.report_model import GroupReport, PreferenceReport, Report
from value_spectrum.scoring.stats import wilson
from value_spectrum.values import VALUE_IDS

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def proportion_bar(successes: int, n: int) -> Bar:
    """A bar of ``successes / n`` in %, with its 95% Wilson interval."""
    if n <= 0:
        return Bar(None, n=0)
    p = wilson(successes, n)
    return Bar(100 * p.rate, 100 * p.low, 100 * p.high, n)


def group_bars(g: GroupReport) -> dict[str, Bar]:
    """Value id -> like-rate bar of one group."""
    return {v: proportion_bar(*g.like_counts.get(v, [0, 0])) for v in VALUE_IDS}


def preference_bars(p: PreferenceReport) -> dict[str, Bar]:
    """Value id -> % yes among yes + no, with its interval."""
    return {v: proportion_bar(p.yes[v], p.yes[v] + p.no[v]) for v in VALUE_IDS}


def group_label(g: GroupReport, *, sep: str = " / ") -> str:
    """How a group is named in figures."""
    return f"{g.persona_id}{sep}{g.model}"


def group_radar(g: GroupReport) -> Figure | None:
    """Target vs revealed (vs stated) of one group; None when there is nothing to draw."""
    series = []
    if g.target is not None:
        series.append(("target", g.target))
    if g.revealed is not None:
        series.append(("revealed (choices)", g.revealed))
    if g.stated is not None and g.stated.get("mean"):
        series.append(("stated (questionnaire)", g.stated["mean"]))
    return radar_figure(series, title=group_label(g)) if series else None


def group_like_rates(g: GroupReport) -> Figure:
    """Like rate per primary value of one group, with intervals and n."""
    return like_rate_figure([(group_label(g), group_bars(g))])


def drift_panels(groups: Sequence[GroupReport]) -> list[DriftPanel]:
    """One drift panel per group: window alignment with a Fisher-z band."""
    panels = []
    for g in groups:
        wins = g.consistency.get("windows", [])
        bands = [fisher_band(w["alignment"]) for w in wins]
        panels.append(
            DriftPanel(
                title=group_label(g, sep="\n"),
                x=[(w["start"] + w["end"] - 1) / 2 for w in wins],
                y=[w["alignment"] for w in wins],
                low=[lo for lo, _ in bands],
                high=[hi for _, hi in bands],
            )
        )
    return panels


def groups_heatmap(groups: Sequence[GroupReport]) -> Figure:
    """Group x value like rate."""
    rows = [(group_label(g), dict(g.like_rate)) for g in groups]
    return heatmap_figure(rows, ylabel="persona / model")


def groups_steerability(groups: Sequence[GroupReport]) -> Figure:
    """Mean steerability per group, sessions as dots."""
    rows = [
        (
            group_label(g),
            g.steerability_pp,
            [s.steerability_pp for s in g.sessions if s.steerability_pp is not None],
        )
        for g in groups
    ]
    return steerability_figure(rows, ylabel="persona / model")


def report_figures(report: Report, *, per_group: bool = True) -> Iterator[tuple[str, Figure]]:
    """(file stem, figure) for each figure of the report, lazily (one figure in memory at a time
    when the caller saves and closes as it goes)."""
    feed_groups = [g for g in report.groups if report.kind != "preference"]
    if report.preference:
        yield (
            "preference_like_rate",
            like_rate_figure(
                [(p.model, preference_bars(p)) for p in report.preference],
                ylabel="% yes (abstains apart)",
            ),
        )
    if feed_groups:
        yield "like_rate_heatmap", groups_heatmap(feed_groups)
        yield (
            "drift",
            drift_figure(drift_panels(feed_groups), threshold=report.options.drift_threshold),
        )
        yield "steerability", groups_steerability(feed_groups)
    if per_group:
        for i, g in enumerate(report.groups, start=1):
            radar = group_radar(g)
            if radar is not None:
                yield f"group{i:02d}_radar", radar
            yield f"group{i:02d}_like_rate", group_like_rates(g)


def write_report_figures(
    report: Report, directory: str | Path, formats: Sequence[str] = FORMATS
) -> list[Path]:
    """Save every figure of ``report`` under ``directory``; returns the files written."""
    paths: list[Path] = []
    for name, fig in report_figures(report):
        paths += save_figure(fig, directory, name, formats)
    return paths
