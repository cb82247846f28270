"""Calibration by simulation: score sessions of a choice model whose truth is known, and measure
how well the report's statistics do on a given design (decisions per session, sessions).

The choice model is the reference viewer's, ``P(like) = sigmoid(beta * centred(target) . labels
+ bias)``, passed in as an object with ``decide_sync(persona, observation)`` (the CLI gives it
:class:`value_spectrum.agents.reference.ReferenceViewer`; scoring does not import agents). Each
repetition takes a known profile (the built-in personas' targets in turn), draws ``sessions``
sessions of ``decisions`` videos uniformly from the labelled corpus, and scores them as the report
does. The truth is ``beta x centred(target)``. Reported, per value and overall:

* **coverage**: share of repetitions whose interval holds the truth (nominal ``level``);
* **bias** (mean of estimate - truth), **width** (mean interval width);
* **recovery**: Spearman between estimate and truth (median and SD over repetitions) and the
  calibration slope (revealed on injected; 1 = recovered at size); the same two for the
  smoothed estimate (default ridge + circle prior), to show what the prior does;
* **drift**: the permutation test's false-positive rate (share of tested groups with p < alpha)
  with nothing planted, and its power with a drift planted (the target moved linearly toward its
  mirror image ``1 - target`` over each session, reaching ``drift`` of the way at the last turn);
  the share of groups whose verdict is "too short to tell" with nothing planted;
* **steerability**: its spread (SD over repetitions, pp) with nothing planted.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from value_spectrum.personas.model import Persona
from value_spectrum.records import Decision, Observation, Outcome, Step, Trajectory, Video
from value_spectrum.scoring.alignment import steerability_test
from value_spectrum.scoring.consistency import auto_window, consistency
from value_spectrum.scoring.resample import group_seed
from value_spectrum.scoring.revealed import (
    DEFAULT_CIRCLE_PRIOR,
    DEFAULT_L2,
    LEVEL,
    MIN_DECISIONS,
    decision_table,
    fit_decomposition,
    revealed_profile,
)
from value_spectrum.scoring.rundir import LabelledVideo
from value_spectrum.values import VALUE_IDS, ValueProfile, spearman

logger = logging.getLogger(__name__)

DEFAULT_DRIFT = 0.75
"""Planted drift: the share of the way from the target to its mirror image at the last turn."""


class Reply(Protocol):
    """What calibration reads of a decision: its outcome."""

    @property
    def outcome(self) -> Outcome:
        """like, skip, ..."""
        ...


class ChoiceModel(Protocol):
    """What calibration needs of a viewer: a synchronous, seeded decision."""

    beta: float
    bias: float

    def decide_sync(self, persona: Persona | None, observation: Observation) -> Reply:
        """Like or skip ``observation`` as ``persona``."""
        ...


@dataclass(frozen=True)
class Design:
    """What one calibration run simulates."""

    decisions: int = 200
    """Decisions per session."""
    sessions: int = 1
    """Sessions per group."""
    reps: int = 100
    """Repetitions (groups simulated)."""
    seed: int = 0
    """Seed of the whole calibration."""
    ci: str = "wald"
    """Interval method under test (see ``revealed.CI_METHODS``)."""
    n_perm: int = 100
    """Permutations of the drift test."""
    drift: float = DEFAULT_DRIFT
    """Planted drift for the power estimate (0: skip the power estimate)."""
    level: float = LEVEL
    """Nominal coverage."""
    min_decisions: int = MIN_DECISIONS
    """As in the report."""


@dataclass(frozen=True)
class Calibration:
    """The measured calibration of one design."""

    design: Design
    """What was simulated."""
    beta: float
    """The choice model's beta."""
    per_value: dict[str, dict[str, float | None]]
    """Value id -> coverage, bias, width."""
    overall: dict[str, float | None]
    """Mean and minimum coverage, mean |bias|, mean width, recovery, calibration slope,
    cannot-score share."""
    drift: dict[str, float | None]
    """False-positive rate, power, share too short to tell, the window."""
    steerability: dict[str, float | None]
    """Null spread of steerability (pp and relative)."""
    reasons: dict[str, int] = field(default_factory=dict)
    """Why repetitions could not be scored, with counts."""

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return {
            "design": self.design.__dict__,
            "beta": self.beta,
            "per_value": self.per_value,
            "overall": self.overall,
            "drift": self.drift,
            "steerability": self.steerability,
            "reasons": self.reasons,
        }


