"""Checks on revealed profiles: the manipulation check against the reference viewer's injected
weights (calibration slope with its interval), and a circumplex check over groups.

* **calibration slope**: the revealed centred weights ``r`` regressed through the origin on the
  injected ones ``t = beta x centred(target)``: ``s = r.t / t.t``, with Wald variance
  ``t' Cov(r) t / (t.t)^2``. 1 means the weights are recovered at their size; below 1 they are
  shrunk, above inflated. Recovery (rank) is the Spearman correlation, reported apart.
* **circumplex**: per profile, the share of its variance a sinusoid over the value angles
  explains (circle fit r^2); across groups, the correlation of adjacent values' weights (the
  theory predicts positive) against that of opposite values (predicted negative).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from value_spectrum.records import Trajectory
from value_spectrum.scoring.revealed import Revealed
from value_spectrum.values import VALUE_IDS, ValueProfile, circle_fit, pearson

_Z = 1.959963984540054
MIN_GROUPS = 5
"""Fewest scored groups for the across-group circumplex correlations."""


def reference_params(traj: Trajectory) -> dict[str, float] | None:
    """The reference viewer's beta and bias recorded in a trajectory, or None."""
    for key in ("viewer", "reference"):
        sub = traj.extra.get(key)
        if not isinstance(sub, Mapping):
            continue
        if key == "viewer" and sub.get("viewer") != "reference":
            continue
        beta = sub.get("beta")
        if isinstance(beta, int | float) and not isinstance(beta, bool):
            bias = sub.get("bias", 0.0)
            return {
                "beta": float(beta),
                "bias": float(bias) if isinstance(bias, int | float) else 0.0,
            }
    return None


def calibration_slope(rev: Revealed, injected: ValueProfile, beta: float) -> dict[str, Any]:
    """Slope of the revealed weights on the injected ones (``beta x centred(injected)``), with a
    95% Wald interval; ``reason`` says why it is missing."""
    t = injected.centred().as_array() * float(beta)
    tt = float(t @ t)
    if rev.profile is None or rev.cov is None:
        return {"slope": None, "ci": None, "reason": rev.reason or "profile cannot be scored"}
    if tt <= 1e-12:
        return {"slope": None, "ci": None, "reason": "the injected weights are flat (beta 0?)"}
    r = rev.profile.as_array()
    slope = float(r @ t) / tt
    se = math.sqrt(max(float(t @ rev.cov @ t), 0.0)) / tt
    return {
        "slope": round(slope, 6),
        "ci": [round(slope - _Z * se, 6), round(slope + _Z * se, 6)],
        "reason": "",
    }


def circumplex_check(profiles: Sequence[Mapping[str, float] | None]) -> dict[str, Any]:
    """Circle-fit r^2 per scored profile (median reported) and, over at least ``MIN_GROUPS``
    groups, the mean correlation across groups of adjacent and of opposite values' weights."""
    scored = [np.array([p[v] for v in VALUE_IDS]) for p in profiles if p is not None]
    if not scored:
        return {"n_groups": 0, "reason": "no scored profile"}
    r2 = [circle_fit(ValueProfile.from_array(w)).r2 for w in scored]
    finite = [x for x in r2 if math.isfinite(x)]
    out: dict[str, Any] = {
        "n_groups": len(scored),
        "median_circle_r2": round(float(np.median(finite)), 6) if finite else None,
        "adjacent_r": None,
        "opposite_r": None,
        "reason": "",
    }
    if len(scored) < MIN_GROUPS:
        out["reason"] = f"adjacent-value correlations need {MIN_GROUPS} scored groups"
        return out
    m = np.vstack(scored)
    k = len(VALUE_IDS)
    adj = [pearson(m[:, i], m[:, (i + 1) % k]) for i in range(k)]
    opp = [pearson(m[:, i], m[:, (i + k // 2) % k]) for i in range(k // 2)]
    fa = [x for x in adj if math.isfinite(x)]
    fo = [x for x in opp if math.isfinite(x)]
    out["adjacent_r"] = round(float(np.mean(fa)), 6) if fa else None
    out["opposite_r"] = round(float(np.mean(fo)), 6) if fo else None
    return out
