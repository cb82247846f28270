"""Tidy rows of a run for pandas, R or a spreadsheet: one row per decision (joined with the
video's title, platform, topic, primary value and ten value labels, and the persona's name and
target), per persona x model group (the report's numbers), or per questionnaire answer.

Everything comes from the run directory (:func:`~value_spectrum.scoring.rundir.read_run`), so a
pandas user gets every analysis in one read, with no join against ``labels.json`` or
``personas.json``. List-valued fields (``searches``, ``strategies``) stay lists.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from value_spectrum.records import Trajectory
from value_spectrum.scoring.report_model import GroupReport, Report
from value_spectrum.scoring.rundir import RunData
from value_spectrum.values import VALUE_IDS

LABEL_PREFIX = "label_"
"""Decision columns ``label_<value>``: the video's relevance to each value (0-1)."""
TARGET_PREFIX = "target_"
"""Columns ``target_<value>``: the persona's target profile (0-1)."""

DECISION_COLUMNS: tuple[str, ...] = (
    "session_id", "turn", "persona_id", "persona_name", "model", "video_id", "title", "platform",
    "topic", "primary_value", "outcome", "reason", "confidence", "strategy", "modality", "feed",
    "seed", "session_index", "session_status", "error", "raw", "earlier_raws", "repaired",
    "repairs", "retries", "latency_s", "prompt_tokens", "completion_tokens", "tokens",
    "cost_usd", "cached", "searches", "n_searches", "labelled",
    *(LABEL_PREFIX + v for v in VALUE_IDS),
    *(TARGET_PREFIX + v for v in VALUE_IDS),
)  # fmt: skip
"""One row per decision, in this order."""

GROUP_COLUMNS: tuple[str, ...] = (
    "persona_id", "persona_name", "model", "strategies", "modalities", "n_sessions",
    "n_decisions", "unlabelled", "like", "skip", "unparseable", "refused", "error",
    "like_rate_overall", "alignment", "alignment_low", "alignment_high", "alignment_reason",
    "pearson", "top3_overlap", "circle_distance_deg", "recovery", "stability",
    "drift_slope_per_100", "time_to_drift", "steerability_pp", "steerability_rel_pct",
    *(f"like_rate_{v}" for v in VALUE_IDS),
    *(f"revealed_{v}" for v in VALUE_IDS),
    *(TARGET_PREFIX + v for v in VALUE_IDS),
)  # fmt: skip
"""One row per persona x model."""

PROBE_COLUMNS: tuple[str, ...] = (
    "session_id", "persona_id", "model", "strategy", "after_turn", "instrument", "item_id",
    "value", "rating", "reversed", "scale_min", "scale_max", "raw",
)  # fmt: skip
"""One row per questionnaire answer."""


def _session_index(t: Trajectory) -> Any:
    return t.extra.get("session_index")


def decision_rows(run: RunData) -> Iterator[dict[str, Any]]:
    """One row per step of every session, joined with its video's labels and persona's target."""
    for t in run.sessions:
        target = run.targets.get(t.persona_id)
        tdict = target.as_dict() if target is not None else {}
        for s in t.steps:
            d = s.decision
            lab = run.labels.get(s.video_id)
            values = lab.values.as_dict() if lab is not None and lab.values is not None else {}
            row: dict[str, Any] = {
                "session_id": t.session_id,
                "turn": s.turn,
                "persona_id": t.persona_id,
                "persona_name": run.persona_names.get(t.persona_id, t.persona_id),
                "model": t.model,
                "video_id": s.video_id,
                "title": lab.title if lab else None,
                "platform": lab.platform if lab else None,
                "topic": lab.topic if lab else None,
                "primary_value": lab.primary_value if lab else None,
                "outcome": s.outcome.value,
                "reason": d.reason if d is not None else s.error,
                "confidence": d.confidence if d is not None else None,
                "strategy": t.strategy,
                "modality": t.modality,
                "feed": t.feed,
                "seed": t.seed,
                "session_index": _session_index(t),
                "session_status": t.status,
                "error": s.error,
                "raw": s.raw,
                "earlier_raws": list(s.earlier_raws),
                "repaired": s.repaired,
                "repairs": s.usage.repairs,
                "retries": s.usage.retries,
                "latency_s": s.latency_s,
                "prompt_tokens": s.usage.prompt_tokens,
                "completion_tokens": s.usage.completion_tokens,
                "tokens": s.usage.prompt_tokens + s.usage.completion_tokens,
                "cost_usd": s.usage.cost_usd,
                "cached": s.usage.cached,
                "searches": list(s.searches),
                "n_searches": len(s.searches),
                "labelled": bool(values),
            }
            for v in VALUE_IDS:
                row[LABEL_PREFIX + v] = values.get(v)
            for v in VALUE_IDS:
                row[TARGET_PREFIX + v] = tdict.get(v)
            yield row


def _group_row(g: GroupReport) -> dict[str, Any]:
    cons = g.consistency
    ci = g.alignment_ci or [None, None]
    row: dict[str, Any] = {
        "persona_id": g.persona_id,
        "persona_name": g.persona_name,
        "model": g.model,
        "strategies": list(g.strategies),
        "modalities": list(g.modalities),
        "n_sessions": g.n_sessions,
        "n_decisions": g.n_decisions,
        "unlabelled": g.unlabelled,
        **{k: g.outcomes.get(k, 0) for k in ("like", "skip", "unparseable", "refused", "error")},
        "like_rate_overall": g.like_rate_overall,
        "alignment": g.alignment,
        "alignment_low": ci[0],
        "alignment_high": ci[1],
        "alignment_reason": g.alignment_reason,
        "pearson": g.pearson,
        "top3_overlap": g.top3_overlap,
        "circle_distance_deg": g.circle_distance_deg,
        "recovery": g.recovery,
        "stability": cons.get("stability"),
        "drift_slope_per_100": cons.get("drift_slope_per_100"),
        "time_to_drift": cons.get("time_to_drift"),
        "steerability_pp": g.steerability_pp,
        "steerability_rel_pct": g.steerability_rel_pct,
    }
    for v in VALUE_IDS:
        row[f"like_rate_{v}"] = g.like_rate.get(v)
    for v in VALUE_IDS:
        row[f"revealed_{v}"] = None if g.revealed is None else g.revealed.get(v)
    for v in VALUE_IDS:
        row[TARGET_PREFIX + v] = None if g.target is None else g.target.get(v)
    return row


def group_rows(report: Report) -> Iterator[dict[str, Any]]:
    """One row per persona x model group of a report."""
    for g in report.groups:
        yield _group_row(g)


def probe_rows(run: RunData) -> Iterator[dict[str, Any]]:
    """One row per questionnaire answer of every session."""
    for t in run.sessions:
        for p in t.probes:
            for a in p.answers:
                yield {
                    "session_id": t.session_id,
                    "persona_id": t.persona_id,
                    "model": t.model,
                    "strategy": t.strategy,
                    "after_turn": p.after_turn,
                    "instrument": p.instrument,
                    "item_id": a.item_id,
                    "value": a.value,
                    "rating": a.rating,
                    "reversed": a.reversed,
                    "scale_min": p.scale_min,
                    "scale_max": p.scale_max,
                    "raw": a.raw,
                }
