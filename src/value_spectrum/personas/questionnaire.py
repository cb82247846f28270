"""Questionnaire instruments: portrait-style items, each measuring one value, rated on a scale.

The records live here, beside personas, because a questionnaire is what a persona *says* about
itself; administering one is the agents' job, scoring it is the scoring room's. The project's
own items ship in ``personas/data/instruments/``; users load instruments they hold rights to
from YAML or JSON files of the same shape.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from value_spectrum.values import VALUE_IDS


class Item(BaseModel):
    """One questionnaire item."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    """Identifier, unique within the instrument."""
    value: str
    """The value id this item measures."""
    text: str = Field(min_length=1)
    """The item text (portrait style: 'It is important to this person to ...')."""
    variants: tuple[str, ...] = ()
    """Paraphrases of the same item, for consistency probes."""
    reversed: bool = False
    """Reverse-keyed: the rating is flipped (min + max - rating) before scoring."""

    @model_validator(mode="after")
    def _known_value(self) -> Item:
        if self.value not in VALUE_IDS:
            raise ValueError(f"item {self.id!r}: unknown value {self.value!r}")
        return self


class Instrument(BaseModel):
    """A questionnaire: items, the rating scale and its anchors, and the licence it ships under."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    """Identifier."""
    name: str = ""
    """Human-readable name."""
    licence: str = Field(min_length=1)
    """Under what terms the item texts may be used (required: say so explicitly)."""
    validated: bool = False
    """True only for an instrument with published psychometric validation."""
    scale_min: int = 1
    """Lowest rating."""
    scale_max: int = 6
    """Highest rating."""
    like_me: Literal["max", "min"] | None = None
    """Which end of the scale means "very much like me": 'max' (the usual: 6 = very much like
    me) or 'min' (1 = very much like me; ratings are flipped before scoring). None: 'max', when
    the anchors do not say otherwise."""
    anchors: dict[int, str] = Field(default_factory=dict)
    """Labels of the scale points, e.g. {1: 'Not like me at all', 6: 'Very much like me'}."""
    instructions: str = ""
    """What the respondent is told before the items."""
    items: tuple[Item, ...] = Field(min_length=1)
    """The items."""

    @model_validator(mode="after")
    def _consistent(self) -> Instrument:
        if self.scale_min >= self.scale_max:
            raise ValueError(f"scale_min {self.scale_min!r} must be below scale_max {self.scale_max!r}")
        declared = self.like_me or "max"
        read = anchor_direction(self.anchors, self.scale_min, self.scale_max)
        if read is not None and read != declared:
            end = self.scale_max if declared == "max" else self.scale_min
            how = "declares" if self.like_me else "defaults to"
            raise ValueError(
                f"like_me {how} {declared!r} but the anchors read the other way "
                f"(anchors[{end}] = {self.anchors.get(end)!r}); set like_me: {read}"
            )
        seen: set[str] = set()
        for item in self.items:
            if item.id in seen:
                raise ValueError(f"duplicate item id {item.id!r}")
            seen.add(item.id)
        return self

    @property
    def like_me_end(self) -> Literal["max", "min"]:
        """The end of the scale that means "very much like me"."""
        return self.like_me or "max"

    def items_for(self, value: str) -> tuple[Item, ...]:
        """The items that measure ``value``."""
        return tuple(i for i in self.items if i.value == value)


_NEGATION = re.compile(r"\b(not|no|never|unlike|least|nothing)\b", re.IGNORECASE)


def anchor_direction(anchors: dict[int, str], lo: int, hi: int) -> Literal["max", "min"] | None:
    """Which end the anchors call "like me": the end point without a negation ("not", "no",
    "unlike", ...) when the other end has one; None when the anchors do not tell."""
    a, b = anchors.get(lo), anchors.get(hi)
    if a is None or b is None:
        return None
    neg_lo, neg_hi = bool(_NEGATION.search(a)), bool(_NEGATION.search(b))
    if neg_lo and not neg_hi:
        return "max"
    if neg_hi and not neg_lo:
        return "min"
    return None
