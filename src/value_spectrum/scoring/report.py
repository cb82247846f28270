"""The report model: every number a report shows, recomputed from a run directory alone.

:func:`build_report` reads a run directory and returns a :class:`Report` (a frozen pydantic
model; ``report.model_dump(mode="json")`` is what ``value-spectrum report --json`` prints). One
:class:`GroupReport` per persona x model pools that pair's sessions. A metric that cannot be
computed is ``None`` with a ``*_reason`` field, never a zero.

Example:
    >>> from value_spectrum.scoring.report import build_report  # doctest: +SKIP
    >>> rep = build_report("runs/demo")  # doctest: +SKIP
    >>> rep.summary.median_alignment  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from value_spectrum.records import Outcome, Trajectory
from value_spectrum.scoring.alignment import STEER_WINDOW, align, steerability
from value_spectrum.scoring.consistency import DRIFT_THRESHOLD, auto_window, consistency
from value_spectrum.scoring.preference import is_preference_run, score_preference
from value_spectrum.scoring.questionnaire import (
    mean_stated,
    probe_stability,
    score_probe,
    stated_revealed_gap,
)
from value_spectrum.scoring.reference import CITATION, preference_reference
from value_spectrum.scoring.revealed import (
    DEFAULT_CIRCLE_PRIOR,
    MIN_DECISIONS,
    decision_table,
    revealed_profile,
)
from value_spectrum.scoring.rundir import LabelledVideo, RunData, injected_profile, read_run
from value_spectrum.scoring.stats import DEFAULT_L2, finite_or_none, nanmedian
from value_spectrum.values import VALUE_IDS, ValueProfile

REFERENCE_MODEL = "reference"
"""The model string of the reference viewer, whose injected profile is known."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ScoringOptions(_Model):
    """How the report was computed (recorded in it)."""

    window: int | None = None
    """Turns per consistency window; None picks one per group with
    :func:`~value_spectrum.scoring.consistency.auto_window` (about three windows a session)."""
    drift_threshold: float = DRIFT_THRESHOLD
    """Alignment below which a window counts as drifted."""
    steer_window: int = STEER_WINDOW
    """Decisions at each end for steerability."""
    min_decisions: int = MIN_DECISIONS
    """Fewest decisions a profile is fitted on."""
    l2: float = DEFAULT_L2
    """Ridge strength of the decomposition."""
    circle_prior: float = DEFAULT_CIRCLE_PRIOR
    """Strength of the value-circle smoothness prior (0: plain ridge)."""
    n_boot: int = 200
    """Bootstrap resamples (0: no intervals)."""
    seed: int = 0
    """Seed of the bootstrap."""


class SessionSummary(_Model):
    """One session, scored on its own."""

    session_id: str
    """The session."""
    status: str
    """How it ended."""
    n_decisions: int
    """Labelled like/skip decisions."""
    outcomes: dict[str, int]
    """Outcome -> count."""
    revealed: dict[str, float] | None
    """Centred decomposition weights, or None."""
    revealed_reason: str
    """Why ``revealed`` is None."""
    alignment: float | None
    """Spearman with the target."""
    steerability_pp: float | None
    """Like-ratio change, percentage points, first to last window."""
    steerability_window: int
    """Decisions per end."""
    steerability_reason: str
    """Why it is None."""


