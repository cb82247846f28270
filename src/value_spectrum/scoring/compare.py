"""Models side by side: the paper's tables for one or more run directories.

:func:`compare_runs` reads each run directory and returns a :class:`Comparison`:

* **like rate** (% yes) per model x value with its 95% Wilson interval: a preference run counts
  yes / (yes + no) per value (abstains apart); a feed run counts likes / decisions by the video's
  primary value, pooled over personas;
* the **revealed profile** per model (MRAT-centred decomposition weights of all its decisions);
* **persona alignment and steerability** per model x strategy (median alignment over its
  persona groups, mean like-ratio change over its sessions);
* **differences between models** per value: Cohen's h and Fisher's exact p, Holm-adjusted over
  every pair x value;
* **paired differences** for runs that showed the same videos turn by turn (a fork and its
  parent; ``--feed replay`` runs on the same corpus and seed): per value and overall, the
  like-rate difference with Newcombe's paired interval and the exact McNemar test
  (:mod:`value_spectrum.scoring.paired`);
* tokens, turns and cost per model; and for preference runs the paper's table (approximate);
* with a human run among them (``humans import``), each model's **agreement with the people**
  per value with intervals, Cohen's kappa and profile correlation
  (:mod:`value_spectrum.scoring.human_agreement`).

A model string that appears in two runs is labelled ``model (run id)``.

Example:
    >>> from value_spectrum.scoring.compare import compare_runs  # doctest: +SKIP
    >>> cmp = compare_runs(["runs/a", "runs/b"])  # doctest: +SKIP
    >>> cmp.like_rates[0].rate  # doctest: +SKIP
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from value_spectrum.records import Trajectory
from value_spectrum.scoring.human_agreement import Agreement, agreement_rows, is_human
from value_spectrum.scoring.pairing import PairedRow, paired_rows
from value_spectrum.scoring.preference import is_preference_run, score_preference
from value_spectrum.scoring.reference import (
    CITATION,
    persona_change_reference,
    preference_reference,
)
from value_spectrum.scoring.report import build_report
from value_spectrum.scoring.report_model import GroupReport, ScoringOptions
from value_spectrum.scoring.revealed import decision_table, revealed_profile
from value_spectrum.scoring.rundir import LabelledVideo, RunData, read_run
from value_spectrum.scoring.stats import (
    cohens_h,
    finite_or_none,
    fisher_exact_p,
    holm,
    nanmedian,
    wilson,
)
from value_spectrum.scoring.usage import UsageRow, usage_rows
from value_spectrum.values import VALUE_IDS, ValueProfile


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LikeRate(_Model):
    """One model x value cell."""

    model: str
    """The model label."""
    value: str
    """The value id."""
    yes: int
    """Likes (yes answers)."""
    n: int
    """Likes + skips (abstains apart)."""
    rate: float | None
    """100 * yes / n; None when n is 0."""
    low: float | None
    """95% Wilson interval, low (%)."""
    high: float | None
    """95% Wilson interval, high (%)."""


class ModelProfile(_Model):
    """The revealed profile of one model, all its decisions pooled."""

    model: str
    """The model label."""
    kind: str
    """'feed' or 'preference'."""
    runs: list[str]
    """Run ids it comes from."""
    n_decisions: int
    """Labelled like/skip decisions."""
    revealed: dict[str, float] | None
    """Value id -> centred weight (logit units); None with ``reason``."""
    reason: str
    """Why ``revealed`` is None."""
    abstain: int
    """Refused + unparseable + error turns."""


class SteerRow(_Model):
    """Persona alignment and steerability of one model under one prompt strategy."""

    model: str
    """The model label."""
    strategy: str
    """Prompt strategy."""
    groups: int
    """Persona groups."""
    sessions: int
    """Sessions."""
    median_alignment: float | None
    """Median over groups of the Spearman alignment with the target."""
    steerability_pp: float | None
    """Mean over sessions of the like-ratio change, first to last window (pp)."""
    session_steerability_pp: list[float]
    """Each session's change (pp)."""
    steerability_rel_pct: float | None
    """Mean over groups of the relative change (%), the paper's unit."""


