"""Terminal tables (rich) of a model comparison, laid out to fit 80 columns: the model x value
table is split into several tables of a few models each rather than dropping its intervals."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from value_spectrum.scoring.compare import Comparison
from value_spectrum.scoring.usage import UsageRow
from value_spectrum.values import VALUE_IDS

CELL = 17
"""Columns one model's cell takes ("62 [51-72] 80")."""


def _f(x: Any, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "[dim]n/a[/]"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def _chunks(items: Sequence[str], size: int) -> list[list[str]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)] or [[]]


def _table(title: str, columns: Sequence[str], *, left: Sequence[str] = ()) -> Table:
    """A report table: the ``left`` columns left-aligned, the others right-aligned, all folded."""
    t = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    for col in columns:
        t.add_column(col, justify="left" if col in left else "right", overflow="fold")
    return t


def like_rate_tables(cmp: Comparison, *, width: int = 80) -> list[Table]:
    """Value x model: % yes with its 95% Wilson interval and n; as many tables as needed so
    that each fits ``width`` columns; the paper's mean and range (approximate) in the last."""
    ref = list(cmp.reference.values())
    per = max(1, (width - 16 - (14 if ref else 0)) // CELL)
    at = {(c.model, c.value): c for c in cmp.like_rates}
    tables = []
    chunks = _chunks(cmp.models, per)
    for k, models in enumerate(chunks):
        t = Table(
            title="% yes per value [95% Wilson interval] n"
            + (f" ({k + 1}/{len(chunks)})" if len(chunks) > 1 else ""),
            box=box.SIMPLE_HEAD,
            pad_edge=False,
            collapse_padding=True,
        )
        t.add_column("value", no_wrap=True)
        for m in models:
            t.add_column(m, justify="right", overflow="fold")
        last = k == len(chunks) - 1
        if ref and last:
            t.add_column("paper mean (range)", justify="right", overflow="fold")
        for v in VALUE_IDS:
            row = [v]
            for m in models:
                c = at[(m, v)]
                row.append(
                    "[dim]n/a[/]"
                    if c.rate is None
                    else f"{c.rate:.0f} [dim][{c.low:.0f}-{c.high:.0f}][/] {c.n}"
                )
            if ref and last:
                xs = [r[v] for r in ref]
                row.append(f"{sum(xs) / len(xs):.0f} [dim][{min(xs):.0f}-{max(xs):.0f}][/]")
            t.add_row(*row)
        tables.append(t)
    return tables


def profile_table(cmp: Comparison) -> Table:
    """Revealed (centred) profile per model, values as rows."""
    t = Table(title="Revealed profile (centred logit weights)", box=box.SIMPLE_HEAD, pad_edge=False)
    t.add_column("value", no_wrap=True)
    for p in cmp.profiles:
        t.add_column(p.model, justify="right", overflow="fold")
    for v in VALUE_IDS:
        t.add_row(v, *[_f(None if p.revealed is None else p.revealed[v]) for p in cmp.profiles])
    t.add_row(
        "[dim]decisions[/]", *[str(p.n_decisions) for p in cmp.profiles]
    )
    return t


def steer_table(cmp: Comparison) -> Table | None:
    """Alignment and steerability per model x strategy."""
    if not cmp.steerability:
        return None
    t = _table("Persona alignment and steerability",
               ("model", "strategy", "groups", "sessions", "align", "steer pp", "steer %"), left=("model", "strategy"))
    for s in cmp.steerability:
        t.add_row(
            s.model,
            s.strategy,
            str(s.groups),
            str(s.sessions),
            _f(s.median_alignment),
            _f(s.steerability_pp, 1),
            _f(s.steerability_rel_pct, 1),
        )
    return t


def difference_table(cmp: Comparison, *, top: int = 10) -> Table | None:
    """The largest differences between models by |Cohen's h|, with Holm-adjusted p."""
    diffs = [d for d in cmp.differences if d.cohens_h is not None]
    if not diffs:
        return None
    diffs.sort(key=lambda d: -abs(d.cohens_h or 0.0))
    t = _table(f"Largest differences (of {len(cmp.differences)}; all in --json)",
               ("value", "models (a vs b)", "% a", "% b", "h", "p Holm"), left=("value", "models (a vs b)"))
    for d in diffs[:top]:
        t.add_row(
            d.value,
            f"{d.model_a} vs {d.model_b}",
            _f(d.rate_a, 0),
            _f(d.rate_b, 0),
            _f(d.cohens_h),
            _f(d.p_holm, 3),
        )
    return t


def paired_tables(cmp: Comparison) -> list[Table]:
    """Per pair of paired runs: the paired like-rate difference per value (b - a, pp) with its
    Newcombe interval and the exact McNemar p (Holm over values); overall also the
    cluster-robust interval by session."""
    groups: dict[tuple[str, str], list[Any]] = {}
    for r in cmp.paired:
        groups.setdefault((r.run_a, r.run_b), []).append(r)
    tables = []
    for (a, b), rows in groups.items():
        first = rows[0]
        turns = f"turns {first.from_turn}+" if first.from_turn else "every turn"
        t = Table(
            title=f"Paired differences, {b} - {a} ({first.design}: {first.changed}; {turns}, "
            f"{first.sessions} session pair(s))",
            box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True,
        )
        t.add_column("value", no_wrap=True)
        for col in ("pairs", "% a", "% b", "b-a pp", "95% paired CI", "a/b only", "p McNemar", "p Holm"):
            t.add_column(col, justify="right", overflow="fold")
        for r in rows:
            t.add_row(
                r.value, str(r.pairs), _f(r.rate_a, 0), _f(r.rate_b, 0),
                _f(r.diff_pp, 1), f"{_f(r.low_pp, 0)}..{_f(r.high_pp, 0)}",
                f"{r.only_a}/{r.only_b}", _f(r.p_mcnemar, 3), _f(r.p_holm, 3),
            )
        if first.cluster_low_pp is not None:
            t.caption = (f"overall, cluster-robust by session: [{_f(first.cluster_low_pp, 1)}, "
                         f"{_f(first.cluster_high_pp, 1)}] pp, p {_f(first.p_cluster, 3)}")
        tables.append(t)
    return tables


def usage_table(rows: Sequence[UsageRow], *, title: str = "Usage") -> Table | None:
    """Turns, tokens, images, retries, repairs and cost per model and in all."""
    if not rows:
        return None
    t = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    t.add_column("", no_wrap=True, min_width=min(30, max(len(r.model) for r in rows)))
    for col in ("turns", "model", "cache", "tok in", "tok out", "img", "retry", "repair", "USD"):
        t.add_column(col, justify="right", overflow="fold")
    for r in rows:
        t.add_row(
            f"[bold]{r.model}[/]" if r.model == "all" else r.model,
            str(r.turns),
            str(r.model_turns + r.probe_answers),
            str(r.cached_turns),
            str(r.prompt_tokens),
            str(r.completion_tokens),
            _f(r.images_sent),
            _f(r.retries),
            _f(r.repairs),
            f"{r.cost_usd:.4f}",
        )
    return t


def human_table(cmp: Comparison) -> Table | None:
    """Each model's agreement with the people (video verdicts), overall and per value."""
    if not cmp.human_agreement:
        return None
    t = _table("Agreement with people (video verdicts, 95% Wilson)",
               ("model", "value", "videos", "agree %", "95% CI", "kappa", "rho"), left=("model", "value"))
    for a in cmp.human_agreement:
        if a.videos == 0:
            continue
        label = a.model if a.human == "human" else f"{a.model} vs {a.human}"
        t.add_row(label, a.value, str(a.videos), _f(a.rate, 1), f"{_f(a.low, 0)}-{_f(a.high, 0)}",
                  _f(a.kappa) if a.value == "all" else "", _f(a.profile_spearman) if a.value == "all" else "")
    return t


def comparison_renderables(cmp: Comparison, *, width: int = 80) -> RenderableType:
    """Everything ``compare`` prints, for a terminal ``width`` columns wide."""
    parts: list[RenderableType] = [
        Text("Runs: " + ", ".join(f"{r['run_id']} ({r['kind']})" for r in cmp.runs), style="bold")
    ]
    parts += like_rate_tables(cmp, width=width)
    if cmp.reference:
        parts.append(Text("paper: " + cmp.citation, style="dim"))
    parts.append(profile_table(cmp))
    parts += paired_tables(cmp)
    for t in (steer_table(cmp), difference_table(cmp), human_table(cmp), usage_table(cmp.usage)):
        if t is not None:
            parts.append(t)
    parts.append(
        Text(
            "h: Cohen's h (0.2 small, 0.5 medium, 0.8 large); p Holm: Fisher exact, Holm-adjusted "
            "over every pair x value; paired CI: Newcombe's hybrid score interval for paired "
            "proportions, McNemar exact, Holm over the values of a run pair; steer pp: like-ratio change first to last window; "
            "usage: turns asked, turns a model answered (+ questionnaire answers), from cache",
            style="dim",
        )
    )
    return Group(*parts)
