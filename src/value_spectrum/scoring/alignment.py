"""Persona alignment: how far a revealed (or stated) profile matches the persona's target.

All comparisons are on MRAT-centred profiles (priorities, not levels). Spearman and Pearson are
undefined (NaN) when either profile is flat; the circle distance is undefined when either has no
direction on the circle. Each undefined metric is None in reports, with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from value_spectrum.records import Outcome, Step
from value_spectrum.values import ValueProfile, circular_mean_angle, pearson, spearman

STEER_WINDOW = 50
"""Decisions compared at each end of a session for steerability (the paper's 50 videos)."""
STEER_MIN = 5
"""Fewest decisions per end below which steerability is not computed."""


@dataclass(frozen=True)
class Alignment:
    """Agreement between a profile and a target."""

    spearman: float
    """Spearman rank correlation of the centred profiles (NaN: undefined)."""
    pearson: float
    """Pearson correlation of the centred profiles (NaN: undefined)."""
    top3_overlap: int
    """How many of the target's top three values are among the profile's top three (0-3)."""
    circle_distance_deg: float
    """Angle (0-180 degrees) between the two profiles' circular mean directions (NaN: one is
    directionless)."""
    reason: str = ""
    """Why the correlations are undefined, when they are."""


def align(
    profile: ValueProfile | None, target: ValueProfile | None, *, reason: str = ""
) -> Alignment:
    """Compare ``profile`` with ``target``; either may be missing (then every metric is NaN and
    ``reason`` says why)."""
    if profile is None or target is None:
        why = reason or (
            "no target profile for this persona" if target is None else "profile cannot be scored"
        )
        return Alignment(math.nan, math.nan, 0, math.nan, why)
    p, t = profile.centred(), target.centred()
    rho, r = spearman(p, t), pearson(p, t)
    why = ""
    if math.isnan(rho):
        why = "a profile is flat (all values equal); correlation undefined"
    overlap = len(set(p.top_k(3)) & set(t.top_k(3)))
    a, b = circular_mean_angle(p), circular_mean_angle(t)
    dist = math.nan
    if a is not None and b is not None:
        d = abs(a - b) % 360.0
        dist = min(d, 360.0 - d)
    return Alignment(rho, r, overlap, dist, why)


@dataclass(frozen=True)
class Steerability:
    """The paper's persona steerability: the like ratio's change from the first to the last
    ``window`` decisions of a session."""

    window: int
    """Decisions compared at each end."""
    first_rate: float
    """Like ratio (0-1) over the first ``window`` decisions (NaN: not computed)."""
    last_rate: float
    """Like ratio (0-1) over the last ``window`` decisions."""
    change_pp: float
    """(last - first) x 100: the change in percentage points."""
    change_rel_pct: float
    """(last - first) / first x 100: the relative change in percent (NaN when first is 0)."""
    reason: str = ""
    """Why it was not computed."""


def steerability(steps: Sequence[Step], *, window: int = STEER_WINDOW) -> Steerability:
    """Steerability over one session's like/skip decisions (other outcomes are left out).

    The window is ``window`` decisions, or a third of the decisions when the session has fewer
    than ``3 * window``, so the two ends never overlap.
    """
    ys = [
        1.0 if s.outcome is Outcome.LIKE else 0.0
        for s in steps
        if s.outcome in (Outcome.LIKE, Outcome.SKIP)
    ]
    n = min(window, len(ys) // 3) if len(ys) < 3 * window else window
    if n < STEER_MIN:
        return Steerability(
            n,
            math.nan,
            math.nan,
            math.nan,
            math.nan,
            f"too few decisions ({len(ys)}) for two ends of at least {STEER_MIN}",
        )
    first = float(np.mean(ys[:n]))
    last = float(np.mean(ys[-n:]))
    rel = math.nan if first == 0.0 else (last - first) / first * 100.0
    return Steerability(n, first, last, (last - first) * 100.0, rel)


@dataclass(frozen=True)
class SteerabilityTest:
    """The group's steerability (the mean over sessions) against a permutation null."""

    mean_pp: float
    """Mean over sessions of ``change_pp`` (NaN: no session computed)."""
    mean_rel_pct: float
    """Mean over sessions of ``change_rel_pct``: the paper's I_avg as we read it ("percentage
    change of the like ratio", averaged over sessions)."""
    p_value: float
    """Two-sided permutation p-value of ``mean_pp`` (decisions shuffled within sessions)."""
    null_sd_pp: float
    """Standard deviation of ``mean_pp`` under the null: the spread with nothing planted."""
    n_perm: int
    """Permutations drawn."""


def steerability_test(
    sessions: Sequence[Sequence[Step]],
    *,
    window: int = STEER_WINDOW,
    n_perm: int = 200,
    seed: int = 0,
) -> SteerabilityTest:
    """Steerability per session, averaged, with a permutation null: the same mean change with
    each session's like/skip decisions shuffled (no change over the session)."""
    ys: list[np.ndarray] = []
    ns: list[int] = []
    pps, rels = [], []
    for steps in sessions:
        st = steerability(steps, window=window)
        if not math.isfinite(st.change_pp):
            continue
        pps.append(st.change_pp)
        if math.isfinite(st.change_rel_pct):
            rels.append(st.change_rel_pct)
        ys.append(
            np.array(
                [
                    1.0 if s.outcome is Outcome.LIKE else 0.0
                    for s in steps
                    if s.outcome in (Outcome.LIKE, Outcome.SKIP)
                ]
            )
        )
        ns.append(st.window)
    nan = math.nan
    if not pps:
        return SteerabilityTest(nan, nan, nan, nan, n_perm)
    mean_pp = float(np.mean(pps))
    mean_rel = float(np.mean(rels)) if rels else nan
    if n_perm <= 0:
        return SteerabilityTest(mean_pp, mean_rel, nan, nan, 0)
    rng = np.random.default_rng(seed)
    null = np.zeros(n_perm)
    for y, n in zip(ys, ns, strict=True):
        perm = rng.permuted(np.tile(y, (n_perm, 1)), axis=1)
        null += (perm[:, -n:].mean(axis=1) - perm[:, :n].mean(axis=1)) * 100.0
    null /= len(ys)
    p = float((1 + np.sum(np.abs(null) >= abs(mean_pp) - 1e-12)) / (1 + n_perm))
    return SteerabilityTest(mean_pp, mean_rel, p, float(np.std(null, ddof=1)), n_perm)
