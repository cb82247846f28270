"""Questionnaire scoring: what a persona *says* it values.

Scoring follows the Portrait Values Questionnaire guide: reverse-keyed items are flipped
(``min + max - rating``), and every item when the instrument's "like me" end is its minimum;
a value's raw score is the mean of its answered items; MRAT is the mean of *all* answered items;
the centred score of a value is its raw score minus MRAT. Unanswered items (rating None) are left
out and counted. A value with no answered item cannot be scored, and then neither can the centred
profile as a whole (it needs all ten values).

A probe is refused (``centred`` None, with a reason naming the item and the value) when a rating
lies outside the scale or is not an integer, an item is answered twice, or an answer names an
unknown value. Straight-lining (every answer equal) and missingness are flagged, not refused.
Reliability: Cronbach's alpha per value over probes (:func:`cronbach_alpha`) and test-retest
agreement (:func:`icc`) across the probes of a session or across sessions (seeds).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from value_spectrum.records import Probe
from value_spectrum.values import VALUE_IDS, ValueProfile, parse_value, spearman

MISSING_FLAG = 0.2
"""Share of unanswered items above which a probe is flagged."""


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
    flags: tuple[str, ...] = ()
    """Warnings that do not refuse the probe: straight-lining, missingness."""
    items: dict[str, float] | None = None
    """Item id -> scored rating (after reversal), for reliability."""


def item_score(
    rating: int, *, reversed_: bool, scale_min: int, scale_max: int, like_me: str = "max"
) -> float:
    """The rating as scored: flipped for a reverse-keyed item, and for every item of an
    instrument whose "like me" end is its minimum (both: not flipped)."""
    flip = reversed_ != (like_me == "min")
    return float(scale_min + scale_max - rating) if flip else float(rating)


def _refusal(probe: Probe) -> str:
    """Why the probe's answers cannot be scored, naming the item and the value; '' if they can."""
    seen: set[str] = set()
    for a in probe.answers:
        if a.item_id in seen:
            return f"item {a.item_id!r} (value {a.value!r}) is answered twice"
        seen.add(a.item_id)
        try:
            parse_value(a.value)
        except ValueError:
            return f"item {a.item_id!r}: unknown value {a.value!r}"
        r = a.rating
        if r is None:
            continue
        if isinstance(r, bool) or not isinstance(r, int):
            return f"item {a.item_id!r} (value {a.value!r}): rating {r!r} is not an integer"
        if not probe.scale_min <= r <= probe.scale_max:
            return (
                f"item {a.item_id!r} (value {a.value!r}): rating {r} outside the scale "
                f"{probe.scale_min}-{probe.scale_max}"
            )
    return ""


def score_probe(probe: Probe) -> StatedProfile:
    """Score one administered questionnaire (refused with a reason when its answers are not
    sound; see the module's description)."""
    refusal = _refusal(probe)
    by_value: dict[str, list[float]] = {v: [] for v in VALUE_IDS}
    items: dict[str, float] = {}
    ratings: list[int] = []
    answered, unanswered = 0, 0
    for a in probe.answers:
        if a.rating is None or refusal:
            unanswered += a.rating is None
            answered += a.rating is not None
            continue
        answered += 1
        ratings.append(a.rating)
        score = item_score(
            a.rating,
            reversed_=a.reversed,
            scale_min=probe.scale_min,
            scale_max=probe.scale_max,
            like_me=probe.like_me,
        )
        by_value[parse_value(a.value).value].append(score)
        items[a.item_id] = score
    flags: list[str] = []
    if len(ratings) >= 3 and len(set(ratings)) == 1:
        flags.append(f"straight-lining: all {len(ratings)} answers are {ratings[0]}")
    total = answered + unanswered
    if total and unanswered / total > MISSING_FLAG:
        flags.append(f"missingness: {unanswered} of {total} items unanswered")
    if refusal:
        return StatedProfile(
            probe.after_turn, dict.fromkeys(VALUE_IDS), math.nan, None, answered, unanswered,
            f"refused: {refusal}", tuple(flags), None,
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
    return StatedProfile(
        probe.after_turn, raw, mrat, centred, answered, unanswered, reason, tuple(flags), items
    )


def cronbach_alpha(matrix: np.ndarray) -> float:
    """Cronbach's alpha of a ``(respondents, items)`` matrix without missing cells:
    ``k/(k-1) * (1 - sum of item variances / variance of the total)``; NaN with fewer than two
    items or respondents, or no variance in the total."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] < 2 or m.shape[1] < 2:
        return math.nan
    k = m.shape[1]
    total = float(np.var(m.sum(axis=1), ddof=1))
    if total <= 0:
        return math.nan
    return float(k / (k - 1) * (1.0 - float(np.var(m, axis=0, ddof=1).sum()) / total))


def alpha_per_value(stated: Sequence[StatedProfile], probes: Sequence[Probe]) -> dict[str, float]:
    """Value id -> Cronbach's alpha of its items, probes as respondents (items answered in every
    scored probe only; NaN where fewer than two items or probes remain)."""
    scored = [s.items for s in stated if s.items]
    out: dict[str, float] = {}
    item_value = {a.item_id: a.value for p in probes for a in p.answers}
    for v in VALUE_IDS:
        ids = sorted(i for i, val in item_value.items() if val == v)
        ids = [i for i in ids if all(i in s for s in scored)]
        m = np.array([[s[i] for i in ids] for s in scored]) if scored and ids else np.zeros((0, 0))
        out[v] = cronbach_alpha(m)
    return out


def icc(matrix: np.ndarray) -> float:
    """ICC(2,1), two-way random effects, absolute agreement, single rater (Shrout and Fleiss), of a
    ``(targets, raters)`` matrix: here the ten values' centred scores (targets) by probe or by
    session (raters). NaN with fewer than two of either."""
    y = np.asarray(matrix, dtype=np.float64)
    if y.ndim != 2 or y.shape[0] < 2 or y.shape[1] < 2 or not np.all(np.isfinite(y)):
        return math.nan
    n, k = y.shape
    grand = float(y.mean())
    ss_rows = k * float(((y.mean(axis=1) - grand) ** 2).sum())
    ss_cols = n * float(((y.mean(axis=0) - grand) ** 2).sum())
    ss_err = float(((y - grand) ** 2).sum()) - ss_rows - ss_cols
    msr, msc = ss_rows / (n - 1), ss_cols / (k - 1)
    mse = ss_err / ((n - 1) * (k - 1))
    den = msr + (k - 1) * mse + k * (msc - mse) / n
    return float((msr - mse) / den) if den > 0 else math.nan


def profile_icc(profiles: Sequence[ValueProfile | None]) -> float:
    """ICC(2,1) of centred profiles (values as targets, profiles as raters); NaN below two."""
    ok = [p.centred().as_array() for p in profiles if p is not None]
    return icc(np.column_stack(ok)) if len(ok) >= 2 else math.nan


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