class GroupReport(_Model):
    """One persona x model, its sessions pooled."""

    persona_id: str
    """The persona."""
    persona_name: str
    """Its display name."""
    model: str
    """The model string."""
    strategies: list[str]
    """Prompt strategies among the sessions."""
    modalities: list[str]
    """Modalities among the sessions."""
    n_sessions: int
    """Sessions pooled."""
    n_decisions: int
    """Labelled like/skip decisions."""
    unlabelled: int
    """Like/skip decisions on videos without labels (not scored)."""
    outcomes: dict[str, int]
    """Outcome -> count, every outcome present (like, skip, unparseable, refused, error)."""
    like_rate_overall: float | None
    """% likes over all decisions."""
    like_rate: dict[str, float | None]
    """Value id -> % likes among decisions on videos of that primary value (the paper's score)."""
    like_counts: dict[str, list[int]]
    """Value id -> [likes, decisions]."""
    target: dict[str, float] | None
    """The persona's target profile (0-1), when known."""
    revealed: dict[str, float] | None
    """Value id -> MRAT-centred decomposition weight (logit units); None when it cannot be scored."""
    revealed_reason: str
    """Why ``revealed`` is None ('' otherwise)."""
    revealed_ci: dict[str, list[float | None]] | None
    """Value id -> [low, high] 95% bootstrap interval."""
    ci_unit: str | None
    """What the bootstrap resampled: sessions, or decisions when there was one session."""
    alignment: float | None
    """Spearman between centred revealed and target; None with ``alignment_reason``."""
    alignment_reason: str
    """Why ``alignment`` is None."""
    alignment_ci: list[float | None] | None
    """[low, high] bootstrap interval of ``alignment``."""
    pearson: float | None
    """Pearson between centred revealed and target."""
    top3_overlap: int | None
    """Shared values among the two top-3 sets (0-3)."""
    circle_distance_deg: float | None
    """Angle between circular mean directions of revealed and target (0-180)."""
    recovery: float | None
    """Reference viewer only: Spearman between the recovered and the injected profile."""
    recovery_reason: str
    """Why ``recovery`` is None."""
    steerability_pp: float | None
    """Mean over sessions of the like-ratio change (percentage points), first to last window."""
    steerability_rel_pct: float | None
    """Mean over sessions of the relative like-ratio change (%)."""
    consistency: dict[str, Any]
    """Windows (start, end, n, like_rate, alignment), stability, drift slope per 100 turns,
    time to drift, threshold, reason. Sessions are pooled by turn."""
    stated: dict[str, Any] | None
    """Questionnaire probes: per probe centred profile, stability across probes, the mean stated
    profile, its alignment and the stated-vs-revealed gap. None without probes."""
    sessions: list[SessionSummary]
    """Each session scored alone."""


class Example(_Model):
    """One decision shown in the HTML report."""

    session_id: str
    """Session."""
    persona_id: str
    """Persona."""
    model: str
    """Model."""
    turn: int
    """Turn."""
    video_id: str
    """Video."""
    title: str
    """Its title."""
    primary_value: str | None
    """Its primary value."""
    outcome: str
    """like | skip | unparseable | refused | error."""
    reason: str
    """The model's reason, or the error, or the raw reply."""
    keyframe: str | None
    """Absolute path of its first keyframe, when known."""


class PreferenceReport(_Model):
    """The paper's preference benchmark for one model."""

    model: str
    """The model."""
    scores: dict[str, float | None]
    """Value id -> % yes among yes + no."""
    pct_of_all: dict[str, float | None]
    """Value id -> % yes among all items (abstains as not-yes)."""
    yes: dict[str, int]
    """Likes per value."""
    no: dict[str, int]
    """Skips per value."""
    abstain: dict[str, int]
    """Refused + unparseable + error per value."""
    n: dict[str, int]
    """Items per value."""
    mean: float | None
    """Mean of the scores."""
    sd: float | None
    """Sample SD of the scores."""


class Summary(_Model):
    """Run-wide figures."""

    n_groups: int
    """Persona x model groups."""
    n_sessions: int
    """Sessions read."""
    n_decisions: int
    """Labelled like/skip decisions."""
    outcomes: dict[str, int]
    """Outcome -> count over the run."""
    median_alignment: float | None
    """Median alignment over the groups that could be scored."""
    median_recovery: float | None
    """Median recovery over reference-viewer groups."""
    scored_groups: int
    """Groups with a revealed profile."""
    cannot_score_groups: int
    """Groups without one."""


