"""Session length and dwell: how long viewers stay, as measured outcomes.

A session that runs to ``--steps`` says nothing about staying; one whose viewer may leave (the
reference viewer's ``boredom``, a person's log) does. Per persona x model group:

* **length**: turns per session (mean, min, max) and how many sessions ended ``left``;
* **dwell** where decisions carry ``dwell_s``: mean seconds on likes and on skips, and a graded
  **dwell profile**: the least-squares weights of the dwell (seconds) on the video's ten value
  labels, MRAT-centred like the revealed profile, with its Spearman correlation with the
  persona's target (``dwell_alignment``). Dwell grades what like/skip cuts in two: a viewer who
  stays longer on videos of a value is drawn to it, whatever it pressed. Fewer than
  :data:`MIN_DWELL` dwell readings give no profile (the reason says so).

Example:
    >>> from value_spectrum.records import Trajectory
    >>> session_length([Trajectory(session_id="s", persona_id="p", model="m")], {}, None).mean_turns
    0.0
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict

from value_spectrum.records import Outcome, Trajectory
from value_spectrum.scoring.rundir import LabelledVideo
from value_spectrum.values import VALUE_IDS, ValueProfile, mrat_centre, spearman

MIN_DWELL = 20
"""Fewest labelled dwell readings a dwell profile is fitted on."""


class SessionLength(BaseModel):
    """How long one group's sessions lasted, and how long its viewers watched."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sessions: int
    """Sessions in the group."""
    mean_turns: float
    """Mean turns per session."""
    min_turns: int
    """Shortest session."""
    max_turns: int
    """Longest session."""
    left: int
    """Sessions whose viewer left the feed (status ``left``)."""
    dwell_n: int = 0
    """Decisions with a dwell reading."""
    dwell_like_s: float | None = None
    """Mean dwell on likes (seconds)."""
    dwell_skip_s: float | None = None
    """Mean dwell on skips (seconds)."""
    dwell_profile: dict[str, float] | None = None
    """Centred least-squares weights of dwell on the value labels (None: too few readings)."""
    dwell_alignment: float | None = None
    """Spearman of the dwell profile with the target (None without either)."""
    dwell_reason: str = ""
    """Why there is no dwell profile, when there is none."""


def _mean(xs: Sequence[float]) -> float | None:
    return round(float(np.mean(xs)), 3) if xs else None


def session_length(
    trajs: Sequence[Trajectory], labels: Mapping[str, LabelledVideo], target: ValueProfile | None
) -> SessionLength:
    """Length and dwell of one group's sessions."""
    turns = [len(t.steps) for t in trajs]
    likes: list[float] = []
    skips: list[float] = []
    rows: list[np.ndarray] = []
    ys: list[float] = []
    for t in trajs:
        for s in t.steps:
            if s.decision is None or s.decision.dwell_s is None:
                continue
            (likes if s.outcome == Outcome.LIKE else skips).append(s.decision.dwell_s)
            lab = labels.get(s.video_id)
            if lab is not None and lab.values is not None:
                rows.append(lab.values.as_array())
                ys.append(s.decision.dwell_s)
    profile: dict[str, float] | None = None
    align: float | None = None
    reason = ""
    n = len(likes) + len(skips)
    if n == 0:
        reason = "no dwell recorded"
    elif len(ys) < MIN_DWELL:
        reason = f"{len(ys)} labelled dwell readings (< {MIN_DWELL})"
    else:
        x = np.column_stack([np.ones(len(rows)), np.vstack(rows)])
        coef, *_ = np.linalg.lstsq(x, np.asarray(ys), rcond=None)
        weights = mrat_centre(coef[1:])
        if not np.all(np.isfinite(weights)) or float(np.ptp(weights)) == 0.0:
            reason = "dwell does not vary with the value labels"
        else:
            profile = {v: round(float(w), 6) for v, w in zip(VALUE_IDS, weights, strict=True)}
            if target is not None:
                rho = spearman(weights, target)
                align = None if not np.isfinite(rho) else round(float(rho), 6)
    return SessionLength(
        sessions=len(trajs),
        mean_turns=round(float(np.mean(turns)), 3) if turns else 0.0,
        min_turns=min(turns, default=0),
        max_turns=max(turns, default=0),
        left=sum(t.status == "left" for t in trajs),
        dwell_n=n,
        dwell_like_s=_mean(likes),
        dwell_skip_s=_mean(skips),
        dwell_profile=profile,
        dwell_alignment=align,
        dwell_reason=reason,
    )
