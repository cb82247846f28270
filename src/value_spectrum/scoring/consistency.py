"""Consistency across turns: revealed profiles per window of W turns, their stability, and the
drift of alignment over a session.

* window ``k`` holds the decisions with ``k*W <= turn < (k+1)*W``;
* **stability** = mean pairwise Pearson correlation between the scorable windows' centred
  profiles (NaN with fewer than two);
* **drift slope** = least-squares slope of the windows' alignment (Spearman with the target)
  against the window's middle turn, per 100 turns;
* **time to drift** = the first turn of the first window whose alignment falls below the
  threshold (None when none does).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from value_spectrum.scoring.alignment import align
from value_spectrum.scoring.revealed import (
    DEFAULT_CIRCLE_PRIOR,
    MIN_DECISIONS,
    DecisionTable,
    decompose,
)
from value_spectrum.scoring.stats import DEFAULT_L2, slope_per
from value_spectrum.values import ValueProfile, pearson

DEFAULT_WINDOW = 50
"""The paper's window: the like ratio of the first and last 50 videos."""

MIN_AUTO_WINDOW = 10
"""Smallest window :func:`auto_window` picks."""


def auto_window(n_turns: int) -> int:
    """A window that gives about three windows per session, between 10 and 50 turns: a 30-turn
    session gets windows of 10, a 150-turn session (the paper's) windows of 50."""
    return max(MIN_AUTO_WINDOW, min(DEFAULT_WINDOW, n_turns // 3))
"""Turns per window."""
DRIFT_THRESHOLD = 0.5
"""Alignment below which a window counts as drifted."""


@dataclass(frozen=True)
class Window:
    """One window of turns."""

    start: int
    """First turn (inclusive)."""
    end: int
    """Last turn (exclusive)."""
    n_decisions: int
    """Labelled like/skip decisions in it."""
    like_rate: float
    """Percentage of likes (NaN: no decisions)."""
    profile: ValueProfile | None
    """Centred decomposition weights, or None."""
    alignment: float
    """Spearman with the target (NaN: undefined)."""
    reason: str = ""
    """Why the profile is None."""


@dataclass(frozen=True)
class Consistency:
    """Windows, stability and drift for one set of decisions."""

    window: int
    """Turns per window."""
    windows: tuple[Window, ...]
    """The windows, in order."""
    stability: float
    """Mean pairwise Pearson between scorable windows (NaN: fewer than two)."""
    drift_slope: float
    """Change of alignment per 100 turns (NaN: fewer than two scorable windows)."""
    time_to_drift: int | None
    """First turn of the first window whose alignment < ``threshold``; None when none."""
    threshold: float
    """The drift threshold used."""
    reason: str = ""
    """Why stability / drift are undefined."""


def consistency(
    table: DecisionTable,
    target: ValueProfile | None,
    *,
    window: int = DEFAULT_WINDOW,
    threshold: float = DRIFT_THRESHOLD,
    l2: float = DEFAULT_L2,
    circle_prior: float = DEFAULT_CIRCLE_PRIOR,
    min_decisions: int = MIN_DECISIONS,
) -> Consistency:
    """Score windows of ``window`` turns over ``table`` (one session or several pooled by turn)."""
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window!r}")
    last_turn = int(table.turn.max()) if len(table) else -1
    wins: list[Window] = []
    for start in range(0, last_turn + 1, window):
        idx = np.flatnonzero((table.turn >= start) & (table.turn < start + window))
        sub = table.subset(idx)
        weights, reason = decompose(
            sub, l2=l2, circle_prior=circle_prior, min_decisions=min_decisions
        )
        prof = None if weights is None else ValueProfile.from_array(weights)
        al = align(prof, target).spearman if prof is not None else math.nan
        rate = 100.0 * float(sub.y.mean()) if len(sub) else math.nan
        wins.append(Window(start, start + window, len(sub), rate, prof, al, reason))
    scorable = [w for w in wins if w.profile is not None]
    reason = ""
    stability = math.nan
    if len(scorable) >= 2:
        rs = [
            pearson(a.profile.centred(), b.profile.centred())  # type: ignore[union-attr]
            for a, b in itertools.combinations(scorable, 2)
        ]
        finite = [r for r in rs if math.isfinite(r)]
        stability = float(np.mean(finite)) if finite else math.nan
    else:
        reason = f"needs two scorable windows of {window} turns, got {len(scorable)}"
    mids = [(w.start + w.end - 1) / 2.0 for w in scorable]
    slope = slope_per(mids, [w.alignment for w in scorable], per=100.0)
    ttd = next(
        (w.start for w in scorable if math.isfinite(w.alignment) and w.alignment < threshold), None
    )
    return Consistency(window, tuple(wins), stability, slope, ttd, threshold, reason)
