"""Paired differences between two runs that showed the same videos turn by turn.

Two runs are **paired** when their sessions share a feed turn by turn:

* a **fork** and its parent (``value-spectrum fork``): the fork's session against the parent's
  session of the same id, over the turns from K on (turns before K are the same records and
  differ by nothing); two forks of one parent session pair from the later K;
* two runs made with ``--feed replay`` on the same corpus and run seed: session ``i`` of a persona
  (or model) in one run against session ``i`` in the other, matched on what both runs have in
  common (the persona when both ran the same personas, the model when both ran the same
  models), over every turn.

A pair is one turn at which both sessions showed the same video and both decided (like or skip).
For each value (by the video's primary value; a video without one counts in ``all`` only) and
over all values the 2x2 table of pairs gives:

* the like-rate difference ``rate_b - rate_a`` (percentage points) with **Newcombe's hybrid
  score interval for paired proportions** (Newcombe 1998, method 10: the two Wilson intervals
  combined with the phi correlation of the pairs);
* the **exact McNemar test** (two-sided binomial test of the discordant pairs against 1/2,
  ``scipy.stats.binomtest``), Holm-adjusted over the values of one run pair;
* over all values, when at least :data:`MIN_CLUSTERS` sessions are paired, a **cluster-robust
  interval and test by session** (the ratio estimator's sandwich variance over sessions, CR1,
  with Student's t on sessions - 1 degrees of freedom): turns of one session need not be independent
  with an LLM viewer that sees its history, and this interval does not assume they are. (A
  percentile cluster bootstrap was tried first and covered only 0.89-0.91 with 10 sessions.)

Both assume nothing about the order of the two runs beyond ``a`` being the parent (or the first
run named). Their calibration by simulation (``value-spectrum calibrate --paired``) is in
``docs/methods.md``.

Example:
    >>> round(newcombe_paired(30, 10, 2, 58)[0], 4)  # b - a with 10 vs 2 discordant pairs
    -0.1479
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from value_spectrum.records import Trajectory
from value_spectrum.scoring.stats import holm, wilson

MIN_CLUSTERS = 10
"""Fewest paired sessions for the cluster-robust interval."""


def newcombe_paired(both: int, only_a: int, only_b: int, neither: int, *, level: float = 0.95) -> tuple[float, float]:
    """Newcombe's (1998) method-10 interval for ``p_b - p_a`` of paired binary outcomes.

    Args:
        both: pairs where a and b liked; ``only_a``: a liked, b skipped; ``only_b``: the other way;
            ``neither``: both skipped.

    Returns:
        ``(low, high)`` as proportions; NaN without pairs.
    """
    n = both + only_a + only_b + neither
    if n == 0:
        return math.nan, math.nan
    pa, pb = (both + only_a) / n, (both + only_b) / n
    wa, wb = wilson(both + only_a, n, level=level), wilson(both + only_b, n, level=level)
    m = (both + only_a) * (only_b + neither) * (both + only_b) * (only_a + neither)
    if m == 0:
        phi = 0.0
    else:
        cross = float(both * neither - only_a * only_b)
        cross = max(cross - n / 2, 0.0) if cross > 0 else cross  # Newcombe's continuity step
        phi = cross / math.sqrt(m)
    d = pb - pa
    la, ua, lb, ub = wa.low, wa.high, wb.low, wb.high
    low = d - math.sqrt(max(0.0, (pb - lb) ** 2 - 2 * phi * (pb - lb) * (ua - pa) + (ua - pa) ** 2))
    high = d + math.sqrt(max(0.0, (ub - pb) ** 2 - 2 * phi * (ub - pb) * (pa - la) + (pa - la) ** 2))
    return max(-1.0, low), min(1.0, high)


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p: the discordant pairs against a fair coin (1.0 without any)."""
    if only_a + only_b == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(only_b, only_a + only_b, 0.5).pvalue)


@dataclass(frozen=True)
class Pairs:
    """Paired decisions: one row per turn both sessions decided on the same video."""

    a: np.ndarray
    """1 where run a liked, 0 where it skipped."""
    b: np.ndarray
    """The same for run b."""
    value: np.ndarray
    """The video's primary value id (object array)."""
    session: np.ndarray
    """Index of the session pair the turn belongs to."""

    @property
    def sessions(self) -> int:
        """Session pairs with at least one paired turn."""
        return len(set(self.session.tolist()))


@dataclass(frozen=True)
class PairedStat:
    """The paired difference on one subset of the pairs."""

    pairs: int
    """Paired decisions."""
    sessions: int
    """Session pairs they come from."""
    both: int
    """Liked by both."""
    only_a: int
    """Liked by a only."""
    only_b: int
    """Liked by b only."""
    neither: int
    """Skipped by both."""
    rate_a: float
    """Like rate of a over the pairs."""
    rate_b: float
    """Like rate of b over the pairs."""
    diff: float
    """``rate_b - rate_a``."""
    low: float
    """Newcombe interval, low."""
    high: float
    """Newcombe interval, high."""
    p: float
    """Exact McNemar p."""
    cluster_low: float = math.nan
    """Cluster-robust (by session) interval, low; NaN below :data:`MIN_CLUSTERS` sessions."""
    cluster_high: float = math.nan
    """Cluster-robust interval, high."""
    cluster_p: float = math.nan
    """Cluster-robust two-sided p (t on sessions - 1)."""