class Report(_Model):
    """A whole report."""

    run_dir: str
    """Where it was read from."""
    run_id: str
    """The manifest's run id (the directory name when there is no manifest)."""
    created: str
    """When the run started."""
    kind: str
    """'feed' or 'preference'."""
    models: list[str]
    """Models in the run."""
    corpus: dict[str, Any]
    """Corpus provenance from the manifest."""
    labels_available: bool
    """Whether the run directory has video labels (without them nothing can be scored)."""
    options: ScoringOptions
    """How it was scored."""
    summary: Summary
    """Run-wide figures."""
    groups: list[GroupReport]
    """One per persona x model."""
    preference: list[PreferenceReport]
    """Per model, for a preference run."""
    reference: dict[str, dict[str, float]]
    """The paper's preference table (model -> value -> % yes), for a preference run."""
    citation: str
    """Where the reference numbers come from."""
    examples: list[Example]
    """Decisions to show in the HTML report."""
    problems: list[str]
    """Files that could not be read."""


def _rounded(d: Mapping[str, float | None], nd: int = 6) -> dict[str, float | None]:
    return {
        k: (None if v is None or not math.isfinite(v) else round(float(v), nd))
        for k, v in d.items()
    }


def _profile_dict(p: ValueProfile | None) -> dict[str, float] | None:
    return None if p is None else {k: round(v, 6) for k, v in p.as_dict().items()}


def _session_summary(
    traj: Trajectory,
    labels: Mapping[str, LabelledVideo],
    target: ValueProfile | None,
    opts: ScoringOptions,
) -> SessionSummary:
    table = decision_table([traj], labels)
    rev = revealed_profile(
        table, l2=opts.l2, circle_prior=opts.circle_prior, min_decisions=opts.min_decisions
    )
    al = align(rev.profile, target, reason=rev.reason)
    st = steerability(traj.steps, window=opts.steer_window)
    return SessionSummary(
        session_id=traj.session_id,
        status=traj.status,
        n_decisions=rev.n_decisions,
        outcomes=traj.outcome_counts(),
        revealed=_profile_dict(rev.profile),
        revealed_reason=rev.reason,
        alignment=finite_or_none(al.spearman),
        steerability_pp=finite_or_none(st.change_pp),
        steerability_window=st.window,
        steerability_reason=st.reason,
    )


def _stated(
    trajs: Sequence[Trajectory], revealed: ValueProfile | None, target: ValueProfile | None
) -> dict[str, Any] | None:
    probes = [p for t in trajs for p in t.probes]
    if not probes:
        return None
    scored = [score_probe(p) for p in sorted(probes, key=lambda p: p.after_turn)]
    stability, stab_reason = probe_stability(scored)
    mean = mean_stated(scored)
    gap = stated_revealed_gap(mean, revealed)
    al = align(mean, target)
    return {
        "probes": [
            {
                "after_turn": s.after_turn,
                "centred": _profile_dict(s.centred),
                "raw": _rounded(s.raw),
                "mrat": finite_or_none(s.mrat),
                "answered": s.answered,
                "unanswered": s.unanswered,
                "reason": s.reason,
            }
            for s in scored
        ],
        "stability": finite_or_none(stability),
        "stability_reason": stab_reason,
        "mean": _profile_dict(mean),
        "alignment": finite_or_none(al.spearman),
        "gap_spearman": finite_or_none(gap.spearman),
        "gap_difference": None if gap.difference is None else _rounded(gap.difference),
        "gap_reason": gap.reason,
    }


