"""Wilson intervals, Cohen's h, Fisher's exact test and Holm's adjustment against hand-computed
and textbook values."""

from __future__ import annotations

import math

import pytest

from value_spectrum.scoring.stats import cohens_h, fisher_exact_p, holm, wilson


def test_wilson_matches_the_closed_form() -> None:
    k, n, z = 7, 10, 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    w = wilson(k, n)
    assert w.rate == 0.7
    assert w.low == pytest.approx(centre - half, abs=1e-9)
    assert w.high == pytest.approx(centre + half, abs=1e-9)
    from scipy.stats import binomtest

    for k_, n_ in ((0, 5), (3, 7), (10, 10), (37, 120)):
        ref = binomtest(k_, n_).proportion_ci(method="wilson")
        assert wilson(k_, n_).low == pytest.approx(ref.low, abs=1e-9)
        assert wilson(k_, n_).high == pytest.approx(ref.high, abs=1e-9)
    # 7 of 10 is compatible with anything from about 40% to 89%
    assert 0.39 < w.low < 0.40
    assert 0.89 < w.high < 0.90


def test_wilson_edges() -> None:
    none = wilson(0, 10)
    assert none.low == 0.0
    assert 0.0 < none.high < 0.35
    empty = wilson(0, 0)
    assert math.isnan(empty.rate)
    assert math.isnan(empty.low)
    assert math.isnan(empty.high)
    with pytest.raises(ValueError, match=r"within 0\.\.n"):
        wilson(11, 10)
    with pytest.raises(ValueError, match="level"):
        wilson(1, 2, level=95)


def test_cohens_h() -> None:
    assert cohens_h(0.5, 0.5) == 0.0
    # textbook: h(0.75, 0.5) = 2 asin(sqrt .75) - 2 asin(sqrt .5) = 2pi/3 - pi/2
    assert cohens_h(0.75, 0.5) == pytest.approx(2 * math.pi / 3 - math.pi / 2)
    assert cohens_h(0.2, 0.6) == pytest.approx(-cohens_h(0.6, 0.2))
    assert math.isnan(cohens_h(math.nan, 0.3))
    with pytest.raises(ValueError, match="within"):
        cohens_h(1.2, 0.3)


def test_fisher_exact() -> None:
    # the tea-tasting table [[3, 1], [1, 3]]: two-sided p = 34/70
    assert fisher_exact_p(3, 4, 1, 4) == pytest.approx(34 / 70)
    assert fisher_exact_p(5, 10, 5, 10) == pytest.approx(1.0)
    assert math.isnan(fisher_exact_p(0, 0, 1, 2))


def test_holm_step_down() -> None:
    # m = 4: sorted 0.01, 0.02, 0.03, 0.04 -> 0.04, 0.06, 0.06, 0.06 (monotone)
    adj = holm([0.03, 0.01, 0.04, 0.02])
    assert adj == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    mixed = holm([math.nan, 0.01, 0.04])
    assert math.isnan(mixed[0])
    assert mixed[1:] == pytest.approx([0.02, 0.04])
    assert holm([]) == []
