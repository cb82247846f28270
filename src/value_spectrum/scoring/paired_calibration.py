"""Calibration of the paired statistics by simulation: two reference viewers decide on the same
videos turn by turn (as a fork and its parent, or two ``--feed replay`` runs, do), and the truth
is known from the choice model.

Each repetition draws ``sessions`` sessions of ``decisions`` videos uniformly (with replacement)
from the labelled corpus and asks both sides of a pair on every turn:

* **null**: both sides are the same choice model (persona, beta, bias) with independent draws (two
  seeds): the true difference is 0 for every value;
* **alternative**: side b's baseline log-odds is shifted by ``shift``: the true difference of a
  value is the mean over the corpus's videos of that primary value of ``p_b(v) - p_a(v)``
  (``p_like`` of the choice model), and overall the mean over every labelled video;
* with ``session_sd`` > 0, side b's log-odds also moves by a random offset per session
  (``N(0, session_sd)``), shared by the session's turns: the pairs are then clustered by session,
  as an LLM viewer's may be, and the truth integrates the offset out.

Measured (over repetitions, per value and overall): the coverage of Newcombe's paired interval
and the exact McNemar test's rejection rate at ``alpha`` (type-I error under the null, power
under the alternative), overall the same two for the cluster-robust interval and test by session,
and the interval's width.
The personas' targets are used in turn, one per repetition.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np

from value_spectrum.personas.model import Persona
from value_spectrum.records import Observation, Outcome, Video
from value_spectrum.scoring.calibration import Reply
from value_spectrum.scoring.paired import MIN_CLUSTERS, PairedStat, Pairs, per_value
from value_spectrum.scoring.resample import group_seed
from value_spectrum.values import VALUE_IDS


class PairedChoiceModel(Protocol):
    """What the paired calibration needs of a viewer: a seeded decision and its probability."""

    def decide_sync(self, persona: Persona | None, observation: Observation) -> Reply:
        """Like or skip ``observation`` as ``persona``."""
        ...

    def p_like(self, persona: Persona | None, video_id: str) -> float:
        """The noiseless probability of a like."""
        ...


@dataclass(frozen=True)
class PairedDesign:
    """What one paired calibration simulates."""

    decisions: int = 30
    """Paired decisions per session."""
    sessions: int = 10
    """Session pairs per repetition."""
    reps: int = 500
    """Repetitions."""
    shift: float = 0.5
    """Side b's log-odds shift in the alternative (0: measure the null only)."""
    alpha: float = 0.05
    """Level of the McNemar test."""
    session_sd: float = 0.0
    """SD of a per-session log-odds offset of side b (a viewer whose mood varies by session: its
    turns are then not independent within a session); 0: none."""
    seed: int = 0
    """Seed of the whole calibration."""


@dataclass(frozen=True)
class PairedCalibration:
    """The measured calibration of one design: ``null`` and ``alternative`` each map ``all`` and
    every value id to coverage, rejection rate, mean width (pp) and the mean truth (pp)."""

    design: PairedDesign
    """What was simulated."""
    null: dict[str, dict[str, float | None]]
    """Nothing planted."""
    alternative: dict[str, dict[str, float | None]]
    """Side b shifted by ``design.shift`` (empty when the shift is 0)."""

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return {"design": asdict(self.design), "null": self.null, "alternative": self.alternative}

    def summary(self, which: str = "null") -> dict[str, float | None]:
        """Overall (``all``) and the mean and worst over values of one arm."""
        arm = self.null if which == "null" else self.alternative
        vals = [arm[v] for v in VALUE_IDS if v in arm and arm[v]["coverage"] is not None]
        out = dict(arm.get("all", {}))
        if vals:
            out["coverage_values_mean"] = _r(float(np.mean([float(v["coverage"] or 0) for v in vals])))
            out["coverage_values_min"] = _r(float(np.min([float(v["coverage"] or 0) for v in vals])))
            out["reject_values_mean"] = _r(float(np.mean([float(v["reject"] or 0) for v in vals])))
        return out


def _r(x: float | None, nd: int = 4) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), nd)


def _truths(make_model: Callable[[int, float], PairedChoiceModel], shift: float, sd: float, persona: Persona,
            pool: Sequence[Video]) -> dict[str, float]:
    """Per value and overall: the mean over videos of ``E[p_b(v)] - p_a(v)``, side b's offset
    ``shift + u`` with ``u ~ N(0, sd)`` integrated by Gauss-Hermite quadrature."""
    a = make_model(0, 0.0)
    if sd > 0:
        nodes, weights = np.polynomial.hermite_e.hermegauss(11)
        weights = weights / weights.sum()
    else:
        nodes, weights = np.zeros(1), np.ones(1)
    sides = [(float(w), make_model(0, shift + sd * float(x))) for x, w in zip(nodes, weights, strict=True)]
    diffs = {v.id: sum(w * m.p_like(persona, v.id) for w, m in sides) - a.p_like(persona, v.id) for v in pool}
    out = {"all": float(np.mean(list(diffs.values())))}
    for value in VALUE_IDS:
        ids = [v.id for v in pool if v.primary_value == value]
        if ids:
            out[value] = float(np.mean([diffs[i] for i in ids]))
    return out


