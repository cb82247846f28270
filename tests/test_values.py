"""Property tests for the value maths in ``value_spectrum.values``."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from value_spectrum.values import (
    ANGLES_DEG,
    DEFINITIONS,
    HIGHER_ORDER,
    VALUE_IDS,
    VALUES,
    Value,
    ValueProfile,
    angular_distance,
    circle_fit,
    circular_mean_angle,
    cosine,
    mrat_centre,
    parse_value,
    pearson,
    spearman,
    top_k,
)

settings.register_profile("fast", max_examples=60, deadline=None)
settings.load_profile("fast")

finite = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, allow_infinity=False)
unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
profiles = st.lists(finite, min_size=10, max_size=10).map(ValueProfile.from_array)
unit_profiles = st.lists(unit, min_size=10, max_size=10).map(ValueProfile.from_array)
values = st.sampled_from(VALUES)


def _spread(p: ValueProfile) -> bool:
    """True when the profile is far from constant, so correlations are well defined."""
    return float(np.ptp(p.as_array())) > 1e-6


# ---- basics ---------------------------------------------------------------------------------
def test_ten_values_in_circle_order() -> None:
    assert len(VALUES) == 10
    assert VALUE_IDS[0] == "self_direction"
    assert VALUE_IDS[-1] == "universalism"
    assert set(DEFINITIONS) == set(VALUES)
    assert set(ANGLES_DEG) == set(VALUES)
    assert ANGLES_DEG[Value.CONFORMITY] == ANGLES_DEG[Value.TRADITION]
    groups_with_hedonism = [g for g, members in HIGHER_ORDER.items() if Value.HEDONISM in members]
    assert {g.value for g in groups_with_hedonism} == {"openness_to_change", "self_enhancement"}
    assert {v for members in HIGHER_ORDER.values() for v in members} == set(VALUES)


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("Self-Direction", Value.SELF_DIRECTION),
        (" power ", Value.POWER),
        ("self direction", Value.SELF_DIRECTION),
    ],
)
def test_parse_value_spellings(spelling: str, expected: Value) -> None:
    assert parse_value(spelling) is expected


def test_parse_value_unknown_names_value() -> None:
    with pytest.raises(ValueError, match="'benevolance'"):
        parse_value("benevolance")


def test_profile_rejects_non_finite_and_unknown() -> None:
    with pytest.raises(ValueError, match="finite"):
        ValueProfile.from_array([math.nan] + [0.0] * 9)
    with pytest.raises(ValueError, match="missing values"):
        ValueProfile.from_mapping({"power": 1.0})
    with pytest.raises(ValueError, match="unknown value"):
        ValueProfile.from_mapping({"powr": 1.0}, default=0.0)


# ---- centring -------------------------------------------------------------------------------
@given(profiles)
def test_centring_sums_to_zero(p: ValueProfile) -> None:
    c = p.centred()
    scale = max(1.0, float(np.abs(p.as_array()).max()))
    assert abs(sum(c.as_array())) <= 1e-9 * scale * 10
    assert abs(c.mean()) <= 1e-9 * scale


@given(profiles, st.floats(min_value=-100, max_value=100, allow_nan=False))
def test_centring_ignores_a_shift(p: ValueProfile, shift: float) -> None:
    shifted = ValueProfile.from_array(p.as_array() + shift)
    np.testing.assert_allclose(shifted.centred().as_array(), p.centred().as_array(), atol=1e-8)


@given(st.lists(st.lists(finite, min_size=10, max_size=10), min_size=1, max_size=5))
def test_mrat_centre_rows(rows: list[list[float]]) -> None:
    arr = np.array(rows)
    out = mrat_centre(arr)
    assert out.shape == arr.shape
    np.testing.assert_allclose(
        out.mean(axis=-1), 0.0, atol=1e-9 * max(1.0, float(np.abs(arr).max()))
    )


# ---- similarity -----------------------------------------------------------------------------
@given(profiles, profiles)
def test_pearson_symmetric_and_bounded(a: ValueProfile, b: ValueProfile) -> None:
    r = pearson(a, b)
    if math.isnan(r):
        assert math.isnan(pearson(b, a))
        return
    assert -1.0 <= r <= 1.0
    assert r == pytest.approx(pearson(b, a), abs=1e-12)


@given(profiles, profiles)
def test_spearman_symmetric_and_bounded(a: ValueProfile, b: ValueProfile) -> None:
    r = spearman(a, b)
    if math.isnan(r):
        return
    assert -1.0 <= r <= 1.0
    assert r == pytest.approx(spearman(b, a), abs=1e-12)


int_profiles = st.lists(st.integers(-50, 50), min_size=10, max_size=10).map(
    lambda xs: ValueProfile.from_array([float(x) for x in xs])
)


@given(int_profiles, profiles)
def test_spearman_invariant_to_monotone_transforms(a: ValueProfile, b: ValueProfile) -> None:
    # Integer-valued profiles so that a strictly increasing map keeps distinct values distinct
    # in floating point; exp is a strongly non-linear example.
    x = a.as_array()
    transformed = np.exp(x / 10.0) + x
    assert spearman(transformed, b.as_array()) == pytest.approx(
        spearman(a, b), nan_ok=True, abs=1e-12
    )
    assert spearman(-x, b.as_array()) == pytest.approx(-spearman(a, b), nan_ok=True, abs=1e-12)


@given(int_profiles)
def test_self_similarity_is_one(p: ValueProfile) -> None:
    if not _spread(p):
        assert math.isnan(pearson(p, p))
        return
    assert pearson(p, p) == pytest.approx(1.0)
    assert spearman(p, p) == pytest.approx(1.0)
    assert cosine(p, p) == pytest.approx(1.0)


@given(profiles, profiles)
def test_cosine_bounded_symmetric(a: ValueProfile, b: ValueProfile) -> None:
    c = cosine(a, b)
    if math.isnan(c):
        return
    assert -1.0 <= c <= 1.0
    assert c == pytest.approx(cosine(b, a), abs=1e-12)


def test_constant_profile_gives_nan() -> None:
    flat = ValueProfile.uniform(0.5)
    other = ValueProfile.from_array(range(10))
    assert math.isnan(pearson(flat, other))
    assert math.isnan(spearman(flat, other))
    assert math.isnan(cosine(ValueProfile.uniform(0.0), other))


def test_near_flat_profile_gives_nan() -> None:
    """Rounding noise on a flat profile is not a profile: the old exact ``denom == 0.0`` test
    gave it a spurious correlation."""
    base = np.full(10, 0.5)
    noisy = ValueProfile.from_array(base + np.linspace(-1, 1, 10) * 1e-15)
    other = ValueProfile.from_array(range(10))
    assert math.isnan(pearson(noisy, other))
    assert math.isnan(spearman(noisy, other))
    big = ValueProfile.from_array(np.full(10, 1e6) + np.linspace(-1, 1, 10) * 1e-6)
    assert math.isnan(pearson(big, other))
    small = ValueProfile.from_array(np.linspace(-1, 1, 10) * 1e-6)
    assert pearson(small, other) == pytest.approx(1.0)


def test_spearman_handles_ties() -> None:
    a = np.array([1, 1, 2, 3, 3, 3, 4, 5, 5, 6], dtype=float)
    from scipy.stats import spearmanr

    b = np.arange(10, dtype=float)[::-1]
    assert spearman(a, b) == pytest.approx(float(spearmanr(a, b).statistic))


# ---- top-k ----------------------------------------------------------------------------------
@given(profiles, st.integers(min_value=1, max_value=10))
def test_top_k_sorted_and_sized(p: ValueProfile, k: int) -> None:
    top = top_k(p, k)
    assert len(top) == k == len(set(top))
    scores = [p[v] for v in top]
    assert scores == sorted(scores, reverse=True)
    rest = [p[v] for v in VALUES if v not in top]
    assert all(s <= min(scores) for s in rest)
    assert p.top_k(k) == top
    assert p.primary() == top[0]


def test_top_k_ties_keep_circle_order_and_bounds() -> None:
    assert ValueProfile.uniform(0.3).top_k(3) == VALUES[:3]
    with pytest.raises(ValueError, match="k must be"):
        top_k(ValueProfile.uniform(0.0), 0)
    with pytest.raises(ValueError, match="k must be"):
        top_k(ValueProfile.uniform(0.0), 11)


# ---- the circle -----------------------------------------------------------------------------
@given(values, values)
def test_angular_distance_range_and_symmetry(a: Value, b: Value) -> None:
    d = angular_distance(a, b)
    assert 0.0 <= d <= 180.0
    assert d == angular_distance(b, a)
    assert angular_distance(a, a) == 0.0


def test_angular_distance_known_pairs() -> None:
    assert angular_distance("self_direction", "universalism") == 40.0
    assert angular_distance("conformity", "tradition") == 0.0
    assert angular_distance("hedonism", "conformity") == 160.0
    assert angular_distance(Value.SELF_DIRECTION, Value.SECURITY) == 160.0


@given(
    st.floats(min_value=0.0, max_value=359.9),
    st.floats(min_value=0.05, max_value=5.0),
    st.floats(min_value=-3.0, max_value=3.0),
)
def test_circle_fit_recovers_a_pure_cosine(phase: float, amp: float, offset: float) -> None:
    theta = np.deg2rad([ANGLES_DEG[v] for v in VALUES])
    p = ValueProfile.from_array(offset + amp * np.cos(theta - math.radians(phase)))
    fit = circle_fit(p)
    assert fit.r2 == pytest.approx(1.0, abs=1e-9)
    assert fit.amplitude == pytest.approx(amp, rel=1e-6)
    assert fit.offset == pytest.approx(offset, abs=1e-6)
    gap = abs(fit.phase_deg - phase) % 360.0
    assert min(gap, 360.0 - gap) == pytest.approx(0.0, abs=1e-6)
    assert fit.respects_circle()

    def gap_to_phase(v: Value) -> float:
        d = abs(ANGLES_DEG[v] - phase) % 360.0
        return min(d, 360.0 - d)

    assert gap_to_phase(fit.peak_value) == pytest.approx(min(gap_to_phase(v) for v in VALUES))
    mean_angle = circular_mean_angle(p)
    assert mean_angle is not None


@pytest.mark.parametrize("value", list(VALUES))
def test_circle_fit_peak_at_each_value(value: Value) -> None:
    theta = np.deg2rad([ANGLES_DEG[v] for v in VALUES])
    p = ValueProfile.from_array(0.5 + 0.4 * np.cos(theta - math.radians(ANGLES_DEG[value])))
    fit = circle_fit(p)
    assert ANGLES_DEG[fit.peak_value] == ANGLES_DEG[value]
    assert fit.r2 == pytest.approx(1.0)


def test_circle_fit_flat_and_anti_circular() -> None:
    assert math.isnan(circle_fit(ValueProfile.uniform(0.4)).r2)
    assert circular_mean_angle(ValueProfile.uniform(0.4)) is None
    # Opposite values both high, neighbours low: the circle explains little.
    zigzag = ValueProfile.from_array([1, 0, 1, 0, 1, 0, 1, 0, 1, 0])
    assert not circle_fit(zigzag).respects_circle()


@given(unit_profiles)
def test_circle_fit_r2_in_unit_interval(p: ValueProfile) -> None:
    r2 = circle_fit(p).r2
    assert math.isnan(r2) or 0.0 <= r2 <= 1.0
