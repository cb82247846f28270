"""The comparison as one self-contained HTML page: the figures (SVG ``data:`` URIs) and the
tables of :class:`~value_spectrum.scoring.compare.Comparison`; no script, nothing fetched."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from value_spectrum.scoring.compare import Comparison
from value_spectrum.scoring.compare_figures import comparison_figures
from value_spectrum.scoring.figures import svg_data_uri
from value_spectrum.scoring.html import _fmt
from value_spectrum.values import VALUE_IDS


def render_comparison_html(cmp: Comparison) -> str:
    """The comparison as one HTML page."""
    env = Environment(
        loader=PackageLoader("value_spectrum.scoring", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = _fmt
    figs = []
    for name, fig in comparison_figures(cmp):
        width = round(float(fig.get_figwidth()) * 110)
        figs.append(
            Markup('<img class="fig" src="{}" alt="{}" style="width: {}px">').format(
                svg_data_uri(fig), name.replace("_", " "), width
            )
        )
    at = {(c.model, c.value): c for c in cmp.like_rates}
    return env.get_template("compare.html.j2").render(
        cmp=cmp, figures=figs, values=VALUE_IDS, at=at
    )


def write_comparison_html(cmp: Comparison, path: str | Path) -> Path:
    """Render ``cmp`` and write it to ``path`` atomically."""
    from value_spectrum.runlog import write_atomic

    out = Path(path)
    write_atomic(out, render_comparison_html(cmp))
    return out
