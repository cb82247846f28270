"""The self-contained HTML report: one file, inline CSS, one inline script, matplotlib figures
embedded as SVG ``data:`` URIs, keyframes as small JPEG ``data:`` URIs; nothing is fetched from
the network. Opens offline in any browser.

Summary first; a sortable, filterable table of persona x model groups; one collapsed section per
group; a decision explorer over every decision (when the run directory is given).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from value_spectrum.scoring import figures as F
from value_spectrum.scoring import report_figures as RF
from value_spectrum.scoring.explorer import ExplorerData
from value_spectrum.scoring.report_model import Report

OUTCOME_COLOURS = {
    "like": "#1b9e77",
    "skip": "#a0aec0",
    "unparseable": "#d69e2e",
    "refused": "#e53e3e",
    "error": "#742a2a",
}
"""Colour per outcome."""


def _fmt(x: Any, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def _sortkey(x: Any) -> str:
    """A ``data-v`` attribute value the table sorter compares (numbers as numbers)."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return ""
    return str(x)


def _img(fig: Any, alt: str) -> Markup:
    """An embedded figure, shown at about its paper size (110 px per inch)."""
    width = round(float(fig.get_figwidth()) * 110)
    uri = F.svg_data_uri(fig)
    fig.clear()
    return Markup('<img class="fig" src="{}" alt="{}" style="width: {}px">').format(uri, alt, width)


def _json_script(data: Any) -> Markup:
    """JSON safe inside ``<script type="application/json">`` (no ``</`` can close it)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    text = text.replace("</", "<\\/").replace("<!--", "<\\!--")
    return Markup(text)  # noqa: S704 - JSON with every '</' escaped, inside a data script


def _outcome_bar(counts: dict[str, int]) -> list[dict[str, Any]]:
    total = sum(counts.values()) or 1
    return [
        {"name": k, "n": v, "pct": 100.0 * v / total, "colour": OUTCOME_COLOURS.get(k, "#718096")}
        for k, v in counts.items()
    ]


def render_html(
    report: Report, explorer: ExplorerData | None = None, *, group_figures: bool = True
) -> str:
    """The report as one HTML page; ``explorer`` adds the decision explorer."""
    env = Environment(
        loader=PackageLoader("value_spectrum.scoring", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = _fmt
    env.filters["sortkey"] = _sortkey
    feed = [g for g in report.groups if report.kind != "preference"]
    overview: dict[str, Markup] = {}
    if report.preference:
        overview["preference"] = _img(
            F.like_rate_figure(
                [(p.model, RF.preference_bars(p)) for p in report.preference],
                ylabel="% yes (abstains apart)",
            ),
            "% yes per value with 95% Wilson intervals",
        )
    if feed:
        overview["heatmap"] = _img(RF.groups_heatmap(feed), "like rate per group and value")
        overview["drift"] = _img(
            F.drift_figure(RF.drift_panels(feed), threshold=report.options.drift_threshold),
            "alignment across turns, one panel per group",
        )
        overview["steer"] = _img(RF.groups_steerability(feed), "steerability per group")
    groups = []
    for g in report.groups:
        charts: dict[str, Markup] = {}
        if group_figures:
            radar = RF.group_radar(g)
            if radar is not None:
                charts["radar"] = _img(radar, "target vs revealed on the value circle")
            charts["like"] = _img(RF.group_like_rates(g), "like rate per primary value")
        groups.append(
            {
                "g": g,
                "charts": charts,
                "fails": sum(v for k, v in g.outcomes.items() if k not in ("like", "skip")),
            }
        )
    template = env.get_template("report.html.j2")
    return template.render(
        report=report,
        groups=groups,
        overview=overview,
        outcome_bar=_outcome_bar(report.summary.outcomes),
        explorer=None if explorer is None else _json_script(explorer.as_json()),
        n_decisions=0 if explorer is None else len(explorer.rows),
    )


def write_html(report: Report, path: str | Path, explorer: ExplorerData | None = None) -> Path:
    """Render ``report`` and write it to ``path`` atomically (parents created; a killed write
    leaves the previous page whole)."""
    from value_spectrum.runlog import write_atomic

    out = Path(path)
    write_atomic(out, render_html(report, explorer))
    return out
