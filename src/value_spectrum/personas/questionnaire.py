"""Questionnaire instruments: portrait-style items, each measuring one value, rated on a scale.

The records live here, beside personas, because a questionnaire is what a persona *says* about
itself; administering one is the agents' job, scoring it is the scoring room's. The project's
own items ship in ``personas/data/instruments/``; users load instruments they hold rights to
from YAML or JSON files of the same shape.
"""

from __future__ import annotations

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
        seen: set[str] = set()
        for item in self.items:
            if item.id in seen:
                raise ValueError(f"duplicate item id {item.id!r}")
            seen.add(item.id)
        return self

    def items_for(self, value: str) -> tuple[Item, ...]:
        """The items that measure ``value``."""
        return tuple(i for i in self.items if i.value == value)
