"""The self-contained HTML report: one file, inline CSS and SVG, keyframes embedded as data URIs,
nothing fetched from the network, no script. Opens offline in any browser.
"""

from __future__ import annotations

import base64
import math
from html import escape
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from value_spectrum.scoring import charts
from value_spectrum.scoring.reference import reference_value_means
from value_spectrum.scoring.report_model import GroupReport, Report

MAX_IMAGE_BYTES = 1_500_000
"""Keyframes larger than this are shown as a placeholder instead of being embedded."""
_MIME = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".gif": "image/gif",
}


def image_data_uri(path: str | None) -> str | None:
    """``data:`` URI of an image file, or None when it is missing, unknown or too large."""
    if not path:
        return None
    p = Path(path)
    mime = _MIME.get(p.suffix.lower())
    try:
        if mime is None or not p.is_file() or p.stat().st_size > MAX_IMAGE_BYTES:
            return None
        return f"data:{mime};base64,{base64.b64encode(p.read_bytes()).decode('ascii')}"
    except OSError:
        return None


def placeholder_svg(text: str) -> str:
    """A grey card standing in for a keyframe that is not on this machine."""
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 160 90" width="160" height="90" role="img" '
        'aria-label="no keyframe"><rect width="160" height="90" fill="#edf2f7"/>'
        f'<text x="80" y="42" font-size="9" text-anchor="middle" fill="#718096">no keyframe</text>'
        f'<text x="80" y="56" font-size="8" text-anchor="middle" fill="#a0aec0">{escape(text[:30])}</text></svg>'
    )


def _svg(markup: str) -> Markup:
    """Mark chart output as safe HTML: :mod:`charts` escapes every text it draws."""
    return Markup(markup)  # noqa: S704 - built by charts.py / placeholder_svg, all text escaped


def _fmt(x: Any, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def _group_charts(g: GroupReport) -> dict[str, Markup]:
    radar_series = []
    if g.target is not None:
        radar_series.append(("target", g.target))
    if g.revealed is not None:
        radar_series.append(("revealed", g.revealed))
    if g.stated is not None and g.stated.get("mean"):
        radar_series.append(("stated", g.stated["mean"]))
    wins = g.consistency["windows"]
    drift = charts.lines(
        [
            ("alignment", [((w["start"] + w["end"] - 1) / 2, w["alignment"]) for w in wins]),
            (
                "like rate / 100",
                [
                    (
                        (w["start"] + w["end"] - 1) / 2,
                        None if w["like_rate"] is None else w["like_rate"] / 100,
                    )
                    for w in wins
                ],
            ),
        ],
        ymin=-1.0,
        ymax=1.0,
        threshold=g.consistency["threshold"],
        width=420,
        height=170,
    )
    return {
        "radar": _svg(charts.radar(radar_series, size=280)) if radar_series else _svg(""),
        "like_bars": _svg(charts.bars([("like rate", g.like_rate)], width=420, height=170)),
        "drift": _svg(drift),
        "outcomes": _svg(charts.outcome_bar(g.outcomes, width=420)),
    }


def render_html(report: Report) -> str:
    """The report as one HTML page."""
    env = Environment(
        loader=PackageLoader("value_spectrum.scoring", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = _fmt
    groups = [{"g": g, "charts": _group_charts(g)} for g in report.groups]
    examples = []
    for e in report.examples:
        uri = image_data_uri(e.keyframe)
        examples.append(
            {"e": e, "img": uri, "placeholder": _svg(placeholder_svg(e.title or e.video_id))}
        )
    align_series = [
        (
            f"{g.persona_id} / {g.model}",
            [((w["start"] + w["end"] - 1) / 2, w["alignment"]) for w in g.consistency["windows"]],
        )
        for g in report.groups
    ]
    overview = {
        "outcomes": _svg(charts.outcome_bar(report.summary.outcomes, width=640)),
        "drift": _svg(
            charts.lines(
                align_series, width=640, height=220, threshold=report.options.drift_threshold
            )
        )
        if report.groups
        else _svg(""),
    }
    pref = []
    if report.preference:
        means = reference_value_means()
        for p in report.preference:
            pref.append(
                {
                    "p": p,
                    "chart": _svg(
                        charts.bars(
                            [(p.model, p.scores), ("paper, mean of 8 models", means)],
                            width=640,
                            height=220,
                        )
                    ),
                }
            )
    template = env.get_template("report.html.j2")
    return template.render(
        report=report, groups=groups, examples=examples, overview=overview, pref=pref
    )


def write_html(report: Report, path: str | Path) -> Path:
    """Render ``report`` and write it to ``path`` atomically (parents created; a killed write
    leaves the previous page whole)."""
    from value_spectrum.runlog import write_atomic

    out = Path(path)
    write_atomic(out, render_html(report))
    return out
