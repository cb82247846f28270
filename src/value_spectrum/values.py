"""Schwartz's ten basic human values, their circle, and value profiles.

This module depends on nothing else in the package. It holds:

* the ten values (:class:`Value`), in their order around the circle, with one-line definitions,
  angles and the four higher-order groups;
* :class:`ValueProfile`, ten finite numbers keyed by value id;
* MRAT centring (subtract the respondent's mean), the Portrait Values Questionnaire's
  prescribed correction for scale use;
* similarity (Pearson, Spearman, cosine), top-k, and circle helpers (angular distance, a
  sinusoid fit that says whether a profile respects the circular structure).

Example:
    >>> p = ValueProfile.from_mapping({"benevolence": 0.9, "tradition": 0.8}, default=0.1)
    >>> p.top_k(2)
    (<Value.BENEVOLENCE: 'benevolence'>, <Value.TRADITION: 'tradition'>)
    >>> round(p.centred().mean(), 12)
    0.0
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Self

import numpy as np
from pydantic import BaseModel, ConfigDict, field_validator


class Value(StrEnum):
    """One of Schwartz's ten basic values, in circle order."""

    SELF_DIRECTION = "self_direction"
    STIMULATION = "stimulation"
    HEDONISM = "hedonism"
    ACHIEVEMENT = "achievement"
    POWER = "power"
    SECURITY = "security"
    CONFORMITY = "conformity"
    TRADITION = "tradition"
    BENEVOLENCE = "benevolence"
    UNIVERSALISM = "universalism"


VALUES: tuple[Value, ...] = tuple(Value)
"""The ten values in their order around the circle (universalism is next to self-direction)."""

VALUE_IDS: tuple[str, ...] = tuple(v.value for v in VALUES)
"""The ten value ids, as strings, in circle order."""

DEFINITIONS: Mapping[Value, str] = {
    Value.SELF_DIRECTION: "Independent thought and action: choosing, creating, exploring.",
    Value.STIMULATION: "Excitement, novelty and challenge in life.",
    Value.HEDONISM: "Pleasure and sensuous gratification for oneself.",
    Value.ACHIEVEMENT: "Personal success through demonstrating competence by social standards.",
    Value.POWER: "Social status and prestige, control or dominance over people and resources.",
    Value.SECURITY: "Safety, harmony and stability of society, of relationships, and of self.",
    Value.CONFORMITY: "Restraint of actions likely to upset or harm others or violate norms.",
    Value.TRADITION: "Respect for and commitment to the customs of one's culture or religion.",
    Value.BENEVOLENCE: "Preserving and enhancing the welfare of the people one is close to.",
    Value.UNIVERSALISM: "Understanding and protection of the welfare of all people and nature.",
}
"""One-line definitions, after Schwartz (1992, 2012), in our words."""

ANGLES_DEG: Mapping[Value, float] = {
    Value.SELF_DIRECTION: 0.0,
    Value.STIMULATION: 40.0,
    Value.HEDONISM: 80.0,
    Value.ACHIEVEMENT: 120.0,
    Value.POWER: 160.0,
    Value.SECURITY: 200.0,
    Value.CONFORMITY: 240.0,
    Value.TRADITION: 240.0,
    Value.BENEVOLENCE: 280.0,
    Value.UNIVERSALISM: 320.0,
}
"""Angle of each value on the circle, in degrees. Nine sectors of 40 degrees: conformity and
tradition share one sector (tradition sits on its outer rim in Schwartz's figure)."""


class HigherOrder(StrEnum):
    """The four higher-order value groups (two bipolar dimensions)."""

    OPENNESS_TO_CHANGE = "openness_to_change"
    SELF_ENHANCEMENT = "self_enhancement"
    CONSERVATION = "conservation"
    SELF_TRANSCENDENCE = "self_transcendence"


HIGHER_ORDER: Mapping[HigherOrder, tuple[Value, ...]] = {
    HigherOrder.OPENNESS_TO_CHANGE: (Value.SELF_DIRECTION, Value.STIMULATION, Value.HEDONISM),
    HigherOrder.SELF_ENHANCEMENT: (Value.ACHIEVEMENT, Value.POWER, Value.HEDONISM),
    HigherOrder.CONSERVATION: (Value.SECURITY, Value.CONFORMITY, Value.TRADITION),
    HigherOrder.SELF_TRANSCENDENCE: (Value.BENEVOLENCE, Value.UNIVERSALISM),
}
"""Members of each group. Hedonism belongs partly to both openness and self-enhancement."""


def parse_value(name: str) -> Value:
    """Return the :class:`Value` for an id such as ``"self_direction"`` or ``"Self-Direction"``.

    Raises:
        ValueError: naming the unknown value and listing the valid ids.
    """
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    try:
        return Value(key)
    except ValueError:
        raise ValueError(
            f"unknown value {name!r}; expected one of: {', '.join(VALUE_IDS)}"
        ) from None


