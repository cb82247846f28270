"""Consistency across turns: revealed profiles per window of W turns, their stability, and the
drift of alignment over a session, tested against a permutation null.

* window ``k`` holds the decisions with ``k*W <= turn < (k+1)*W``;
* **stability** = mean pairwise Pearson correlation between the scorable windows' centred
  profiles (NaN with fewer than two);
* **drift slope** = the least-squares slope of the windows' alignment (Spearman with the target,
  or with the pooled profile when there is no target) on the window's middle turn, each window
  weighted by its decisions, per 100 turns;
* **drift test**: the same slope recomputed with the decisions shuffled within their session
  (``n_perm`` times; all the shuffled windows fitted in one batched solve). The two-sided
  p-value is ``(1 + #|null| >= |observed|) / (1 + #usable)``; the effect size is the observed
  slope in null standard deviations (``z``). "drift" is called at ``p < alpha``; with fewer than
  two scorable windows, or a non-significant test on fewer than ``DRIFT_MIN_DECISIONS``
  decisions (too little power to rule drift out), the verdict is "too short to tell";
* **time to drift** = the first turn of the first window whose alignment falls below the
  threshold (None when none does), descriptive only.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from value_spectrum.scoring.logistic import fit_designs
from value_spectrum.scoring.resample import permutation_orders
from value_spectrum.scoring.revealed import (
    MIN_DECISIONS,
    DecisionTable,
    Decomposition,
    fit_decomposition,
    rowwise_spearman,
)
from value_spectrum.values import ValueProfile, mrat_centre, pearson, spearman

DEFAULT_WINDOW = 50
"""The paper's window: the like ratio of the first and last 50 videos."""
MIN_AUTO_WINDOW = MIN_DECISIONS
"""Smallest window :func:`auto_window` picks (a window needs ``MIN_DECISIONS`` to be scored)."""
DRIFT_THRESHOLD = 0.5
"""Alignment below which a window counts as drifted (descriptive ``time_to_drift``)."""
DRIFT_ALPHA = 0.05
"""Level of the permutation test of drift."""
N_PERM = 100
"""Permutations of the drift test."""
DRIFT_MIN_DECISIONS = 120
"""Fewest decisions (of a group, sessions pooled by turn) at which "no drift detected" is said;
below, a test that finds nothing says "too short to tell". In the calibration on the demo corpus
(a planted drift to 75% of the mirror profile) the test's power was 0.34 at 60 decisions, 0.45
at 90, 0.69 at 120 and 0.89 at 200, with at most 5% false positives at every length."""


