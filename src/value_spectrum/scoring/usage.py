"""What a run spent: model turns, tokens, images, retries, repairs and cost, per model and in all.

Counted from the sessions alone. A turn's :class:`~value_spectrum.records.Usage` sums its model
calls; ``images_sent`` counts the images of frames-modality turns answered by a model, from the
keyframes ``labels.json`` lists for each video (None when it lists none); retries and repairs are counted where the run recorded them
(``Usage.retries`` / ``Usage.repairs``; for older runs a repair is seen in the step's earlier
replies or its error), else reported as None.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict

from value_spectrum.records import Step, Trajectory
from value_spectrum.scoring.rundir import LabelledVideo

REFERENCE_MODEL = "reference"
"""The reference viewer calls no model."""


class UsageRow(BaseModel):
    """Spending of one model (or of the whole run, ``model == "all"``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    """The model string, or 'all'."""
    sessions: int
    """Sessions."""
    turns: int
    """Decisions asked (one or more model calls each)."""
    model_turns: int
    """Turns answered by a model (not the reference viewer, not served from the cache)."""
    cached_turns: int
    """Turns served from the response cache."""
    probe_answers: int
    """Questionnaire items answered (one call each)."""
    prompt_tokens: int
    """Input tokens."""
    completion_tokens: int
    """Output tokens."""
    tokens: int
    """Input + output tokens."""
    images_sent: int | None
    """Images sent (frames-modality turns answered by a model); None when not recorded."""
    retries: int | None
    """Requests re-sent (``Usage.retries``), when the run recorded them (None: not recorded)."""
    repairs: int | None
    """Repair requests after an unreadable reply, when recorded (None: not recorded)."""
    cost_usd: float
    """Cost as priced by the model map (0 when unknown or local)."""


def _counted(values: Sequence[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def usage_rows(
    sessions: Sequence[Trajectory], labels: Mapping[str, LabelledVideo]
) -> list[UsageRow]:
    """One row per model (sorted), then the run's total (``model == "all"``)."""
    by_model: dict[str, list[Trajectory]] = defaultdict(list)
    for t in sessions:
        by_model[t.model].append(t)
    rows = [_row(model, trajs, labels) for model, trajs in sorted(by_model.items())]
    if rows:
        rows.append(_row("all", list(sessions), labels))
    return rows


def _images(t: Trajectory, s: Step, labels: Mapping[str, LabelledVideo]) -> int | None:
    if t.modality != "frames":
        return 0
    lab = labels.get(s.video_id)
    return len(lab.keyframes) if lab is not None and lab.keyframes else None


def _row(model: str, trajs: Sequence[Trajectory], labels: Mapping[str, LabelledVideo]) -> UsageRow:
    turns = model_turns = cached = probes = pt = ct = 0
    cost = 0.0
    images: list[int | None] = []
    retries: list[int | None] = []
    repairs: list[int | None] = []
    for t in trajs:
        probes += sum(len(p.answers) for p in t.probes)
        for s in t.steps:
            turns += 1
            u = s.usage
            pt += u.prompt_tokens
            ct += u.completion_tokens
            cost += u.cost_usd
            if u.cached:
                cached += 1
            elif t.model != REFERENCE_MODEL:
                model_turns += 1
                images.append(_images(t, s, labels))
            retries.append(u.retries)
            rep = u.repairs
            if rep is None and (s.repaired or s.earlier_raws or "after repair" in s.error):
                rep = max(1, len(s.earlier_raws))  # older runs: a repair is visible in the step
            repairs.append(rep)
    return UsageRow(
        model=model,
        sessions=len(trajs),
        turns=turns,
        model_turns=model_turns,
        cached_turns=cached,
        probe_answers=probes,
        prompt_tokens=pt,
        completion_tokens=ct,
        tokens=pt + ct,
        images_sent=None if any(i is None for i in images) else sum(i or 0 for i in images),
        retries=_counted(retries),
        repairs=_counted(repairs),
        cost_usd=round(cost, 6),
    )
