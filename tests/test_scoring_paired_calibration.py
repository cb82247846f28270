"""The paired statistics of `compare` against simulated truth, at a small seeded scale: two
reference viewers decide on the same videos turn by turn. Newcombe's paired interval must cover
the true difference near 95% with nothing planted and with a planted shift, and the exact McNemar
test must keep its type-I error at most about 5% and reject under the shift. The full-size
numbers are in docs/methods.md (`value-spectrum calibrate --paired`)."""

from __future__ import annotations

from value_spectrum.agents.reference import ReferenceViewer
from value_spectrum.personas import load_builtin_personas
from value_spectrum.retrieval.corpus import load_corpus
from value_spectrum.scoring.paired_calibration import PairedDesign, calibrate_paired


def test_paired_interval_and_mcnemar_are_calibrated() -> None:
    videos = load_corpus(None).videos
    labels = {v.id: v.values for v in videos if v.values is not None}
    personas = [p for p in load_builtin_personas() if p.target is not None]
    design = PairedDesign(decisions=40, sessions=1, reps=150, shift=1.0, seed=3)
    result = calibrate_paired(
        videos, personas, lambda s, h: ReferenceViewer(labels, beta=6.0, bias=h, seed=s), design)
    null, alt = result.null["all"], result.alternative["all"]
    assert null["scored"] == alt["scored"] == 150
    assert null["truth_pp"] == 0.0
    assert 14.0 < (alt["truth_pp"] or 0.0) < 20.0  # a shift of 1 log-odds: about +17 pp
    # coverage near 95% (150 repetitions: a standard error of about 2 points)
    assert 0.89 <= (null["coverage"] or 0.0) <= 0.995
    assert 0.89 <= (alt["coverage"] or 0.0) <= 0.995
    # the exact test holds its level under the null and finds the planted shift
    assert (null["reject"] or 0.0) <= 0.08
    assert (alt["reject"] or 0.0) >= max(0.15, (null["reject"] or 0.0) + 0.1)  # measured 0.26 here
    per_value = result.summary("null")
    assert (per_value["coverage_values_mean"] or 0.0) >= 0.9
    assert (per_value["reject_values_mean"] or 0.0) <= 0.08


def test_cluster_robust_interval_holds_when_sessions_differ() -> None:
    """Side b's log-odds moves by N(0, 1.5) per session: the pairs of one session are then not
    independent. Newcombe's interval (which assumes they are) covers too little; the cluster-robust
    interval by session still covers near 95%."""
    videos = load_corpus(None).videos
    labels = {v.id: v.values for v in videos if v.values is not None}
    personas = [p for p in load_builtin_personas() if p.target is not None][:3]  # the truth integrates per persona
    design = PairedDesign(decisions=8, sessions=10, reps=100, shift=0.0, session_sd=1.5, seed=4)
    result = calibrate_paired(
        videos, personas, lambda s, h: ReferenceViewer(labels, beta=6.0, bias=h, seed=s), design)
    overall = result.null["all"]
    assert overall["scored"] == 100
    assert 0.88 <= (overall["cluster_coverage"] or 0.0) <= 0.995
    assert (overall["cluster_reject"] or 1.0) <= 0.1
    assert (overall["coverage"] or 1.0) < (overall["cluster_coverage"] or 0.0)