def auto_window(n_turns: int) -> int:
    """A window that gives about three windows per session, between ``MIN_AUTO_WINDOW`` and 50
    turns: a 150-turn session (the paper's) gets windows of 50."""
    return max(MIN_AUTO_WINDOW, min(DEFAULT_WINDOW, n_turns // 3))


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
    """Spearman with the reference profile (NaN: undefined)."""
    reason: str = ""
    """Why the profile is None."""
    likes: int = 0
    """Likes among its decisions."""


@dataclass(frozen=True)
class DriftTest:
    """The permutation test of the drift slope."""

    verdict: str
    """'drift', 'no drift detected' or 'too short to tell'."""
    p_value: float
    """Two-sided permutation p-value (NaN: not tested)."""
    z: float
    """Observed slope in standard deviations of the null slopes (NaN: not tested)."""
    change: float
    """Fitted change of alignment from the first to the last window's middle turn (NaN)."""
    n_perm: int
    """Permutations drawn."""
    n_ok: int
    """Permutations whose slope could be computed."""
    alpha: float
    """The test's level."""
    reference: str
    """What alignment is measured against: 'target' or 'pooled profile'."""


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
    """Decision-weighted change of alignment per 100 turns (NaN: fewer than two windows)."""
    time_to_drift: int | None
    """First turn of the first window whose alignment < ``threshold``; None when none."""
    threshold: float
    """The drift threshold used."""
    reason: str = ""
    """Why stability / drift are undefined."""
    test: DriftTest | None = None
    """The permutation test (None when not run)."""


def weighted_slope(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted least-squares slopes of each row of ``y`` on ``x`` (NaN entries of ``y`` get
    weight 0); NaN where fewer than two points remain or ``x`` has no spread among them."""
    y = np.atleast_2d(y)
    ww = np.where(np.isfinite(y), w[None, :], 0.0)
    yy = np.nan_to_num(y)
    sw = ww.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = (ww * x).sum(axis=1) / sw
        my = (ww * yy).sum(axis=1) / sw
        dx = x[None, :] - mx[:, None]
        sxx = (ww * dx * dx).sum(axis=1)
        sxy = (ww * dx * (yy - my[:, None])).sum(axis=1)
        slope = sxy / sxx
    enough = (ww > 0).sum(axis=1) >= 2
    return np.where(enough & (sxx > 1e-12), slope, np.nan)


def _window_alignments(
    table: DecisionTable, index: np.ndarray, reference: np.ndarray, min_decisions: int
) -> np.ndarray:
    """Alignment with ``reference`` of the fit on each row of ``index`` (decision positions, one
    window of one permutation per row, all rows the same size); NaN where not scorable. All rows
    are fitted in one batched solve on their own small designs."""
    out = np.full(index.shape[0], np.nan)
    if index.shape[1] == 0:
        return out
    x, y = table.x[index], table.y[index]
    likes = y.sum(axis=1)
    ok = (
        (index.shape[1] >= min_decisions)
        & (likes > 0)
        & (likes < index.shape[1])
        & np.all(x.max(axis=1) > 0, axis=1)
    )
    if not ok.any():
        return out
    fit = fit_designs(x[ok], y[ok], max_iter=30, tol=1e-3)
    rho = rowwise_spearman(mrat_centre(np.nan_to_num(fit.weights)), reference)
    out[ok] = np.where(fit.converged, rho, np.nan)
    return out


def consistency(
    table: DecisionTable,
    target: ValueProfile | None,
    *,
    window: int = DEFAULT_WINDOW,
    threshold: float = DRIFT_THRESHOLD,
    min_decisions: int = MIN_DECISIONS,
    n_perm: int = N_PERM,
    alpha: float = DRIFT_ALPHA,
    seed: int = 0,
    pooled: Decomposition | None = None,
) -> Consistency:
    """Score windows of ``window`` turns over ``table`` (one session or several pooled by turn)
    and, with ``n_perm`` > 0, test the drift slope against shuffled turns. ``pooled`` is the
    whole table's decomposition when the caller has it (reused, not refitted)."""
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window!r}")
    last_turn = int(table.turn.max()) if len(table) else -1
    starts = list(range(0, last_turn + 1, window))
    wins: list[Window] = []
    reference = None if target is None else target.centred().as_array()
    ref_name = "target"
    if reference is None:
        pooled = pooled or fit_decomposition(table, min_decisions=min_decisions)
        reference = pooled.weights
        ref_name = "pooled profile"
    for start in starts:
        idx = np.flatnonzero((table.turn >= start) & (table.turn < start + window))
        sub = table.subset(idx)
        whole = pooled is not None and idx.size == len(table)
        d = (
            pooled
            if whole and pooled is not None
            else fit_decomposition(sub, min_decisions=min_decisions)
        )
        prof = None if d.weights is None else ValueProfile.from_array(d.weights)
        al = (
            spearman(d.weights, reference)
            if d.weights is not None and reference is not None
            else math.nan
        )
        rate = 100.0 * float(sub.y.mean()) if len(sub) else math.nan
        wins.append(
            Window(start, start + window, len(sub), rate, prof, al, d.reason, int(sub.y.sum()))
        )
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
        reason = (
            f"too short to tell: needs two scorable windows of {window} turns "
            f"(at least {min_decisions} decisions each), got {len(scorable)}"
        )
    mids = np.array([(w.start + w.end - 1) / 2.0 for w in wins])
    weights = np.array([float(w.n_decisions) for w in wins])
    als = np.array([w.alignment for w in wins])
    slope = float(weighted_slope(mids, als, weights)[0]) * 100.0 if wins else math.nan
    ttd = next(
        (w.start for w in scorable if math.isfinite(w.alignment) and w.alignment < threshold), None
    )
    test = None
    if n_perm > 0:
        test = _drift_test(
            table,
            starts,
            window,
            mids,
            weights,
            slope,
            reference,
            ref_name,
            min_decisions=min_decisions,
            n_perm=n_perm,
            alpha=alpha,
            seed=seed,
            enough=len(scorable) >= 2,
        )
    return Consistency(window, tuple(wins), stability, slope, ttd, threshold, reason, test)


def _drift_test(
    table: DecisionTable,
    starts: list[int],
    window: int,
    mids: np.ndarray,
    weights: np.ndarray,
    slope: float,
    reference: np.ndarray | None,
    ref_name: str,
    *,
    min_decisions: int,
    n_perm: int,
    alpha: float,
    seed: int,
    enough: bool,
) -> DriftTest:
    nan = math.nan
    if not enough or reference is None or not math.isfinite(slope):
        return DriftTest("too short to tell", nan, nan, nan, n_perm, 0, alpha, ref_name)
    orders = permutation_orders(table.session, n_perm, seed=seed)
    k = len(starts)
    als = np.full((n_perm, k), np.nan)
    turns = table.turn[orders]  # (n_perm, n): the turn each decision takes in each permutation
    for j, start in enumerate(starts):
        inside = (turns >= start) & (turns < start + window)
        size = int(inside[0].sum())
        index = (
            np.vstack([np.flatnonzero(row) for row in inside])
            if size
            else np.zeros((n_perm, 0), dtype=int)
        )
        als[:, j] = _window_alignments(table, index, reference, min_decisions)
    null = weighted_slope(mids, als, weights) * 100.0
    null = null[np.isfinite(null)]
    if null.size < 20:
        return DriftTest(
            "too short to tell", nan, nan, nan, n_perm, int(null.size), alpha, ref_name
        )
    p_value = float((1 + np.sum(np.abs(null) >= abs(slope) - 1e-12)) / (1 + null.size))
    sd = float(np.std(null, ddof=1))
    z = (slope - float(np.mean(null))) / sd if sd > 0 else nan
    span = float(mids[-1] - mids[0]) if mids.size >= 2 else 0.0
    if p_value < alpha:
        verdict = "drift"
    elif len(table) < DRIFT_MIN_DECISIONS:
        verdict = "too short to tell"
    else:
        verdict = "no drift detected"
    return DriftTest(
        verdict, p_value, z, slope * span / 100.0, n_perm, int(null.size), alpha, ref_name
    )