def score_group(
    persona_id: str,
    model: str,
    trajs: Sequence[Trajectory],
    run: RunData,
    opts: ScoringOptions,
) -> GroupReport:
    """Score one persona x model group of sessions."""
    target = run.targets.get(persona_id)
    table = decision_table(trajs, run.labels)
    rev = revealed_profile(
        table,
        l2=opts.l2,
        circle_prior=opts.circle_prior,
        min_decisions=opts.min_decisions,
        n_boot=opts.n_boot,
        seed=opts.seed,
        target=target,
    )
    reason = rev.reason
    if not run.labels:
        reason = "no value labels in the run directory (labels.json missing)"
    elif rev.n_decisions == 0 and table.unlabelled:
        reason = f"none of the {table.unlabelled} decided videos has value labels"
    al = align(rev.profile, target, reason=reason)
    injected = next((p for p in (injected_profile(t) for t in trajs) if p is not None), None)
    if injected is None and model == REFERENCE_MODEL:
        injected = target
    recovery, rec_reason = None, ""
    if injected is None:
        rec_reason = "not a reference-viewer group (no injected profile)"
    elif rev.profile is None:
        rec_reason = reason
    else:
        recovery = finite_or_none(align(rev.profile, injected).spearman)
        rec_reason = "" if recovery is not None else "correlation undefined (flat profile)"
    steer = [steerability(t.steps, window=opts.steer_window) for t in trajs]
    pp = [s.change_pp for s in steer if math.isfinite(s.change_pp)]
    rel = [s.change_rel_pct for s in steer if math.isfinite(s.change_rel_pct)]
    cons = consistency(
        table,
        target,
        window=opts.window or auto_window(max((len(t.steps) for t in trajs), default=0)),
        threshold=opts.drift_threshold,
        l2=opts.l2,
        circle_prior=opts.circle_prior,
        min_decisions=opts.min_decisions,
    )
    ci = None
    if rev.ci is not None:
        ci = {
            v: [finite_or_none(lo), finite_or_none(hi)]
            for v, lo, hi in zip(VALUE_IDS, rev.ci.low, rev.ci.high, strict=True)
        }
    return GroupReport(
        persona_id=persona_id,
        persona_name=run.persona_names.get(persona_id, persona_id),
        model=model,
        strategies=sorted({t.strategy for t in trajs}),
        modalities=sorted({t.modality for t in trajs}),
        n_sessions=len(trajs),
        n_decisions=rev.n_decisions,
        unlabelled=table.unlabelled,
        outcomes=table.outcomes,
        like_rate_overall=finite_or_none(rev.overall_like_rate),
        like_rate=_rounded(rev.like_rate, 3),
        like_counts={v: list(c) for v, c in rev.like_counts.items()},
        target=_profile_dict(target),
        revealed=_profile_dict(rev.profile),
        revealed_reason=reason,
        revealed_ci=ci,
        ci_unit=None if rev.ci is None else rev.ci.unit,
        alignment=finite_or_none(al.spearman),
        alignment_reason=al.reason,
        alignment_ci=None
        if rev.alignment_ci is None
        else [finite_or_none(x) for x in rev.alignment_ci],
        pearson=finite_or_none(al.pearson),
        top3_overlap=None if rev.profile is None or target is None else al.top3_overlap,
        circle_distance_deg=finite_or_none(al.circle_distance_deg),
        recovery=recovery,
        recovery_reason=rec_reason,
        steerability_pp=float(sum(pp) / len(pp)) if pp else None,
        steerability_rel_pct=float(sum(rel) / len(rel)) if rel else None,
        consistency={
            "window": cons.window,
            "windows": [
                {
                    "start": w.start,
                    "end": w.end,
                    "n": w.n_decisions,
                    "like_rate": finite_or_none(w.like_rate),
                    "alignment": finite_or_none(w.alignment),
                    "reason": w.reason,
                }
                for w in cons.windows
            ],
            "stability": finite_or_none(cons.stability),
            "drift_slope_per_100": finite_or_none(cons.drift_slope),
            "time_to_drift": cons.time_to_drift,
            "threshold": cons.threshold,
            "reason": cons.reason,
        },
        stated=_stated(trajs, rev.profile, target),
        sessions=[_session_summary(t, run.labels, target, opts) for t in trajs],
    )


