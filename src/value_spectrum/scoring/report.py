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
from pathlib import Path
from typing import Any

from value_spectrum.records import Outcome, Trajectory
from value_spectrum.scoring.alignment import align, steerability, steerability_test
from value_spectrum.scoring.checks import calibration_slope, circumplex_check, reference_params
from value_spectrum.scoring.consistency import auto_window, consistency
from value_spectrum.scoring.preference import is_preference_run, score_preference
from value_spectrum.scoring.questionnaire import (
    alpha_per_value,
    mean_stated,
    probe_stability,
    profile_icc,
    score_probe,
    stated_revealed_gap,
)
from value_spectrum.scoring.reference import CITATION, preference_reference
from value_spectrum.scoring.report_model import (
    Example,
    GroupReport,
    PreferenceReport,
    Report,
    ScoringOptions,
    SessionSummary,
    Summary,
)
from value_spectrum.scoring.resample import group_seed
from value_spectrum.scoring.revealed import (
    Revealed,
    decision_table,
    revealed_profile,
)
from value_spectrum.scoring.rundir import LabelledVideo, RunData, injected_profile, read_run
from value_spectrum.scoring.session_length import session_length
from value_spectrum.scoring.stats import finite_or_none, nanmedian, wilson
from value_spectrum.scoring.usage import usage_rows
from value_spectrum.values import VALUE_IDS, ValueProfile

__all__ = [
    "REFERENCE_MODEL",
    "GroupReport",
    "PreferenceReport",
    "Report",
    "ScoringOptions",
    "Summary",
    "build_report",
    "score_group",
]

REFERENCE_MODEL = "reference"
"""The model string of the reference viewer, whose injected profile is known."""


def _rounded(d: Mapping[str, float | None], nd: int = 6) -> dict[str, float | None]:
    return {
        k: (None if v is None or not math.isfinite(v) else round(float(v), nd))
        for k, v in d.items()
    }


def _profile_dict(p: ValueProfile | None) -> dict[str, float] | None:
    return None if p is None else {k: round(v, 6) for k, v in p.as_dict().items()}


def _pct_interval(k: int, n: int) -> list[float | None] | None:
    if n <= 0:
        return None
    w = wilson(k, n)
    return [round(100.0 * w.low, 3), round(100.0 * w.high, 3)]


