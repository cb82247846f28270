"""Questionnaire scoring: what a persona *says* it values.

Scoring follows the Portrait Values Questionnaire guide: reverse-keyed items are flipped
(``min + max - rating``); a value's raw score is the mean of its answered items; MRAT is the mean
of *all* answered items; the centred score of a value is its raw score minus MRAT. Unanswered
items (rating None) are left out and counted. A value with no answered item cannot be scored,
and then neither can the centred profile as a whole (it needs all ten values).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from value_spectrum.records import Probe
from value_spectrum.values import VALUE_IDS, ValueProfile, spearman


@dataclass(frozen=True)
class StatedProfile:
    """The scored answers of one probe."""

    after_turn: int
    """Decisions made before the probe."""
    raw: dict[str, float | None]
    """Value id -> mean rating of its items after reversal (None: no answered item)."""
    mrat: float
    """Mean rating over all answered items (NaN when none)."""
    centred: ValueProfile | None
    """Raw minus MRAT for all ten values, or None when a value has no answered item."""
    answered: int
    """Items with a readable rating."""
    unanswered: int
    """Items whose reply could not be read."""
    reason: str = ""
    """Why ``centred`` is None."""


def item_score(rating: int, *, reversed_: bool, scale_min: int, scale_max: int) -> float:
    """The rating as scored: flipped for a reverse-keyed item."""
    return float(scale_min + scale_max - rating) if reversed_ else float(rating)


def score_probe(probe: Probe) -> StatedProfile:
    """Score one administered questionnaire."""
    by_value: dict[str, list[float]] = {v: [] for v in VALUE_IDS}
    answered, unanswered = 0, 0
    for a in probe.answers:
        if a.rating is None or a.value not in by_value:
            unanswered += 1
            continue
        answered += 1
        by_value[a.value].append(
            item_score(
                a.rating, reversed_=a.reversed, scale_min=probe.scale_min, scale_max=probe.scale_max
            )
        )
    raw = {v: (float(np.mean(xs)) if xs else None) for v, xs in by_value.items()}
    everything = [x for xs in by_value.values() for x in xs]
    mrat = float(np.mean(everything)) if everything else math.nan
    missing = [v for v, m in raw.items() if m is None]
    centred = None
    reason = ""
    if missing:
        reason = f"no answered item for: {', '.join(missing)}"
    else:
        centred = ValueProfile.from_mapping(
            {v: float(m) - mrat for v, m in raw.items() if m is not None}
        )
    return StatedProfile(probe.after_turn, raw, mrat, centred, answered, unanswered, reason)


def probe_stability(stated: Sequence[StatedProfile]) -> tuple[float, str]:
    """Mean pairwise Spearman between the centred profiles of successive probes.

    Returns:
        (stability, reason): NaN with a reason when fewer than two probes can be scored.
    """
    ok = [s.centred for s in stated if s.centred is not None]
    if len(ok) < 2:
        return math.nan, f"needs two scorable probes, got {len(ok)}"
    rhos = [spearman(a, b) for a, b in itertools.combinations(ok, 2)]
    finite = [r for r in rhos if math.isfinite(r)]
    if not finite:
        return math.nan, "every probe profile is flat"
    return float(np.mean(finite)), ""


@dataclass(frozen=True)
class Gap:
    """Stated (questionnaire) against revealed (choices)."""

    spearman: float
    """Rank agreement of the two centred profiles (NaN: undefined)."""
    difference: dict[str, float] | None
    """Value id -> stated minus revealed, each centred profile first divided by its own SD
    (so the two scales meet); None when undefined."""
    reason: str = ""
    """Why it is undefined."""


def _standardise(p: ValueProfile) -> np.ndarray | None:
    c = p.centred().as_array()
    sd = float(c.std())
    return None if sd == 0.0 else c / sd


def stated_revealed_gap(stated: ValueProfile | None, revealed: ValueProfile | None) -> Gap:
    """How far what a persona says departs from what it does."""
    if stated is None or revealed is None:
        return Gap(
            math.nan,
            None,
            "stated profile cannot be scored"
            if stated is None
            else "revealed profile cannot be scored",
        )
    s, r = _standardise(stated), _standardise(revealed)
    if s is None or r is None:
        return Gap(math.nan, None, "a profile is flat")
    return Gap(
        spearman(stated, revealed),
        {v: float(a - b) for v, a, b in zip(VALUE_IDS, s, r, strict=True)},
    )


def mean_stated(stated: Sequence[StatedProfile]) -> ValueProfile | None:
    """The mean centred profile over the scorable probes (None when none is)."""
    ok = [s.centred.as_array() for s in stated if s.centred is not None]
    return ValueProfile.from_array(np.mean(ok, axis=0)) if ok else None
