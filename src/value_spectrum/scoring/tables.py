"""Terminal tables (rich) for reports and benchmarks: the only printing in the scoring room.

Functions build ``rich`` renderables; the CLI decides where they go.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from value_spectrum.scoring.report_model import PreferenceReport, Report
from value_spectrum.values import VALUE_IDS


def _f(x: Any, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "[dim]n/a[/]"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def summary_table(report: Report) -> Table:
    """Run-wide figures."""
    s = report.summary
    t = Table(title=f"Run {report.run_id} ({report.kind})", show_header=False)
    t.add_column("what")
    t.add_column("value", justify="right")
    t.add_row("persona x model", str(s.n_groups))  # short: the outcomes row fits 80 columns
    t.add_row("sessions", str(s.n_sessions))
    t.add_row("scored decisions", str(s.n_decisions))
    t.add_row("outcomes", ", ".join(f"{k} {v}" for k, v in s.outcomes.items()))
    t.add_row("median alignment", _f(s.median_alignment))
    t.add_row("median recovery", _f(s.median_recovery))
    t.add_row("cannot score", str(s.cannot_score_groups))
    return t


def groups_table(report: Report, *, wide: bool = True) -> Table:
    """One row per persona x model; ``wide`` adds the alignment's 95% bootstrap interval and
    the drift slope (narrow terminals get the rest)."""
    t = Table(title="Persona x model", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    t.add_column("persona", overflow="fold", max_width=24)  # folded, never cut
    t.add_column("model", overflow="fold", max_width=18)
    cols = ("n", "like%", "align", "95% CI", "recov", "stab", "drift", "steer", "fail")
    for col in cols:
        if wide or col not in ("95% CI", "drift"):
            t.add_column(col, justify="right", no_wrap=True)
    for g in report.groups:
        fails = sum(v for k, v in g.outcomes.items() if k not in ("like", "skip"))
        align = _f(g.alignment) if g.alignment is not None else "[yellow]n/a[/]"
        ci = (
            ""
            if g.alignment_ci is None
            else f"[dim]{_f(g.alignment_ci[0])}..{_f(g.alignment_ci[1])}[/]"
        )
        row = [
            g.persona_id,
            g.model,
            str(g.n_decisions),
            _f(g.like_rate_overall, 1),
            align,
            ci,
            _f(g.recovery),
            _f(g.consistency.get("stability")),
            _f(g.consistency.get("drift_slope_per_100")),
            _f(g.steerability_pp, 1),
            str(fails) if fails == 0 else f"[red]{fails}[/]",
        ]
        t.add_row(
            *(
                c
                for col, c in zip(("p", "m", *cols), row, strict=True)
                if wide or col not in ("95% CI", "drift")
            )
        )
    return t


def intervals_table(report: Report) -> Table:
    """What a narrow terminal's groups table leaves out: the alignment's 95% bootstrap interval
    and the drift slope, one row per group (a second table instead of dropped columns)."""
    t = Table(
        title="Persona x model: interval and drift",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    t.add_column("persona", overflow="fold", max_width=30)
    t.add_column("model", overflow="fold", max_width=24)
    t.add_column("align", justify="right", no_wrap=True)
    t.add_column("95% CI", justify="right", no_wrap=True)
    t.add_column("drift", justify="right", no_wrap=True)
    for g in report.groups:
        ci = (
            "n/a"
            if g.alignment_ci is None
            else f"{_f(g.alignment_ci[0])}..{_f(g.alignment_ci[1])}"
        )
        t.add_row(
            g.persona_id,
            g.model,
            _f(g.alignment),
            ci,
            _f(g.consistency.get("drift_slope_per_100")),
        )
    return t


def reasons_table(report: Report) -> Table | None:
    """Groups that cannot be scored, with the reason (None when every group scored)."""
    bad = [g for g in report.groups if g.revealed is None or g.alignment is None]
    if not bad:
        return None
    t = Table(title="Cannot score", pad_edge=False)
    t.add_column("persona", no_wrap=True)
    t.add_column("model", no_wrap=True)
    t.add_column("reason")
    for g in bad:
        t.add_row(g.persona_id, g.model, g.revealed_reason or g.alignment_reason)
    return t


def preference_table(
    prefs: list[PreferenceReport], reference: Mapping[str, Mapping[str, float]]
) -> Table:
    """One row per value: each model's % yes (abstains apart), beside the paper's figures
    (mean and range over its models; approximate, read from its figures)."""
    t = Table(title="Preference: % yes per value", box=box.SIMPLE_HEAD, collapse_padding=True)
    t.add_column("value", no_wrap=True)
    for p in prefs:
        t.add_column(p.model, justify="right", no_wrap=True)
        t.add_column("abst.", justify="right")
        t.add_column("n", justify="right")
    t.add_column("paper mean", justify="right")
    t.add_column("paper range", justify="right", no_wrap=True)
    for v in VALUE_IDS:
        row = [v]
        for p in prefs:
            row += [_f(p.scores[v], 1), str(p.abstain[v]), str(p.n[v])]
        ref = [m[v] for m in reference.values()]
        row += [f"{sum(ref) / len(ref):.1f}", f"{min(ref):.0f}-{max(ref):.0f}"] if ref else ["", ""]
        t.add_row(*row)
    means = [float(sum(m[v] for v in VALUE_IDS) / len(VALUE_IDS)) for m in reference.values()]
    row = ["[bold]mean (SD)[/]"]
    for p in prefs:
        row += [
            f"{_f(p.mean, 1)} ({_f(p.sd, 1)})",
            str(sum(p.abstain.values())),
            str(sum(p.n.values())),
        ]
    row += [f"{sum(means) / len(means):.1f}" if means else "", ""]
    t.add_row(*row)
    return t


def length_table(report: Report) -> Table | None:
    """Session length per persona x model (and dwell where recorded); None when every session
    ran its full length and no dwell was recorded (nothing to show)."""
    rows = [g for g in report.groups if g.session_length is not None]
    if not any(g.session_length.left or g.session_length.dwell_n  # type: ignore[union-attr]
               or g.session_length.min_turns != g.session_length.max_turns for g in rows):  # type: ignore[union-attr]
        return None
    dwell = any(g.session_length.dwell_n for g in rows)  # type: ignore[union-attr]
    caption = "turns: mean per session; left: sessions the viewer left"
    if dwell:
        caption += "; dw: mean dwell (s) on likes and skips, Spearman of the dwell profile with the target"
    t = Table(title="Session length", box=box.SIMPLE_HEAD, pad_edge=False, caption=caption, caption_style="dim")
    cols = ("persona", "model", "n", "turns", "range", "left") + (("dw like", "dw skip", "dw align") if dwell else ())
    for col in cols:
        t.add_column(col, justify="left" if col in ("persona", "model") else "right", overflow="fold")
    for g in rows:
        sl = g.session_length
        assert sl is not None
        cells = [g.persona_id, g.model, str(sl.sessions), _f(sl.mean_turns, 1), f"{sl.min_turns}-{sl.max_turns}",
                 str(sl.left)]
        if dwell:  # no dwell anywhere: the three columns would be n/a throughout
            cells += [_f(sl.dwell_like_s, 1), _f(sl.dwell_skip_s, 1), _f(sl.dwell_alignment)]
        t.add_row(*cells)
    return t


def report_renderables(report: Report, *, width: int = 120) -> RenderableType:
    """Everything the terminal report shows, laid out for a terminal ``width`` columns wide."""
    parts: list[RenderableType] = [summary_table(report)]
    if report.preference:
        parts.append(preference_table(report.preference, report.reference))
        parts.append(Text(report.citation, style="dim"))
    if report.groups:
        wide = width >= 110
        parts.append(groups_table(report, wide=wide))
        if not wide:
            parts.append(intervals_table(report))
        reasons = reasons_table(report)
        if reasons is not None:
            parts.append(reasons)
        lengths = length_table(report)
        if lengths is not None:
            parts.append(lengths)
        parts.append(
            Text(
                "align: Spearman of revealed vs target; recov: vs the injected profile (reference "
                "viewer); stab: mean correlation between windows; drift: alignment change per 100 "
                "turns; steer: like-ratio change, first to last window (pp)",
                style="dim",
            )
        )
    from value_spectrum.scoring.compare_tables import usage_table

    usage = usage_table(report.usage, title="Usage (model: turns a model answered + questionnaire answers)")
    if usage is not None:
        parts.append(usage)
    for p in report.problems:
        parts.append(Text(f"unreadable: {p}", style="yellow"))
    if not report.labels_available:
        parts.append(
            Text(
                "no labels.json in the run directory: revealed profiles cannot be computed",
                style="yellow",
            )
        )
    return Group(*parts)