def _session_summary(
    traj: Trajectory,
    labels: Mapping[str, LabelledVideo],
    target: ValueProfile | None,
    opts: ScoringOptions,
    group: Revealed | None = None,
) -> SessionSummary:
    rev = group or revealed_profile(
        decision_table([traj], labels),
        min_decisions=opts.min_decisions,
        intervals=False,
        l2=0.0,
        circle_prior=0.0,
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
    ordered = sorted(probes, key=lambda p: p.after_turn)
    scored = [score_probe(p) for p in ordered]
    stability, stab_reason = probe_stability(scored)
    mean = mean_stated(scored)
    within = [
        profile_icc([score_probe(p).centred for p in t.probes]) for t in trajs if len(t.probes) > 1
    ]
    within = [x for x in within if math.isfinite(x)]
    per_session = [mean_stated([score_probe(p) for p in t.probes]) for t in trajs if t.probes]
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
                "flags": list(s.flags),
            }
            for s in scored
        ],
        "alpha": _rounded(alpha_per_value(scored, ordered), 4),
        "icc_within_session": finite_or_none(float(sum(within) / len(within)))
        if within
        else None,
        "icc_across_sessions": finite_or_none(profile_icc(per_session)),
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
    seed = group_seed(opts.seed, persona_id, model)
    rev = revealed_profile(
        table,
        l2=opts.l2,
        circle_prior=opts.circle_prior,
        min_decisions=opts.min_decisions,
        n_boot=opts.n_boot,
        seed=seed,
        target=target,
        ci=opts.ci,
    )
    reason = rev.reason
    if not run.labels:
        reason = "no value labels in the run directory (labels.json missing)"
    elif rev.n_decisions == 0 and table.unlabelled:
        reason = f"none of the {table.unlabelled} decided videos has value labels"
    al = align(rev.profile, target, reason=reason)
    injected = next((p for p in (injected_profile(t) for t in trajs) if p is not None), None)
    params = next((p for p in (reference_params(t) for t in trajs) if p is not None), None)
    if injected is None and params is not None:
        injected = target
    recovery, rec_reason = None, ""
    calib = None
    if injected is None:
        rec_reason = "not a reference-viewer group (no injected profile)"
    elif rev.profile is None:
        rec_reason = reason
    else:
        recovery = finite_or_none(align(rev.profile, injected).spearman)
        rec_reason = "" if recovery is not None else "correlation undefined (flat profile)"
        if params is not None and rev.se is not None:
            calib = calibration_slope(rev, injected, params["beta"])
    steer = steerability_test(
        [t.steps for t in trajs], window=opts.steer_window, n_perm=opts.n_perm, seed=seed
    )
    cons = consistency(
        table,
        target,
        window=opts.window or auto_window(max((len(t.steps) for t in trajs), default=0)),
        threshold=opts.drift_threshold,
        min_decisions=opts.min_decisions,
        n_perm=opts.n_perm,
        alpha=opts.alpha,
        seed=seed,
        pooled=rev.fit,
    )
    ci = None
    se = None
    if rev.ci is not None and rev.se is not None:
        ci = {
            v: [finite_or_none(lo), finite_or_none(hi)]
            for v, lo, hi in zip(VALUE_IDS, rev.ci.low, rev.ci.high, strict=True)
        }
        se = {v: round(float(x), 6) for v, x in zip(VALUE_IDS, rev.se, strict=True)}
    test = cons.test
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
        like_rate_overall_ci=_pct_interval(rev.n_likes, rev.n_decisions),
        like_counts={v: list(c) for v, c in rev.like_counts.items()},
        like_rate_ci={v: _pct_interval(k, n) for v, (k, n) in rev.like_counts.items()},
        target=_profile_dict(target),
        revealed=_profile_dict(rev.profile),
        revealed_reason=reason,
        revealed_ci=ci,
        revealed_se=se,
        ci_unit=None if rev.ci is None else rev.ci.unit,
        revealed_smoothed=_profile_dict(rev.smoothed),
        alignment_smoothed=None
        if rev.smoothed is None
        else finite_or_none(align(rev.smoothed, target).spearman),
        alignment_boot=None
        if rev.alignment_boot is None
        else {
            "n_boot": rev.alignment_boot.n_boot,
            "n_ok": rev.alignment_boot.n_ok,
            "unit": rev.alignment_boot.unit,
            "seed": seed,
        },
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
        injected=None
        if injected is None
        else _profile_dict(
            ValueProfile.from_array(injected.centred().as_array() * params["beta"])
            if params is not None
            else injected
        ),
        injected_params=params,
        calibration=calib,
        steerability_pp=finite_or_none(steer.mean_pp),
        steerability_rel_pct=finite_or_none(steer.mean_rel_pct),
        steerability_p=finite_or_none(steer.p_value),
        steerability_null_sd_pp=finite_or_none(steer.null_sd_pp),
        consistency={
            "window": cons.window,
            "windows": [
                {
                    "start": w.start,
                    "end": w.end,
                    "n": w.n_decisions,
                    "like_rate": finite_or_none(w.like_rate),
                    "like_rate_ci": _pct_interval(w.likes, w.n_decisions),
                    "alignment": finite_or_none(w.alignment),
                    "reason": w.reason,
                }
                for w in cons.windows
            ],
            "stability": finite_or_none(cons.stability),
            "drift_slope_per_100": finite_or_none(cons.drift_slope),
            "drift_verdict": test.verdict if test is not None else "not tested",
            "drift_p": None if test is None else finite_or_none(test.p_value),
            "drift_z": None if test is None else finite_or_none(test.z),
            "drift_change": None if test is None else finite_or_none(test.change),
            "drift_n_perm": None if test is None else test.n_perm,
            "drift_n_ok": None if test is None else test.n_ok,
            "drift_alpha": opts.alpha,
            "drift_reference": None if test is None else test.reference,
            "time_to_drift": cons.time_to_drift,
            "threshold": cons.threshold,
            "reason": cons.reason,
        },
        stated=_stated(trajs, rev.profile, target),
        sessions=[
            _session_summary(t, run.labels, target, opts, rev if len(trajs) == 1 else None)
            for t in trajs
        ],
        session_length=session_length(trajs, run.labels, target),
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
) -> Report:
    """Read ``run_dir`` and score everything in it; nothing outside the run directory is read.

    Raises:
        RunDirError: the directory is not a run directory or a side file is malformed.
    """
    opts = options or ScoringOptions()
    run = read_run(run_dir)
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
                    scores_ci={
                        v: _pct_interval(ps.yes[v], ps.yes[v] + ps.no[v]) for v in VALUE_IDS
                    },
                    pct_of_all=_rounded(ps.pct_of_all, 3),
                    pct_of_all_ci={v: _pct_interval(ps.yes[v], ps.n[v]) for v in VALUE_IDS},
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
        median_calibration_slope=nanmedian(
            [g.calibration.get("slope") for g in reports if g.calibration is not None]
        ),
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
        circumplex=circumplex_check([g.revealed for g in reports]),
        problems=list(run.problems),
        usage=usage_rows(run.sessions, run.labels),
    )