class Difference(_Model):
    """Like rate of two models on one value."""

    value: str
    """The value id."""
    model_a: str
    """First model."""
    model_b: str
    """Second model."""
    rate_a: float | None
    """% yes of ``model_a``."""
    rate_b: float | None
    """% yes of ``model_b``."""
    cohens_h: float | None
    """Cohen's h (a minus b); |h| 0.2 small, 0.5 medium, 0.8 large."""
    p: float | None
    """Two-sided Fisher exact p."""
    p_holm: float | None
    """Holm-adjusted over every pair x value of the comparison."""


class Comparison(_Model):
    """Models side by side."""

    runs: list[dict[str, str]]
    """Per run: run_dir, run_id, kind."""
    models: list[str]
    """Model labels, in order."""
    like_rates: list[LikeRate]
    """Model x value."""
    profiles: list[ModelProfile]
    """Per model."""
    steerability: list[SteerRow]
    """Per model x strategy (feed runs)."""
    differences: list[Difference]
    """Per pair of models x value."""
    usage: list[UsageRow]
    """Per model, then 'all'."""
    reference: dict[str, dict[str, float]]
    """The paper's preference table (model -> value -> % yes), when a run is a preference run;
    approximate, read from the paper's figures."""
    reference_steerability: list[dict[str, str | float]]
    """The paper's persona table (model, strategy, platform, like-ratio change %), for the
    strategies compared; approximate."""
    citation: str
    """Where the reference numbers come from."""
    human_agreement: list[Agreement] = []
    """Per model x human run x value (``all`` first): agreement of video verdicts with the
    people's, when a human run is compared."""
    paired: list[PairedRow] = []
    """Per pair of paired runs x value (``all`` first): paired like-rate differences (b - a)."""


def _labels(runs: Sequence[RunData]) -> dict[tuple[int, str], str]:
    """(run index, model) -> label; the run id is added when a model string repeats."""
    seen: dict[str, int] = defaultdict(int)
    for r in runs:
        for m in {t.model for t in r.sessions}:
            seen[m] += 1
    out = {}
    for i, r in enumerate(runs):
        rid = r.manifest.run_id if r.manifest is not None else r.path.name
        for m in sorted({t.model for t in r.sessions}):
            out[(i, m)] = m if seen[m] == 1 else f"{m} ({rid})"
    return out


def _pct(x: float) -> float | None:
    return None if not math.isfinite(x) else round(100 * x, 3)


def _cell(model: str, value: str, yes: int, n: int) -> LikeRate:
    p = wilson(yes, n)
    pct = _pct
    return LikeRate(
        model=model, value=value, yes=yes, n=n, rate=pct(p.rate), low=pct(p.low), high=pct(p.high)
    )