class ValueProfile(BaseModel):
    """Ten finite numbers, one per value. The scale is the caller's (0-1 relevance, 1-6
    ratings, centred scores, regression weights); every operation here is scale-aware."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    self_direction: float
    """Independent thought and action."""
    stimulation: float
    """Excitement, novelty, challenge."""
    hedonism: float
    """Pleasure for oneself."""
    achievement: float
    """Personal success by social standards."""
    power: float
    """Status, prestige, control."""
    security: float
    """Safety and stability."""
    conformity: float
    """Restraint, norms."""
    tradition: float
    """Customs, religion."""
    benevolence: float
    """Welfare of close others."""
    universalism: float
    """Welfare of all people and nature."""

    @field_validator(*VALUE_IDS)
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError(f"must be a finite number, got {v!r}")
        return float(v)

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def from_mapping(
        cls, values: Mapping[str, float] | Mapping[Value, float], *, default: float | None = None
    ) -> Self:
        """Build from a mapping of value id (any spelling :func:`parse_value` accepts) to number.

        Missing values take ``default``; with ``default=None`` every value must be present.

        Raises:
            ValueError: an unknown value name, a missing value, or a non-finite number.
        """
        data: dict[str, float] = {}
        for key, number in values.items():
            data[parse_value(str(key)).value] = number
        if default is None:
            missing = [v for v in VALUE_IDS if v not in data]
            if missing:
                raise ValueError(f"missing values: {', '.join(missing)}")
        else:
            for v in VALUE_IDS:
                data.setdefault(v, default)
        return cls(**data)

    @classmethod
    def from_array(cls, arr: Iterable[float]) -> Self:
        """Build from ten numbers in circle order."""
        numbers = [float(x) for x in arr]
        if len(numbers) != len(VALUE_IDS):
            raise ValueError(f"a value profile needs 10 numbers, got {len(numbers)}")
        return cls(**dict(zip(VALUE_IDS, numbers, strict=True)))

    @classmethod
    def uniform(cls, level: float = 0.0) -> Self:
        """Every value at ``level``."""
        return cls.from_array([level] * len(VALUE_IDS))

    # ---- views --------------------------------------------------------------------------
    def __getitem__(self, value: Value | str) -> float:
        return float(getattr(self, parse_value(str(value)).value))

    def as_array(self) -> np.ndarray:
        """The ten numbers in circle order, as a float64 array."""
        return np.array([getattr(self, v) for v in VALUE_IDS], dtype=np.float64)

    def as_dict(self) -> dict[str, float]:
        """Value id -> number, in circle order."""
        return {v: float(getattr(self, v)) for v in VALUE_IDS}

    def mean(self) -> float:
        """The mean over the ten values."""
        return float(self.as_array().mean())

    def centred(self) -> ValueProfile:
        """MRAT centring: each value minus this profile's own mean over the ten values."""
        return ValueProfile.from_array(mrat_centre(self.as_array()))

    def top_k(self, k: int = 3) -> tuple[Value, ...]:
        """The ``k`` highest values, highest first; ties keep circle order."""
        return top_k(self, k)

    def primary(self) -> Value:
        """The single highest value."""
        return self.top_k(1)[0]

    def higher_order(self) -> dict[HigherOrder, float]:
        """Mean of each higher-order group."""
        return {g: float(np.mean([self[v] for v in members])) for g, members in HIGHER_ORDER.items()}


# ---- centring and similarity ----------------------------------------------------------------
def mrat_centre(scores: np.ndarray) -> np.ndarray:
    """Subtract the mean rating (MRAT) along the last axis.

    Works on one profile (shape ``(10,)``) or many respondents (shape ``(n, 10)``).
    """
    arr: np.ndarray = np.asarray(scores, dtype=np.float64)
    centred: np.ndarray = arr - arr.mean(axis=-1, keepdims=True)
    return centred


def _arrays(a: ValueProfile | np.ndarray, b: ValueProfile | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = a.as_array() if isinstance(a, ValueProfile) else np.asarray(a, dtype=np.float64)
    y = b.as_array() if isinstance(b, ValueProfile) else np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"profiles differ in shape: {x.shape} vs {y.shape}")
    return x, y


FLAT_RTOL = 1e-9
"""A profile whose spread is below this fraction of its size counts as flat (constant): its
differences are rounding noise, and a correlation with it would be spurious."""


def _flat(raw: np.ndarray, centred: np.ndarray) -> bool:
    spread = math.sqrt(float(centred @ centred))
    size = max(math.sqrt(float(raw @ raw)), 1e-300)
    return spread <= FLAT_RTOL * size


