"""The statistics against simulated truth: Firth's estimate on a hand case, interval coverage,
the calibration slope, the drift test's false positives and power, steerability's null, and the
calibration library driven by the reference viewer. Small and seeded: the full-size numbers are
in docs/methods.md."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import expit

from value_spectrum.agents.reference import ReferenceViewer
from value_spectrum.personas import load_builtin_personas
from value_spectrum.scoring.alignment import steerability_test
from value_spectrum.scoring.calibration import Design, calibrate
from value_spectrum.scoring.checks import calibration_slope, circumplex_check
from value_spectrum.scoring.consistency import consistency
from value_spectrum.scoring.logistic import fit_batch
from value_spectrum.scoring.resample import bootstrap_counts, group_seed
from value_spectrum.scoring.revealed import decision_table, revealed_profile
from value_spectrum.scoring.rundir import LabelledVideo
from value_spectrum.scoring.synthetic import planted_trajectory, synthetic_videos
from value_spectrum.values import ANGLES_DEG, VALUES, ValueProfile


def _labels(videos) -> dict[str, LabelledVideo]:  # type: ignore[no-untyped-def]
    return {v.id: LabelledVideo(v.id, v.values, v.primary_value, v.title) for v in videos}


def test_firth_on_a_two_by_two_table_adds_a_half_to_each_cell() -> None:
    # one binary covariate: Firth's estimate is the log odds ratio with 0.5 added to each cell
    a, b, c, d = 9, 1, 4, 6  # x=1: 9 likes 1 skip; x=0: 4 likes 6 skips
    x = np.array([[1.0]] * (a + b) + [[0.0]] * (c + d))
    y = np.array([1.0] * a + [0.0] * b + [1.0] * c + [0.0] * d)
    fit = fit_batch(x, y)
    expected = math.log((a + 0.5) * (d + 0.5) / ((b + 0.5) * (c + 0.5)))
    assert fit.converged[0]
    assert fit.weights[0, 0] == pytest.approx(expected, abs=1e-5)
    # separated data: the maximum-likelihood estimate is infinite, Firth's is finite
    sep = fit_batch(x, np.array([1.0] * 10 + [0.0] * 10))
    assert sep.converged[0]
    assert sep.weights[0, 0] == pytest.approx(math.log(10.5 * 10.5 / 0.25), abs=1e-4)
    # Fisher-scoring only reaches the same optimum
    slow = fit_batch(x, y, exact=False, max_iter=400)
    assert slow.weights[0, 0] == pytest.approx(expected, abs=1e-4)


def test_wald_intervals_cover_the_truth_and_are_not_shrunk() -> None:
    """40 single sessions of 200 decisions at known weights: the old fixed-penalty estimate was
    shrunk (slope about 0.6) and its intervals covered about 21%; these must cover near 95%."""
    videos = synthetic_videos(300, seed=0)
    labels = _labels(videos)
    rng = np.random.default_rng(7)
    hits, slopes = [], []
    for r in range(40):
        target = ValueProfile.from_array(rng.uniform(0, 1, 10).round(2))
        traj = planted_trajectory(target, videos, steps=200, seed=100 + r, beta=6.0)
        rev = revealed_profile(decision_table([traj], labels), l2=0.0, circle_prior=0.0)
        assert rev.profile is not None
        assert rev.ci is not None
        truth = target.centred().as_array() * 6.0
        hits.append((rev.ci.low <= truth) & (truth <= rev.ci.high))
        slopes.append(float(rev.profile.as_array() @ truth) / float(truth @ truth))
    coverage = np.mean(hits)
    assert coverage >= 0.88
    assert 0.85 <= float(np.mean(slopes)) <= 1.2


def test_calibration_slope_has_an_interval_around_one() -> None:
    videos = synthetic_videos(300, seed=3)
    target = ValueProfile.from_mapping({"power": 0.9, "achievement": 0.8}, default=0.3)
    trajs = [planted_trajectory(target, videos, steps=300, seed=s, session_id=f"s{s}") for s in range(2)]
    rev = revealed_profile(decision_table(trajs, _labels(videos)))
    cal = calibration_slope(rev, target, 6.0)
    assert cal["reason"] == ""
    assert cal["ci"][0] <= 1.0 <= cal["ci"][1]
    assert cal["ci"][0] > 0.5


def test_drift_test_false_positives_and_power() -> None:
    """With nothing planted the permutation test flags about alpha of the sessions (the old 0.5
    threshold flagged 7-18 of 26); a planted reversal is found."""
    videos = synthetic_videos(300, seed=4)
    labels = _labels(videos)
    rng = np.random.default_rng(11)
    flagged = 0
    for r in range(20):
        target = ValueProfile.from_array(rng.uniform(0, 1, 10).round(2))
        traj = planted_trajectory(target, videos, steps=200, seed=300 + r)
        c = consistency(decision_table([traj], labels), target, window=50, n_perm=60, seed=r)
        assert c.test is not None
        assert c.test.verdict in ("drift", "no drift detected")
        assert 0.0 < c.test.p_value <= 1.0
        flagged += c.test.verdict == "drift"
    assert flagged <= 4
    # planted: first half the target, second half its mirror image
    target = ValueProfile.from_mapping({"benevolence": 0.95, "universalism": 0.9}, default=0.3)
    mirror = ValueProfile.from_array(1.0 - target.as_array())
    first = planted_trajectory(target, videos, steps=100, seed=1)
    second = planted_trajectory(mirror, videos, steps=100, seed=2)
    steps = first.steps + tuple(s.model_copy(update={"turn": s.turn + 100}) for s in second.steps)
    traj = first.model_copy(update={"steps": steps})
    c = consistency(decision_table([traj], labels), target, window=50, n_perm=60, seed=0)
    assert c.test is not None
    assert c.test.verdict == "drift"
    assert c.drift_slope < 0
    assert c.test.z < -2


def test_too_short_to_tell_and_group_seeds() -> None:
    videos = synthetic_videos(100, seed=5)
    target = ValueProfile.from_mapping({"power": 0.9}, default=0.3)
    traj = planted_trajectory(target, videos, steps=40, seed=1)
    c = consistency(decision_table([traj], _labels(videos)), target, window=30, n_perm=30)
    assert c.test is not None
    assert c.test.verdict == "too short to tell"
    assert "too short to tell" in c.reason
    assert group_seed(0, "a", "m") == group_seed(0, "a", "m")
    assert group_seed(0, "a", "m") != group_seed(0, "b", "m")
    counts, unit = bootstrap_counts(np.zeros(40, dtype=int), np.arange(40), 5, seed=1)
    assert unit == "blocks"
    np.testing.assert_array_equal(counts.sum(axis=1), np.full(5, 40.0))


def test_steerability_null() -> None:
    videos = synthetic_videos(200, seed=6)
    target = ValueProfile.from_mapping({"hedonism": 0.9}, default=0.3)
    trajs = [planted_trajectory(target, videos, steps=150, seed=s) for s in range(4)]
    st = steerability_test([t.steps for t in trajs], n_perm=200, seed=1)
    assert math.isfinite(st.mean_pp)
    assert st.p_value > 0.01  # nothing planted
    assert 2.0 < st.null_sd_pp < 15.0


def test_circumplex_check() -> None:
    theta = np.deg2rad([ANGLES_DEG[v] for v in VALUES])
    profiles = [
        dict(zip(ValueProfile.uniform(0).as_dict(), np.cos(theta - phase), strict=True))
        for phase in np.linspace(0, 2 * np.pi, 8, endpoint=False)
    ]
    out = circumplex_check(profiles)
    assert out["median_circle_r2"] == pytest.approx(1.0)
    assert out["adjacent_r"] > 0.5
    assert out["opposite_r"] < -0.5
    assert circumplex_check([None])["n_groups"] == 0


def test_calibrate_with_the_reference_viewer() -> None:
    videos = synthetic_videos(300, seed=8)
    labels = {v.id: v.values for v in videos if v.values is not None}
    personas = load_builtin_personas()[:6]
    result = calibrate(
        videos,
        personas,
        lambda s: ReferenceViewer(labels, seed=s),
        Design(decisions=200, sessions=1, reps=8, n_perm=40, seed=1),
    )
    assert result.overall["scored"] == 8
    assert result.overall["coverage_mean"] is not None
    assert result.overall["coverage_mean"] >= 0.8
    assert abs(result.overall["bias_mean"] or 0.0) < 0.3
    assert result.drift["false_positive_rate"] is not None
    assert result.drift["false_positive_rate"] <= 0.25
    assert result.drift["power"] is not None
    assert result.steerability["null_sd_pp"] is not None
    assert set(result.per_value) == set(ValueProfile.uniform(0).as_dict())
    again = calibrate(
        videos,
        personas,
        lambda s: ReferenceViewer(labels, seed=s),
        Design(decisions=200, sessions=1, reps=8, n_perm=40, seed=1),
    )
    assert again.as_dict() == result.as_dict()


def test_reference_viewer_records_what_it_was_given() -> None:
    persona = load_builtin_personas()[0]
    viewer = ReferenceViewer({}, beta=4.0, bias=-0.5, seed=1)
    d = viewer.describe_session(persona)
    assert d["beta"] == 4.0
    assert d["bias"] == -0.5
    assert d["persona_id"] == persona.id
    assert d["injected"] == pytest.approx(persona.target.as_dict())
    weights = np.array(list(d["injected_weights"].values()))
    np.testing.assert_allclose(weights, persona.target.centred().as_array() * 4.0, atol=1e-5)
    assert expit(0.0) == 0.5


def test_non_convergence_is_cannot_score_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    import value_spectrum.scoring.revealed as revealed

    real = revealed.fit_batch

    def stalled(*args, **kwargs):  # type: ignore[no-untyped-def]
        fit = real(*args, **{**kwargs, "max_iter": 1})
        return fit

    videos = synthetic_videos(300, seed=9)
    target = ValueProfile.from_mapping({"power": 0.9}, default=0.3)
    traj = planted_trajectory(target, videos, steps=200, seed=2)
    monkeypatch.setattr(revealed, "fit_batch", stalled)
    rev = revealed_profile(decision_table([traj], _labels(videos)))
    assert rev.profile is None
    assert "did not converge" in rev.reason
