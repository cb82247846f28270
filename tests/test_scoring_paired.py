"""Paired differences: Newcombe's paired interval and the exact McNemar test on known tables, and
the pairing of two `--feed replay` runs session by session in `compare`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binomtest
from typer.testing import CliRunner

from value_spectrum.cli.app import build_app
from value_spectrum.scoring.paired import mcnemar_exact, newcombe_paired, paired_stat


def test_newcombe_is_antisymmetric_and_holds_the_estimate() -> None:
    low, high = newcombe_paired(30, 10, 2, 58)
    assert low < -0.08 < high < 0  # b - a = (2 - 10) / 100
    assert newcombe_paired(30, 2, 10, 58) == pytest.approx((-high, -low))
    assert all(math.isnan(x) for x in newcombe_paired(0, 0, 0, 0))
    # no discordant pairs: the interval still has width (it is not a point at 0)
    low, high = newcombe_paired(20, 0, 0, 20)
    assert low < 0 < high


def test_mcnemar_is_the_exact_binomial_test_of_discordant_pairs() -> None:
    assert mcnemar_exact(10, 2) == pytest.approx(binomtest(2, 12, 0.5).pvalue)
    assert mcnemar_exact(0, 0) == 1.0
    s = paired_stat(np.array([1, 1, 0, 0, 1]), np.array([1, 0, 1, 1, 1]))
    assert (s.both, s.only_a, s.only_b, s.neither) == (2, 1, 2, 0)
    assert s.diff == pytest.approx(0.2)


def _cli(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(build_app(), list(args))
    return res.exit_code, res.stdout, res.stderr


def test_replay_runs_pair_session_by_session(tmp_path: Path) -> None:
    runs = []
    for name, persona, feed in (("a", "family_oriented", "replay"), ("b", "festival_hedonist", "replay"),
                                ("c", "festival_hedonist", "random")):
        out = tmp_path / name
        code, _, err = _cli("simulate", "-p", persona, "--sessions", "10", "--steps", "12", "--feed", feed,
                            "--no-latency", "--out", str(out), "-q")
        assert code == 0, err
        runs.append(str(out))
    code, out, err = _cli("compare", *runs, "--json")
    assert code == 0, err
    paired = json.loads(out)["paired"]
    assert {(r["run_a"], r["run_b"]) for r in paired} == {("a", "b")}  # a random feed pairs with nothing
    overall = paired[0]
    assert (overall["design"], overall["pairs"], overall["sessions"]) == ("replay", 120, 10)
    assert overall["changed"] == "persona: family_oriented -> festival_hedonist"
    assert overall["low_pp"] <= overall["diff_pp"] <= overall["high_pp"]
    assert overall["cluster_low_pp"] is not None  # 10 session pairs: the cluster-robust interval too
    assert 0 < sum(r["pairs"] for r in paired[1:]) <= 120  # videos without a primary value: in "all" only


def test_cluster_interval_is_the_t_interval_of_session_means_for_equal_sessions() -> None:
    from scipy.stats import ttest_1samp

    from value_spectrum.scoring.paired import cluster_interval

    rng = np.random.default_rng(5)
    a, b = rng.integers(0, 2, size=120), rng.integers(0, 2, size=120)
    session = np.repeat(np.arange(12), 10)
    low, high, p = cluster_interval(a, b, session)
    means = (b - a).reshape(12, 10).mean(axis=1)
    test = ttest_1samp(means, 0.0)
    ci = test.confidence_interval(0.95)
    assert (low, high) == pytest.approx((ci.low, ci.high))
    assert p == pytest.approx(test.pvalue)
    assert all(math.isnan(x) for x in cluster_interval(a[:10], b[:10], session[:10]))


def test_the_html_comparison_has_the_paired_table(tmp_path: Path) -> None:
    runs = []
    for name, persona in (("a", "family_oriented"), ("b", "festival_hedonist")):
        out = tmp_path / name
        assert _cli("simulate", "-p", persona, "--sessions", "2", "--steps", "10", "--feed", "replay",
                    "--no-latency", "--out", str(out), "-q")[0] == 0
        runs.append(str(out))
    page = tmp_path / "c.html"
    code, _, err = _cli("compare", *runs, "--html", str(page))
    assert code == 0, err
    html = page.read_text()
    assert 'id="paired"' in html
    assert "persona: family_oriented -&gt; festival_hedonist" in html