def cluster_interval(a: np.ndarray, b: np.ndarray, session: np.ndarray, *,
                     level: float = 0.95) -> tuple[float, float, float]:
    """Cluster-robust interval and test of ``mean(b - a)`` with sessions as clusters: the ratio
    estimator ``sum_s D_s / sum_s n_s`` (``D_s`` the session's summed differences, ``n_s`` its
    pairs), its CR1 sandwich variance ``S / (S - 1) * sum_s (D_s - d n_s)^2 / N^2`` and Student's t
    on ``S - 1`` degrees of freedom.

    Returns:
        ``(low, high, p)``: the interval and the two-sided p of "no difference"; NaN with fewer
        than two sessions.
    """
    sess = np.asarray(session)
    ids, inverse = np.unique(sess, return_inverse=True)
    k = len(ids)
    if k < 2 or len(a) == 0:
        return math.nan, math.nan, math.nan
    diff = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    sums = np.bincount(inverse, weights=diff, minlength=k)
    counts = np.bincount(inverse, minlength=k).astype(float)
    total = counts.sum()
    d = sums.sum() / total
    var = k / (k - 1) * float(np.sum((sums - d * counts) ** 2)) / total**2
    from scipy.stats import t as student_t

    se = math.sqrt(var)
    half = float(student_t.ppf(0.5 + level / 2, k - 1)) * se
    p = float(2 * student_t.sf(abs(d) / se, k - 1)) if se > 0 else (1.0 if d == 0 else 0.0)
    return max(-1.0, d - half), min(1.0, d + half), p


def paired_stat(a: np.ndarray, b: np.ndarray, session: np.ndarray | None = None, *, level: float = 0.95,
                cluster: bool = False) -> PairedStat:
    """The paired difference of two 0/1 arrays of equal length (with the cluster-robust interval
    when ``cluster`` and ``session`` names at least :data:`MIN_CLUSTERS` sessions)."""
    a, b = np.asarray(a, dtype=int), np.asarray(b, dtype=int)
    both = int(np.sum((a == 1) & (b == 1)))
    only_a = int(np.sum((a == 1) & (b == 0)))
    only_b = int(np.sum((a == 0) & (b == 1)))
    n = len(a)
    neither = n - both - only_a - only_b
    low, high = newcombe_paired(both, only_a, only_b, neither, level=level)
    sessions = 0 if session is None else len(set(np.asarray(session).tolist()))
    c_low = c_high = c_p = math.nan
    if session is not None and cluster and sessions >= MIN_CLUSTERS:
        c_low, c_high, c_p = cluster_interval(a, b, session, level=level)
    return PairedStat(
        pairs=n, sessions=sessions, both=both, only_a=only_a, only_b=only_b, neither=neither,
        rate_a=(both + only_a) / n if n else math.nan, rate_b=(both + only_b) / n if n else math.nan,
        diff=(only_b - only_a) / n if n else math.nan, low=low, high=high,
        p=mcnemar_exact(only_a, only_b), cluster_low=c_low, cluster_high=c_high, cluster_p=c_p,
    )


def collect_pairs(
    matched: Sequence[tuple[Trajectory, Trajectory, int]], primary: Mapping[str, str | None]
) -> Pairs:
    """The paired decisions of matched sessions ``(a, b, first turn)``: turns from the first
    turn on where both showed the same video and both liked or skipped it."""
    rows: list[tuple[int, int, str, int]] = []
    for k, (ta, tb, first) in enumerate(matched):
        by_turn = {s.turn: s for s in tb.steps}
        for sa in ta.steps:
            sb = by_turn.get(sa.turn)
            if sa.turn < first or sb is None or sb.video_id != sa.video_id:
                continue
            if sa.outcome.value not in ("like", "skip") or sb.outcome.value not in ("like", "skip"):
                continue
            rows.append((int(sa.outcome.value == "like"), int(sb.outcome.value == "like"),
                         primary.get(sa.video_id) or "", k))
    if not rows:
        empty = np.zeros(0, dtype=int)
        return Pairs(empty, empty.copy(), np.zeros(0, dtype=object), empty.copy())
    arr = list(zip(*rows, strict=True))
    return Pairs(np.array(arr[0]), np.array(arr[1]), np.array(arr[2], dtype=object), np.array(arr[3]))


def per_value(pairs: Pairs, values: Sequence[str]) -> list[tuple[str, PairedStat, float]]:
    """``(value, stat, Holm-adjusted p)`` for ``all`` (first, with the cluster-robust interval)
    and each value with pairs; Holm over the values (not ``all``)."""
    out = [("all", paired_stat(pairs.a, pairs.b, pairs.session, cluster=True))]
    for v in values:
        mask = pairs.value == v
        if mask.any():
            out.append((v, paired_stat(pairs.a[mask], pairs.b[mask], pairs.session[mask])))
    adjusted = holm([s.p for _, s in out[1:]])
    return [(out[0][0], out[0][1], out[0][1].p)] + [
        (v, s, q) for (v, s), q in zip(out[1:], adjusted, strict=True)
    ]


__all__ = [
    "MIN_CLUSTERS",
    "PairedStat",
    "Pairs",
    "cluster_interval",
    "collect_pairs",
    "mcnemar_exact",
    "newcombe_paired",
    "paired_stat",
    "per_value",
]