def _session(
    model: ChoiceModel,
    persona: Persona,
    video_ids: Sequence[str],
    *,
    session_id: str,
    drifted: Callable[[int], Persona] | None = None,
) -> Trajectory:
    steps = []
    for turn, vid in enumerate(video_ids):
        who = drifted(turn) if drifted is not None else persona
        reply = model.decide_sync(who, Observation(turn=turn, video_id=vid))
        o = reply.outcome
        dec = Decision(action=o.value) if o in (Outcome.LIKE, Outcome.SKIP) else None  # type: ignore[arg-type]
        steps.append(Step(turn=turn, video_id=vid, outcome=o, decision=dec))
    return Trajectory(
        session_id=session_id, persona_id=persona.id, model="reference", steps=tuple(steps)
    )


def _drifting(persona: Persona, n: int, strength: float) -> Callable[[int], Persona]:
    t = persona.target.as_array()
    cache: dict[int, Persona] = {}

    def at(turn: int) -> Persona:
        lam = strength * turn / max(1, n - 1)
        key = round(lam * 1000)
        if key not in cache:
            prof = ValueProfile.from_array(np.clip((1 - lam) * t + lam * (1 - t), 0.0, 1.0))
            cache[key] = persona.model_copy(update={"target": prof})
        return cache[key]

    return at


def calibrate(
    videos: Sequence[Video],
    personas: Sequence[Persona],
    make_model: Callable[[int], ChoiceModel],
    design: Design | None = None,
) -> Calibration:
    """Simulate ``design.reps`` groups with known profiles and measure the statistics.

    Args:
        videos: The labelled corpus (videos without labels are never shown).
        personas: Known profiles, used in turn.
        make_model: Seed -> a choice model (e.g. ``lambda s: ReferenceViewer(labels, seed=s)``).
        design: What to simulate.

    Raises:
        ValueError: without labelled videos or personas, or a design below one decision.
    """
    d = design or Design()
    if d.decisions < 1 or d.sessions < 1 or d.reps < 1:
        raise ValueError("decisions, sessions and reps must each be at least 1")
    pool = [v for v in videos if v.values is not None]
    if not pool or not personas:
        raise ValueError("calibration needs labelled videos and at least one persona")
    labels = {v.id: LabelledVideo(v.id, v.values, v.primary_value, v.title) for v in pool}
    ids = [v.id for v in pool]
    k = len(VALUE_IDS)
    hits = np.zeros((0, k))
    errors = np.zeros((0, k))
    widths = np.zeros((0, k))
    recov: list[float] = []
    slopes: list[float] = []
    smooth_recov: list[float] = []
    smooth_slopes: list[float] = []
    reasons: dict[str, int] = {}
    flagged_null: list[bool] = []
    flagged_planted: list[bool] = []
    short = 0
    steer_pp: list[float] = []
    steer_rel: list[float] = []
    beta = math.nan
    window = auto_window(d.decisions)
    for r in range(d.reps):
        persona = personas[r % len(personas)]
        rng = np.random.default_rng(group_seed(d.seed, "calibrate", str(r)))
        model = make_model(int(rng.integers(0, 2**31)))
        beta = float(model.beta)
        feeds = [rng.choice(len(ids), size=d.decisions) for _ in range(d.sessions)]
        trajs = [
            _session(model, persona, [ids[i] for i in f], session_id=f"r{r}-s{s}")
            for s, f in enumerate(feeds)
        ]
        table = decision_table(trajs, labels)
        truth = persona.target.centred().as_array() * beta
        rev = revealed_profile(
            table,
            min_decisions=d.min_decisions,
            ci=d.ci,
            level=d.level,
            seed=r,
            l2=0.0,
            circle_prior=0.0,
        )
        if rev.profile is None or rev.ci is None or not np.all(np.isfinite(rev.ci.low)):
            key = rev.reason.split(" (")[0] or "no interval"
            reasons[key] = reasons.get(key, 0) + 1
        else:
            est = rev.profile.as_array()
            hits = np.vstack([hits, (rev.ci.low <= truth) & (truth <= rev.ci.high)])
            errors = np.vstack([errors, est - truth])
            widths = np.vstack([widths, rev.ci.high - rev.ci.low])
            recov.append(spearman(est, truth))
            tt = float(truth @ truth)
            if tt > 0:
                slopes.append(float(est @ truth) / tt)
            sm = fit_decomposition(
                table,
                l2=DEFAULT_L2,
                circle_prior=DEFAULT_CIRCLE_PRIOR,
                min_decisions=d.min_decisions,
            )
            if sm.weights is not None and tt > 0:
                smooth_recov.append(spearman(sm.weights, truth))
                smooth_slopes.append(float(sm.weights @ truth) / tt)
        seed = group_seed(d.seed, "drift", str(r))
        cons = consistency(
            table,
            persona.target,
            window=window,
            min_decisions=d.min_decisions,
            n_perm=d.n_perm,
            seed=seed,
        )
        if cons.test is None or cons.test.verdict == "too short to tell":
            short += 1
        if cons.test is not None and math.isfinite(cons.test.p_value):
            flagged_null.append(cons.test.verdict == "drift")
        st = steerability_test([t.steps for t in trajs], n_perm=0)
        if math.isfinite(st.mean_pp):
            steer_pp.append(st.mean_pp)
        if math.isfinite(st.mean_rel_pct):
            steer_rel.append(st.mean_rel_pct)
        if d.drift > 0:
            planted = [
                _session(
                    model,
                    persona,
                    [ids[i] for i in f],
                    session_id=f"r{r}-d{s}",
                    drifted=_drifting(persona, d.decisions, d.drift),
                )
                for s, f in enumerate(feeds)
            ]
            pc = consistency(
                decision_table(planted, labels),
                persona.target,
                window=window,
                min_decisions=d.min_decisions,
                n_perm=d.n_perm,
                seed=seed,
            )
            if pc.test is not None and math.isfinite(pc.test.p_value):
                flagged_planted.append(pc.test.verdict == "drift")
    return _summarise(
        d,
        beta,
        hits,
        errors,
        widths,
        recov,
        slopes,
        reasons,
        flagged_null,
        flagged_planted,
        short,
        window,
        steer_pp,
        steer_rel,
        smooth_recov,
        smooth_slopes,
    )


