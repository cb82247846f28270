"""Figures for papers and for the HTML report, drawn with matplotlib (Agg, no pyplot state).

Each ``*_figure`` function returns a :class:`matplotlib.figure.Figure` sized for a paper column
(:data:`COLUMN_IN` wide, or :data:`DOUBLE_IN` for the wide ones), every axis labelled and every
series in a legend. :func:`save_figure` writes one as PNG, SVG and PDF; :func:`svg_data_uri`
turns one into a ``data:`` URI the HTML report embeds (self-contained, offline).

matplotlib is imported inside the functions, so importing this module costs nothing.

Example:
    >>> from value_spectrum.scoring.figures import radar_figure, save_figure  # doctest: +SKIP
    >>> fig = radar_figure([("target", target), ("revealed", revealed)])  # doctest: +SKIP
    >>> save_figure(fig, "figs", "radar")  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from value_spectrum.values import VALUE_IDS

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.projections.polar import PolarAxes

__all__ = [
    "COLUMN_IN",
    "DOUBLE_IN",
    "FORMATS",
    "Bar",
    "DriftPanel",
    "drift_figure",
    "heatmap_figure",
    "like_rate_figure",
    "radar_figure",
    "save_figure",
    "steerability_figure",
    "svg_data_uri",
]

COLUMN_IN = 3.4
"""Width of one column of a two-column paper (ACL, NeurIPS), inches."""
DOUBLE_IN = 7.0
"""Width of a figure spanning both columns, inches."""
FORMATS: tuple[str, ...] = ("png", "svg", "pdf")
"""What :func:`save_figure` writes."""
PALETTE = ("#1f77b4", "#d95f02", "#1b9e77", "#7570b3", "#e7298a", "#66a61e", "#a6761d", "#666666")
"""Series colours (colour-blind-safe Dark2-like, blue first)."""
LABEL = {
    "self_direction": "self-direction",
    "stimulation": "stimulation",
    "hedonism": "hedonism",
    "achievement": "achievement",
    "power": "power",
    "security": "security",
    "conformity": "conformity",
    "tradition": "tradition",
    "benevolence": "benevolence",
    "universalism": "universalism",
}
"""Axis label of each value."""

_STYLE: Any = {  # Any: matplotlib types the keys as a Literal of every rc name
    "font.size": 7.5,
    "axes.titlesize": 8,
    "axes.labelsize": 7.5,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.fonttype": "none",
    "pdf.fonttype": 42,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.03,
    "figure.dpi": 100,
}


@contextmanager
def _style() -> Iterator[None]:
    import matplotlib

    with matplotlib.rc_context(_STYLE):
        yield


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _centred_sd(profile: Mapping[str, float]) -> list[float]:
    """Centre a profile on its own mean and divide by its SD: profiles on different scales (0-1
    targets, logit weights, 1-6 ratings) share one radial axis in SD units."""
    xs = [float(profile[v]) for v in VALUE_IDS]
    m = sum(xs) / len(xs)
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / len(xs)) or 1.0
    return [(x - m) / sd for x in xs]


def radar_figure(
    series: Sequence[tuple[str, Mapping[str, float]]],
    *,
    title: str = "",
    width: float = COLUMN_IN,
) -> Figure:
    """Profiles on the value circle (circle order, self-direction at the top, clockwise).

    Every profile is centred on its own mean and scaled by its own SD, so the radial axis reads
    "SD above or below the profile's mean" (0 = the dashed ring) whatever its scale.
    """
    import numpy as np

    lim = 2.5
    angles = [2 * math.pi * i / len(VALUE_IDS) for i in range(len(VALUE_IDS))]
    with _style():
        fig = _figure(width, width * 1.02)
        ax = cast("PolarAxes", fig.add_subplot(projection="polar"))
        ax.set_theta_offset(math.pi / 2)
        ax.set_theta_direction(-1)
        ax.set_xticks(angles, [LABEL[v] for v in VALUE_IDS])
        ax.tick_params(axis="x", pad=0, labelsize=6.5)
        ax.set_ylim(-lim, lim)
        ax.set_yticks([-2, -1, 0, 1, 2], ["-2", "-1", "0", "+1", "+2"])
        ax.set_rlabel_position(90 / 5)
        ax.plot(np.linspace(0, 2 * np.pi, 100), [0] * 100, color="#888", lw=0.8, ls="--")
        for k, (name, prof) in enumerate(series):
            r = _centred_sd(prof)
            colour = PALETTE[k % len(PALETTE)]
            ax.plot([*angles, angles[0]], [*r, r[0]], color=colour, lw=1.4, label=name)
            ax.fill([*angles, angles[0]], [*r, r[0]], color=colour, alpha=0.12)
        ax.tick_params(axis="y", labelsize=6, labelcolor="#555")
        for label in ax.get_yticklabels():  # the scale stays readable over the profiles
            label.set_bbox({"facecolor": "white", "edgecolor": "none", "alpha": 0.75, "pad": 0.4})
            label.set_zorder(5)
        if title:
            ax.set_title(title, pad=12)
        if series:
            fig.legend(
                loc="outside lower center",
                ncols=min(3, len(series)),
                title="radius: SD above or below each profile's own mean (dashed ring = mean)",
                title_fontsize=6,
            )
    return fig


@dataclass(frozen=True)
class Bar:
    """One bar: a proportion (0-100 %) with its interval and count."""

    rate: float | None
    """% (None: no data, drawn as 'n/a')."""
    low: float | None = None
    """Interval low, %."""
    high: float | None = None
    """Interval high, %."""
    n: int | None = None
    """Trials behind it (printed under the bar)."""


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def _num(x: float | None, default: float = 0.0) -> float:
    """``x``, or ``default`` when it is None or not finite."""
    return float(x) if x is not None and math.isfinite(x) else default


def like_rate_figure(
    series: Sequence[tuple[str, Mapping[str, Bar]]],
    *,
    title: str = "",
    ylabel: str = "like rate (% yes)",
    interval: str = "95% Wilson interval",
    width: float = DOUBLE_IN,
) -> Figure:
    """Grouped bars per value, one bar per series, with interval whiskers and ``n`` under each."""
    import numpy as np

    k = max(1, len(series))
    bw = 0.8 / k
    x = np.arange(len(VALUE_IDS))
    with _style():
        fig = _figure(width, 2.3)
        ax = fig.add_subplot()
        for j, (name, bars) in enumerate(series):
            colour = PALETTE[j % len(PALETTE)]
            xs = x - 0.4 + bw * (j + 0.5)
            rates = [_num(bars[v].rate) for v in VALUE_IDS]
            ax.bar(xs, rates, bw * 0.92, color=colour, label=name)
            lo = [max(0.0, r - _num(bars[v].low, r)) for r, v in zip(rates, VALUE_IDS, strict=True)]
            hi = [
                max(0.0, _num(bars[v].high, r) - r) for r, v in zip(rates, VALUE_IDS, strict=True)
            ]
            if any(lo) or any(hi):
                ax.errorbar(
                    xs, rates, yerr=[lo, hi], fmt="none", ecolor="#222", lw=0.7, capsize=1.5
                )
            for xi, v in zip(xs, VALUE_IDS, strict=True):
                b = bars[v]
                if not _finite(b.rate):
                    ax.text(xi, 2, "n/a", ha="center", fontsize=5.5, color="#777", rotation=90)
                if b.n is not None and k <= 4:
                    ax.text(xi, -3, f"{b.n}", ha="center", va="top", fontsize=5, color="#555")
        ax.set_xticks(x, [LABEL[v] for v in VALUE_IDS], rotation=30, ha="right")
        ax.tick_params(axis="x", length=0, pad=9 if k <= 4 else 3)
        ax.set_ylim(0, 100)
        ax.set_ylabel(ylabel)
        ax.set_xlabel(f"primary value of the video (bars: {interval}; small numbers: n)")
        ax.axhline(50, color="#bbb", lw=0.6, ls=":")
        if title:
            ax.set_title(title)
        if series:
            ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def heatmap_figure(
    rows: Sequence[tuple[str, Mapping[str, float | None]]],
    *,
    title: str = "",
    cbar_label: str = "like rate (% yes)",
    annotate: Mapping[str, Mapping[str, str]] | None = None,
    separator_after: int | None = None,
    ylabel: str = "model",
    width: float = DOUBLE_IN,
) -> Figure:
    """A row x value heatmap (0-100), each cell annotated (its number, or ``annotate``'s text).

    ``separator_after`` draws a line under that many rows (e.g. own models above, the paper's
    approximate reference rows below).
    """
    import numpy as np

    data = np.array(
        [[(r.get(v) if _finite(r.get(v)) else np.nan) for v in VALUE_IDS] for _, r in rows],
        dtype=float,
    ).reshape(len(rows), len(VALUE_IDS))
    with _style():
        fig = _figure(width, max(1.8, 0.9 + 0.28 * max(1, len(rows))))  # room for the scale
        ax = fig.add_subplot()
        img = ax.imshow(np.ma.masked_invalid(data), cmap="viridis", vmin=0, vmax=100, aspect="auto")
        ax.set_xticks(range(len(VALUE_IDS)), [LABEL[v] for v in VALUE_IDS], rotation=30, ha="right")
        ax.set_yticks(range(len(rows)), [name for name, _ in rows])
        for i, (name, _r) in enumerate(rows):
            for j, v in enumerate(VALUE_IDS):
                text = (annotate or {}).get(name, {}).get(v)
                val = data[i, j]
                if text is None:
                    text = "n/a" if math.isnan(val) else f"{val:.0f}"
                ax.text(
                    j,
                    i,
                    text,
                    ha="center",
                    va="center",
                    fontsize=5.5,
                    color="white" if math.isnan(val) or val < 60 else "black",
                )
        if separator_after is not None and 0 < separator_after < len(rows):
            ax.axhline(separator_after - 0.5, color="white", lw=2.5)
        ax.set_xlabel("value")
        ax.set_ylabel(ylabel)
        for s in ("top", "right", "left", "bottom"):
            ax.spines[s].set_visible(False)
        cb = fig.colorbar(img, ax=ax, shrink=0.9, pad=0.01)
        cb.set_label(cbar_label)
        if title:
            ax.set_title(title)
    return fig


@dataclass(frozen=True)
class DriftPanel:
    """One small multiple of the drift figure."""

    title: str
    """Panel title (persona, model)."""
    x: Sequence[float]
    """Window centres (turn)."""
    y: Sequence[float | None]
    """Alignment per window (None: cannot score that window)."""
    low: Sequence[float | None]
    """Band low per window."""
    high: Sequence[float | None]
    """Band high per window."""


def fisher_band(r: float | None, n: int = len(VALUE_IDS)) -> tuple[float | None, float | None]:
    """Approximate 95% interval of a Spearman correlation over ``n`` points (Fisher z, with
    Fieller's standard error 1.03/sqrt(n-3))."""
    if r is None or not math.isfinite(r) or n <= 3:
        return None, None
    z = math.atanh(max(-0.999999, min(0.999999, r)))
    se = 1.03 / math.sqrt(n - 3)
    return math.tanh(z - 1.96 * se), math.tanh(z + 1.96 * se)


def drift_figure(
    panels: Sequence[DriftPanel],
    *,
    threshold: float | None = None,
    ncols: int = 4,
    band: str = "95% Fisher-z band",
    width: float = DOUBLE_IN,
) -> Figure:
    """Alignment across turns, one labelled panel per group (small multiples, shared axes)."""
    ncols = max(1, min(ncols, len(panels)))
    nrows = max(1, math.ceil(len(panels) / ncols))
    with _style():
        fig = _figure(width, 0.55 + 1.15 * nrows)
        axes = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False)
        for idx, ax in enumerate(axes.flat):
            if idx >= len(panels):
                ax.set_visible(False)
                continue
            p = panels[idx]
            xs = list(p.x)
            ys = [math.nan if y is None else y for y in p.y]
            lo = [math.nan if y is None else y for y in p.low]
            hi = [math.nan if y is None else y for y in p.high]
            ax.fill_between(xs, lo, hi, color=PALETTE[0], alpha=0.18, lw=0, label=band)
            # whiskers too: a window between two unscorable ones has no band to fill
            err = [[_num(y - a) for y, a in zip(ys, lo, strict=True)],
                   [_num(b - y) for y, b in zip(ys, hi, strict=True)]]  # fmt: skip
            ax.errorbar(xs, ys, yerr=err, fmt="none", ecolor=PALETTE[0], alpha=0.35, lw=2.5)
            ax.plot(xs, ys, color=PALETTE[0], lw=1.2, marker="o", ms=2.2, label="alignment")
            if threshold is not None:
                ax.axhline(threshold, color="#c0392b", lw=0.7, ls="--", label="drift threshold")
            ax.axhline(0, color="#999", lw=0.5)
            ax.set_title(p.title, fontsize=6)
            ax.set_ylim(-1.05, 1.05)
            ax.set_yticks([-1, 0, 1])
            ax.tick_params(labelsize=6)
        fig.supxlabel("turn (window centre)", fontsize=7.5)
        fig.supylabel("alignment (Spearman, revealed vs target)", fontsize=7.5)
        handles, labels = axes.flat[0].get_legend_handles_labels()
        if handles:
            fig.legend(handles, labels, loc="outside upper center", ncols=len(handles))
    return fig


def steerability_figure(
    rows: Sequence[tuple[str, float | None, Sequence[float]]],
    *,
    reference: Sequence[tuple[str, float]] = (),
    xlabel: str = "like-ratio change, first to last window (pp)",
    ylabel: str = "group",
    width: float = COLUMN_IN,
) -> Figure:
    """Horizontal bars: mean steerability per row, each session as a dot; optional reference
    rows (the paper's figures) drawn hatched below."""
    labels = [r[0] for r in rows] + [f"{name} (paper, approx.)" for name, _ in reference]
    with _style():
        fig = _figure(width, 0.8 + 0.2 * max(1, len(labels)))
        ax = fig.add_subplot()
        ys = list(range(len(labels)))[::-1]
        means = [_num(m) for _, m, _ in rows]
        ax.barh(ys[: len(rows)], means, height=0.6, color=PALETTE[0], label="mean over sessions")
        dots_x = [x for _, _, s in rows for x in s]
        dots_y = [y for y, (_, _, s) in zip(ys, rows, strict=False) for _ in s]
        if dots_x:
            ax.plot(dots_x, dots_y, "o", ms=2.5, color="#222", label="one session")
        if reference:
            ax.barh(
                ys[len(rows) :],
                [v for _, v in reference],
                height=0.6,
                color="white",
                edgecolor=PALETTE[1],
                hatch="///",
                label="paper (approximate)",
            )
        for y, (_, m, _) in zip(ys, rows, strict=False):
            if not _finite(m):
                ax.text(0, y, " n/a", va="center", fontsize=6, color="#777")
        ax.axvline(0, color="#555", lw=0.6)
        ax.set_yticks(ys, labels)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        fig.legend(loc="outside lower center", ncols=3)
    return fig


def save_figure(
    fig: Figure, directory: str | Path, name: str, formats: Sequence[str] = FORMATS, dpi: int = 300
) -> list[Path]:
    """Write ``fig`` as ``directory/name.<fmt>`` for each format; returns the paths."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    with _style():
        for fmt in formats:
            path = out / f"{name}.{fmt}"
            fig.savefig(path, format=fmt, dpi=dpi, metadata=_metadata(fmt))
            paths.append(path)
    return paths


def _metadata(fmt: str) -> dict[str, Any] | None:
    # No creation date: the same report writes byte-identical figures.
    if fmt == "svg":
        return {"Date": None}
    if fmt == "pdf":
        return {"CreationDate": None}
    if fmt == "png":
        return {"Software": None}
    return None


def svg_data_uri(fig: Figure) -> str:
    """``fig`` as an SVG ``data:`` URI (self-contained; its ids cannot clash with the page's)."""
    buf = io.BytesIO()
    with _style():
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def axes_of(fig: Figure) -> list[Axes]:
    """The visible axes of a figure (for checks that every axis is labelled)."""
    return [ax for ax in fig.axes if ax.get_visible()]