def pearson(a: ValueProfile | np.ndarray, b: ValueProfile | np.ndarray) -> float:
    """Pearson correlation; NaN when either profile is constant or flat within a relative
    tolerance (``FLAT_RTOL``): correlation undefined."""
    x, y = _arrays(a, b)
    xc, yc = x - x.mean(), y - y.mean()
    if _flat(x, xc) or _flat(y, yc):
        return math.nan
    denom = math.sqrt(float(xc @ xc) * float(yc @ yc))
    return float(np.clip((xc @ yc) / denom, -1.0, 1.0))


def _ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks (ties share the mean rank), as Spearman's rho requires."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=np.float64)
    sorted_x = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and sorted_x[j + 1] == sorted_x[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def spearman(a: ValueProfile | np.ndarray, b: ValueProfile | np.ndarray) -> float:
    """Spearman rank correlation (Pearson on average ranks); NaN when either is constant or flat
    within ``FLAT_RTOL`` (ranks of rounding noise are not an order)."""
    x, y = _arrays(a, b)
    if _flat(x, x - x.mean()) or _flat(y, y - y.mean()):
        return math.nan
    return pearson(_ranks(x), _ranks(y))


def cosine(a: ValueProfile | np.ndarray, b: ValueProfile | np.ndarray) -> float:
    """Cosine similarity of the raw vectors; NaN when either is all zeros.

    Centre first (:meth:`ValueProfile.centred`) to compare priorities rather than levels.
    """
    x, y = _arrays(a, b)
    denom = math.sqrt(float(x @ x) * float(y @ y))
    if denom <= 1e-300:
        return math.nan
    return float(np.clip((x @ y) / denom, -1.0, 1.0))


def top_k(profile: ValueProfile, k: int = 3) -> tuple[Value, ...]:
    """The ``k`` highest values of ``profile``, highest first; ties keep circle order."""
    if not 1 <= k <= len(VALUES):
        raise ValueError(f"k must be between 1 and 10, got {k!r}")
    arr = profile.as_array()
    order = sorted(range(len(VALUES)), key=lambda i: (-arr[i], i))
    return tuple(VALUES[i] for i in order[:k])


# ---- the circle ------------------------------------------------------------------------------
def angular_distance(a: Value | str, b: Value | str) -> float:
    """Distance between two values on the circle, in degrees (0 to 180)."""
    da = ANGLES_DEG[parse_value(str(a))]
    db = ANGLES_DEG[parse_value(str(b))]
    d = abs(da - db) % 360.0
    return min(d, 360.0 - d)


def circular_mean_angle(profile: ValueProfile) -> float | None:
    """Direction (degrees, 0-360) of the profile's centred mass on the circle, or None when the
    centred profile has no direction (all values equal)."""
    c = profile.centred().as_array()
    theta = np.deg2rad([ANGLES_DEG[v] for v in VALUES])
    x, y = float(c @ np.cos(theta)), float(c @ np.sin(theta))
    if math.hypot(x, y) < 1e-12:
        return None
    return float(np.rad2deg(math.atan2(y, x)) % 360.0)


@dataclass(frozen=True)
class CircleFit:
    """A cosine fitted to a profile over the value angles: score ~ a + r * cos(angle - phase)."""

    amplitude: float
    """r, the strength of the circular pattern (in the profile's units)."""
    phase_deg: float
    """The angle where the fitted curve peaks."""
    offset: float
    """a, the fitted mean level."""
    r2: float
    """Share of the profile's variance that the sinusoid explains (0-1); NaN for a flat profile."""

    @property
    def peak_value(self) -> Value:
        """The value whose angle is closest to the fitted peak."""
        return min(VALUES, key=lambda v: _angle_gap(ANGLES_DEG[v], self.phase_deg))

    def respects_circle(self, threshold: float = 0.5) -> bool:
        """True when the sinusoid explains at least ``threshold`` of the variance: neighbouring
        values rise and fall together and opposite values conflict, as the theory predicts."""
        return bool(self.r2 >= threshold)


def _angle_gap(a: float, b: float) -> float:
    d = abs(a - b) % 360.0
    return min(d, 360.0 - d)


def circle_fit(profile: ValueProfile) -> CircleFit:
    """Least-squares fit of ``a + b cos(theta) + c sin(theta)`` to the profile over the angles."""
    y = profile.as_array()
    theta = np.deg2rad([ANGLES_DEG[v] for v in VALUES])
    design = np.column_stack([np.ones_like(theta), np.cos(theta), np.sin(theta)])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    a, b, c = (float(x) for x in coef)
    fitted = design @ coef
    ss_tot = float(((y - y.mean()) ** 2).sum())
    ss_res = float(((y - fitted) ** 2).sum())
    r2 = math.nan if ss_tot <= 1e-15 else max(0.0, 1.0 - ss_res / ss_tot)
    return CircleFit(
        amplitude=math.hypot(b, c),
        phase_deg=float(np.rad2deg(math.atan2(c, b)) % 360.0),
        offset=a,
        r2=r2,
    )
