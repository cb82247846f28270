"""Model-human agreement: how often a model decides a video as the people did.

For every model compared with a human run (model ``human``, from ``value-spectrum humans
import``), over the videos both decided: each side's verdict on a video is its majority (like
when at least half of its decisions on that video are likes). Agreement is the share of videos on
which the two verdicts match, overall and per primary value of the video, with a 95% Wilson
interval over videos (the unit that is independent; a video decided by many sessions counts
once). Beside it, Cohen's kappa of the verdicts overall (agreement beyond the chance the two like
rates give) and the Spearman correlation of the two revealed profiles.

Example:
    >>> rows = agreement_rows({"human": {"v1": (1, 1)}, "m": {"v1": (1, 2)}},
    ...                       {"v1": "benevolence"}, {})
    >>> (rows[0].model, rows[0].value, rows[0].videos, rows[0].agree)
    ('m', 'all', 1, 1)
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict

from value_spectrum.scoring.stats import finite_or_none, wilson
from value_spectrum.values import VALUE_IDS, ValueProfile, spearman

HUMAN = "human"
"""The model string of imported human sessions (``runner.humans.HUMAN``)."""

Counts = Mapping[str, tuple[int, int]]
"""Video id -> (likes, decisions) of one model."""


class Agreement(BaseModel):
    """Agreement of one model with the people, overall (``value == "all"``) or on the videos of
    one primary value."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    """The model compared."""
    human: str
    """The human run's label."""
    value: str
    """``all`` or a value id (the videos whose primary value it is)."""
    videos: int
    """Videos both decided."""
    agree: int
    """Videos with the same verdict."""
    rate: float | None
    """Agreement in % (None without videos)."""
    low: float | None
    """95% Wilson interval, lower end (%)."""
    high: float | None
    """Upper end (%)."""
    kappa: float | None = None
    """Cohen's kappa of the verdicts (overall row only; None when undefined)."""
    profile_spearman: float | None = None
    """Spearman correlation of the two revealed profiles (overall row only)."""


def is_human(label: str) -> bool:
    """Whether a model label is a human run's (``human``, or ``human (run id)``)."""
    return label == HUMAN or label.startswith(f"{HUMAN} (")


def _verdicts(counts: Counts) -> dict[str, bool]:
    return {v: 2 * likes >= n for v, (likes, n) in counts.items() if n > 0}


def _pct(x: float) -> float | None:
    return None if not math.isfinite(x) else round(100 * x, 3)


def _kappa(pairs: list[tuple[bool, bool]]) -> float | None:
    n = len(pairs)
    if n == 0:
        return None
    po = sum(a == b for a, b in pairs) / n
    pa = sum(a for a, _ in pairs) / n
    pb = sum(b for _, b in pairs) / n
    pe = pa * pb + (1 - pa) * (1 - pb)
    return None if pe >= 1 else round((po - pe) / (1 - pe), 4)


def agreement_rows(
    counts: Mapping[str, Counts],
    primary: Mapping[str, str | None],
    profiles: Mapping[str, ValueProfile | None],
) -> list[Agreement]:
    """Agreement rows of every model with every human label.

    Args:
        counts: model label -> video id -> (likes, decisions).
        primary: video id -> its primary value (None: no value).
        profiles: model label -> revealed profile (None when it could not be fitted).
    """
    humans = [m for m in counts if is_human(m)]
    rows: list[Agreement] = []
    for h in humans:
        hv = _verdicts(counts[h])
        for m in counts:
            if m in humans:
                continue
            mv = _verdicts(counts[m])
            both = sorted(set(hv) & set(mv))
            pairs = [(mv[v], hv[v]) for v in both]
            hp, mp = profiles.get(h), profiles.get(m)
            rho = None if hp is None or mp is None else finite_or_none(spearman(mp, hp))
            for value in ("all", *VALUE_IDS):
                sel = [i for i, v in enumerate(both) if value == "all" or primary.get(v) == value]
                agree = sum(pairs[i][0] == pairs[i][1] for i in sel)
                p = wilson(agree, len(sel))
                rows.append(Agreement(
                    model=m, human=h, value=value, videos=len(sel), agree=agree,
                    rate=_pct(p.rate), low=_pct(p.low), high=_pct(p.high),
                    kappa=_kappa([pairs[i] for i in sel]) if value == "all" else None,
                    profile_spearman=rho if value == "all" else None,
                ))
    return rows