def _examples(
    sessions: Sequence[Trajectory], labels: Mapping[str, LabelledVideo], limit: int
) -> list[Example]:
    """Failures first (every kind), then alternating likes and skips, spread over sessions."""
    picked: list[tuple[Trajectory, Any]] = []
    by_outcome: dict[Outcome, list[tuple[Trajectory, Any]]] = defaultdict(list)
    for t in sessions:
        for s in t.steps:
            by_outcome[s.outcome].append((t, s))
    for o in (Outcome.ERROR, Outcome.REFUSED, Outcome.UNPARSEABLE):
        picked += by_outcome[o][:2]
    likes, skips = by_outcome[Outcome.LIKE], by_outcome[Outcome.SKIP]
    stride = max(1, (len(likes) + len(skips)) // max(1, limit))
    for i in range(0, max(len(likes), len(skips)), stride):
        for pool in (likes, skips):
            if i < len(pool) and len(picked) < limit:
                picked.append(pool[i])
    out = []
    for t, s in picked[:limit]:
        lab = labels.get(s.video_id)
        reason = (
            s.decision.reason
            if s.decision is not None and s.decision.reason
            else (s.error or s.raw)
        )
        out.append(
            Example(
                session_id=t.session_id,
                persona_id=t.persona_id,
                model=t.model,
                turn=s.turn,
                video_id=s.video_id,
                title=lab.title if lab else "",
                primary_value=lab.primary_value if lab else None,
                outcome=s.outcome.value,
                reason=reason[:500],
                keyframe=lab.keyframes[0] if lab and lab.keyframes else None,
            )
        )
    return out


def build_report(
    run_dir: str | Path,
    options: ScoringOptions | None = None,
    *,
    examples: int = 12,
    labels: Mapping[str, LabelledVideo] | None = None,
) -> Report:
    """Read ``run_dir`` and score everything in it.

    ``labels`` is used only when the run directory has no ``labels.json`` (e.g. the caller
    reopened the corpus named in the manifest and checked its content hash).

    Raises:
        RunDirError: the directory is not a run directory or a side file is malformed.
    """
    opts = options or ScoringOptions()
    run = read_run(run_dir)
    if not run.labels and labels:
        run = replace(run, labels=dict(labels))
    groups: dict[tuple[str, str], list[Trajectory]] = defaultdict(list)
    for t in run.sessions:
        groups[(t.persona_id, t.model)].append(t)
    reports = [
        score_group(pid, model, trajs, run, opts) for (pid, model), trajs in sorted(groups.items())
    ]
    config = run.manifest.config if run.manifest is not None else {}
    pref_run = is_preference_run(run.sessions, config)
    prefs: list[PreferenceReport] = []
    if pref_run:
        by_model: dict[str, list[Trajectory]] = defaultdict(list)
        for t in run.sessions:
            by_model[t.model].append(t)
        for model, trajs in sorted(by_model.items()):
            ps = score_preference(trajs, run.labels, model=model)
            prefs.append(
                PreferenceReport(
                    model=model,
                    scores=_rounded(ps.scores, 3),
                    pct_of_all=_rounded(ps.pct_of_all, 3),
                    yes=ps.yes,
                    no=ps.no,
                    abstain=ps.abstain,
                    n=ps.n,
                    mean=finite_or_none(ps.mean),
                    sd=finite_or_none(ps.sd),
                )
            )
    totals = {o.value: 0 for o in Outcome}
    for g in reports:
        for k, v in g.outcomes.items():
            totals[k] += v
    summary = Summary(
        n_groups=len(reports),
        n_sessions=len(run.sessions),
        n_decisions=sum(g.n_decisions for g in reports),
        outcomes=totals,
        median_alignment=nanmedian([g.alignment for g in reports]),
        median_recovery=nanmedian([g.recovery for g in reports]),
        scored_groups=sum(g.revealed is not None for g in reports),
        cannot_score_groups=sum(g.revealed is None for g in reports),
    )
    m = run.manifest
    return Report(
        run_dir=str(run.path),
        run_id=m.run_id if m is not None else run.path.name,
        created=m.created if m is not None else "",
        kind="preference" if pref_run else "feed",
        models=sorted({t.model for t in run.sessions}),
        corpus=dict(m.corpus) if m is not None else {},
        labels_available=bool(run.labels),
        options=opts,
        summary=summary,
        groups=reports,
        preference=prefs,
        reference=preference_reference() if pref_run else {},
        citation=CITATION,
        examples=_examples(run.sessions, run.labels, examples),
        problems=list(run.problems),
    )