def compare_runs(
    run_dirs: Sequence[str | Path], options: ScoringOptions | None = None
) -> Comparison:
    """Read each run directory and put its models side by side.

    Raises:
        RunDirError: a directory is not a run directory.
        ValueError: no run directory given.
    """
    if not run_dirs:
        raise ValueError("compare needs at least one run directory")
    opts = options or ScoringOptions(n_boot=0)
    runs = [read_run(d) for d in run_dirs]
    labels = _labels(runs)
    like_rates: list[LikeRate] = []
    profiles: list[ModelProfile] = []
    steer: list[SteerRow] = []
    all_sessions: list[Trajectory] = []
    merged_labels: dict[str, LabelledVideo] = {}
    run_info = []
    pref_any = False
    strategies: set[str] = set()
    per_video: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
    revealed: dict[str, ValueProfile | None] = {}
    for i, run in enumerate(runs):
        config = run.manifest.config if run.manifest is not None else {}
        pref = is_preference_run(run.sessions, config)
        pref_any |= pref
        rid = run.manifest.run_id if run.manifest is not None else run.path.name
        run_info.append(
            {"run_dir": str(run.path), "run_id": rid, "kind": "preference" if pref else "feed"}
        )
        merged_labels.update(run.labels)
        all_sessions += [t.model_copy(update={"model": labels[(i, t.model)]}) for t in run.sessions]
        by_model: dict[str, list[Trajectory]] = defaultdict(list)
        for t in run.sessions:
            by_model[t.model].append(t)
        for model, trajs in sorted(by_model.items()):
            label = labels[(i, model)]
            table = decision_table(trajs, run.labels)
            rev = revealed_profile(
                table, l2=opts.l2, circle_prior=opts.circle_prior, min_decisions=opts.min_decisions
            )
            abstain = sum(
                1 for t in trajs for s in t.steps if s.outcome.value not in ("like", "skip")
            )
            if pref:
                ps = score_preference(trajs, run.labels, model=label)
                counts = {v: (ps.yes[v], ps.yes[v] + ps.no[v]) for v in VALUE_IDS}
            else:
                counts = {v: rev.like_counts.get(v, (0, 0)) for v in VALUE_IDS}
            like_rates += [_cell(label, v, *counts[v]) for v in VALUE_IDS]
            revealed[label] = rev.profile
            for t in trajs:
                for st in t.steps:
                    if st.outcome.value in ("like", "skip"):
                        k, n = per_video[label].get(st.video_id, (0, 0))
                        per_video[label][st.video_id] = (k + (st.outcome.value == "like"), n + 1)
            profiles.append(
                ModelProfile(
                    model=label,
                    kind="preference" if pref else "feed",
                    runs=[rid],
                    n_decisions=rev.n_decisions,
                    revealed=None
                    if rev.profile is None
                    else {k: round(x, 6) for k, x in rev.profile.as_dict().items()},
                    reason=rev.reason,
                    abstain=abstain,
                )
            )
        if not pref:
            steer += _steer_rows(run, i, labels, opts)
            strategies |= {t.strategy for t in run.sessions}
    models = [p.model for p in profiles]
    return Comparison(
        runs=run_info,
        models=models,
        like_rates=like_rates,
        profiles=profiles,
        steerability=steer,
        differences=_differences(models, like_rates),
        usage=usage_rows([t for t in all_sessions if not is_human(t.model)], merged_labels),
        reference=preference_reference() if pref_any else {},
        reference_steerability=[
            r for r in persona_change_reference() if r["strategy"] in strategies
        ],
        citation=CITATION,
        human_agreement=agreement_rows(
            per_video, {v: lab.primary_value for v, lab in merged_labels.items()}, revealed
        ),
        paired=paired_rows(runs),
    )


def _steer_rows(
    run: RunData, i: int, labels: dict[tuple[int, str], str], opts: ScoringOptions
) -> list[SteerRow]:
    rep = build_report(run.path, opts)
    cells: dict[tuple[str, str], list[GroupReport]] = defaultdict(list)
    for g in rep.groups:
        cells[(g.model, "+".join(g.strategies))].append(g)
    rows = []
    for (model, strategy), gs in sorted(cells.items()):
        per_session = [
            s.steerability_pp for g in gs for s in g.sessions if s.steerability_pp is not None
        ]
        rel = [g.steerability_rel_pct for g in gs if g.steerability_rel_pct is not None]
        rows.append(
            SteerRow(
                model=labels[(i, model)],
                strategy=strategy,
                groups=len(gs),
                sessions=sum(g.n_sessions for g in gs),
                median_alignment=nanmedian([g.alignment for g in gs]),
                steerability_pp=finite_or_none(sum(per_session) / len(per_session))
                if per_session
                else None,
                session_steerability_pp=[round(x, 3) for x in per_session],
                steerability_rel_pct=finite_or_none(sum(rel) / len(rel)) if rel else None,
            )
        )
    return rows


def _differences(models: Sequence[str], cells: Sequence[LikeRate]) -> list[Difference]:
    at = {(c.model, c.value): c for c in cells}
    raw: list[tuple[str, str, str, float, float]] = []
    for a, b in itertools.combinations(models, 2):
        for v in VALUE_IDS:
            ca, cb = at[(a, v)], at[(b, v)]
            h = cohens_h(ca.yes / ca.n, cb.yes / cb.n) if ca.n and cb.n else math.nan
            raw.append((v, a, b, h, fisher_exact_p(ca.yes, ca.n, cb.yes, cb.n)))
    adjusted = holm([p for *_, p in raw])
    return [
        Difference(
            value=v,
            model_a=a,
            model_b=b,
            rate_a=at[(a, v)].rate,
            rate_b=at[(b, v)].rate,
            cohens_h=None if math.isnan(h) else round(h, 4),
            p=finite_or_none(p),
            p_holm=finite_or_none(q),
        )
        for (v, a, b, h, p), q in zip(raw, adjusted, strict=True)
    ]