def _r(x: float | None, nd: int = 4) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), nd)


def _summarise(
    d: Design,
    beta: float,
    hits: np.ndarray,
    errors: np.ndarray,
    widths: np.ndarray,
    recov: list[float],
    slopes: list[float],
    reasons: dict[str, int],
    flagged_null: list[bool],
    flagged_planted: list[bool],
    short: int,
    window: int,
    steer_pp: list[float],
    steer_rel: list[float],
    smooth_recov: list[float],
    smooth_slopes: list[float],
) -> Calibration:
    scored = hits.shape[0]
    per_value: dict[str, dict[str, float | None]] = {}
    for j, v in enumerate(VALUE_IDS):
        per_value[v] = {
            "coverage": _r(float(hits[:, j].mean())) if scored else None,
            "bias": _r(float(errors[:, j].mean())) if scored else None,
            "width": _r(float(widths[:, j].mean())) if scored else None,
        }
    cov = hits.mean(axis=0) if scored else np.full(len(VALUE_IDS), np.nan)
    finite_rec = [x for x in recov if math.isfinite(x)]
    overall = {
        "scored": float(scored),
        "cannot_score_share": _r(1.0 - scored / d.reps),
        "coverage_mean": _r(float(np.mean(cov))) if scored else None,
        "coverage_min": _r(float(np.min(cov))) if scored else None,
        "bias_mean": _r(float(errors.mean())) if scored else None,
        "abs_bias_mean": _r(float(np.abs(errors).mean())) if scored else None,
        "width_mean": _r(float(widths.mean())) if scored else None,
        "recovery_median": _r(float(np.median(finite_rec))) if finite_rec else None,
        "recovery_sd": _r(float(np.std(finite_rec, ddof=1))) if len(finite_rec) > 1 else None,
        "calibration_slope_mean": _r(float(np.mean(slopes))) if slopes else None,
        "smoothed_recovery_median": _r(float(np.nanmedian(smooth_recov))) if smooth_recov else None,
        "smoothed_calibration_slope_mean": _r(float(np.mean(smooth_slopes)))
        if smooth_slopes
        else None,
    }
    tested = len(flagged_null)
    drift = {
        "window": float(window),
        "tested": float(tested),
        "too_short_share": _r(short / d.reps),
        "false_positive_rate": _r(float(np.mean(flagged_null))) if tested else None,
        "power": _r(float(np.mean(flagged_planted))) if flagged_planted else None,
        "planted": d.drift,
    }
    steer = {
        "null_sd_pp": _r(float(np.std(steer_pp, ddof=1))) if len(steer_pp) > 1 else None,
        "null_mean_pp": _r(float(np.mean(steer_pp))) if steer_pp else None,
        "null_sd_rel_pct": _r(float(np.std(steer_rel, ddof=1))) if len(steer_rel) > 1 else None,
    }
    return Calibration(d, beta, per_value, overall, drift, steer, reasons)
