"""Inline SVG charts for the HTML report, drawn by hand so the page needs nothing from the
network: a radar on the value circle, bars per value (optionally with a reference bar beside),
line charts for drift, and a stacked bar for outcome counts.

Each function returns an SVG string (escaped text, no script).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

from value_spectrum.values import VALUE_IDS

PALETTE = ("#2b6cb0", "#dd6b20", "#38a169", "#805ad5", "#d53f8c", "#319795", "#b7791f", "#4a5568")
"""Series colours."""
OUTCOME_COLOURS = {
    "like": "#38a169",
    "skip": "#a0aec0",
    "unparseable": "#d69e2e",
    "refused": "#e53e3e",
    "error": "#742a2a",
}
"""Colour per outcome."""

SHORT = {
    "self_direction": "self-dir.",
    "stimulation": "stimul.",
    "hedonism": "hedonism",
    "achievement": "achieve.",
    "power": "power",
    "security": "security",
    "conformity": "conform.",
    "tradition": "tradition",
    "benevolence": "benevol.",
    "universalism": "univers.",
}
"""Short axis labels."""


def _scaled(profile: Mapping[str, float]) -> list[float]:
    """Centre, then divide by the largest absolute value: -1..1, 0 = the profile's own mean."""
    xs = [float(profile[v]) for v in VALUE_IDS]
    m = sum(xs) / len(xs)
    c = [x - m for x in xs]
    top = max(abs(x) for x in c) or 1.0
    return [x / top for x in c]


