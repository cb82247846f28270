"""Scoring maths against hand-computed cases: MRAT, questionnaires with reversed items,
cannot-score rules, the logistic decomposition, alignment, steerability, consistency, the
preference score and the bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pytest

from value_spectrum.records import Decision, Outcome, Probe, ProbeAnswer, Step, Trajectory
from value_spectrum.scoring.alignment import align, steerability
from value_spectrum.scoring.consistency import consistency
from value_spectrum.scoring.preference import score_preference
from value_spectrum.scoring.questionnaire import probe_stability, score_probe, stated_revealed_gap
from value_spectrum.scoring.revealed import cannot_score_reason, decision_table, revealed_profile
from value_spectrum.scoring.rundir import LabelledVideo
from value_spectrum.scoring.stats import cluster_bootstrap, fit_logistic, slope_per
from value_spectrum.scoring.synthetic import planted_trajectory, synthetic_videos
from value_spectrum.values import VALUE_IDS, ValueProfile, mrat_centre


def _labels(videos) -> dict[str, LabelledVideo]:
    return {v.id: LabelledVideo(v.id, v.values, v.primary_value, v.title) for v in videos}


def _step(turn: int, vid: str, outcome: str) -> Step:
    o = Outcome(outcome)
    dec = Decision(action=outcome) if o in (Outcome.LIKE, Outcome.SKIP) else None  # type: ignore[arg-type]
    return Step(turn=turn, video_id=vid, outcome=o, decision=dec)


# ---- MRAT and questionnaires ---------------------------------------------------------------
def test_mrat_hand_computed() -> None:
    scores = np.array([1, 2, 3, 4, 5, 6, 1, 2, 3, 3], dtype=float)  # mean 3.0
    np.testing.assert_allclose(mrat_centre(scores), scores - 3.0)
    two = np.vstack([scores, scores + 2])
    np.testing.assert_allclose(mrat_centre(two), np.vstack([scores - 3.0, scores - 3.0]))


def _probe(ratings: dict[str, list[tuple[int | None, bool]]], lo: int = 1, hi: int = 6) -> Probe:
    answers = []
    for value, items in ratings.items():
        for i, (r, rev) in enumerate(items):
            answers.append(ProbeAnswer(item_id=f"{value}-{i}", value=value, rating=r, reversed=rev))
    return Probe(after_turn=0, instrument="t", scale_min=lo, scale_max=hi, answers=tuple(answers))


def test_questionnaire_reversed_items_and_mrat() -> None:
    ratings: dict[str, list[tuple[int | None, bool]]] = {
        v: [(3, False), (3, False)] for v in VALUE_IDS
    }
    # benevolence: 6 and a reversed 2 (-> 1 + 6 - 2 = 5): mean 5.5
    ratings["benevolence"] = [(6, False), (2, True)]
    # power: 1, and an unreadable reply (left out): mean 1
    ratings["power"] = [(1, False), (None, False)]
    s = score_probe(_probe(ratings))
    assert s.raw["benevolence"] == 5.5
    assert s.raw["power"] == 1.0
    assert s.answered == 19
    assert s.unanswered == 1
    # MRAT over all 19 answered items: 16 threes + 6 + 5 + 1 = 60 -> 60 / 19
    mrat = 60 / 19
    assert s.mrat == pytest.approx(mrat)
    assert s.centred is not None
    assert s.centred["benevolence"] == pytest.approx(5.5 - mrat)
    assert s.centred["power"] == pytest.approx(1.0 - mrat)
    assert s.centred["tradition"] == pytest.approx(3.0 - mrat)


def test_questionnaire_missing_value_cannot_score() -> None:
    ratings: dict[str, list[tuple[int | None, bool]]] = {v: [(4, False)] for v in VALUE_IDS}
    ratings["security"] = [(None, False)]
    s = score_probe(_probe(ratings))
    assert s.centred is None
    assert "security" in s.reason
    assert s.raw["security"] is None


def test_probe_stability_and_gap() -> None:
    a = score_probe(_probe({v: [(1 + i % 6, False)] for i, v in enumerate(VALUE_IDS)}))
    b = score_probe(_probe({v: [(1 + i % 6, False)] for i, v in enumerate(VALUE_IDS)}))
    stab, reason = probe_stability([a, b])
    assert stab == pytest.approx(1.0)
    assert reason == ""
    stab1, reason1 = probe_stability([a])
    assert math.isnan(stab1)
    assert "two" in reason1
    assert a.centred is not None
    gap = stated_revealed_gap(a.centred, a.centred)
    assert gap.spearman == pytest.approx(1.0)
    assert gap.difference is not None
    assert max(abs(x) for x in gap.difference.values()) < 1e-9
    assert stated_revealed_gap(None, a.centred).difference is None


# ---- cannot score ----------------------------------------------------------------------------
def test_cannot_score_reasons() -> None:
    assert "too few" in cannot_score_reason(29, 4)
    assert "all 40 decisions are likes" in cannot_score_reason(40, 40)
    assert "skips" in cannot_score_reason(40, 0)
    assert cannot_score_reason(40, 5) == ""


def test_all_likes_session_is_not_scored_as_zero() -> None:
    videos = synthetic_videos(40, seed=0)
    traj = Trajectory(
        session_id="s",
        persona_id="p",
        model="m",
        steps=tuple(_step(i, videos[i].id, "like") for i in range(40)),
    )
    rev = revealed_profile(decision_table([traj], _labels(videos)))
    assert rev.profile is None
    assert "all 40 decisions are likes" in rev.reason
    assert align(rev.profile, ValueProfile.uniform(0.5), reason=rev.reason).reason == rev.reason


def test_failures_are_counted_not_scored() -> None:
    videos = synthetic_videos(12, seed=0)
    steps = [_step(i, videos[i].id, "like" if i % 2 else "skip") for i in range(12)]
    steps += [
        _step(12, videos[0].id, "unparseable"),
        _step(13, videos[1].id, "refused"),
        _step(14, videos[2].id, "error"),
        _step(15, "not-in-labels", "like"),
    ]
    table = decision_table(
        [Trajectory(session_id="s", persona_id="p", model="m", steps=tuple(steps))], _labels(videos)
    )
    assert len(table) == 12
    assert table.unlabelled == 1
    assert table.outcomes == {"like": 7, "skip": 6, "unparseable": 1, "refused": 1, "error": 1}


# ---- the decomposition -----------------------------------------------------------------------
def test_logistic_recovers_planted_weights() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((20000, 10))
    w = np.linspace(-2, 2, 10)
    y = (rng.random(20000) < 1 / (1 + np.exp(-(0.3 + x @ w - w.sum() / 2)))).astype(float)
    fit = fit_logistic(x, y, l2=1e-3)
    assert fit.converged
    np.testing.assert_allclose(fit.weights, w, atol=0.25)


def test_logistic_matches_sklearn_ridge_optimum() -> None:
    sklearn = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(1)
    x = rng.random((300, 10))
    y = (rng.random(300) < 1 / (1 + np.exp(-(x @ np.linspace(-1, 1, 10))))).astype(float)
    ours = fit_logistic(x, y, l2=2.0)
    ref = sklearn.LogisticRegression(C=0.5, tol=1e-10, max_iter=10000).fit(x, y)
    np.testing.assert_allclose(ours.weights, ref.coef_[0], atol=1e-4)
    assert ours.intercept == pytest.approx(float(ref.intercept_[0]), abs=1e-4)


def test_logistic_refuses_single_class() -> None:
    with pytest.raises(ValueError, match="single class"):
        fit_logistic(np.ones((5, 2)), np.ones(5))


def test_decomposition_recovers_planted_profile() -> None:
    videos = synthetic_videos(300, seed=1)
    target = ValueProfile.from_mapping(
        {
            "benevolence": 0.9,
            "universalism": 0.8,
            "tradition": 0.6,
            "power": 0.05,
            "achievement": 0.1,
        },
        default=0.4,
    )
    trajs = [
        planted_trajectory(target, videos, steps=300, seed=s, session_id=f"s{s}") for s in range(3)
    ]
    rev = revealed_profile(
        decision_table(trajs, _labels(videos)), n_boot=100, seed=1, target=target
    )
    assert rev.profile is not None
    al = align(rev.profile, target)
    assert al.spearman > 0.85
    assert al.top3_overlap >= 2
    assert al.circle_distance_deg < 30
    assert rev.ci is not None
    assert rev.ci.unit == "wald"
    inside = [
        lo <= x <= hi
        for lo, x, hi in zip(rev.ci.low, rev.profile.as_array(), rev.ci.high, strict=True)
    ]
    assert sum(inside) >= 9
    assert rev.alignment_ci is not None
    assert rev.alignment_ci[0] <= al.spearman <= rev.alignment_ci[1] + 1e-9
    boot = revealed_profile(
        decision_table(trajs, _labels(videos)), n_boot=60, seed=1, target=target, ci="bootstrap"
    )
    assert boot.ci is not None
    assert boot.ci.unit == "blocks"  # three sessions: blocks of consecutive decisions
    assert boot.ci.n_boot == 200
    assert boot.ci.n_ok >= 190
    # like rate per primary value: the top target values are liked most
    rates = rev.like_rate
    assert rates["benevolence"] is not None
    assert rates["power"] is not None
    assert rates["benevolence"] > rates["power"]


def test_bootstrap_is_seeded() -> None:
    data = np.arange(20, dtype=float)
    clusters = [np.array([i, i + 10]) for i in range(10)]

    def stat(idx: np.ndarray) -> np.ndarray:
        return np.array([data[idx].mean()])

    a = cluster_bootstrap(clusters, stat, n_boot=50, seed=3)
    b = cluster_bootstrap(clusters, stat, n_boot=50, seed=3)
    np.testing.assert_array_equal(a.low, b.low)
    assert a.low[0] < 9.5 < a.high[0]


# ---- alignment, steerability, consistency ----------------------------------------------------
def test_alignment_hand_cases() -> None:
    t = ValueProfile.from_array(range(10))
    same = align(ValueProfile.from_array([2 * x + 5 for x in range(10)]), t)
    assert same.spearman == pytest.approx(1.0)
    assert same.pearson == pytest.approx(1.0)
    assert same.top3_overlap == 3
    assert same.circle_distance_deg == pytest.approx(0.0, abs=1e-9)
    opposite = align(ValueProfile.from_array([-x for x in range(10)]), t)
    assert opposite.spearman == pytest.approx(-1.0)
    assert opposite.circle_distance_deg == pytest.approx(180.0)
    flat = align(ValueProfile.uniform(1.0), t)
    assert math.isnan(flat.spearman)
    assert flat.reason
    assert math.isnan(align(None, t).spearman)


def test_steerability_hand_cases() -> None:
    # 150 decisions: first 50 have 10 likes, last 50 have 30 likes
    outcomes = ["like"] * 10 + ["skip"] * 40 + ["skip"] * 50 + ["like"] * 30 + ["skip"] * 20
    steps = [_step(i, "v", o) for i, o in enumerate(outcomes)]
    s = steerability(steps)
    assert s.window == 50
    assert s.first_rate == pytest.approx(0.2)
    assert s.last_rate == pytest.approx(0.6)
    assert s.change_pp == pytest.approx(40.0)
    assert s.change_rel_pct == pytest.approx(200.0)
    short = steerability(steps[:30])  # a third of 30 = 10 per end
    assert short.window == 10
    assert short.first_rate == pytest.approx(1.0)
    tiny = steerability(steps[:9])
    assert math.isnan(tiny.change_pp)
    assert tiny.reason


def test_consistency_windows_and_drift() -> None:
    videos = synthetic_videos(300, seed=2)
    target = ValueProfile.from_mapping({"power": 0.95, "achievement": 0.8}, default=0.2)
    traj = planted_trajectory(target, videos, steps=200, seed=5)
    c = consistency(decision_table([traj], _labels(videos)), target, window=50)
    assert [w.start for w in c.windows] == [0, 50, 100, 150]
    assert all(w.n_decisions == 50 for w in c.windows)
    assert c.stability > 0.5
    assert math.isfinite(c.drift_slope)
    assert c.time_to_drift is None or c.time_to_drift in (0, 50, 100, 150)
    assert slope_per([0, 100], [0.9, 0.7]) == pytest.approx(-0.2)


# ---- the paper's preference score ------------------------------------------------------------
def test_preference_score_keeps_abstain_apart() -> None:
    labels = {f"v{i}": LabelledVideo(f"v{i}", None, VALUE_IDS[i % 2]) for i in range(8)}
    # self_direction (v0, v2, v4, v6): like, like, skip, refused -> 2/3 = 66.7%
    # stimulation (v1, v3, v5, v7): skip, skip, error, unparseable -> 0 / 2 = 0%
    outs = ["like", "skip", "like", "skip", "skip", "error", "refused", "unparseable"]
    traj = Trajectory(
        session_id="p",
        persona_id="plain",
        model="m",
        feed="preference",
        steps=tuple(_step(i, f"v{i}", o) for i, o in enumerate(outs)),
    )
    ps = score_preference([traj], labels)
    assert ps.scores["self_direction"] == pytest.approx(200 / 3)
    assert ps.scores["stimulation"] == pytest.approx(0.0)
    assert ps.scores["power"] is None
    assert ps.abstain == {**dict.fromkeys(VALUE_IDS, 0), "self_direction": 1, "stimulation": 2}
    assert ps.pct_of_all["self_direction"] == pytest.approx(50.0)
    assert ps.mean == pytest.approx(100 / 3)
    assert ps.sd == pytest.approx(float(np.std([200 / 3, 0.0], ddof=1)))