def _arm(
    d: PairedDesign, pool: Sequence[Video], personas: Sequence[Persona],
    make_model: Callable[[int, float], PairedChoiceModel], shift: float, arm: str,
) -> dict[str, dict[str, float | None]]:
    hits: dict[str, list[bool]] = {}
    rejects: dict[str, list[bool]] = {}
    widths: dict[str, list[float]] = {}
    truths: dict[str, list[float]] = {}
    cluster_hits: list[bool] = []
    cluster_rejects: list[bool] = []
    primary = np.array([v.primary_value or "" for v in pool], dtype=object)
    truth_of: dict[str, dict[str, float]] = {}  # p_like is noiseless: the truth depends on the persona only
    for r in range(d.reps):
        persona = personas[r % len(personas)]
        rng = np.random.default_rng(group_seed(d.seed, "paired", arm, str(r)))
        a = make_model(int(rng.integers(0, 2**31)), 0.0)
        seed_b = int(rng.integers(0, 2**31))
        if persona.id not in truth_of:
            truth_of[persona.id] = _truths(make_model, shift, d.session_sd, persona, pool)
        truth = truth_of[persona.id]
        picks = rng.integers(0, len(pool), size=(d.sessions, d.decisions))
        offsets = rng.normal(0.0, d.session_sd, size=d.sessions) if d.session_sd > 0 else np.zeros(d.sessions)
        bs = [make_model(seed_b, shift + float(u)) for u in offsets]
        la, lb = np.zeros(picks.size, dtype=int), np.zeros(picks.size, dtype=int)
        for k, (s, t) in enumerate(np.ndindex(picks.shape)):
            obs = Observation(turn=t, video_id=pool[int(picks[s, t])].id)
            la[k] = a.decide_sync(persona, obs).outcome is Outcome.LIKE
            lb[k] = bs[s].decide_sync(persona, obs).outcome is Outcome.LIKE
        pairs = Pairs(la, lb, primary[picks.ravel()], np.repeat(np.arange(d.sessions), d.decisions))
        stats: list[tuple[str, PairedStat, float]] = per_value(pairs, VALUE_IDS)
        for value, st, _ in stats:
            if value not in truth or not math.isfinite(st.low):
                continue
            tv = truth[value]
            hits.setdefault(value, []).append(st.low <= tv <= st.high)
            rejects.setdefault(value, []).append(st.p < d.alpha)
            widths.setdefault(value, []).append(st.high - st.low)
            truths.setdefault(value, []).append(tv)
            if value == "all" and math.isfinite(st.cluster_low):
                cluster_hits.append(st.cluster_low <= tv <= st.cluster_high)
                cluster_rejects.append(st.cluster_p < d.alpha)
    out: dict[str, dict[str, float | None]] = {}
    for value in ["all", *VALUE_IDS]:
        if value not in hits:
            continue
        out[value] = {
            "scored": float(len(hits[value])),
            "coverage": _r(float(np.mean(hits[value]))),
            "reject": _r(float(np.mean(rejects[value]))),
            "width_pp": _r(100 * float(np.mean(widths[value])), 2),
            "truth_pp": _r(100 * float(np.mean(truths[value])), 2),
        }
    if cluster_hits:
        out["all"]["cluster_coverage"] = _r(float(np.mean(cluster_hits)))
        out["all"]["cluster_reject"] = _r(float(np.mean(cluster_rejects)))
    return out


def calibrate_paired(
    videos: Sequence[Video],
    personas: Sequence[Persona],
    make_model: Callable[[int, float], PairedChoiceModel],
    design: PairedDesign | None = None,
) -> PairedCalibration:
    """Simulate paired sessions with known truth and measure the paired statistics.

    Args:
        videos: The labelled corpus (videos without labels are never shown).
        personas: Known profiles, one per repetition in turn.
        make_model: ``(seed, bias shift) -> choice model`` (e.g. ``lambda s, h:
            ReferenceViewer(labels, bias=h, seed=s)``).
        design: What to simulate.

    Raises:
        ValueError: without labelled videos or personas, or a design below one decision.
    """
    d = design or PairedDesign()
    if d.decisions < 1 or d.sessions < 1 or d.reps < 1:
        raise ValueError("decisions, sessions and reps must each be at least 1")
    pool = [v for v in videos if v.values is not None]
    if not pool or not personas:
        raise ValueError("calibration needs labelled videos and at least one persona")
    null = _arm(d, pool, personas, make_model, 0.0, "null")
    alt = _arm(d, pool, personas, make_model, d.shift, "alternative") if d.shift else {}
    return PairedCalibration(d, null, alt)


__all__ = ["MIN_CLUSTERS", "PairedCalibration", "PairedChoiceModel", "PairedDesign", "calibrate_paired"]