def radar(series: Sequence[tuple[str, Mapping[str, float]]], *, size: int = 300) -> str:
    """Profiles on the value circle (circle order, self-direction at the top, clockwise).

    Each profile is MRAT-centred and scaled to its own range (radius 0.5 = its mean), so
    profiles on different scales (0-1 targets, logit weights, ratings) share one chart.
    """
    cx = cy = size / 2
    rmax = size / 2 - 46
    n = len(VALUE_IDS)

    def point(i: int, r: float) -> tuple[float, float]:
        a = -math.pi / 2 + 2 * math.pi * i / n
        return cx + r * math.cos(a), cy + r * math.sin(a)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size + 24}" width="{size}" height="{size + 24}" role="img" aria-label="value radar">'
    ]
    for frac in (0.25, 0.5, 0.75, 1.0):
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in (point(i, rmax * frac) for i in range(n)))
        dash = ' stroke-dasharray="3,3"' if frac == 0.5 else ""
        parts.append(f'<polygon points="{pts}" fill="none" stroke="#cbd5e0"{dash}/>')
    for i, v in enumerate(VALUE_IDS):
        x, y = point(i, rmax)
        parts.append(
            f'<line x1="{cx:.1f}" y1="{cy:.1f}" x2="{x:.1f}" y2="{y:.1f}" stroke="#e2e8f0"/>'
        )
        lx, ly = point(i, rmax + 22)
        parts.append(
            f'<text x="{lx:.1f}" y="{ly:.1f}" font-size="10" text-anchor="middle" dominant-baseline="middle" fill="#4a5568">{escape(SHORT[v])}</text>'
        )
    step = min(120, (size - 10) // max(1, len(series)))  # every legend entry inside the chart
    for k, (name, prof) in enumerate(series):
        colour = PALETTE[k % len(PALETTE)]
        pts = " ".join(
            f"{x:.1f},{y:.1f}"
            for x, y in (point(i, rmax * (0.5 + 0.5 * s)) for i, s in enumerate(_scaled(prof)))
        )
        parts.append(
            f'<polygon points="{pts}" fill="{colour}" fill-opacity="0.12" stroke="{colour}" stroke-width="2"/>'
        )
        parts.append(
            f'<rect x="{10 + step * k}" y="{size + 8}" width="10" height="10" fill="{colour}"/>'
        )
        parts.append(
            f'<text x="{24 + step * k}" y="{size + 17}" font-size="11" fill="#2d3748">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def bars(
    series: Sequence[tuple[str, Mapping[str, float | None]]],
    *,
    width: int = 520,
    height: int = 220,
    ymax: float = 100.0,
    unit: str = "%",
) -> str:
    """Grouped bars per value (one bar per series); a missing number is drawn as 'n/a'."""
    left, bottom, top = 34, 40, 12
    plot_w, plot_h = width - left - 8, height - bottom - top
    group_w = plot_w / len(VALUE_IDS)
    bar_w = (group_w - 6) / max(1, len(series))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height + 18}" width="{width}" height="{height + 18}" role="img" aria-label="bars per value">'
    ]
    for frac in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = top + plot_h * (1 - frac)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - 8}" y2="{y:.1f}" stroke="#edf2f7"/>'
        )
        parts.append(
            f'<text x="{left - 4}" y="{y + 3:.1f}" font-size="9" text-anchor="end" fill="#718096">{ymax * frac:g}{escape(unit)}</text>'
        )
    for i, v in enumerate(VALUE_IDS):
        gx = left + i * group_w + 3
        for k, (_, data) in enumerate(series):
            val = data.get(v)
            x = gx + k * bar_w
            colour = PALETTE[k % len(PALETTE)]
            if val is None or not math.isfinite(val):
                parts.append(
                    f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h - 3:.1f}" font-size="7" text-anchor="middle" fill="#a0aec0">n/a</text>'
                )
                continue
            h = plot_h * max(0.0, min(1.0, val / ymax))
            parts.append(
                f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{max(1.0, bar_w - 1):.1f}" height="{h:.1f}" fill="{colour}"><title>{escape(v)}: {val:.1f}{escape(unit)}</title></rect>'
            )
        parts.append(
            f'<text x="{gx + group_w / 2 - 3:.1f}" y="{top + plot_h + 12:.1f}" font-size="9" text-anchor="middle" fill="#4a5568">{escape(SHORT[v])}</text>'
        )
    for k, (name, _) in enumerate(series):
        colour = PALETTE[k % len(PALETTE)]
        parts.append(
            f'<rect x="{left + 150 * k}" y="{height + 2}" width="10" height="10" fill="{colour}"/>'
        )
        parts.append(
            f'<text x="{left + 14 + 150 * k}" y="{height + 11}" font-size="11" fill="#2d3748">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def lines(
    series: Sequence[tuple[str, Sequence[tuple[float, float | None]]]],
    *,
    width: int = 520,
    height: int = 200,
    ymin: float = -1.0,
    ymax: float = 1.0,
    xlabel: str = "turn",
    threshold: float | None = None,
) -> str:
    """Line chart of (x, y) points per series; None breaks a line. A dashed threshold line
    is drawn when given."""
    left, bottom, top = 36, 34, 10
    plot_w, plot_h = width - left - 10, height - bottom - top
    xs = [x for _, pts in series for x, _y in pts]
    x0, x1 = (min(xs), max(xs)) if xs else (0.0, 1.0)
    if x1 == x0:
        x1 = x0 + 1.0

    def sx(x: float) -> float:
        return left + plot_w * (x - x0) / (x1 - x0)

    def sy(y: float) -> float:
        return top + plot_h * (1 - (max(ymin, min(ymax, y)) - ymin) / (ymax - ymin))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height + 16}" width="{width}" height="{height + 16}" role="img" aria-label="line chart">'
    ]
    for frac in (0.0, 0.5, 1.0):
        yv = ymin + (ymax - ymin) * frac
        parts.append(
            f'<line x1="{left}" y1="{sy(yv):.1f}" x2="{width - 10}" y2="{sy(yv):.1f}" stroke="#edf2f7"/>'
        )
        parts.append(
            f'<text x="{left - 4}" y="{sy(yv) + 3:.1f}" font-size="9" text-anchor="end" fill="#718096">{yv:g}</text>'
        )
    if threshold is not None:
        parts.append(
            f'<line x1="{left}" y1="{sy(threshold):.1f}" x2="{width - 10}" y2="{sy(threshold):.1f}" stroke="#e53e3e" stroke-dasharray="4,3"/>'
        )
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" font-size="10" text-anchor="middle" fill="#4a5568">{escape(xlabel)} ({x0:g} to {x1:g})</text>'
    )
    for k, (name, pts) in enumerate(series):
        colour = PALETTE[k % len(PALETTE)]
        run: list[str] = []
        for x, y in [*pts, (math.nan, None)]:
            if y is None or not math.isfinite(y) or not math.isfinite(x):
                if len(run) > 1:
                    parts.append(
                        f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}" stroke-width="2"/>'
                    )
                run = []
                continue
            run.append(f"{sx(x):.1f},{sy(y):.1f}")
            parts.append(
                f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="{colour}"><title>{escape(name)}: {y:.2f} at {x:g}</title></circle>'
            )
        if len(series) <= 6:
            parts.append(
                f'<text x="{left + 8 + 140 * k}" y="{height + 12}" font-size="10" fill="{colour}">{escape(name)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def outcome_bar(counts: Mapping[str, int], *, width: int = 520, height: int = 26) -> str:
    """One stacked horizontal bar of outcome counts, failures included, with a legend."""
    total = sum(counts.values())
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height + 20}" width="{width}" height="{height + 20}" role="img" aria-label="outcomes">'
    ]
    x = 0.0
    for name, n in counts.items():
        if total == 0 or n == 0:
            continue
        w = width * n / total
        parts.append(
            f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="{height}" fill="{OUTCOME_COLOURS.get(name, "#718096")}"><title>{escape(name)}: {n}</title></rect>'
        )
        x += w
    step = width / max(1, len(counts))
    for k, (name, n) in enumerate(counts.items()):
        parts.append(
            f'<rect x="{step * k:.1f}" y="{height + 6}" width="10" height="10" fill="{OUTCOME_COLOURS.get(name, "#718096")}"/>'
        )
        parts.append(
            f'<text x="{step * k + 14:.1f}" y="{height + 15}" font-size="10" fill="#2d3748">{escape(name)} {n}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
